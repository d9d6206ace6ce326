"""Synthetic pages: ground-truth boxes match the ink, damage moves boxes, PDFs round-trip."""

from __future__ import annotations

import cv2
import numpy as np
import pymupdf  # noqa: E402
import pytest

from visionscores_tools import synthetic

DPI = 300


@pytest.fixture(scope="module")
def piano_page():
    """First page of a two-staff piano piece, its vector PDF and its raster at DPI."""
    pages = synthetic.engrave("mozart/k545", max_pages=1)
    pdf = synthetic.vector_pdf(pages)
    return pages[0], pdf, synthetic.render_pdf_page(pdf, 0, DPI)


def dark_fraction(gray: np.ndarray, row: int, x0: float, x1: float) -> float:
    return float(np.mean(gray[row, int(np.ceil(x0)) : int(x1)] < 128))


def test_piano_systems_are_two_staff_in_reading_order(piano_page):
    page, _, _ = piano_page
    assert len(page.systems) >= 3
    assert page.n_staves == [2] * len(page.systems)
    tops = [s.staff_bbox[1] for s in page.systems]
    assert tops == sorted(tops)


def test_box_edges_are_staff_line_rows(piano_page):
    page, _, gray = piano_page
    for x0, y0, x1, y1 in page.boxes_at_dpi(DPI):
        # The first and last rows of the box are the outer staff lines, inked across the
        # whole system; just outside them, no row is.
        assert dark_fraction(gray, int(y0), x0, x1) > 0.95
        assert dark_fraction(gray, int(y1), x0, x1) > 0.95
        assert dark_fraction(gray, int(y0) - 3, x0, x1) < 0.5
        assert dark_fraction(gray, int(y1) + 3, x0, x1) < 0.5
        # Staff lines end at x1: paper right of it.
        assert gray[int(y0), int(x1) + 2 : int(x1) + 12].min() > 200


def test_boxes_match_staff_lines_from_pdf_drawings(piano_page):
    page, pdf, _ = piano_page
    from_drawings = synthetic.staff_boxes_from_drawings(pdf, 0, DPI)
    np.testing.assert_allclose(from_drawings, page.boxes_at_dpi(DPI), atol=0.25)


def test_vector_pdf_is_reproducible_and_has_page_size(piano_page):
    page, pdf, gray = piano_page
    assert synthetic.vector_pdf([page]) == pdf
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        assert doc[0].rect.width == pytest.approx(page.page_width_pt, abs=0.01)
        assert doc[0].rect.height == pytest.approx(page.page_height_pt, abs=0.01)
    assert gray.shape == (3508, 2481)


def test_voice_and_piano_song_has_three_staff_systems():
    pages = synthetic.engrave("schumann_robert/opus48no2", max_pages=1)
    assert set(pages[0].n_staves) == {3}
    pdf = synthetic.vector_pdf(pages)
    from_drawings = synthetic.staff_boxes_from_drawings(pdf, 0, DPI, staves_per_system=3)
    np.testing.assert_allclose(from_drawings, pages[0].boxes_at_dpi(DPI), atol=0.25)


SVG_TEMPLATE = """<svg width="200px" height="100px" xmlns="http://www.w3.org/2000/svg">
<svg class="definition-scale" viewBox="0 0 2000 1000">
<g class="page-margin" transform="translate(100, 50)">
<g class="system"><g class="measure">
  <g class="staff">{staff_a}</g><g class="staff">{staff_b}</g>
</g></g>
<g class="systemMilestoneEnd abc"><g class="staff">{staff_c}</g></g>
</g></svg></svg>"""


def five_lines(x0: float, x1: float, top: float, spacing: float = 10) -> str:
    return "".join(
        f'<path d="M{x0} {top + i * spacing} L{x1} {top + i * spacing}" stroke-width="2"/>'
        for i in range(5)
    )


def test_systems_from_svg_maps_units_and_matches_class_exactly():
    svg = SVG_TEMPLATE.format(
        staff_a=five_lines(0, 1000, 0),
        staff_b=five_lines(0, 1200, 100),
        staff_c=five_lines(0, 1800, 600),
    )
    width_px, height_px, systems = synthetic.systems_from_svg(svg)
    assert (width_px, height_px) == (200, 100)
    assert len(systems) == 1  # the "systemMilestoneEnd" group is not a system
    # px = (x + margin) * 200 / 2000
    assert systems[0].staff_bbox == pytest.approx((10.0, 5.0, 130.0, 19.0))
    assert systems[0].n_staves == 2


def test_degrade_moves_box_with_the_drawn_rectangle():
    gray = np.full((800, 1000), 255, np.uint8)
    box = np.array([[200.0, 300.0, 800.0, 420.0]])
    # Filled rectangle covering pixels 200..799 x 300..419, i.e. exactly the box.
    gray[300:420, 200:800] = 0
    out, moved = synthetic.degrade(
        gray, box, np.random.default_rng(0), rotation_deg=2.5, scale=1.02, shift_px=(12, -7)
    )
    ys, xs = np.nonzero(out < 128)
    ink_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    np.testing.assert_allclose(moved[0], ink_box, atol=1.5)


def test_positive_skew_makes_lines_rise_to_the_right():
    gray = np.full((600, 1000), 255, np.uint8)
    gray[300:303, 100:900] = 0
    out, _ = synthetic.degrade(gray, np.zeros((0, 4)), np.random.default_rng(0), rotation_deg=2)
    left = np.nonzero(out[:, 150] < 128)[0].mean()
    right = np.nonzero(out[:, 850] < 128)[0].mean()
    assert right < left - 20  # tan(2 deg) * 700 px is about 24 px


def test_photometric_damage_keeps_boxes_and_binarizes():
    rng = np.random.default_rng(3)
    gray = np.full((400, 500), 255, np.uint8)
    gray[100:105, 50:450] = 0
    boxes = np.array([[50.0, 100.0, 450.0, 105.0]])
    out, moved = synthetic.degrade(
        gray,
        boxes,
        rng,
        bleed_through=0.2,
        uneven_light=0.2,
        blur_sigma_px=1.0,
        noise_sigma=8,
        salt_pepper=0.001,
        binarize_1bit=True,
    )
    np.testing.assert_array_equal(moved, boxes)
    assert out.shape == gray.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}
    again, _ = synthetic.degrade(
        gray,
        boxes,
        np.random.default_rng(3),
        bleed_through=0.2,
        uneven_light=0.2,
        blur_sigma_px=1.0,
        noise_sigma=8,
        salt_pepper=0.001,
        binarize_1bit=True,
    )
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize("mode", ["gray", "1bit"])
def test_image_pdf_round_trips_native_pixels(mode):
    rng = np.random.default_rng(1)
    pages = [
        np.where(rng.random((330, 250)) < 0.3, 0, 255).astype(np.uint8),
        np.full((200, 157), 255, np.uint8),
    ]
    dpi = 150
    pdf = synthetic.image_pdf(pages, dpi, mode)
    assert synthetic.image_pdf(pages, dpi, mode) == pdf
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        assert doc.page_count == len(pages)
        for page, original in zip(doc, pages, strict=True):
            images = page.get_images()
            assert len(images) == 1
            xref = images[0][0]
            pix = pymupdf.Pixmap(doc, xref)
            assert (pix.height, pix.width) == original.shape
            assert page.rect.width == pytest.approx(original.shape[1] * 72 / dpi, abs=1e-3)
            assert page.get_pixmap(dpi=dpi).width == original.shape[1]
            if mode == "1bit":
                assert doc.xref_get_key(xref, "BitsPerComponent") == ("int", "1")
                decoded = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width)
                np.testing.assert_array_equal(decoded, original)


@pytest.mark.parametrize("make_page", [synthetic.prose_page, synthetic.title_page])
def test_negative_pages_have_ink_but_no_long_horizontal_lines(make_page):
    page = make_page(np.random.default_rng(0), dpi=150)
    ink = (page < 128).astype(np.uint8)
    assert ink.mean() > 0.005
    # Opening with a line a fifth of the page wide keeps only long horizontal strokes.
    kernel = np.ones((1, page.shape[1] // 5), np.uint8)
    assert cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel).sum() == 0


def test_blank_page_has_no_long_horizontal_lines():
    page = synthetic.blank_page(np.random.default_rng(0), dpi=150)
    ink = (page < 128).astype(np.uint8)
    kernel = np.ones((1, page.shape[1] // 5), np.uint8)
    assert cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel).sum() == 0
