"""Bad and odd score files, made on the fly from the demo's real music.

Each maker writes one file at the path it is given. The odd-but-fine ones (a page turned by
/Rotate 90, a landscape page, scans in CMYK JPEG, 16-bit gray, CCITT G4 or JBIG2, a PDF with
only an owner password) hold the first page of the demo's Mozart sonata, so a test can check
that systems are still found in them; the bad ones must end as a failure with a known cause.

Image streams are written by hand (PyMuPDF's ``update_stream`` and ``xref_set_key``): the
CCITT G4 data comes from Pillow's TIFF writer, and the JBIG2 stream is a page-information
segment plus one generic region coded with MMR (which is CCITT G4 coding inside JBIG2), so
no JBIG2 encoder is needed.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image
from repo_paths import REPO

DEMO_PDF = REPO / "demo/pdf/mozart-k545-exposition.pdf"
SCAN_DPI = 300
# Mozart's first page at 300 dpi holds four grand staves, all in its top 600 pt.
DEMO_SYSTEMS = 4
LANDSCAPE_CLIP_PT = pymupdf.Rect(0, 0, 595.28, 421.0)  # its top three systems
BOMB_SIDE_PX = 60_000
# Levels of the render bomb: 2 ** 25 staff drawings, far longer than any page may take.
RENDER_BOMB_LEVELS = 25


@functools.cache
def demo_gray() -> np.ndarray:
    """The demo's Mozart page 1 rendered at 300 dpi, 8-bit gray (read-only)."""
    document = pymupdf.open(DEMO_PDF)
    pixmap = document[0].get_pixmap(dpi=SCAN_DPI, colorspace=pymupdf.csGRAY, alpha=False)
    gray = np.frombuffer(pixmap.samples, np.uint8).reshape(pixmap.height, pixmap.stride)
    gray = gray[:, : pixmap.width].copy()
    gray.flags.writeable = False
    return gray


def _points(pixels: int) -> float:
    return pixels * 72.0 / SCAN_DPI


def _image_page(
    path: Path,
    image_keys: dict[str, str],
    data: bytes,
    page_size_pt: tuple[float, float],
    rotate: int = 0,
) -> None:
    """Write a one-page PDF whose page is one image XObject with the given keys and stream.

    ``data`` is stored as it is (already encoded); ``image_keys`` are PDF values as text,
    e.g. ``{"Filter": "/CCITTFaxDecode"}``.
    """
    document = pymupdf.open()
    page = document.new_page(width=page_size_pt[0], height=page_size_pt[1])
    placeholder = pymupdf.Pixmap(pymupdf.csGRAY, 2, 2, b"\xff" * 4, False)
    page.insert_image(page.rect, pixmap=placeholder, keep_proportion=False)
    xref = page.get_images()[0][0]
    document.update_object(xref, "<< /Type /XObject /Subtype /Image >>")
    document.update_stream(xref, data, compress=0)
    for key, value in image_keys.items():  # after update_stream, which drops /Filter
        document.xref_set_key(xref, key, value)
    if rotate:
        page.set_rotation(rotate)
    document.save(path)


def _gray_keys(width: int, height: int, bits: int, colorspace: str = "/DeviceGray"):
    return {
        "Width": str(width),
        "Height": str(height),
        "ColorSpace": colorspace,
        "BitsPerComponent": str(bits),
    }


def _g4_strip(ink: np.ndarray) -> bytes:
    """CCITT G4 (T.6) data of a bilevel image (True = black), coded black runs = black.

    Pillow's writer codes raw bit 1 as a black run; its mode "1" stores pixel 255 as bit 1,
    so black pixels are given as 255.
    """
    image = Image.fromarray(np.where(ink, 255, 0).astype(np.uint8)).convert("1")
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression="group4", tiffinfo={278: image.height})
    tiff = Image.open(io.BytesIO(buffer.getvalue()))
    (offset,), (length,) = tiff.tag_v2[273], tiff.tag_v2[279]  # one strip for the page
    return buffer.getvalue()[offset : offset + length]


def _demo_ink() -> np.ndarray:
    return demo_gray() < 128


# --- odd but fine ------------------------------------------------------------------------


def ccitt_g4_pdf(path: Path) -> None:
    """A 1-bit scan coded CCITT Group 4 (/CCITTFaxDecode /K -1)."""
    ink = _demo_ink()
    height, width = ink.shape
    keys = _gray_keys(width, height, 1)
    keys.update(
        Filter="/CCITTFaxDecode",
        DecodeParms=f"<< /K -1 /Columns {width} /Rows {height} >>",
    )
    _image_page(path, keys, _g4_strip(ink), (_points(width), _points(height)))


def jbig2_pdf(path: Path) -> None:
    """A 1-bit scan coded JBIG2 (/JBIG2Decode, embedded stream, generic region in MMR)."""
    ink = _demo_ink()
    height, width = ink.shape

    def segment(number: int, kind: int, data: bytes) -> bytes:
        # number, flags (type; 1-byte page association), no referred-to segments, page 1
        return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data

    page_information = struct.pack(">IIIIBH", width, height, 0, 0, 0, 0)
    region = struct.pack(">IIIIB", width, height, 0, 0, 0) + bytes([1]) + _g4_strip(ink)
    stream = segment(0, 48, page_information) + segment(1, 38, region) + segment(2, 49, b"")
    keys = _gray_keys(width, height, 1)
    keys.update(Filter="/JBIG2Decode")
    _image_page(path, keys, stream, (_points(width), _points(height)))


def cmyk_jpeg_pdf(path: Path) -> None:
    """A scan stored as a CMYK JPEG (/DCTDecode, /DeviceCMYK).

    Pillow writes Adobe-style inverted CMYK (an APP14 marker); PDF writers embed such a JPEG
    with an inverting /Decode array, as done here.
    """
    gray = demo_gray()
    height, width = gray.shape
    buffer = io.BytesIO()
    Image.fromarray(gray).convert("CMYK").save(buffer, "JPEG", quality=90)
    keys = _gray_keys(width, height, 8, "/DeviceCMYK")
    keys.update(Filter="/DCTDecode", Decode="[1 0 1 0 1 0 1 0]")
    _image_page(path, keys, buffer.getvalue(), (_points(width), _points(height)))


def gray16_png_pdf(path: Path) -> None:
    """A scan in 16-bit gray, Flate with PNG predictors (a 16-bit PNG's pixel data)."""
    gray = demo_gray()
    height, width = gray.shape
    deep = (gray.astype(np.uint16) * 257).astype(">u2")  # 0..255 onto 0..65535
    rows = np.hstack([np.zeros((height, 1), np.uint8), deep.view(np.uint8)])  # filter None
    keys = _gray_keys(width, height, 16)
    keys.update(
        Filter="/FlateDecode",
        DecodeParms=f"<< /Predictor 15 /Colors 1 /BitsPerComponent 16 /Columns {width} >>",
    )
    data = zlib.compress(rows.tobytes(), 6)
    _image_page(path, keys, data, (_points(width), _points(height)))


def rotate90_pdf(path: Path) -> None:
    """A landscape-stored scan on a page with /Rotate 90, which shows it upright."""
    stored = np.ascontiguousarray(np.rot90(demo_gray(), 1))  # turned counter-clockwise
    height, width = stored.shape
    keys = _gray_keys(width, height, 8)
    keys.update(Filter="/FlateDecode")
    data = zlib.compress(stored.tobytes(), 6)
    _image_page(path, keys, data, (_points(width), _points(height)), rotate=90)


def landscape_pdf(path: Path) -> None:
    """A landscape vector page (842 x 595 pt) holding the top three systems of the page."""
    source = pymupdf.open(DEMO_PDF)
    document = pymupdf.open()
    page = document.new_page(width=842, height=595)
    page.show_pdf_page(page.rect, source, 0, clip=LANDSCAPE_CLIP_PT)
    document.save(path)


def owner_password_pdf(path: Path) -> None:
    """The demo PDF encrypted with only an owner password (printing allowed, no copying)."""
    document = pymupdf.open(DEMO_PDF)
    permissions = pymupdf.PDF_PERM_PRINT | pymupdf.PDF_PERM_ACCESSIBILITY
    document.save(
        path,
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="owner-secret",
        user_pw="",
        permissions=permissions,
    )


def inverted_scan_pdf(path: Path) -> None:
    """A white-on-black scan (a negative) of the demo page, 8-bit gray."""
    gray = 255 - demo_gray()
    height, width = gray.shape
    keys = _gray_keys(width, height, 8)
    keys.update(Filter="/FlateDecode")
    _image_page(path, keys, zlib.compress(gray.tobytes(), 6), (_points(width), _points(height)))


# --- pages that give nothing, each for a reason ----------------------------------------


def black_page_pdf(path: Path) -> None:
    """A scan that is black all over (a lid left open): turned back, it is blank."""
    width, height = 2480, 3508
    keys = _gray_keys(width, height, 8)
    keys.update(Filter="/FlateDecode")
    data = zlib.compress(bytes(width * height), 6)
    _image_page(path, keys, data, (_points(width), _points(height)))


def unreadable_jbig2_pdf(path: Path) -> None:
    """A page-sized JBIG2 image whose stream is not JBIG2 (MuPDF cannot decode it)."""
    width, height = 2480, 3508
    keys = _gray_keys(width, height, 1)
    keys.update(Filter="/JBIG2Decode")
    _image_page(path, keys, bytes(range(256)) * 8, (_points(width), _points(height)))


def blank_page_pdf(path: Path) -> None:
    """An A4 vector page with nothing drawn on it."""
    document = pymupdf.open()
    document.new_page(width=595, height=842)
    document.save(path)


def text_page_pdf(path: Path) -> None:
    """An A4 vector page of text only (a preface): ink, but no staff."""
    document = pymupdf.open()
    page = document.new_page(width=595, height=842)
    for line in range(40):
        page.insert_text((72, 90 + 18 * line), "Preface. " * 8, fontsize=11)
    document.save(path)


def single_staff_pdf(path: Path) -> None:
    """An A4 vector page holding one lone staff: a candidate, rejected (one staff)."""
    document = pymupdf.open()
    page = document.new_page(width=595, height=842)
    for line in range(5):
        page.draw_line((72, 300 + 7 * line), (520, 300 + 7 * line), width=0.8)
    page.draw_line((72, 300), (72, 328), width=0.8)
    page.draw_line((520, 300), (520, 328), width=0.8)
    document.save(path)


# --- bad ---------------------------------------------------------------------------------


def corrupt_pdf(path: Path) -> None:
    """A PDF header followed by 64 KiB of random bytes."""
    rng = np.random.default_rng(1)
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + rng.bytes(64 * 1024))


def truncated_pdf(path: Path) -> None:
    """The first 60 % of the demo PDF (a download cut short)."""
    data = DEMO_PDF.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])


def user_password_pdf(path: Path) -> None:
    """The demo PDF encrypted with a user password (it cannot be opened without it)."""
    document = pymupdf.open(DEMO_PDF)
    document.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="reader")


def zero_page_pdf(path: Path) -> None:
    """A well-formed PDF whose page tree is empty, written byte by byte."""
    _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"], path)


def huge_page_pdf(path: Path) -> None:
    """One vector page of 20,000 x 20,000 pt with a staff drawn on it."""
    document = pymupdf.open()
    page = document.new_page(width=20_000, height=20_000)
    for line in range(5):
        page.draw_line((72, 100 + 7 * line), (19_000, 100 + 7 * line), width=0.8)
    document.save(path)


def html_as_pdf(path: Path) -> None:
    """An HTML page (a bot check) saved under a .pdf name."""
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>Bot Check</title></head>"
        "<body><p>Please confirm you are human.</p></body></html>\n",
        encoding="utf-8",
    )


def empty_file(path: Path) -> None:
    """A file of zero bytes."""
    path.write_bytes(b"")


def decompression_bomb_pdf(path: Path, side_px: int = BOMB_SIDE_PX) -> None:
    """An A4 page holding one blank 1-bit image of ``side_px`` squared pixels.

    At the default 60,000 px: 3.6 gigapixels (450 MB packed) in a 0.4 MB file.
    """
    row_bytes = -(-side_px // 8)
    compressor = zlib.compressobj(9)
    rows_per_block = 1000
    data = b"".join(
        compressor.compress(bytes(row_bytes * min(rows_per_block, side_px - start)))
        for start in range(0, side_px, rows_per_block)
    )
    data += compressor.flush()
    keys = _gray_keys(side_px, side_px, 1)
    keys.update(Filter="/FlateDecode", Decode="[1 0]")  # zero bits are white paper
    _image_page(path, keys, data, (595.28, 841.89))


def _raw_pdf(objects: list[bytes], path: Path) -> None:
    """Write ``objects`` (bodies of objects 1, 2, ...) as a PDF with a cross-reference table;
    object 1 is the catalog."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    path.write_bytes(bytes(out))


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(data), data)


def render_bomb_pdf(path: Path, levels: int = RENDER_BOMB_LEVELS) -> None:
    """An A4 page of nested form XObjects: each level draws the one below twice, so the
    page makes 2 ** ``levels`` drawings of one staff, from a file of a few kilobytes."""

    def form_number(level: int) -> int:  # the top level is object 5, level 0 the last
        return 5 + levels - level

    form = b"/Type /XObject /Subtype /Form /BBox [0 0 595 842]"
    staff = b"".join(b"72 %d m 520 %d l " % (700 + 7 * k, 700 + 7 * k) for k in range(5))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /XObject << /X %d 0 R >> >> >>" % form_number(levels),
        _stream(b"", b"/X Do"),
    ]
    for level in range(levels, 0, -1):
        resources = b" /Resources << /XObject << /X %d 0 R >> >>" % form_number(level - 1)
        objects.append(_stream(form + resources, b"q /X Do Q q 1 0 0 1 0 -1 cm /X Do Q"))
    objects.append(_stream(form, staff + b"S"))
    _raw_pdf(objects, path)


# --- the cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input: its name (also its piece_id), its maker and the expected outcome.

    ``cause`` is the failure cause a bad input must end with; None for a fine input, whose
    page must yield at least ``min_systems`` grand-staff systems, or for an input whose
    page gives nothing, for the reason ``page_reason`` (of the dataset's pages table).
    """

    name: str
    make: Callable[[Path], None]
    cause: str | None = None
    min_systems: int = 0
    page_reason: str | None = None

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.name}.pdf"
        self.make(path)
        return path


FINE = [
    Case("rotate-90", rotate90_pdf, min_systems=DEMO_SYSTEMS),
    Case("landscape", landscape_pdf, min_systems=3),
    Case("cmyk-jpeg", cmyk_jpeg_pdf, min_systems=DEMO_SYSTEMS),
    Case("gray-16-bit", gray16_png_pdf, min_systems=DEMO_SYSTEMS),
    Case("ccitt-g4", ccitt_g4_pdf, min_systems=DEMO_SYSTEMS),
    Case("jbig2", jbig2_pdf, min_systems=DEMO_SYSTEMS),
    Case("owner-password", owner_password_pdf, min_systems=DEMO_SYSTEMS),
    Case("inverted-scan", inverted_scan_pdf, min_systems=DEMO_SYSTEMS),
]
EMPTY = [
    Case("black-page", black_page_pdf, page_reason="blank"),
    Case("unreadable-jbig2", unreadable_jbig2_pdf, page_reason="unreadable-image"),
    Case("blank-page", blank_page_pdf, page_reason="blank"),
    Case("text-page", text_page_pdf, page_reason="no-staves"),
    Case("single-staff", single_staff_pdf, page_reason="all-rejected"),
]
BAD = [
    Case("corrupt", corrupt_pdf, cause="corrupt"),
    Case("truncated", truncated_pdf, cause="truncated"),
    Case("user-password", user_password_pdf, cause="encrypted"),
    Case("zero-pages", zero_page_pdf, cause="no-pages"),
    Case("huge-page", huge_page_pdf, cause="page-too-large"),
    Case("html-page", html_as_pdf, cause="html"),
    Case("empty-file", empty_file, cause="empty-file"),
    Case("decompression-bomb", decompression_bomb_pdf, cause="page-too-large"),
    Case("render-bomb", render_bomb_pdf, cause="render-timeout"),
]
ALL = FINE + BAD + EMPTY
