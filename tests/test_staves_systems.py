"""Staff detection and system grouping on drawn pages with exact geometry."""

import cv2
import numpy as np
import pytest
from drawn_pages import draw_page, draw_text_page
from shipped_params import CLEAN, STAFF, SYSTEM

from visionscores.segment import clean, staves, systems


def ink_of(gray):
    return clean.clean_page(gray, **CLEAN)[1]


def systems_on(ink):
    """Systems of an ink mask, its units measured on it, with the shipped parameters."""
    found = staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF)
    return systems.find_systems(ink, found, **SYSTEM)


@pytest.mark.parametrize("spacing", [10, 16, 25, 40])
def test_metrics_match_the_drawn_spacing(spacing):
    page = draw_page([2, 2], spacing_px=spacing, thickness_px=max(1, spacing // 10))
    metrics = staves.estimate_metrics(ink_of(page.gray))
    assert metrics.staff_spacing_px == pytest.approx(spacing, abs=1.0)


@pytest.mark.parametrize("spacing", [10, 16, 25, 40])
def test_staves_found_at_their_lines(spacing):
    page = draw_page([2, 2, 2], spacing_px=spacing, thickness_px=max(1, spacing // 10))
    ink = ink_of(page.gray)
    found = staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF)
    assert len(found) == 6
    expected_tops = [s["staff_bbox"][1] for s in page.systems]
    assert [round(s.top_px) for s in found[::2]] == pytest.approx(expected_tops, abs=1.5)
    for staff in found:
        assert staff.spacing_px == pytest.approx(spacing, abs=1.0)


def test_mixed_one_two_and_three_staff_systems_on_one_page():
    page = draw_page([1, 2, 3, 2])
    ink = ink_of(page.gray)
    found = staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF)
    result = systems.find_systems(ink, found, **SYSTEM)
    assert [s.n_staves for s in result] == [1, 2, 3, 2]
    for system, truth in zip(result, page.systems, strict=True):
        assert np.allclose(system.staff_box, truth["staff_bbox"], atol=3.0)


def test_indented_first_system_keeps_its_own_left_edge():
    page = draw_page([2, 2], first_indent_px=300)
    ink = ink_of(page.gray)
    result = systems.find_systems(
        ink, staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF), **SYSTEM
    )
    assert [round(s.staff_box[0]) for s in result] == pytest.approx([500, 200], abs=2)


def test_unjoined_staves_stay_separate_systems():
    page = draw_page([2, 2], join_with_barline=False)
    ink = ink_of(page.gray)
    result = systems.find_systems(
        ink, staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF), **SYSTEM
    )
    assert [s.n_staves for s in result] == [1, 1, 1, 1]


def test_crop_boxes_stop_halfway_to_the_neighbour():
    page = draw_page([2, 2], system_gap_sp=4.0, notes=False)
    ink = ink_of(page.gray)
    result = systems.find_systems(
        ink, staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF), **SYSTEM
    )
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
    assert metrics is None or staves.find_staves(ink, metrics, **STAFF) == []


def test_blank_page_has_no_staves():
    rng = np.random.default_rng(3)
    gray = np.clip(rng.normal(235, 12, (3000, 2200)), 0, 255).astype(np.uint8)
    ink = ink_of(gray)
    metrics = staves.estimate_metrics(ink)
    assert metrics is None or staves.find_staves(ink, metrics, **STAFF) == []


def test_broken_staff_line_does_not_lose_the_staff():
    page = draw_page([2, 2])
    gray = page.gray.copy()
    gray[:, 900:960] = 255  # a gap through every line, as in a worn scan
    ink = ink_of(gray)
    result = systems.find_systems(
        ink, staves.find_staves(ink, staves.estimate_metrics(ink), **STAFF), **SYSTEM
    )
    assert [s.n_staves for s in result] == [2, 2]
    assert result[0].staff_box[2] == pytest.approx(page.systems[0]["staff_bbox"][2], abs=3)


def find(gray):
    page, ink, _, _ = clean.clean_page(gray, **CLEAN)
    darkness = 255 - page
    metrics = staves.estimate_metrics_from_strokes(darkness)
    return systems.find_systems(ink, staves.find_staves(darkness, metrics, **STAFF), **SYSTEM)


def test_landscape_page():
    page = draw_page([2, 2], width_px=3300, height_px=1300)
    assert [s.n_staves for s in find(page.gray)] == [2, 2]


def test_mildly_curved_staff_lines_from_page_curl():
    page = draw_page([2, 2, 2])
    height, width = page.gray.shape
    # Bend every column down by up to 12 px along a parabola, as a curled page does.
    columns = np.arange(width, dtype=np.float32)
    shift = 12.0 * ((columns - width / 2) / (width / 2)) ** 2
    map_x = np.tile(columns, (height, 1))
    map_y = np.arange(height, dtype=np.float32)[:, None] - shift[None, :]
    curved = cv2.remap(page.gray, map_x, map_y, cv2.INTER_LINEAR, borderValue=255)
    assert [s.n_staves for s in find(curved)] == [2, 2, 2]


def test_dense_ink_between_the_hands_does_not_split_a_grand_staff():
    page = draw_page([2, 2], staff_gap_sp=5.0)
    gray = page.gray.copy()
    spacing = 20
    for system in page.systems:
        x0, y0, x1, y1 = system["staff_bbox"]
        gap_top, gap_bottom = y0 + 4 * spacing, y1 - 4 * spacing
        for x in range(x0 + 100, x1 - 100, 90):
            # Ledger lines below the upper staff and above the lower one, and a beam.
            for k in range(1, 3):
                cv2.line(
                    gray, (x - 14, gap_top + k * spacing), (x + 14, gap_top + k * spacing), 0, 2
                )
                cv2.line(
                    gray,
                    (x - 14, gap_bottom - k * spacing),
                    (x + 14, gap_bottom - k * spacing),
                    0,
                    2,
                )
        cv2.line(gray, (x0 + 300, gap_top + 45), (x0 + 700, gap_top + 55), 0, 9)
    assert [s.n_staves for s in find(gray)] == [2, 2]


def test_lyrics_footnotes_and_page_numbers_are_never_systems():
    page = draw_page([2, 2], system_gap_sp=12.0)
    gray = page.gray.copy()
    lower_top = page.systems[1]["staff_bbox"][1]
    cv2.putText(
        gray,
        "Lie - bes - traum  und  Schmerz  der  Nacht",
        (300, lower_top - 100),
        cv2.FONT_HERSHEY_COMPLEX,
        1.2,
        0,
        2,
        cv2.LINE_AA,
    )
    cv2.putText(
        gray,
        "* A footnote on the fingering of bar 12.",
        (200, gray.shape[0] - 60),
        cv2.FONT_HERSHEY_COMPLEX,
        1.0,
        0,
        2,
        cv2.LINE_AA,
    )
    cv2.putText(gray, "17", (gray.shape[1] // 2, 80), cv2.FONT_HERSHEY_COMPLEX, 1.2, 0, 2)
    result = find(gray)
    assert [s.n_staves for s in result] == [2, 2]
    for system, truth in zip(result, page.systems, strict=True):
        assert np.allclose(system.staff_box, truth["staff_bbox"], atol=3.0)


def test_a_gutter_shadow_at_the_page_edge_does_not_chain_systems():
    # Staves 2 spacings from the edge, within the brace margin: a dark band down the page
    # edge crosses every gap between systems, yet is no brace (it chained all six staves).
    page = draw_page([2, 2, 2], left_px=40)
    gray = page.gray.copy()
    gray[:, :22] = 40
    assert [s.n_staves for s in find(gray)] == [2, 2, 2]


def test_a_two_page_spread_gives_each_page_its_systems_in_reading_order():
    # A book scanned open: the facing pages' staves alternate from top to bottom.
    left = draw_page([2, 2, 2], height_px=2600)
    right = draw_page([2, 2], top_px=300, height_px=2600, seed=1)
    found = find(np.hstack([left.gray, right.gray]))
    width = left.gray.shape[1]
    expected = [s["staff_bbox"] for s in left.systems] + [
        [x0 + width, y0, x1 + width, y1]
        for x0, y0, x1, y1 in (s["staff_bbox"] for s in right.systems)
    ]
    assert [(s.n_staves, s.column) for s in found] == [(2, 0)] * 3 + [(2, 1)] * 2
    for system, true in zip(found, expected, strict=True):
        # The closing barline, 3 px wide, reaches past the drawn line ends.
        assert system.staff_box == pytest.approx(true, abs=3)


def test_a_dotted_left_barline_still_joins_a_voice_staff_to_the_piano():
    # Voice over piano: only the system's left barline crosses the gap between them, and a
    # 1-bit scan has left it dotted (2-px gaps every 5 px); the piano pair has a brace.
    page = draw_page([1, 2], join_with_barline=False, system_gap_sp=9.0, staff_gap_sp=5.0)
    gray = page.gray
    voice_top = page.systems[0]["staff_bbox"][1]
    piano = page.systems[1]["staff_bbox"]
    cv2.line(gray, (200, round(voice_top)), (200, round(piano[3])), 0, 3)
    gray[np.arange(voice_top, piano[3], 5).astype(int)[:, None] + np.arange(2), 195:206] = 255
    cv2.line(gray, (200, piano[1]), (200, piano[3]), 0, 3)  # the piano's own barline is whole
    found = find(gray)
    assert [s.n_staves for s in found] == [3]


def test_a_ruled_frame_beside_the_staves_joins_no_systems():
    # A frame line ruled down the page 1.5 spacings left of the staves, inside the brace
    # margin but away from the page's edge, with breaks, as old editions print it.
    page = draw_page([2, 2, 2], left_px=300)
    gray = page.gray.copy()
    gray[40:-40, 268:271] = 0
    gray[np.arange(60, gray.shape[0] - 60, 97)[:, None] + np.arange(3), 268:271] = 255
    assert [s.n_staves for s in find(gray)] == [2, 2, 2]


def test_a_line_under_a_beam_is_still_a_line_candidate():
    # Rows 10-41 a beam filling 60 % of the strip; the staff line at rows 20-21 under it
    # fills all of it. The run is too thick for a line, the line inside it is not.
    row_fill = np.zeros(60)
    row_fill[10:42] = 0.6
    row_fill[20:22] = 1.0
    row_fill[50:52] = 1.0  # a free line
    lines = staves.line_candidates(row_fill, 0.45, max_thickness_px=8, under_beam_fill=0.95)
    assert [line.center_px for line in lines] == [20.5, 50.5]


def test_a_staff_whose_lines_are_covered_by_beams_is_found():
    # Dense sixteenths: double beams lying along the top two lines of the lower staff over
    # four fifths of its width (as in a Beethoven sonata's left hand). The lines merged with
    # the beams into runs too thick for lines, and the staff was lost in every strip.
    page = draw_page([2, 2], notes=False)
    gray = page.gray
    lower_top = round(page.systems[1]["staff_bbox"][3]) - 4 * 20
    for x in range(200, 2200, 200):
        gray[lower_top - 6 : lower_top + 14, x : x + 160] = 0
        gray[lower_top + 18 : lower_top + 38, x : x + 160] = 0
    assert [s.n_staves for s in find(gray)] == [2, 2]


def test_line_like_columns_take_lines_darker_than_the_paper_between_them():
    darkness = np.zeros((100, 12), np.uint8)
    rows = np.array([[20.0] * 12, [30.0] * 12, [40.0] * 12, [50.0] * 12, [60.0] * 12])
    darkness[[20, 30, 40, 50, 60], 0:4] = 200  # all five lines: a staff
    darkness[[20, 30, 40], 4:8] = 200  # three of five: a staff with two lines covered
    darkness[[20, 30], 8:10] = 200  # two of five: not enough
    darkness[15:65, 10:12] = 255  # a barline: as dark between the lines as on them
    like = staves.line_like_columns(darkness, rows, probe_halfheight=1, min_contrast=48)
    assert like.tolist() == [True] * 8 + [False] * 4


def test_faint_lines_carry_a_staff_on_while_line_like_columns_stay_frequent():
    like = np.zeros(60, bool)
    like[10:20] = True  # the stroke search found columns 10-19
    like[20:40:2] = True  # a dashed stretch: every other column
    like[50] = True  # an odd speck after a blank stretch
    assert staves.extend_through_faint_lines(like, 10, 19, window_px=4, min_share=0.5) == (
        10,
        38,
    )


def test_a_system_whose_lines_break_into_dashes_is_found_whole():
    # A 1-bit scan's lines over the right half: dashes of 16 px with gaps of 20 px (a
    # spacing); before, the staves stopped where the dashes begin.
    page = draw_page([2, 2, 2])
    gray = page.gray.copy()
    for start in range(1200, 2200, 36):
        for system in page.systems:
            x0, y0, x1, y1 = (round(v) for v in system["staff_bbox"])
            gray[y0 - 3 : y1 + 3, start + 16 : start + 36] = 255
    found = find(gray)
    assert [s.n_staves for s in found] == [2, 2, 2]
    for system in found:
        assert system.staff_box[2] >= 2150  # the last dash ends at 2188


@pytest.mark.parametrize("spacing", [5, 6])
def test_low_resolution_staves_are_measured_and_found_at_their_own_spacing(spacing):
    # A 100-150 dpi scan: one-pixel lines 5-6 px apart. The strokes the units are measured
    # on are thickened a row up and down (3 px); twice that is more than the spacing, which
    # was then read from every other line (10-12 px) and no staff was found.
    page = draw_page([2, 2, 2], spacing_px=spacing, thickness_px=1, width_px=900, left_px=60)
    cleaned, ink, _, _ = clean.clean_page(page.gray, **CLEAN)
    metrics = staves.estimate_metrics_from_strokes(255 - cleaned)
    assert metrics.staff_spacing_px == pytest.approx(spacing, abs=0.5)
    found = staves.find_staves(255 - cleaned, metrics, **STAFF)
    result = systems.find_systems(ink, found, **SYSTEM)
    assert [s.n_staves for s in result] == [2, 2, 2]


def test_inked_run_length_bridges_only_short_breaks():
    rows = np.array([1, 1, 0, 1, 0, 0, 0, 1], dtype=bool)  # nearest row first
    assert systems.inked_run_length(rows, max_break_px=1) == 4  # rows 0-3; the 3-row break ends it
    assert systems.inked_run_length(rows, max_break_px=0) == 2  # rows 0-1
    assert systems.inked_run_length(rows, max_break_px=3) == 8  # every break bridged
    assert systems.inked_run_length(np.array([0, 0, 1], dtype=bool), max_break_px=1) == 0
    assert systems.inked_run_length(np.zeros(4, dtype=bool), max_break_px=1) == 0


def test_a_left_barline_running_on_to_a_lost_staff_is_measured():
    # Voice over piano (staff gap 6 spacings of 20 px): the voice staff's lines are erased,
    # its left barline stays, running from the voice staff's top line down to the piano.
    page = draw_page([3, 2], staff_gap_sp=6.0, notes=False)
    gray = page.gray
    x0, voice_top, x1, _ = (round(v) for v in page.systems[0]["staff_bbox"])
    gray[voice_top - 3 : voice_top + 84, x0 + 3 : x1 + 3] = 255
    found = find(gray)
    assert [s.n_staves for s in found] == [2, 2]
    # The barline's top row is voice_top - 1 (3 px thick at row voice_top); the piano's top
    # line is 10 spacings (200 px) below voice_top.
    piano_top = found[0].staves[0].top_px
    assert piano_top == pytest.approx(voice_top + 200, abs=1.0)
    assert found[0].barline_beyond_px == pytest.approx(piano_top - (voice_top - 1), abs=2.0)
    # A piano system's barline spans its own staves only.
    assert found[1].barline_beyond_px <= 2.0
