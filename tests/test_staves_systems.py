"""Staff detection and system grouping on drawn pages with exact geometry."""

import numpy as np
import pytest
from drawn_pages import draw_page, draw_text_page

from visionscores import clean, staves, systems


def ink_of(gray):
    return clean.binarize(gray, 101)


@pytest.mark.parametrize("spacing", [10, 16, 25, 40])
def test_metrics_match_the_drawn_spacing(spacing):
    page = draw_page([2, 2], spacing_px=spacing, thickness_px=max(1, spacing // 10))
    metrics = staves.estimate_metrics(ink_of(page.gray))
    assert metrics.staff_spacing_px == pytest.approx(spacing, abs=1.0)


@pytest.mark.parametrize("spacing", [10, 16, 25, 40])
def test_staves_found_at_their_lines(spacing):
    page = draw_page([2, 2, 2], spacing_px=spacing, thickness_px=max(1, spacing // 10))
    ink = ink_of(page.gray)
    found = staves.find_staves(ink, staves.estimate_metrics(ink))
    assert len(found) == 6
    expected_tops = [s["staff_bbox"][1] for s in page.systems]
    assert [round(s.top_px) for s in found[::2]] == pytest.approx(expected_tops, abs=1.5)
    for staff in found:
        assert staff.spacing_px == pytest.approx(spacing, abs=1.0)


def test_mixed_one_two_and_three_staff_systems_on_one_page():
    page = draw_page([1, 2, 3, 2])
    ink = ink_of(page.gray)
    found = staves.find_staves(ink, staves.estimate_metrics(ink))
    result = systems.find_systems(ink, found)
    assert [s.n_staves for s in result] == [1, 2, 3, 2]
    for system, truth in zip(result, page.systems, strict=True):
        assert np.allclose(system.staff_box, truth["staff_bbox"], atol=3.0)


def test_indented_first_system_keeps_its_own_left_edge():
    page = draw_page([2, 2], first_indent_px=300)
    ink = ink_of(page.gray)
    result = systems.find_systems(ink, staves.find_staves(ink, staves.estimate_metrics(ink)))
    assert [round(s.staff_box[0]) for s in result] == pytest.approx([500, 200], abs=2)


def test_unjoined_staves_stay_separate_systems():
    page = draw_page([2, 2], join_with_barline=False)
    ink = ink_of(page.gray)
    result = systems.find_systems(ink, staves.find_staves(ink, staves.estimate_metrics(ink)))
    assert [s.n_staves for s in result] == [1, 1, 1, 1]


def test_crop_boxes_stop_halfway_to_the_neighbour():
    page = draw_page([2, 2], system_gap_sp=4.0, notes=False)
    ink = ink_of(page.gray)
    result = systems.find_systems(ink, staves.find_staves(ink, staves.estimate_metrics(ink)))
    upper, lower = result
    midpoint = (upper.staff_box[3] + lower.staff_box[1]) / 2
    assert upper.crop_box[3] <= midpoint + 0.5
    assert lower.crop_box[1] >= midpoint - 0.5
    # Never another system's staff lines: the crops do not reach the other staves.
    assert upper.crop_box[3] < lower.staff_box[1]
    assert lower.crop_box[1] > upper.staff_box[3]


def test_prose_page_has_no_staves():
    gray = draw_text_page()
    ink = ink_of(gray)
    metrics = staves.estimate_metrics(ink)
    assert metrics is None or staves.find_staves(ink, metrics) == []


def test_blank_page_has_no_staves():
    rng = np.random.default_rng(3)
    gray = np.clip(rng.normal(235, 12, (3000, 2200)), 0, 255).astype(np.uint8)
    ink = ink_of(gray)
    metrics = staves.estimate_metrics(ink)
    assert metrics is None or staves.find_staves(ink, metrics) == []


def test_broken_staff_line_does_not_lose_the_staff():
    page = draw_page([2, 2])
    gray = page.gray.copy()
    gray[:, 900:960] = 255  # a gap through every line, as in a worn scan
    ink = ink_of(gray)
    result = systems.find_systems(ink, staves.find_staves(ink, staves.estimate_metrics(ink)))
    assert [s.n_staves for s in result] == [2, 2]
    assert result[0].staff_box[2] == pytest.approx(page.systems[0]["staff_bbox"][2], abs=3)
