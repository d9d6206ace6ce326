"""The judgement: each rule, its reason code and the value that failed."""

import math

import cv2
import numpy as np
import pytest
import yaml
from repo_paths import REPO

from visionscores import quality

THRESHOLDS = yaml.safe_load((REPO / "config/config.yaml").read_text())["judge"]
GOOD = {
    "n_staves": 2,
    "width_ratio": 1.0,
    "height_sp": 14.0,
    "ink_density": 0.1,
    "residual_skew_deg": 0.0,
    "bend_sp": 0.1,
    "line_fill": 1.0,
    "edge_cut": 0.0,
    "sharpness": 0.6,
    "noise": 0.0,
    "text_likeness": 0.05,
    "overlap": 0.0,
    "open_end_sp": 0.0,
}


def test_a_good_grand_staff_is_kept():
    verdict = quality.judge_candidate(GOOD, THRESHOLDS)
    assert verdict.keep and verdict.reason == "" and math.isnan(verdict.reason_value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n_staves": 3}, "n_staves"),
        ({"n_staves": 1}, "n_staves"),
        ({"width_ratio": 0.05}, "narrow"),
        ({"open_end_sp": 20.0}, "partial"),
        ({"line_fill": 0.2}, "broken_lines"),
        ({"residual_skew_deg": -2.0}, "skewed"),
        ({"bend_sp": 3.0}, "curved"),
        ({"edge_cut": 0.3}, "edge_cut"),
        ({"ink_density": 0.001}, "sparse"),
        ({"ink_density": 0.9}, "dense"),
        ({"sharpness": 0.05}, "blurred"),
        ({"noise": 0.5}, "noisy"),
        ({"text_likeness": 0.9}, "text"),
        ({"overlap": 0.5}, "overlap"),
    ],
)
def test_each_rule_rejects_with_its_reason_and_value(change, reason):
    verdict = quality.judge_candidate({**GOOD, **change}, THRESHOLDS)
    assert not verdict.keep
    assert verdict.reason == reason
    assert verdict.reason_value == pytest.approx(float(next(iter(change.values()))))


def test_all_failed_rules_are_listed():
    verdict = quality.judge_candidate({**GOOD, "n_staves": 3, "width_ratio": 0.05}, THRESHOLDS)
    assert verdict.reasons == "n_staves;narrow"


def test_ink_density_and_edge_cut():
    ink = np.zeros((100, 100), np.uint8)
    ink[:50] = 1
    assert quality.ink_density(ink, (0, 0, 100, 100)) == pytest.approx(0.5)
    assert quality.edge_cut((10, 10, 90, 90), 100, 100, 0) == 0.0
    assert quality.edge_cut((50, 10, 150, 90), 100, 100, 0) == pytest.approx(0.5)


def test_sharpness_falls_when_lines_blur():
    darkness = np.zeros((200, 400), np.uint8)
    darkness[98:101, :] = 255  # a 3 px line at row 99
    crisp = quality.line_sharpness(darkness, [99.0], 0, 399, 20.0)
    blurred = quality.line_sharpness(cv2.GaussianBlur(darkness, (0, 0), 2.0), [99.0], 0, 399, 20.0)
    assert crisp == pytest.approx(1.0)
    assert blurred < 0.5 * crisp


def test_noise_and_text_likeness_shares():
    ink = np.zeros((100, 300), np.uint8)
    ink[50, :] = 1  # a staff line: 300 px
    ink[10:20, 20:120] = 1  # a detached block, like a word: 1000 px
    ink[80, 200] = ink[85, 250] = 1  # two specks
    noise, text_likeness = quality.ink_components(ink, np.array([50]), 20.0)
    assert noise == pytest.approx(2 / 1302, abs=1e-4)
    assert text_likeness == pytest.approx(1000 / 1302, abs=1e-4)


def test_overlap_of_staff_boxes():
    assert quality.box_overlap((0, 0, 10, 10), [(5, 0, 20, 10)]) == pytest.approx(0.5)
    assert quality.box_overlap((0, 0, 10, 10), [(0, 20, 10, 30)]) == 0.0


def test_every_reason_has_a_meaning_in_check_order():
    features = {name: 0.0 for name in GOOD} | {"n_staves": 9, "width_ratio": 0.0}
    features |= {"ink_density": 0.0, "residual_skew_deg": 9.0, "bend_sp": 9.0, "edge_cut": 1.0}
    features |= {"noise": 1.0, "text_likeness": 1.0, "overlap": 1.0, "open_end_sp": 99.0}
    reasons = quality.judge_candidate(features, THRESHOLDS).reasons.split(";")
    # Every rule fails here except "dense" (density 0 is sparse): the order is the table's.
    assert reasons == [code for code in quality.REASON_MEANINGS if code != "dense"]


def test_end_barline_fill_tells_a_barline_from_lines_that_stop():
    # Two staves (rows 100-180 and 300-380), lines 2 px thick every 20 px, ending at x 500.
    ink = np.zeros((500, 800), np.uint8)
    for top in (100, 300):
        for k in range(5):
            ink[top + 20 * k : top + 20 * k + 2, 100:501] = 1
    staff_rows = [(100, 180), (300, 380)]
    # Lines alone: rows 100-101, 120-121, ..., 180-181; 9 of each staff's 81 rows 100-180.
    assert quality.end_barline_fill(ink, staff_rows, 500, 6) == pytest.approx(9 / 81)
    ink[100:381, 499:502] = 1  # a barline closes both staves
    assert quality.end_barline_fill(ink, staff_rows, 500, 6) == 1.0


def test_open_end_counts_only_ends_that_no_barline_closes():
    extent = (100.0, 2100.0)
    assert quality.open_end_sp((400, 2100), extent, (True, True), 20.0) == 0.0  # indented
    assert quality.open_end_sp((100, 900), extent, (True, True), 20.0) == 0.0  # short, closed
    assert quality.open_end_sp((100, 900), extent, (True, False), 20.0) == 60.0
    assert quality.open_end_sp((700, 2100), extent, (False, True), 20.0) == 30.0
