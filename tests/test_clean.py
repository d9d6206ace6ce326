"""Skew measurement, deskew and the mapping of boxes back to the input image."""

import numpy as np
import pytest
from drawn_pages import draw_page, rotate
from shipped_params import CLEAN

from visionscores.segment import clean


@pytest.mark.parametrize("angle", [-3.0, -1.2, 0.0, 0.4, 2.5])
def test_skew_is_measured_within_a_twentieth_of_a_degree(angle):
    page = draw_page([2, 2, 2])
    _, _, skew, _ = clean.clean_page(rotate(page.gray, angle), **CLEAN)
    assert skew == pytest.approx(angle, abs=0.05)


def test_blank_page_has_no_skew():
    assert clean.clean_page(np.full((500, 400), 255, np.uint8), **CLEAN)[2] == 0.0


def test_small_skews_are_left_alone():
    gray = np.full((50, 60), 255, np.uint8)
    out, matrix = clean.deskew(gray, 0.01, min_skew_deg=0.02)
    assert out is gray
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]])


def test_deskew_keeps_every_corner_and_maps_boxes_back():
    gray = np.full((1000, 800), 255, np.uint8)
    gray[100:110, 100:700] = 0
    out, matrix = clean.deskew(gray, 3.0, min_skew_deg=0.02)
    assert out.shape[0] > 1000 and out.shape[1] > 800  # the canvas grew
    # A box mapped forward then back covers the original box.
    corners = np.array([[100, 100, 1], [700, 110, 1]], dtype=float) @ np.asarray(matrix).T
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    back = clean.map_box_back((x0, y0, x1, y1), matrix)
    assert back[0] <= 100.5 and back[1] <= 100.5 and back[2] >= 699.5 and back[3] >= 109.5


def test_binarize_flattens_uneven_light():
    page = draw_page([2], notes=False)
    gradient = np.linspace(0.55, 1.0, page.gray.shape[1])[None, :]
    dark_left = (page.gray.astype(float) * gradient).astype(np.uint8)
    _, ink, _, _ = clean.clean_page(dark_left, **CLEAN)
    # The dim paper on the left is not taken for ink; the staff lines are.
    assert ink[:150, :300].mean() < 0.01
    assert ink[200, 300:2000].mean() > 0.95
