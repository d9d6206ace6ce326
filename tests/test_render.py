"""Rendering: vector pages at the configured dpi, scans at their native pixels, bad PDFs."""

import math

import numpy as np
import pymupdf
import pytest

from visionscores.segment import render


def vector_pdf(path, width_pt=595, height_pt=842):
    document = pymupdf.open()
    page = document.new_page(width=width_pt, height=height_pt)
    for line in range(5):
        page.draw_line((72, 100 + 7 * line), (520, 100 + 7 * line), width=0.8)
    document.save(path)


def scan_pdf(path, image, dpi):
    height, width = image.shape
    document = pymupdf.open()
    page = document.new_page(width=width * 72 / dpi, height=height * 72 / dpi)
    pixmap = pymupdf.Pixmap(pymupdf.csGRAY, width, height, image.tobytes(), False)
    page.insert_image(page.rect, pixmap=pixmap)
    document.save(path)


def test_vector_page_is_rendered_at_the_configured_dpi(tmp_path):
    vector_pdf(tmp_path / "v.pdf")
    document = render.open_pdf(tmp_path / "v.pdf")
    image, info = render.render_page(document, 1, 300, 10**9)
    assert info.origin == "rendered" and info.dpi == 300 and info.vector_only
    assert image.shape == (math.ceil(842 * 300 / 72), math.ceil(595 * 300 / 72))
    assert image.dtype == np.uint8 and image.min() < 100 and image.max() == 255


def test_scan_page_is_extracted_at_native_resolution(tmp_path):
    rng = np.random.default_rng(0)
    scan = np.full((1100, 850), 240, np.uint8)
    scan[300:303, 100:750] = 10
    scan = np.clip(scan + rng.normal(0, 5, scan.shape), 0, 255).astype(np.uint8)
    scan_pdf(tmp_path / "s.pdf", scan, dpi=100)
    document = render.open_pdf(tmp_path / "s.pdf")
    image, info = render.render_page(document, 1, 300, 10**9)
    assert info.origin == "embedded-image" and not info.vector_only
    assert info.dpi == pytest.approx(100, abs=0.5)
    assert np.array_equal(image, scan)


def test_page_above_the_pixel_limit_is_refused(tmp_path):
    vector_pdf(tmp_path / "big.pdf", 14400, 14400)
    document = render.open_pdf(tmp_path / "big.pdf")
    with pytest.raises(render.RenderError, match="above the limit"):
        render.render_page(document, 1, 300, 150_000_000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"<!DOCTYPE html><html><body>Bot Check</body></html>", "not a PDF .it is an HTML page"),
        (b"%PDF-1.7\n garbage that is not a PDF body", "cannot be opened|no pages"),
    ],
)
def test_unusable_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(render.RenderError, match=message) as raised:
        render.open_pdf(path)
    assert str(path) in str(raised.value)


def test_encrypted_pdf_is_refused(tmp_path):
    path = tmp_path / "locked.pdf"
    document = pymupdf.open()
    document.new_page()
    document.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="o")
    with pytest.raises(render.RenderError, match="encrypted"):
        render.open_pdf(path)
