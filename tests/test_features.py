"""The measured features of a candidate system, against hand-computed values."""

import cv2
import numpy as np
import pytest

from visionscores.segment import features


def test_ink_density_and_edge_cut():
    ink = np.zeros((100, 100), np.uint8)
    ink[:50] = 1
    assert features.ink_density(ink, (0, 0, 100, 100)) == pytest.approx(0.5)
    assert features.edge_cut((10, 10, 90, 90), 100, 100, 0) == 0.0
    assert features.edge_cut((50, 10, 150, 90), 100, 100, 0) == pytest.approx(0.5)


def test_sharpness_falls_when_lines_blur():
    darkness = np.zeros((200, 400), np.uint8)
    darkness[98:101, :] = 255  # a 3 px line at row 99
    crisp = features.line_sharpness(darkness, [99.0], 0, 399, 20.0)
    blurred = features.line_sharpness(cv2.GaussianBlur(darkness, (0, 0), 2.0), [99.0], 0, 399, 20.0)
    assert crisp == pytest.approx(1.0)
    assert blurred < 0.5 * crisp


def test_noise_and_text_likeness_shares():
    ink = np.zeros((100, 300), np.uint8)
    ink[50, :] = 1  # a staff line: 300 px
    ink[10:20, 20:120] = 1  # a detached block, like a word: 1000 px
    ink[80, 200] = ink[85, 250] = 1  # two specks
    noise, text_likeness = features.ink_components(ink, np.array([50]), 20.0)
    assert noise == pytest.approx(2 / 1302, abs=1e-4)
    assert text_likeness == pytest.approx(1000 / 1302, abs=1e-4)


def test_overlap_of_staff_boxes():
    assert features.box_overlap((0, 0, 10, 10), [(5, 0, 20, 10)]) == pytest.approx(0.5)
    assert features.box_overlap((0, 0, 10, 10), [(0, 20, 10, 30)]) == 0.0


def test_end_barline_fill_tells_a_barline_from_lines_that_stop():
    # Two staves (rows 100-180 and 300-380), lines 2 px thick every 20 px, ending at x 500.
    ink = np.zeros((500, 800), np.uint8)
    for top in (100, 300):
        for k in range(5):
            ink[top + 20 * k : top + 20 * k + 2, 100:501] = 1
    staff_rows = [(100, 180), (300, 380)]
    # Lines alone: rows 100-101, 120-121, ..., 180-181; 9 of each staff's 81 rows 100-180.
    assert features.end_barline_fill(ink, staff_rows, 500, 6) == pytest.approx(9 / 81)
    ink[100:381, 499:502] = 1  # a barline closes both staves
    assert features.end_barline_fill(ink, staff_rows, 500, 6) == 1.0


def test_open_end_counts_only_ends_that_no_barline_closes():
    extent = (100.0, 2100.0)
    assert features.open_end_sp((400, 2100), extent, (True, True), 20.0) == 0.0  # indented
    assert features.open_end_sp((100, 900), extent, (True, True), 20.0) == 0.0  # short, closed
    assert features.open_end_sp((100, 900), extent, (True, False), 20.0) == 60.0
    assert features.open_end_sp((700, 2100), extent, (False, True), 20.0) == 30.0
