"""Synthetic score pages with exact ground truth for the position of every system.

The one concern of this module is *making* test pages: engrave symbolic scores with verovio,
read the tight staff box of every system from the engraver's SVG, turn pages into vector PDFs,
rasters and image-only ("scanned") PDFs, and damage rasters like a scanner would while keeping
the boxes exact. It also makes pages without music (prose, title, blank) as negative examples.

Coordinate conventions, used everywhere below:

* A *box* is ``(x0, y0, x1, y1)`` in continuous pixel coordinates: pixel column ``i`` covers
  ``[i, i + 1)``. Box arrays have shape ``(n, 4)`` and dtype float64.
* A system's ``staff_bbox`` spans from the centre line of the top staff line of its top staff to
  the centre line of the bottom staff line of its bottom staff, and from the leftmost to the
  rightmost end of its staff lines.
* "Page pixels at ``dpi``" are the pixels of the page rendered by PyMuPDF with
  ``page.get_pixmap(dpi=dpi)``: ``pt * dpi / 72``.
* ``skew_deg > 0`` means the page content is rotated counter-clockwise as seen on screen, so
  horizontal lines rise to the right.

verovio, music21 and cairosvg are an optional extra (``visionscores[tools]``); they are
imported inside the functions that need them so the pipeline imports without them.
"""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

import cv2
import numpy as np

MM_PER_INCH = 25.4
PT_PER_INCH = 72.0
SVG_NS = "{http://www.w3.org/2000/svg}"
# verovio lays pages out in tenths of a millimetre ("MEI units" at scale 100).
VEROVIO_UNITS_PER_MM = 10
# Each staff line in verovio's SVG is a single straight path "M x y L x y".
_LINE_PATH = re.compile(r"^\s*M\s*(-?[\d.]+)[\s,]+(-?[\d.]+)\s*L\s*(-?[\d.]+)[\s,]+(-?[\d.]+)\s*$")
_TRANSLATE = re.compile(r"translate\(\s*(-?[\d.]+)[\s,]+(-?[\d.]+)\s*\)")
# SMuFL code points of the accidentals verovio draws in a key signature (``keyAccid`` glyphs,
# referenced as ``#E262-<id>``): https://w3c.github.io/smufl/latest/tables/standard-accidentals-12-edo.html
_SMUFL_SHARP, _SMUFL_FLAT = "E262", "E260"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


@dataclass(frozen=True)
class EngravedSystem:
    """One system of an engraved page.

    staff_bbox: tight staff box ``(x0, y0, x1, y1)`` in SVG pixels of the page.
    n_staves: number of staves in the system (2 for a piano grand staff).
    key_signature_fifths: the key signature printed at the start of the system's staves, as
        sharps (positive) or flats (negative); 0 for none. Cancelling naturals are not counted.
        None when the staves print different key signatures.
    """

    staff_bbox: tuple[float, float, float, float]
    n_staves: int
    key_signature_fifths: int | None = 0


@dataclass(frozen=True)
class EngravedPage:
    """One engraved page: its SVG and its systems in reading order (top to bottom).

    svg: the SVG document as written by verovio.
    width_px, height_px: size of the SVG page in SVG pixels.
    page_width_mm, page_height_mm: physical page size the SVG pixels map onto.
    systems: the page's systems, top to bottom.
    """

    svg: str
    width_px: float
    height_px: float
    page_width_mm: float
    page_height_mm: float
    systems: tuple[EngravedSystem, ...]

    @property
    def page_width_pt(self) -> float:
        return self.page_width_mm / MM_PER_INCH * PT_PER_INCH

    @property
    def page_height_pt(self) -> float:
        return self.page_height_mm / MM_PER_INCH * PT_PER_INCH

    def boxes_at_dpi(self, dpi: float) -> np.ndarray:
        """Staff boxes, shape (n, 4), in page pixels at ``dpi`` (PyMuPDF rendering)."""
        pixels_per_svg_px = self.page_width_pt * dpi / PT_PER_INCH / self.width_px
        boxes = np.array([s.staff_bbox for s in self.systems], dtype=np.float64).reshape(-1, 4)
        return boxes * pixels_per_svg_px

    @property
    def n_staves(self) -> list[int]:
        return [s.n_staves for s in self.systems]

    @property
    def key_signatures(self) -> list[int | None]:
        """Key signature of each system (sharps positive, flats negative), top to bottom."""
        return [s.key_signature_fifths for s in self.systems]


# --------------------------------------------------------------------------------------------
# Engraving
# --------------------------------------------------------------------------------------------


def load_score(source: str | Path):
    """Load a music21 score from a corpus path (e.g. ``"mozart/k545"``) or a file path."""
    from music21 import converter, corpus

    path = Path(source)
    if path.exists():
        return converter.parse(path)
    return corpus.parse(str(source))


def score_to_musicxml(
    score,
    *,
    title: str | None = None,
    composer: str | None = None,
    drop_tempo_marks: bool = True,
    part_names: bool = False,
) -> str:
    """Export a music21 score to a MusicXML string for verovio.

    title, composer: written into the metadata and as page-1 credits, which verovio prints as
        the title block (title centred on top, composer right-aligned below it).
    drop_tempo_marks: remove metronome marks, whose note glyph cairosvg cannot draw (it comes
        out as an empty box); their words ("Allegro") are kept as a plain text direction.
    part_names: keep part names as labels left of the first system (piano scores have none).
    """
    from music21 import expressions, metadata, tempo, text
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = copy.deepcopy(score)  # the caller's score stays untouched
    if drop_tempo_marks:
        for mark in list(score.recurse().getElementsByClass(tempo.MetronomeMark)):
            site = mark.activeSite
            words = mark.text if isinstance(mark.text, str) else None
            offset = mark.getOffsetBySite(site)
            site.remove(mark)
            if words:
                site.insert(offset, expressions.TextExpression(words))
    if score.metadata is None:
        score.metadata = metadata.Metadata()
    # music21 fills empty metadata with placeholders ("Music21 Fragment"); set explicit values
    # so the title block shows what the caller asked for, or nothing.
    score.metadata.title = title or ""
    score.metadata.movementName = title or ""
    score.metadata.composer = composer or ""
    # Credits copied from the source encoding (titles, editor notes, page numbers) would
    # otherwise be printed too; the title block is only what the caller passes.
    for box in list(score.recurse().getElementsByClass(text.TextBox)):
        box.activeSite.remove(box)
    if not part_names:
        for part in score.parts:
            part.partName = ""
            part.partAbbreviation = ""
    musicxml = GeneralObjectExporter(score).parse().decode("utf-8")
    # The export date would make equal scores give different files.
    musicxml = re.sub(r"<encoding-date>[^<]*</encoding-date>", "", musicxml)
    # verovio only builds its header from credits that carry a position; the numbers are
    # MusicXML tenths from the page bottom and just order the lines (title above composer).
    credits = ""
    if title:
        credits += (
            '<credit page="1"><credit-type>title</credit-type><credit-words default-x="600" '
            'default-y="1500" justify="center" valign="top">'
            f"{xml_escape(title)}</credit-words></credit>"
        )
    if composer:
        # valign="bottom" puts the composer on a second line, below the title.
        credits += (
            '<credit page="1"><credit-type>composer</credit-type><credit-words default-x="1100" '
            'default-y="1400" justify="right" valign="bottom">'
            f"{xml_escape(composer)}</credit-words></credit>"
        )
    return musicxml.replace("<part-list>", credits + "<part-list>", 1)


def engrave(
    source: str | Path,
    *,
    title: str | None = None,
    composer: str | None = None,
    header: bool = False,
    font: str = "Leipzig",
    page_width_mm: float = 210.0,
    page_height_mm: float = 297.0,
    staff_space_mm: float = 1.8,
    margin_mm: float = 15.0,
    margin_top_mm: float | None = None,
    spacing_staff: int = 12,
    spacing_system: int = 12,
    spacing_linear: float = 0.25,
    spacing_non_linear: float = 0.6,
    justify_vertically: bool = False,
    lyric_size: float = 4.5,
    max_pages: int | None = None,
) -> list[EngravedPage]:
    """Engrave a score with verovio and return its pages with exact system boxes.

    source: music21 corpus path (``"mozart/k545"``) or a score file music21 can read.
    title, composer: text of the title block; only printed when ``header`` is true (page 1).
    header: print a title block on page 1; no headers or footers otherwise.
    font: SMuFL music font shipped with verovio (Leipzig, Bravura, Gootville, Leland, Petaluma).
    page_width_mm, page_height_mm: page size in millimetres.
    staff_space_mm: distance between two staff lines in millimetres (staff height is 4x).
    margin_mm: left, right and bottom page margins in millimetres (verovio allows <= 50).
    margin_top_mm: top margin in millimetres; defaults to ``margin_mm``.
    spacing_staff: minimal gap between staves of a system, in verovio units (half staff spaces).
    spacing_system: minimal gap between systems, in verovio units (half staff spaces).
    spacing_linear, spacing_non_linear: verovio horizontal spacing factors in [0, 1].
    justify_vertically: spread the systems to fill each page.
    lyric_size: lyric text size in verovio units (half staff spaces); smaller values keep
        lyrics apart when the fallback text font is wider than verovio's Times metrics.
    max_pages: engrave only the first pages.
    """
    import verovio

    score = load_score(source)
    musicxml = score_to_musicxml(score, title=title, composer=composer)

    toolkit = verovio.toolkit()
    top_mm = margin_mm if margin_top_mm is None else margin_top_mm
    toolkit.setOptions(
        {
            "pageWidth": round(page_width_mm * VEROVIO_UNITS_PER_MM),
            "pageHeight": round(page_height_mm * VEROVIO_UNITS_PER_MM),
            "pageMarginLeft": round(margin_mm * VEROVIO_UNITS_PER_MM),
            "pageMarginRight": round(margin_mm * VEROVIO_UNITS_PER_MM),
            "pageMarginBottom": round(margin_mm * VEROVIO_UNITS_PER_MM),
            "pageMarginTop": round(top_mm * VEROVIO_UNITS_PER_MM),
            # verovio's "unit" is half a staff space, in verovio units (0.1 mm).
            "unit": staff_space_mm * VEROVIO_UNITS_PER_MM / 2,
            "font": font,
            "header": "auto" if header else "none",
            "footer": "none",
            "breaks": "auto",
            "spacingStaff": spacing_staff,
            "spacingSystem": spacing_system,
            "spacingLinear": spacing_linear,
            "spacingNonLinear": spacing_non_linear,
            "justifyVertically": justify_vertically,
            "lyricSize": lyric_size,
            # Fixed ids keep the SVG byte-identical from run to run.
            "xmlIdSeed": 1,
        }
    )
    if not toolkit.loadData(musicxml):
        raise ValueError(f"verovio could not load {source!r}")
    n_pages = toolkit.getPageCount()
    if max_pages is not None:
        n_pages = min(n_pages, max_pages)
    pages = []
    for page_number in range(1, n_pages + 1):
        svg = toolkit.renderToSVG(page_number)
        width_px, height_px, systems = systems_from_svg(svg)
        pages.append(
            EngravedPage(
                svg=svg,
                width_px=width_px,
                height_px=height_px,
                page_width_mm=page_width_mm,
                page_height_mm=page_height_mm,
                systems=tuple(systems),
            )
        )
    return pages


def _classes(element) -> str:
    return element.get("class", "")


def _glyph_code(use_element) -> str:
    """SMuFL code point of a ``<use>`` glyph reference (``#E262-abc`` gives ``E262``)."""
    href = use_element.get(_XLINK_HREF) or use_element.get("href", "")
    return href.lstrip("#").split("-")[0]


def system_key_signature_from_svg(system) -> int | None:
    """Key signature printed at the start of one verovio SVG system group, in fifths.

    Read from the ``keySig`` groups of the system's first measure, one per staff: sharps count
    +1, flats -1 (naturals cancelling a previous key are not counted). A staff with no
    ``keySig`` there prints none (0). None when the staves disagree.
    """
    first_measure = next(
        (e for e in system.iter(f"{SVG_NS}g") if "measure" in _classes(e).split()), None
    )
    if first_measure is None:
        return 0
    per_staff = []
    for staff in (e for e in first_measure if _classes(e) == "staff"):
        fifths = 0
        for key_sig in (e for e in staff.iter(f"{SVG_NS}g") if _classes(e) == "keySig"):
            for use in key_sig.iter(f"{SVG_NS}use"):
                code = _glyph_code(use)
                fifths += (code == _SMUFL_SHARP) - (code == _SMUFL_FLAT)
        per_staff.append(fifths)
    if not per_staff:
        return 0
    return per_staff[0] if len(set(per_staff)) == 1 else None


def systems_from_svg(svg: str) -> tuple[float, float, list[EngravedSystem]]:
    """Read page size and the tight staff box of every system from a verovio SVG page.

    Returns ``(width_px, height_px, systems)``; boxes are in SVG pixels, systems top to bottom.
    The mapping from drawing units to pixels is ``px = (x + margin_x) * width_px / viewbox_w``,
    from the inner ``definition-scale`` viewBox and the ``page-margin`` translation.
    """
    root = ElementTree.fromstring(svg)
    width_px = float(root.get("width").removesuffix("px"))
    height_px = float(root.get("height").removesuffix("px"))
    scale_svg = next(e for e in root.iter(f"{SVG_NS}svg") if _classes(e) == "definition-scale")
    _, _, view_w, view_h = (float(v) for v in scale_svg.get("viewBox").split())
    margin = next(e for e in scale_svg.iter(f"{SVG_NS}g") if _classes(e) == "page-margin")
    match = _TRANSLATE.fullmatch(margin.get("transform", "translate(0, 0)").strip())
    if match is None:
        raise ValueError("unexpected page-margin transform in verovio SVG")
    margin_x, margin_y = float(match[1]), float(match[2])
    sx, sy = width_px / view_w, height_px / view_h

    systems = []
    # class is matched exactly: verovio also writes "systemMilestoneEnd ..." groups.
    for system in (e for e in margin.iter(f"{SVG_NS}g") if _classes(e) == "system"):
        xs: list[float] = []
        ys: list[float] = []
        staff_tops: set[float] = set()
        for staff in (e for e in system.iter(f"{SVG_NS}g") if _classes(e) == "staff"):
            if staff.get("transform"):
                raise ValueError("transformed staff group in verovio SVG is not supported")
            line_ys = []
            for path in staff.findall(f"{SVG_NS}path"):
                m = _LINE_PATH.match(path.get("d", ""))
                if m is None:
                    continue
                x_a, y_a, x_b, y_b = (float(v) for v in m.groups())
                if y_a != y_b:
                    continue
                xs += [x_a, x_b]
                line_ys.append(y_a)
            if line_ys:
                ys += line_ys
                staff_tops.add(min(line_ys))
        if not xs:
            continue
        box = (
            (min(xs) + margin_x) * sx,
            (min(ys) + margin_y) * sy,
            (max(xs) + margin_x) * sx,
            (max(ys) + margin_y) * sy,
        )
        # verovio splits staves per measure; the same staff recurs with the same top line.
        systems.append(
            EngravedSystem(
                staff_bbox=box,
                n_staves=len(staff_tops),
                key_signature_fifths=system_key_signature_from_svg(system),
            )
        )
    systems.sort(key=lambda s: s.staff_bbox[1])
    return width_px, height_px, systems


# --------------------------------------------------------------------------------------------
# Vector PDF and rasters
# --------------------------------------------------------------------------------------------


def _svg_with_physical_size(page: EngravedPage) -> str:
    """The page SVG with its outer size in millimetres so cairosvg lays it on the real page."""
    root_tag = re.search(r"<svg\b[^>]*>", page.svg)
    tag = root_tag.group(0)
    tag = re.sub(r'\swidth="[^"]*"', f' width="{page.page_width_mm:.4f}mm"', tag, count=1)
    tag = re.sub(r'\sheight="[^"]*"', f' height="{page.page_height_mm:.4f}mm"', tag, count=1)
    tag = tag.replace("<svg", f'<svg viewBox="0 0 {page.width_px:g} {page.height_px:g}"', 1)
    return page.svg[: root_tag.start()] + tag + page.svg[root_tag.end() :]


def _strip_pdf_metadata(pdf: bytes) -> bytes:
    """Rewrite a PDF without info dictionary or dates so equal content gives equal bytes."""
    import pymupdf

    doc = pymupdf.open(stream=pdf, filetype="pdf")
    doc.set_metadata({})
    doc.del_xml_metadata()
    # cairo writes a random file /ID; without one the bytes depend on the content only.
    doc.xref_set_key(-1, "ID", "null")
    out = doc.tobytes(garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return out


def vector_pdf(pages: Sequence[EngravedPage]) -> bytes:
    """Write engraved pages as one vector PDF (page size from ``page_width_mm``/``_height_mm``)."""
    import cairosvg
    import pymupdf

    merged = pymupdf.open()
    for page in pages:
        single = cairosvg.svg2pdf(bytestring=_svg_with_physical_size(page).encode("utf-8"))
        with pymupdf.open(stream=single, filetype="pdf") as doc:
            merged.insert_pdf(doc)
    pdf = merged.tobytes()
    merged.close()
    return _strip_pdf_metadata(pdf)


def render_pdf_page(pdf: bytes, page_index: int, dpi: float) -> np.ndarray:
    """Render one PDF page with PyMuPDF to a grayscale uint8 array (white background)."""
    import pymupdf

    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        pix = doc[page_index].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
        return np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width).copy()


def rasterize(page: EngravedPage, dpi: float) -> tuple[np.ndarray, np.ndarray]:
    """Render an engraved page to grayscale at ``dpi``; returns ``(gray, boxes)``.

    The raster goes through the same vector PDF and PyMuPDF renderer the pipeline uses, so the
    boxes (``page.boxes_at_dpi(dpi)``) are exact for it.
    """
    gray = render_pdf_page(vector_pdf([page]), 0, dpi)
    return gray, page.boxes_at_dpi(dpi)


def staff_boxes_from_drawings(
    pdf: bytes,
    page_index: int,
    dpi: float,
    *,
    min_length_pt: float = 50.0,
    staves_per_system: int | None = None,
) -> np.ndarray:
    """Staff boxes found from the PDF's vector line items alone (engraver independent).

    Long horizontal line items are staff lines; they are grouped into staves of five by their
    y, and staves into systems either by count (``staves_per_system``) or, if that is None, by
    a vertical gap below 2.5 staff heights. It does not know about braces, so it is a
    cross-check of ``EngravedPage.boxes_at_dpi``, not ground truth.

    min_length_pt: a horizontal line item at least this long (points) marks a staff line.
    staves_per_system: number of staves in every system, when known (3 for voice and piano).
    Returns staves grouped per system as boxes of shape (n, 4) in page pixels at ``dpi``.
    """
    import pymupdf

    segments = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for drawing in doc[page_index].get_drawings():
            for item in drawing["items"]:
                if item[0] != "l":
                    continue
                p, q = item[1], item[2]
                if abs(p.y - q.y) < 0.01 and p.x != q.x:
                    width = round(drawing.get("width") or 0.0, 3)
                    segments.append((min(p.x, q.x), max(p.x, q.x), round(p.y, 2), width))
    # A staff line is drawn per measure: a line whose y and stroke width has at least one long
    # piece gets all its pieces (short final measures included); glyph outlines never do.
    long_keys = {(y, w) for x0, x1, y, w in segments if x1 - x0 >= min_length_pt}
    by_y: dict[float, list[float]] = {}
    for x0, x1, y, w in segments:
        if (y, w) not in long_keys:
            continue
        lo, hi = by_y.get(y, [x0, x1])
        by_y[y] = [min(lo, x0), max(hi, x1)]
    if not by_y:
        return np.zeros((0, 4))
    ys = sorted(by_y)
    staves = [ys[i : i + 5] for i in range(0, len(ys) - len(ys) % 5, 5)]
    staff_boxes = [
        (min(by_y[y][0] for y in s), s[0], max(by_y[y][1] for y in s), s[-1]) for s in staves
    ]
    systems: list[list[float]] = []
    for index, box in enumerate(staff_boxes):
        height = box[3] - box[1]
        if staves_per_system is not None:
            same_system = index % staves_per_system != 0
        else:
            same_system = bool(systems) and box[1] - systems[-1][3] < 2.5 * height
        if same_system:
            last = systems[-1]
            systems[-1] = [min(last[0], box[0]), last[1], max(last[2], box[2]), box[3]]
        else:
            systems.append(list(box))
    return np.array(systems, dtype=np.float64) * dpi / PT_PER_INCH


# --------------------------------------------------------------------------------------------
# Scanner damage
# --------------------------------------------------------------------------------------------


def affine_matrix(
    shape: tuple[int, int], rotation_deg: float = 0.0, scale: float = 1.0, shift_px=(0.0, 0.0)
) -> np.ndarray:
    """2x3 matrix mapping continuous pixel coordinates of the input to the output.

    shape: ``(height, width)`` of the image in pixels; rotation and scale are about its centre.
    rotation_deg: counter-clockwise rotation as seen on screen, in degrees (lines rise to the
        right for positive values).
    scale: isotropic scale factor (1.0 = unchanged).
    shift_px: ``(dx, dy)`` translation in pixels applied after rotation and scale.
    """
    height, width = shape
    cx, cy = width / 2.0, height / 2.0
    theta = np.deg2rad(rotation_deg)
    c, s = scale * np.cos(theta), scale * np.sin(theta)
    # Image y points down, so a counter-clockwise turn on screen is x' = c x + s y, y' = -s x + c y.
    linear = np.array([[c, s], [-s, c]])
    offset = np.array([cx, cy]) - linear @ np.array([cx, cy]) + np.asarray(shift_px, float)
    return np.hstack([linear, offset[:, None]])


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding boxes of the four corners of each box after ``matrix`` (2x3)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = boxes.T
    corners = np.stack(
        [
            np.stack([x0, y0], 1),
            np.stack([x1, y0], 1),
            np.stack([x1, y1], 1),
            np.stack([x0, y1], 1),
        ],
        axis=1,
    )  # (n, 4 corners, 2)
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)


def warp(gray: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix in continuous pixel coordinates to an image; white fills the border."""
    # OpenCV puts pixel centres at integer coordinates; ours are at i + 0.5.
    to_centres = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    from_centres = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    full = to_centres @ np.vstack([matrix, [0.0, 0.0, 1.0]]) @ from_centres
    height, width = gray.shape
    return cv2.warpAffine(
        gray,
        full[:2],
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, cells: int = 4) -> np.ndarray:
    """Smooth random field in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def degrade(
    gray: np.ndarray,
    boxes: np.ndarray,
    rng: np.random.Generator,
    *,
    rotation_deg: float = 0.0,
    scale: float = 1.0,
    shift_px: tuple[float, float] = (0.0, 0.0),
    bleed_through: float = 0.0,
    uneven_light: float = 0.0,
    paper_gray: int = 255,
    blur_sigma_px: float = 0.0,
    noise_sigma: float = 0.0,
    salt_pepper: float = 0.0,
    binarize_1bit: bool = False,
    jpeg_quality: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a clean page raster look scanned; boxes follow the geometry exactly.

    One affine (rotation, scale, shift) moves image and boxes; everything after it is
    photometric and leaves the boxes unchanged. A box after rotation is the axis-aligned box
    of its four moved corners. The applied skew is ``rotation_deg`` (see module conventions).

    gray: clean page, uint8, 255 = white paper.
    boxes: (n, 4) boxes in pixels of ``gray``.
    rng: source of all randomness (noise, light field, bleed-through offset).
    rotation_deg: counter-clockwise page rotation in degrees (scanners give up to about 3).
    scale: isotropic scale factor, e.g. 0.97 to 1.03.
    shift_px: (dx, dy) translation in pixels.
    bleed_through: 0..1, darkness of a mirrored, blurred copy showing through the paper.
    uneven_light: 0..1, largest darkening of the page by a smooth lighting field.
    paper_gray: gray level of blank paper (255 = white).
    blur_sigma_px: Gaussian blur sigma in pixels (scanner optics); 0 for none.
    noise_sigma: Gaussian sensor noise standard deviation in gray levels.
    salt_pepper: fraction of pixels flipped to black or white.
    binarize_1bit: threshold with Otsu to pure black and white (a bilevel scan).
    jpeg_quality: 1..100 to add JPEG artefacts; None for none.
    Returns ``(gray, boxes)``: uint8 image of the same shape and moved boxes.
    """
    if gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError("gray must be a 2-D uint8 array")
    matrix = affine_matrix(gray.shape, rotation_deg, scale, shift_px)
    page = warp(gray, matrix)
    moved_boxes = transform_boxes(boxes, matrix)

    ink = (255.0 - page.astype(np.float32)) / 255.0  # 1 = black ink, 0 = paper
    if bleed_through > 0:
        # The verso seen through the paper: mirrored, a little offset and strongly blurred.
        verso = np.ascontiguousarray(ink[:, ::-1])
        dy, dx = (int(v) for v in rng.integers(-40, 41, size=2))
        verso = np.roll(verso, (dy, dx), axis=(0, 1))
        verso = cv2.GaussianBlur(verso, (0, 0), sigmaX=3.0)
        ink = 1.0 - (1.0 - ink) * (1.0 - bleed_through * verso)
    reflectance = (1.0 - ink) * (paper_gray / 255.0)
    if uneven_light > 0:
        light = 1.0 - uneven_light * _smooth_field(page.shape, rng)
        reflectance *= light
    out = reflectance * 255.0
    if blur_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=blur_sigma_px)
    if noise_sigma > 0:
        out = out + rng.normal(0.0, noise_sigma, size=out.shape).astype(np.float32)
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if salt_pepper > 0:
        flips = rng.random(result.shape) < salt_pepper
        result[flips] = np.where(rng.random(int(flips.sum())) < 0.5, 0, 255).astype(np.uint8)
    if binarize_1bit:
        _, result = cv2.threshold(result, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if jpeg_quality is not None:
        ok, encoded = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        result = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return result, moved_boxes


# --------------------------------------------------------------------------------------------
# Multi-movement files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovementFile:
    """Pages of several pieces set one after the other, with the exact first system of each.

    pages: grayscale page rasters (uint8, white paper), all of one size.
    boxes: per page, the tight staff boxes (n, 4) of its systems, top to bottom, pixels.
    starts: per page, per system, True on the first system of a piece.
    """

    pages: tuple[np.ndarray, ...]
    boxes: tuple[np.ndarray, ...]
    starts: tuple[tuple[bool, ...], ...]


def _ink_rows(gray: np.ndarray) -> np.ndarray:
    return np.flatnonzero((gray < 128).any(axis=1))


def system_bands(gray: np.ndarray, boxes: np.ndarray, first_page: bool) -> list[tuple[int, int]]:
    """Horizontal bands (y0, y1) of a page raster, one per system, that hold everything of it:
    each runs halfway to the next system (from the page's first ink for the first system of
    a piece's first page, so its title block comes along; otherwise from the same reach
    above as below the last system), pixels."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = _ink_rows(gray)
    reach = 0.5 * float(np.median(boxes[:, 3] - boxes[:, 1]))
    bands = []
    for index, (_, y0, _, y1) in enumerate(boxes):
        top = (boxes[index - 1, 3] + y0) / 2 if index > 0 else y0 - reach
        bottom = (y1 + boxes[index + 1, 1]) / 2 if index + 1 < len(boxes) else y1 + reach
        if index == 0 and first_page and rows.size:
            top = min(top, float(rows[0]) - 2)
        bands.append((max(0, int(np.floor(top))), min(gray.shape[0], int(np.ceil(bottom)))))
    return bands


def _indented(band: np.ndarray, box: np.ndarray, indent_px: int) -> tuple[np.ndarray, np.ndarray]:
    """A system's band with columns 0 .. right end squeezed into indent .. right end (the
    right end and what lies beyond stay); the box's x0 follows exactly."""
    right = int(np.floor(box[2]))
    squeezed = cv2.resize(
        band[:, :right], (right - indent_px, band.shape[0]), interpolation=cv2.INTER_AREA
    )
    out = np.full_like(band, 255)
    out[:, indent_px:right] = squeezed
    out[:, right:] = band[:, right:]
    moved = box.copy()
    moved[0] = indent_px + box[0] * (right - indent_px) / right
    return out, moved


def movement_file(
    pieces: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
    *,
    margin_top_px: int,
    margin_bottom_px: int,
    piece_gap_px: int,
    first_indent_px: int = 0,
) -> MovementFile:
    """Join rasters of several engraved pieces into one file, as a collection prints them:
    every system's band (:func:`system_bands`) is set below the one before, a piece's first
    system with its title block, ``piece_gap_px`` further down, and a band that does not fit
    above ``margin_bottom_px`` starts a new page at ``margin_top_px``.

    pieces: per piece, its pages as ``(gray, boxes)`` of :func:`rasterize` (all pages the
        same size; each piece engraved with its title block, ``header=True``).
    first_indent_px: indent of each piece's first system, as engravers print it (verovio
        does not): the band's columns left of the system's right end are squeezed
        horizontally so that its left end moves right by this much and its right end stays.
    Returns the pages, boxes and exact starts (:class:`MovementFile`).
    """
    shape = pieces[0][0][0].shape
    height = shape[0]
    bands = []  # (band image, box moved to the band's top, starts a piece)
    for piece in pieces:
        first_system = True
        for page_index, (gray, boxes) in enumerate(piece):
            if gray.shape != shape:
                raise ValueError("every page must have the same size")
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            for (y0, y1), box in zip(
                system_bands(gray, boxes, page_index == 0), boxes, strict=True
            ):
                moved = box - np.array([0.0, y0, 0.0, y0])
                band = gray[y0:y1]
                if first_system and first_indent_px > 0:
                    band, moved = _indented(band, moved, first_indent_px)
                bands.append((band, moved, first_system))
                first_system = False
    pages, page_boxes, page_starts = [], [], []
    canvas, boxes_here, starts_here, cursor = None, [], [], margin_top_px
    for band, box, start in bands:
        if start and canvas is not None:
            cursor += piece_gap_px
        if canvas is None or cursor + band.shape[0] > height - margin_bottom_px:
            if canvas is not None:
                pages.append(canvas)
                page_boxes.append(np.array(boxes_here).reshape(-1, 4))
                page_starts.append(tuple(starts_here))
            canvas = np.full(shape, 255, np.uint8)
            boxes_here, starts_here, cursor = [], [], margin_top_px
        fit = min(band.shape[0], height - cursor)
        canvas[cursor : cursor + fit] = np.minimum(canvas[cursor : cursor + fit], band[:fit])
        boxes_here.append(box + np.array([0.0, cursor, 0.0, cursor]))
        starts_here.append(start)
        cursor += band.shape[0]
    pages.append(canvas)
    page_boxes.append(np.array(boxes_here).reshape(-1, 4))
    page_starts.append(tuple(starts_here))
    return MovementFile(tuple(pages), tuple(page_boxes), tuple(page_starts))


# --------------------------------------------------------------------------------------------
# Image-only PDF
# --------------------------------------------------------------------------------------------


def _pdf_from_objects(objects: list[bytes]) -> bytes:
    """Serialise numbered PDF objects (1-based, object 1 = catalog) with an xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def _stream(dictionary: str, data: bytes) -> bytes:
    return f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def image_pdf(
    pages: Sequence[np.ndarray], dpi: float, mode: str = "gray", *, jpeg_quality: int = 75
) -> bytes:
    """An image-only PDF: one embedded image per page, shown at its native resolution.

    pages: grayscale uint8 arrays, one per page.
    dpi: native resolution of the images; page size in points is ``pixels * 72 / dpi``.
    mode: "gray" embeds an 8-bit JPEG (DCTDecode); "gray-lossless" the 8-bit pixels as they
        are (Flate); "1bit" a bilevel image (1 bit per pixel, Flate), thresholded at 128.
    jpeg_quality: JPEG quality for "gray" mode.
    The file carries no dates or ids, so equal input gives equal bytes.
    """
    if mode not in ("gray", "gray-lossless", "1bit"):
        raise ValueError(f"mode must be 'gray', 'gray-lossless' or '1bit', not {mode!r}")
    n = len(pages)
    # Object layout: 1 catalog, 2 page tree, then per page: page, content, image.
    kids = " ".join(f"{3 + 3 * i} 0 R" for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
    ]
    for i, gray in enumerate(pages):
        if gray.dtype != np.uint8 or gray.ndim != 2:
            raise ValueError("pages must be 2-D uint8 arrays")
        height, width = gray.shape
        w_pt, h_pt = width * PT_PER_INCH / dpi, height * PT_PER_INCH / dpi
        content_obj, image_obj = 4 + 3 * i, 5 + 3 * i
        if mode == "gray":
            ok, jpeg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            image = _stream(
                f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode",
                jpeg.tobytes(),
            )
        elif mode == "gray-lossless":
            image = _stream(
                f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                zlib.compress(np.ascontiguousarray(gray).tobytes(), 6),
            )
        else:
            # DeviceGray with 1 bit: 1 = white, rows padded to whole bytes.
            bits = np.packbits(gray >= 128, axis=1)
            image = _stream(
                f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                "/ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode",
                zlib.compress(bits.tobytes(), 9),
            )
        content = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q".encode()
        objects += [
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.4f} {h_pt:.4f}] "
                f"/Resources << /XObject << /Im0 {image_obj} 0 R >> >> "
                f"/Contents {content_obj} 0 R >>"
            ).encode(),
            _stream("", content),
            image,
        ]
    return _pdf_from_objects(objects)


# --------------------------------------------------------------------------------------------
# Pages without music (negative examples)
# --------------------------------------------------------------------------------------------

# Filler for prose pages; common English words so the text looks like ordinary prose.
_FILLER_TEXT = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their been has when who will "
    "more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made "
    "after also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see "
    "men work long get here between both life being under never day same another know while "
    "last might us great old year off come since against go came right used take three"
)
_WORDS = tuple(_FILLER_TEXT.split())


def _page_shape(page_width_mm: float, page_height_mm: float, dpi: float) -> tuple[int, int]:
    return (
        round(page_height_mm / MM_PER_INCH * dpi),
        round(page_width_mm / MM_PER_INCH * dpi),
    )


def prose_page(
    rng: np.random.Generator,
    *,
    dpi: float = 300,
    page_width_mm: float = 210.0,
    page_height_mm: float = 297.0,
    margin_mm: float = 25.0,
    text_height_mm: float = 2.6,
    line_spacing: float = 1.8,
) -> np.ndarray:
    """A page of justified-looking prose (random words), grayscale uint8, no music.

    text_height_mm: height of capital letters in millimetres.
    line_spacing: baseline distance as a multiple of ``text_height_mm``.
    """
    height, width = _page_shape(page_width_mm, page_height_mm, dpi)
    page = np.full((height, width), 255, np.uint8)
    px_per_mm = dpi / MM_PER_INCH
    font = cv2.FONT_HERSHEY_COMPLEX
    # Hershey fonts are ~21 units tall at scale 1 for capitals.
    font_scale = text_height_mm * px_per_mm / 21.0
    thickness = max(1, round(font_scale))
    left, right = round(margin_mm * px_per_mm), width - round(margin_mm * px_per_mm)
    baseline = round(margin_mm * px_per_mm + text_height_mm * px_per_mm)
    step = round(text_height_mm * line_spacing * px_per_mm)
    while baseline < height - margin_mm * px_per_mm:
        x = left
        # Paragraph ends leave short lines, as real prose does.
        line_end = (
            right if rng.random() > 0.12 else int(left + (right - left) * rng.uniform(0.2, 0.8))
        )
        while True:
            word = str(rng.choice(_WORDS))
            (w, _), _ = cv2.getTextSize(word, font, font_scale, thickness)
            if x + w > line_end:
                break
            cv2.putText(page, word, (x, baseline), font, font_scale, 0, thickness, cv2.LINE_AA)
            x += w + round(font_scale * 12)
        baseline += step
    return page


def title_page(
    rng: np.random.Generator,
    *,
    title: str = "SONATEN",
    subtitle: str = "fur das Pianoforte",
    composer: str = "W. A. MOZART",
    dpi: float = 300,
    page_width_mm: float = 210.0,
    page_height_mm: float = 297.0,
) -> np.ndarray:
    """A publisher's title page: a few centred lines of large text, grayscale uint8, no music."""
    height, width = _page_shape(page_width_mm, page_height_mm, dpi)
    page = np.full((height, width), 255, np.uint8)
    px_per_mm = dpi / MM_PER_INCH
    lines = [
        (title, 12.0, 0.25),
        (subtitle, 5.0, 0.36),
        (composer, 8.0, 0.5),
        ("Edition " + str(int(rng.integers(100, 999))), 3.5, 0.85),
    ]
    for text, size_mm, y_frac in lines:
        font_scale = size_mm * px_per_mm / 21.0
        thickness = max(1, round(font_scale * 1.6))
        (w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_TRIPLEX, font_scale, thickness)
        jitter = int(rng.integers(-10, 11))
        origin = ((width - w) // 2 + jitter, round(height * y_frac))
        cv2.putText(
            page, text, origin, cv2.FONT_HERSHEY_TRIPLEX, font_scale, 0, thickness, cv2.LINE_AA
        )
    return page


def blank_page(
    rng: np.random.Generator,
    *,
    dpi: float = 300,
    page_width_mm: float = 210.0,
    page_height_mm: float = 297.0,
    paper_gray: int = 235,
    noise_sigma: float = 6.0,
    n_specks: int = 60,
) -> np.ndarray:
    """A blank scanned page: paper tone, uneven light, sensor noise and dust specks, no music.

    paper_gray: mean paper level; noise_sigma: Gaussian noise in gray levels;
    n_specks: number of small dark dust specks.
    """
    height, width = _page_shape(page_width_mm, page_height_mm, dpi)
    page = np.full((height, width), float(paper_gray), np.float32)
    page *= 1.0 - 0.12 * _smooth_field((height, width), rng)
    for _ in range(n_specks):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(1, 4))
        cv2.circle(page, centre, radius, float(rng.integers(40, 160)), -1, cv2.LINE_AA)
    page += rng.normal(0.0, noise_sigma, size=page.shape).astype(np.float32)
    return np.clip(np.rint(page), 0, 255).astype(np.uint8)
