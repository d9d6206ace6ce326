"""Render: PDF pages to grayscale page images.

A page that is one embedded scan image is extracted at the scan's native resolution (no
resampling, so the pixels are the scanner's); any other page is rendered by PyMuPDF at the
configured dpi. Every page image is 8-bit grayscale, white paper, top-left origin.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pymupdf

from visionscores.errors import VisionscoresError

# An embedded image counts as "the page" when it covers this much of the page area.
FULL_PAGE_IMAGE_COVERAGE = 0.85
# Extraction is checked against a coarse rendering of the page; above this mean absolute
# difference (gray levels) the page is rendered instead (inverted masks, odd decode arrays).
EXTRACTION_CHECK_DPI = 24
EXTRACTION_MAX_MEAN_DIFFERENCE = 40.0


class RenderError(VisionscoresError):
    """A PDF (or one of its pages) that cannot be turned into page images."""


@dataclass(frozen=True)
class PageImage:
    """One rendered page: its 1-based number, size in pixels, resolution and origin."""

    page: int
    width: int
    height: int
    dpi: float
    origin: str  # "embedded-image" (native scan pixels) or "rendered"
    # Drawn by vector operations alone (an engraving): no image, so no scanner skew.
    vector_only: bool = False


def open_pdf(pdf_path: str | Path) -> pymupdf.Document:
    """Open a PDF, turning every way it can be unusable into a :class:`RenderError`."""
    pdf_path = Path(pdf_path)
    if not pdf_path.exists():
        raise RenderError(f"{pdf_path}: file not found", cause="missing")
    if pdf_path.stat().st_size == 0:
        raise RenderError(f"{pdf_path}: the file is empty", cause="empty-file")
    with open(pdf_path, "rb") as handle:
        head = handle.read(1024)
    if b"%PDF" not in head:
        is_html = b"<html" in head.lower() or b"<!doctype" in head.lower()
        kind = " (it is an HTML page)" if is_html else ""
        raise RenderError(f"{pdf_path}: not a PDF{kind}", cause="html" if is_html else "not-pdf")
    try:
        document = pymupdf.open(pdf_path, filetype="pdf")
    except Exception as error:  # MuPDF raises several types for broken files
        raise RenderError(
            f"{pdf_path}: cannot be opened as a PDF ({error})", cause="corrupt"
        ) from error
    if document.needs_pass and not document.authenticate(""):
        raise RenderError(f"{pdf_path}: the PDF is encrypted with a password", cause="encrypted")
    if document.page_count == 0:
        raise RenderError(f"{pdf_path}: the PDF has no pages", cause="no-pages")
    if document.is_repaired:
        with open(pdf_path, "rb") as handle:
            handle.seek(max(0, pdf_path.stat().st_size - 1024))
            tail = handle.read()
        if b"%%EOF" not in tail:
            # MuPDF rebuilds a cut-off file into something that renders, often blank pages.
            raise RenderError(
                f"{pdf_path}: the PDF is truncated (no end-of-file marker; an interrupted"
                " download?)",
                cause="truncated",
            )
    return document


def _pixmap_to_gray(pixmap: pymupdf.Pixmap) -> np.ndarray:
    """Return an 8-bit gray array of ``pixmap`` (any colorspace, alpha dropped)."""
    if pixmap.alpha:
        pixmap = pymupdf.Pixmap(pixmap, 0)
    if pixmap.colorspace is None or pixmap.n != 1:
        pixmap = pymupdf.Pixmap(pymupdf.csGRAY, pixmap)
    samples = np.frombuffer(pixmap.samples, dtype=np.uint8)
    return samples.reshape(pixmap.height, pixmap.stride)[:, : pixmap.width].copy()


def _refuse_huge_images(images: list, page_number: int, max_pixels: int) -> None:
    """Refuse a page whose images (``get_images(full=True)`` entries) declare more than
    ``max_pixels`` pixels, before any is decoded.

    A few kilobytes of compressed data can declare a gigapixel image (a decompression
    bomb); the declared size is read from the image dictionary without decoding it.
    """
    for image in images:
        width, height = image[2], image[3]
        if width * height > max_pixels:
            raise RenderError(
                f"page {page_number} holds an image of {width} x {height} pixels, above the"
                f" limit of {max_pixels} pixels (render.max_pixels_per_page)",
                cause="page-too-large",
            )


def _full_page_image_xref(
    page: pymupdf.Page, images: list, infos: list
) -> tuple[int, float] | None:
    """Return (xref, native dpi) when the page is one upright scan image, else None.

    ``images``: the page's ``get_images(full=True)`` entries; ``infos``: its
    ``get_image_info()`` (which also lists inline images).
    """
    if len(infos) != 1 or len(images) != 1 or page.rotation % 360 != 0:
        return None
    info = {**infos[0], "xref": images[0][0]}
    a, b, c, d, _, _ = info["transform"]
    if info["xref"] <= 0 or abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
        return None  # rotated, flipped or inline image: let MuPDF compose it
    page_area = page.rect.width * page.rect.height
    box = pymupdf.Rect(info["bbox"]) & page.rect
    if page_area <= 0 or box.width * box.height < FULL_PAGE_IMAGE_COVERAGE * page_area:
        return None
    native_dpi = info["width"] / (box.width / 72.0)
    return info["xref"], native_dpi


def render_at_dpi(page: pymupdf.Page, dpi: float) -> np.ndarray:
    """Render a page to gray at ``dpi`` (dots per inch; fractional values allowed)."""
    zoom = dpi / 72.0
    pixmap = page.get_pixmap(
        matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False
    )
    return _pixmap_to_gray(pixmap)


def _extraction_agrees(page: pymupdf.Page, image: np.ndarray) -> bool:
    """True when the extracted image looks like the page MuPDF composes (same polarity)."""
    import cv2

    coarse = render_at_dpi(page, EXTRACTION_CHECK_DPI).astype(np.float32)
    shrunk = cv2.resize(image, (coarse.shape[1], coarse.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.mean(np.abs(shrunk.astype(np.float32) - coarse))) <= (
        EXTRACTION_MAX_MEAN_DIFFERENCE
    )


def render_page(
    document: pymupdf.Document, page_number: int, dpi: float, max_pixels: int
) -> tuple[np.ndarray, PageImage]:
    """Render 1-based ``page_number`` to gray; refuse pages above ``max_pixels`` pixels."""
    page = document[page_number - 1]
    images = page.get_images(full=True)  # declared sizes only; nothing is decoded
    _refuse_huge_images(images, page_number, max_pixels)
    # Without xrefs=True, get_image_info does not hash (so decode) every image.
    infos = page.get_image_info()
    scan = _full_page_image_xref(page, images, infos)
    if scan is not None:
        xref, native_dpi = scan  # its size was checked by _refuse_huge_images
        try:
            image = _pixmap_to_gray(pymupdf.Pixmap(document, xref))
        except Exception:  # an image MuPDF composes but cannot hand out alone
            image = None
        if image is not None and _extraction_agrees(page, image):
            height, width = image.shape
            return image, PageImage(
                page_number, width, height, round(native_dpi, 2), "embedded-image"
            )
        dpi = min(native_dpi, 600.0)
    width_px = page.rect.width * dpi / 72.0
    height_px = page.rect.height * dpi / 72.0
    if width_px * height_px > max_pixels:
        raise RenderError(
            f"page {page_number} would be {width_px:.0f} x {height_px:.0f} pixels at {dpi:g} dpi,"
            f" above the limit of {max_pixels} pixels (render.max_pixels_per_page)",
            cause="page-too-large",
        )
    image = render_at_dpi(page, dpi)
    height, width = image.shape
    vector_only = not images and not infos
    return image, PageImage(page_number, width, height, float(dpi), "rendered", vector_only)


def page_record(page: PageImage) -> dict:
    """The page's description as stored beside the page images."""
    return asdict(page)


# --- rendering in a child process, bounded in time ---------------------------------------


def _write_all(descriptor: int, data: memoryview) -> None:
    """Write all of ``data`` to a pipe (the pixels, with no copy into a message)."""
    while data:
        data = data[os.write(descriptor, data) :]


def _read_all(descriptor: int, buffer: memoryview) -> None:
    """Fill ``buffer`` from a pipe, reading straight into it."""
    while buffer:
        count = os.readv(descriptor, [buffer])
        if not count:
            raise EOFError("the renderer closed the pipe")
        buffer = buffer[count:]


def _render_worker(connection, pdf_path: str, dpi: float, max_pixels: int) -> None:
    """Child process: render the pages asked for on ``connection`` until it sends None.

    Answers ("ok", image shape, info, warnings) then the image's raw bytes (multiprocessing's
    connections read exactly their messages, so raw bytes may follow one), ("refused", cause,
    message) for a
    :class:`RenderError`, or ("failed", message) for any other MuPDF error. ``warnings`` are
    what MuPDF said while rendering the page (e.g. an image it could not decode).
    """
    document = open_pdf(pdf_path)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    while (page_number := connection.recv()) is not None:
        pymupdf.TOOLS.mupdf_warnings(reset=True)
        try:
            image, info = render_page(document, page_number, dpi, max_pixels)
            warnings = pymupdf.TOOLS.mupdf_warnings(reset=True)
            # The pixels as raw bytes, after a small header: no pickling of the array.
            connection.send(("ok", image.shape, info, warnings))
            _write_all(connection.fileno(), np.ascontiguousarray(image).reshape(-1).data)
            del image
        except RenderError as error:
            connection.send(("refused", error.cause, str(error)))
        except Exception as error:  # MuPDF errors on a damaged page
            connection.send(("failed", str(error)))
    connection.close()


class PageRenderer:
    """Render the pages of one PDF in a child process, each within ``max_seconds``.

    Python cannot interrupt MuPDF's C code, so a page that draws forever (nested form
    XObjects, each drawing the one below twice) is rendered by a forked child that is
    killed when the page takes longer than ``max_seconds``: :class:`RenderError` with cause
    ``render-timeout``. One child serves every page of the PDF (a fork costs milliseconds,
    a page's pixels cross a pipe at about a gigabyte a second). Use as a context manager.
    """

    def __init__(self, pdf_path: str | Path, dpi: float, max_pixels: int, max_seconds: float):
        self.pdf_path, self.dpi, self.max_pixels = str(pdf_path), dpi, max_pixels
        self.max_seconds = max_seconds
        self._process = None
        self._connection = None

    def __enter__(self) -> PageRenderer:
        import multiprocessing

        context = multiprocessing.get_context("fork")  # no re-import: the parent has it all
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_render_worker,
            args=(child_end, self.pdf_path, self.dpi, self.max_pixels),
            daemon=True,
        )
        self._process.start()
        child_end.close()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._connection.send(None)
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._connection.close()
        self._process = None

    def _crashed(self, page_number: int) -> RenderError:
        self._process.join()
        return RenderError(
            f"page {page_number}: the renderer stopped (exit code {self._process.exitcode})"
            " while rendering it",
            cause="render-crash",
        )

    def render(self, page_number: int) -> tuple[np.ndarray, PageImage, list[str]]:
        """Render 1-based ``page_number``: (gray image, its description, MuPDF's warnings)."""
        try:
            self._connection.send(page_number)
            answered = self._connection.poll(self.max_seconds)
        except OSError:  # the child is gone (killed between two pages)
            raise self._crashed(page_number) from None
        if not answered:
            self._process.kill()
            self._process.join()
            raise RenderError(
                f"page {page_number}: rendering took longer than {self.max_seconds:g} s"
                " (render.max_seconds_per_page); it was stopped",
                cause="render-timeout",
            )
        try:
            answer = self._connection.recv()
            if answer[0] == "ok":
                _, shape, info, warnings = answer
                image = np.empty(shape, dtype=np.uint8)
                _read_all(self._connection.fileno(), image.reshape(-1).data)
        except (EOFError, OSError):  # the child died: MuPDF crashed, or the kernel killed it
            raise self._crashed(page_number) from None
        if answer[0] == "refused":
            raise RenderError(answer[2], cause=answer[1])
        if answer[0] == "failed":
            raise RenderError(
                f"page {page_number} cannot be rendered ({answer[1]})", cause="corrupt-page"
            )
        return image, info, [line for line in warnings.splitlines() if line]
