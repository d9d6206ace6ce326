"""Movement boundaries: cues measured on drawn pages, decisions over a file, exact truth."""

from __future__ import annotations

import numpy as np
import pytest
from shipped_params import CLEAN, CONFIG, MOVEMENTS

from visionscores.segment import movements
from visionscores.segment import page as segment_page
from visionscores.segment.staves import Staff
from visionscores.segment.systems import System

SPACING = 20  # px between staff lines
THICKNESS = 2  # px, staff lines and thin bars
WIDTH = 2000
RIGHT = 1900  # one past the last staff-line pixel of every system
STAFF_GAP = 60  # px between the two staves of a system


def _staff(top: int, left: int) -> Staff:
    return Staff(
        top_px=float(top),
        bottom_px=float(top + 4 * SPACING),
        left_px=left,
        right_px=RIGHT - 1,
        spacing_px=float(SPACING),
        slope_deg=0.0,
        bend_px=0.0,
        line_fill=1.0,
    )


def _draw_system(gray: np.ndarray, top: int, left: int) -> System:
    """Two five-line staves from ``left`` to RIGHT, joined by a barline at the left end."""
    staves = (_staff(top, left), _staff(top + 4 * SPACING + STAFF_GAP, left))
    for staff in staves:
        for line in range(5):
            row = round(staff.top_px) + line * SPACING
            gray[row - 1 : row + 1, left:RIGHT] = 0
    bottom = round(staves[1].bottom_px)
    gray[top - 1 : bottom + 1, left : left + THICKNESS] = 0
    box = (float(left), float(top), float(RIGHT), float(bottom))
    return System(staves, box, (left - 60.0, top - 100.0, RIGHT + 20.0, bottom + 100.0))


def _bar(gray: np.ndarray, system: System, x0: int, x1: int) -> None:
    gray[round(system.staff_box[1]) - 1 : round(system.staff_box[3]) + 1, x0:x1] = 0


@pytest.fixture(scope="module")
def drawn():
    """Four systems: 0 indented 10 sp with a heading above; 1 closed by a final barline (thin
    + thick) and opening with a time signature; 2 closed by a repeat barline (dots, thin,
    thick); 3 closed by a single barline."""
    gray = np.full((1500, WIDTH), 255, np.uint8)
    tops, lefts = (300, 600, 900, 1200), (300, 100, 100, 100)
    systems = [_draw_system(gray, top, left) for top, left in zip(tops, lefts, strict=True)]
    gray[150:180, 800:1200] = 0  # heading: 6 to 7.5 sp above system 0
    _bar(gray, systems[1], RIGHT - 20, RIGHT - 18)  # thin
    _bar(gray, systems[1], RIGHT - 10, RIGHT)  # thick: 5 line thicknesses
    _bar(gray, systems[2], RIGHT - 20, RIGHT - 18)
    _bar(gray, systems[2], RIGHT - 10, RIGHT)
    for staff in systems[2].staves:  # repeat dots in the 2nd and 3rd spaces
        for space in (1.5, 2.5):
            row = round(staff.top_px + space * SPACING)
            gray[row - 4 : row + 4, RIGHT - 32 : RIGHT - 24] = 0
    _bar(gray, systems[3], RIGHT - 2, RIGHT)
    for staff in systems[1].staves:  # stacked digits filling the staff, 5 to 6.5 sp in
        top = round(staff.top_px)
        gray[top : top + 4 * SPACING, 200:230] = 0
    return gray, systems


def test_cues_measure_the_drawn_page(drawn):
    gray, systems = drawn
    cues = movements.system_cues(gray, systems, float(THICKNESS), MOVEMENTS)
    # usual left end: the lower quartile of 300, 100, 100, 100 = 100 px; 200 px = 10 sp
    assert [c["indent_sp"] for c in cues] == pytest.approx([10.0, 0.0, 0.0, 0.0])
    # staff bottom of the system above (top + 220) to the top line: 80 px = 4 sp; the first
    # system from the page's top: 300 px = 15 sp
    assert [c["gap_above_sp"] for c in cues] == pytest.approx([15.0, 4.0, 4.0, 4.0])
    assert [c["ends_with_final_barline"] for c in cues] == [False, True, False, False]
    assert [c["end_repeat_dots"] for c in cues] == [False, False, True, False]
    assert [c["end_thick_bar"] for c in cues] == [False, True, True, False]
    assert all(c["left_closed"] for c in cues)
    assert cues[0]["heading_ink_share"] > 0
    assert [c["heading_ink_share"] for c in cues[1:]] == [0.0, 0.0, 0.0]
    assert cues[1]["time_signature"] == 1.0
    # staff lines alone: 9 of a staff's 81 rows (the top line's upper half lies above it)
    assert [cues[k]["time_signature"] for k in (0, 2, 3)] == pytest.approx([9 / 81] * 3)


def test_starts_follow_the_cues_over_pages(drawn):
    gray, systems = drawn
    page_cues = movements.system_cues(gray, systems, float(THICKNESS), MOVEMENTS)
    # the same page twice in reading order: its indented first system starts each time
    file_cues = page_cues + page_cues
    starts = movements.movement_starts(file_cues, MOVEMENTS)
    assert starts == [True, False, False, False, True, False, False, False]
    assert movements.movement_indices(starts) == [0, 0, 0, 0, 1, 1, 1, 1]


def _cue(**values) -> dict:
    base = {
        "page_width_px": 2000,
        "spacing_px": 20.0,
        "systems_on_page": 5,
        "left_px": 100.0,
        "usual_left_px": 100.0,
        "indent_sp": 0.0,
        "gap_ratio": 1.0,
        "gap_above_sp": 4.0,
        "index_on_page": 1,
        "heading_ink_share": 0.0,
        "ends_with_final_barline": False,
        "time_signature": 0.0,
        "left_closed": True,
    }
    return {**base, **values}


def test_a_system_after_a_final_barline_with_heading_and_time_signature_starts():
    params = dict(MOVEMENTS)
    cues = [
        _cue(),
        _cue(ends_with_final_barline=True),
        _cue(heading_ink_share=1.0, gap_ratio=10.0, time_signature=1.0),
        _cue(heading_ink_share=1.0),  # a tempo word above a system: no start alone
    ]
    fired = movements.fired_cues(cues, params)
    assert fired[2] == {
        "indent": False,
        "final_barline_before": True,
        "heading": True,
        "wide_gap": True,
        "time_signature": True,
    }
    weights = sum(params[key] for key in movements.CUE_WEIGHTS.values())
    expected = weights - params["weight_indent"]  # every cue but the indent
    assert movements.start_scores(cues, params)[2] == pytest.approx(expected)
    assert movements.movement_starts(cues, params) == [True, False, True, False]


def test_indent_on_a_page_of_few_systems_uses_the_files_left_end():
    params = {**MOVEMENTS, "min_systems_for_page_left": 3}
    # two pages of five systems at 100 px, then a page of one system at 300 px: 10 sp in
    cues = [_cue()] * 10 + [_cue(systems_on_page=1, left_px=300.0, usual_left_px=300.0)]
    assert movements.file_indent_sp(cues, 3)[-1] == pytest.approx(10.0)
    assert movements.movement_starts(cues, params)[-1]


def test_movement_indices_count_starts():
    assert movements.movement_indices([True, False, True, True, False]) == [0, 0, 1, 2, 2]
    assert movements.movement_indices([False, False, True]) == [0, 0, 1]
    assert movements.movement_indices([]) == []


def test_heading_box_lies_between_the_system_above_and_the_system(drawn):
    gray, systems = drawn
    params = {
        **MOVEMENTS,
        "heading_clear_sp": 1.0,
        "heading_box_clear_sp": 1.0,
        "heading_max_height_sp": 100.0,
    }
    # system 1: from the bottom of system 0 (520) + 1 sp to its top (600) - 1 sp, across the
    # union of the systems' crop boxes (x 40 .. 1920)
    assert movements.heading_box(gray.shape, systems, 1, params) == (40, 540, 1920, 580)
    # system 0: from the page's top, at most heading_max_height_sp tall
    short = {**params, "heading_max_height_sp": 5.0}
    assert movements.heading_box(gray.shape, systems, 0, short) == (40, 180, 1920, 280)
    # 3 sp below the system above and 1 sp above this one, in an 80 px gap: no room
    crowded = {**params, "heading_clear_sp": 3.0}
    assert movements.heading_box(gray.shape, systems, 1, crowded) is None


@pytest.fixture(scope="module")
def joined_file():
    """Two short corpus pieces engraved with their titles and joined on shared pages, the
    first system of each indented (150 px, about 10 sp at 200 dpi)."""
    synthetic = pytest.importorskip("visionscores_tools.synthetic")
    pytest.importorskip("verovio")
    pieces = [
        [
            synthetic.rasterize(page, 200)
            for page in synthetic.engrave(source, title=title, header=True, staff_space_mm=1.8)
        ]
        for source, title in (
            ("schoenberg/opus19/movement2", "Op. 19 No. 2"),
            ("schoenberg/opus19/movement6", "Op. 19 No. 6"),
        )
    ]
    return synthetic.movement_file(
        pieces, margin_top_px=100, margin_bottom_px=100, piece_gap_px=60, first_indent_px=150
    )


def test_movement_file_keeps_every_system_and_marks_each_pieces_first(joined_file):
    starts = [start for page in joined_file.starts for start in page]
    assert starts == [True, False, False, True, False]  # 3 + 2 systems
    boxes = [box for page in joined_file.boxes for box in page]
    left, right = boxes[1][0], np.floor(boxes[1][2])  # of a system left as engraved
    # columns 0 .. right squeezed into 150 .. right: each piece's first system begins
    # 150 px further in, less 150 px times its left end's share of the right end
    for index in (0, 3):
        assert boxes[index][0] - left == pytest.approx(150 * (1 - left / right), abs=1)
        assert boxes[index][2] == pytest.approx(boxes[1][2], abs=0.5)
    for gray, boxes in zip(joined_file.pages, joined_file.boxes, strict=True):
        for x0, y0, x1, y1 in boxes:
            # the top and bottom staff lines of every box are ink across the system
            # (anti-aliased: the darkest of the rows around each centre)
            for y in (y0, y1):
                rows = gray[round(y) - 1 : round(y) + 2, round(x0) + 5 : round(x1) - 5]
                assert (rows.min(axis=0) < 160).mean() > 0.9


def test_joined_pieces_through_the_page_pipeline_start_where_the_second_piece_does(
    joined_file,
):
    cues, truth = [], []
    for gray, page_starts in zip(joined_file.pages, joined_file.starts, strict=True):
        processed = segment_page.process_image(gray, CLEAN, CONFIG["segment"])
        systems = processed.result.systems
        assert len(systems) == len(page_starts)
        cues += movements.system_cues(
            processed.cleaned, systems, processed.result.metrics.line_thickness_px, MOVEMENTS
        )
        truth += list(page_starts)
    assert movements.movement_starts(cues, MOVEMENTS) == truth


def test_a_pages_first_system_compares_its_top_gap_with_the_files():
    # three pages' first systems 10, 10 and 20 sp below the page's top; one system below
    # another on its page keeps its own page's ratio
    cues = [
        _cue(index_on_page=0, gap_above_sp=10.0),
        _cue(gap_ratio=1.5),
        _cue(index_on_page=0, gap_above_sp=10.0),
        _cue(index_on_page=0, gap_above_sp=20.0),
    ]
    assert movements.file_gap_ratios(cues) == pytest.approx([1.0, 1.5, 1.0, 2.0])
