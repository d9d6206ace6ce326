"""clean_and_segment: skew, orientation and the ends of systems, on drawn and demo pages."""

import json

import cv2
import numpy as np
import pytest
import yaml
from drawn_pages import draw_page, rotate
from repo_paths import REPO

from visionscores.segment import page as segment
from visionscores.segment import render, staves

CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))


def boxes(result):
    return [[round(v) for v in box] for box in result.staff_boxes]


def test_an_upright_page_taken_as_upright_gives_what_measuring_gives():
    gray = draw_page([2, 2, 2]).gray
    _, matrix, upright = segment.clean_and_segment(
        gray, CONFIG["clean"], CONFIG["segment"], assume_upright=True
    )
    _, _, measured = segment.clean_and_segment(gray, CONFIG["clean"], CONFIG["segment"])
    assert upright.skew_deg == 0.0 and matrix.tolist() == [[1, 0, 0], [0, 1, 0]]
    assert [s.n_staves for s in upright.systems] == [2, 2, 2]
    assert boxes(upright) == boxes(measured)


@pytest.mark.parametrize("angle_deg", [0.4, 2.0])
def test_a_tilted_page_taken_as_upright_is_measured_and_deskewed(angle_deg):
    gray = rotate(draw_page([2, 2, 2]).gray, angle_deg)
    _, _, result = segment.clean_and_segment(
        gray, CONFIG["clean"], CONFIG["segment"], assume_upright=True
    )
    assert result.skew_deg == pytest.approx(angle_deg, abs=0.05)
    assert [s.n_staves for s in result.systems] == [2, 2, 2]


def open_ends(gray):
    _, _, result = segment.clean_and_segment(gray, CONFIG["clean"], CONFIG["segment"])
    return [
        (s.n_staves, f["open_end_sp"]) for s, f in zip(result.systems, result.features, strict=True)
    ]


def test_whole_systems_have_no_open_end_even_indented_or_short_with_a_barline():
    page = draw_page([2, 2, 2], first_indent_px=300)  # spacing 20 px, staves end at 2200
    gray = page.gray.copy()
    top, bottom = page.systems[2]["staff_bbox"][1], page.systems[2]["staff_bbox"][3]
    gray[top - 5 : bottom + 6, 1201:] = 255  # the last system ends at x 1200 ...
    cv2.line(gray, (1200, top), (1200, bottom), 0, 3)  # ... in a barline
    assert open_ends(gray) == [(2, 0.0), (2, 0.0), (2, 0.0)]


def test_a_system_whose_lines_stop_without_a_barline_has_an_open_end():
    page = draw_page([2, 2, 2])
    gray = page.gray.copy()
    top, bottom = page.systems[1]["staff_bbox"][1], page.systems[1]["staff_bbox"][3]
    gray[top - 5 : bottom + 6, 1001:] = 255  # the lines stop at x 1000, nothing closes them
    (first, middle, last) = open_ends(gray)
    assert first == (2, 0.0) and last == (2, 0.0)
    # Short by 2200 - 1000 px (the page's other systems end at 2200), spacing 20 px.
    assert middle[0] == 2 and middle[1] == pytest.approx(60.0, abs=0.5)


def _demo_page(piece: str, number: int):
    """A demo page as the workflow renders it, and its exact staff boxes."""
    truth = json.loads((REPO / "demo/ground_truth.json").read_text(encoding="utf-8"))
    page = truth["pieces"][piece]["pages"][number - 1]
    with render.open_pdf(REPO / f"demo/pdf/{piece}.pdf") as document:
        gray, _ = render.render_page(document, number, page["dpi"], 10**9)
    return gray, [system["staff_bbox"] for system in page["systems"]]


def _turned_box(box, turns, width, height):
    """A box of an upright page as it lies on the page turned counter-clockwise (by hand)."""
    x0, y0, x1, y1 = box
    return {
        1: [y0, width - x1, y1, width - x0],
        2: [width - x1, height - y1, width - x0, height - y0],
        3: [height - y1, x0, height - y0, x1],
    }[turns]


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_page_scanned_sideways_or_upside_down_is_turned_upright(turns):
    gray, true_boxes = _demo_page("mozart-k545-exposition", 1)
    height, width = gray.shape
    turned = np.ascontiguousarray(np.rot90(gray, turns))
    _, _, result = segment.clean_and_segment(turned, CONFIG["clean"], CONFIG["segment"])
    # The page was turned by `turns` counter-clockwise: undoing it is the rest of a full turn.
    assert result.orientation_deg == 90 * ((4 - turns) % 4)
    expected = [_turned_box(box, turns, width, height) for box in true_boxes]
    found = result.staff_boxes
    assert len(found) == len(expected)
    for true in expected:  # each true box has its own found box within 3 px on every side
        nearest = min(
            found, key=lambda box: max(abs(a - b) for a, b in zip(box, true, strict=True))
        )
        assert nearest == pytest.approx(true, abs=3.0)
        found = [box for box in found if box is not nearest]


def test_an_upright_page_is_left_as_it_is():
    gray, true_boxes = _demo_page("bach-bwv846-prelude", 1)
    _, _, result = segment.clean_and_segment(gray, CONFIG["clean"], CONFIG["segment"])
    assert result.orientation_deg == 0
    assert len(result.staff_boxes) == len(true_boxes)


def test_lines_running_past_the_final_barline_still_close_the_system():
    # A short final system whose staff lines run 5 spacings past its final barline (an
    # engraving that writes "D.C. al Fine" there): its end is closed, nothing goes on.
    page = draw_page([2, 2, 2])
    gray = page.gray.copy()
    top, bottom = page.systems[2]["staff_bbox"][1], page.systems[2]["staff_bbox"][3]
    gray[top - 5 : bottom + 6, 1301:] = 255  # the lines end at x 1300 ...
    cv2.line(gray, (1200, top), (1200, bottom), 0, 3)  # ... 100 px past the barline
    assert open_ends(gray) == [(2, 0.0), (2, 0.0), (2, 0.0)]


def test_enlargement_factor_brings_small_staves_to_the_target_spacing():
    def factor(spacing_px, shape=(792, 612), max_pixels=20_000_000):
        metrics = staves.StaffMetrics(line_thickness_px=1.0, staff_spacing_px=spacing_px)
        return segment.enlargement_factor(metrics, shape, 5.0, 12.0, 3.0, max_pixels)

    assert factor(4.06) == 3  # 12 / 4.06 = 2.96
    assert factor(3.97) == 4  # 12 / 3.97 = 3.02
    assert factor(5.0) == 1  # readable as it is
    assert factor(2.9) == 1  # text or noise
    assert factor(4.0, shape=(3300, 2550)) == 1  # 9 x 8.4 million pixels: too large
    assert segment.enlargement_factor(None, (792, 612), 5.0, 12.0, 3.0, 20_000_000) == 1


def test_a_page_of_tiny_staves_is_enlarged_and_its_systems_found_in_input_pixels():
    # A page drawn at 20 px spacing, shrunk 5 times: 4 px spacing, lines blurred to gray as
    # in a 72-dpi scan. Truth: the drawn boxes divided by 5.
    drawn = draw_page([2, 2, 2], spacing_px=20, thickness_px=2, seed=1)
    height, width = drawn.gray.shape
    small = cv2.resize(drawn.gray, (width // 5, height // 5), interpolation=cv2.INTER_AREA)
    truth = [[v / 5 for v in s["staff_bbox"]] for s in drawn.systems]
    cleaned, matrix, result = segment.clean_and_segment(small, CONFIG["clean"], CONFIG["segment"])
    assert cleaned.shape == (small.shape[0] * 3, small.shape[1] * 3)
    assert abs(np.linalg.det(np.asarray(matrix)[:, :2])) == pytest.approx(9.0)  # 3 x 3 times
    assert [s.n_staves for s in result.systems] == [2, 2, 2]
    # A drawn page has no clef or brace to tell its top: compare the boxes in page order.
    for found, true in zip(sorted(result.staff_boxes, key=lambda b: b[1]), truth, strict=True):
        assert found == pytest.approx(true, abs=1.5)  # within a line's width at 4 px spacing
    # Without enlargement the page has no readable staves.
    never = {**CONFIG["segment"], "enlarge_min_spacing_px": 4.9}
    _, _, unread = segment.clean_and_segment(small, CONFIG["clean"], never)
    assert unread.systems == []


def test_faint_staff_lines_beside_dark_beams_are_measured_and_found():
    # Staff lines drawn faint (gray 175, blurred) and long black beams across them: Otsu's
    # level falls between lines and beams and the page measures the beams' spacing.
    drawn = draw_page([2, 2, 2], spacing_px=9, thickness_px=2, notes=False, seed=3, width_px=1200)
    gray = drawn.gray.copy()
    gray[gray < 128] = 175
    rng = np.random.default_rng(1)
    for system in drawn.systems:
        x0, y0, x1, y1 = system["staff_bbox"]
        cv2.line(gray, (x0, y0), (x0, y1), 0, 3)  # the left barline, dark
        for _ in range(6):
            left, top = int(rng.integers(x0 + 40, x1 - 300)), int(rng.integers(y0 - 10, y1 + 10))
            cv2.rectangle(gray, (left, top), (left + 250, top + 4), 0, -1)
    gray = cv2.GaussianBlur(gray, (0, 0), 0.8)
    assert staves.estimate_metrics_from_strokes(255 - gray).staff_spacing_px > 20
    faint = staves.estimate_metrics_from_strokes(255 - gray, otsu=False)
    assert faint.staff_spacing_px == pytest.approx(9.0, abs=0.3)
    _, _, result = segment.clean_and_segment(gray, CONFIG["clean"], CONFIG["segment"])
    assert result.metrics.staff_spacing_px == pytest.approx(9.0, abs=0.3)
    assert result.faint_lines
    assert [s.n_staves for s in result.systems] == [2, 2, 2]
    for found, true in zip(result.staff_boxes, drawn.systems, strict=True):
        assert found == pytest.approx(true["staff_bbox"], abs=3)


def test_a_system_cut_at_an_inner_barline_with_its_lines_going_on_has_an_open_end():
    # The middle system's lines break beyond x 1000 into dashes of 4 px every 20 px (too
    # short and too sparse for the staff search to follow), and a barline stands at x 1000:
    # the staves stop at that barline, but their lines go on to 2200 like the others'.
    page = draw_page([2, 2, 2], notes=False)
    gray = page.gray.copy()
    top, bottom = page.systems[1]["staff_bbox"][1], page.systems[1]["staff_bbox"][3]
    for start in range(1001, 2200, 20):
        gray[top - 5 : bottom + 6, start + 4 : start + 20] = 255
    cv2.line(gray, (1000, top), (1000, bottom), 0, 3)
    (first, middle, last) = open_ends(gray)
    assert first == (2, 0.0) and last == (2, 0.0)
    # Short by 2200 - 1000 px of the page's common right end, spacing 20 px.
    assert middle[0] == 2 and middle[1] == pytest.approx(60.0, abs=0.5)


def test_a_system_whose_staves_end_apart_at_the_right_has_an_open_right_end():
    # The middle system's upper staff stops at x 900 and the lower at x 1000, where a
    # barline closes both; the page's other systems end at 2200 (spacing 20 px).
    page = draw_page([2, 2, 2], notes=False)
    gray = page.gray.copy()
    x0, top, _, bottom = (round(v) for v in page.systems[1]["staff_bbox"])
    gray[top - 5 : bottom + 6, 1001:] = 255
    gray[top - 5 : top + 86, 901:1001] = 255  # the upper staff's lines end 5 spacings early
    cv2.line(gray, (1000, top), (1000, bottom), 0, 3)
    (first, middle, last) = open_ends(gray)
    assert first == (2, 0.0) and last == (2, 0.0)
    assert middle[0] == 2 and middle[1] == pytest.approx((2200 - 1000) / 20, abs=0.5)
    # Ending together at that barline, the same staves close their end: a short final system.
    gray[top - 5 : top + 86, 901:1001] = page.gray[top - 5 : top + 86, 901:1001]
    cv2.line(gray, (1000, top), (1000, bottom), 0, 3)
    assert open_ends(gray)[1] == (2, 0.0)
