"""The segment stage: render, clean and segment every page of a piece, in memory.

The function behind ``visionscores stage segment``. It writes its outputs atomically, so a
killed job never leaves a finished-looking file. Heavy imports stay inside the function (a
job pays only for its own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionscores.errors import VisionscoresError, failure_record
from visionscores.fileio import (
    PAGE_LISTING,
    atomic_directory,
    read_json,
    sha256_of,
    write_json_atomic,
)


class StageError(VisionscoresError):
    """A piece that cannot go through a stage; the message names the piece and the cause."""


def page_file_name(page: int) -> str:
    """File name of a piece's cleaned page in its pages folder."""
    return f"page-{page:04d}.jpg"


def _failed_listing(piece_id: str, failure: Mapping[str, str]) -> dict[str, Any]:
    return {
        "piece_id": piece_id,
        "pdf_sha256": None,
        "pages": [],
        "headings": {},
        "failure": dict(failure),
    }


def segment(
    piece_id: str,
    record_path: Path,
    pages_dir: Path,
    out_systems: Path,
    render_params: Mapping[str, Any],
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
    movement_params: Mapping[str, Any],
    key_params: Mapping[str, Any],
) -> dict[str, Any]:
    """Render, clean and segment every page of a piece; write its pages and candidates.

    Each page goes from the PDF to candidate systems in memory (no image files in between:
    writing and reading them again cost more than the work itself). Writes ``pages_dir``
    (each deskewed gray page, paper flattened to white, as JPEG, and ``pages.json``: per
    page its size, dpi, origin, skew, the matrix from the rendered page to the deskewed
    one, the staff units and the number of candidates; ``headings``: each movement's heading
    image, by movement index) and ``out_systems`` (one row per candidate: geometry, features,
    its movement and key signature, no verdict). ``movement_params`` and ``key_params``:
    config ``movements`` and ``key_signature``. A piece that failed before, or whose PDF
    cannot be rendered, gets a listing with no pages and the failure, and no candidates.
    """
    from visionscores import tables

    record = read_json(record_path)
    rows: list[dict[str, Any]] = []
    with atomic_directory(pages_dir) as temp_dir:
        if record.get("status") != "ok":
            listing = _failed_listing(piece_id, record["failure"])
        else:
            try:
                listing = _segment_pdf(
                    piece_id,
                    record_path.with_suffix(".pdf"),
                    temp_dir,
                    rows,
                    render_params,
                    clean_params,
                    segment_params,
                    movement_params,
                    key_params,
                )
            except VisionscoresError as error:
                for leftover in temp_dir.iterdir():
                    leftover.unlink()
                rows.clear()
                listing = _failed_listing(piece_id, failure_record(piece_id, "render", error))
        write_json_atomic(temp_dir / PAGE_LISTING, listing)
    tables.write_table(rows, tables.SYSTEMS_SCHEMA, out_systems)
    return listing


def _segment_pdf(
    piece_id: str,
    pdf_path: Path,
    out_dir: Path,
    rows: list[dict[str, Any]],
    render_params: Mapping[str, Any],
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
    movement_params: Mapping[str, Any],
    key_params: Mapping[str, Any],
) -> dict[str, Any]:
    """Segment every page of a PDF, appending candidates to ``rows``; return the listing.

    Raises StageError with the cause when the PDF or one of its pages cannot be rendered.
    """
    from visionscores.format.images import encode_jpeg
    from visionscores.segment import page as segmenting
    from visionscores.segment import render as rendering
    from visionscores.segment import sequence

    max_pages = render_params["max_pages"]
    with rendering.open_pdf(pdf_path) as document:
        if document.page_count > max_pages:
            raise StageError(
                f"{pdf_path}: {document.page_count} pages, above the limit of {max_pages}"
                " (render.max_pages)",
                cause="too-many-pages",
            )
        page_count = document.page_count
    pdf_sha256 = sha256_of(pdf_path)
    pages = []
    cues, fifths, heading_boxes = [], [], []
    numbers = range(1, page_count + 1)
    processing = segmenting.process_pdf_pages(
        pdf_path, numbers, render_params, clean_params, segment_params
    )
    try:
        for page_number, processed in zip(numbers, processing, strict=True):
            page = {**rendering.page_record(processed.info), "file": page_file_name(page_number)}
            result = processed.result
            rows += _candidate_rows(piece_id, pdf_sha256, page, result, first_index=len(rows))
            reading = sequence.read_page(processed.cleaned, result, movement_params, key_params)
            cues += reading.cues
            fifths += reading.fifths
            heading_boxes += reading.heading_boxes
            page.update(_page_summary(result, processed.matrix))
            page.update(
                inverted=processed.inverted,
                **empty_page_reason(result.systems, processed.cleaned, processed.warnings),
            )
            (out_dir / page["file"]).write_bytes(
                encode_jpeg(processed.cleaned, clean_params["page_jpeg_quality"])
            )
            pages.append(page)
    except VisionscoresError as error:
        raise StageError(f"{pdf_path}: {error}", cause=error.cause) from error
    for row, place in zip(rows, sequence.file_sequence(cues, fifths, movement_params), strict=True):
        row.update(place)
    headings = _write_headings(rows, heading_boxes, out_dir, clean_params["page_jpeg_quality"])
    return {
        "piece_id": piece_id,
        "pdf_sha256": pdf_sha256,
        "pages": pages,
        "headings": headings,
        "failure": None,
    }


def _write_headings(
    rows: list[dict[str, Any]], boxes: list, pages_dir: Path, jpeg_quality: int
) -> dict[str, str]:
    """Cut the heading region above each movement's first system from its cleaned page
    (read back once per page: the starts are known only after the last page); returns
    movement index (as text) -> file name in ``pages_dir``."""
    from visionscores.fileio import read_gray
    from visionscores.format.images import encode_jpeg
    from visionscores.segment.sequence import heading_file_name

    headings: dict[str, str] = {}
    pages: dict[int, Any] = {}
    for row, box in zip(rows, boxes, strict=True):
        if not row["movement_start"] or box is None:
            continue
        if row["page"] not in pages:
            pages[row["page"]] = read_gray(pages_dir / page_file_name(row["page"]))
        page = pages[row["page"]]
        x0, y0, x1, y1 = box
        name = heading_file_name(row["movement_index"])
        (pages_dir / name).write_bytes(encode_jpeg(page[y0:y1, x0:x1], jpeg_quality))
        headings[str(row["movement_index"])] = name
    return headings


def _candidate_rows(
    piece_id: str, pdf_sha256: str, page: Mapping[str, Any], result, first_index: int
) -> list[dict[str, Any]]:
    """One row per candidate system of a page (the systems table's rows)."""
    return [
        {
            "piece_id": piece_id,
            "pdf_sha256": pdf_sha256,
            "page": page["page"],
            "system_on_page": index + 1,
            "reading_index": first_index + index,
            "n_staves": system.n_staves,
            "staff_bbox": result.staff_boxes[index],
            "crop_bbox": result.crop_boxes[index],
            "deskewed_crop_bbox": [round(v, 1) for v in system.crop_box],
            "page_width": page["width"],
            "page_height": page["height"],
            "dpi": page["dpi"],
            "skew_deg": result.skew_deg,
            "staff_spacing_px": round(system.spacing_px, 3),
            "line_thickness_px": round(result.metrics.line_thickness_px, 3),
            **result.features[index],
        }
        for index, system in enumerate(result.systems)
    ]


def _page_summary(result, matrix) -> dict[str, Any]:
    """What pages.json says of a page besides its rendering: skew, matrix, units, count."""
    metrics = result.metrics
    return {
        "skew_deg": result.skew_deg,
        "orientation_deg": result.orientation_deg,
        "matrix": [[round(v, 10) for v in row] for row in matrix.tolist()],
        "staff_spacing_px": round(metrics.staff_spacing_px, 3) if metrics else None,
        "line_thickness_px": round(metrics.line_thickness_px, 3) if metrics else None,
        "candidates": len(result.systems),
    }


# A page with no candidate whose ink covers less than this share of it is blank.
BLANK_MAX_INK_SHARE = 0.001
# MuPDF's warnings that say an image of the page could not be decoded.
IMAGE_WARNING = re.compile(r"image|jbig2|jpeg|jpx|ccitt|flate|decode", re.IGNORECASE)


def empty_page_reason(systems, cleaned, warnings: list[str]) -> dict[str, str | None]:
    """Why a page gave no candidate system: ``empty_reason`` and a ``detail``.

    ``unreadable-image``: MuPDF said it could not decode an image of the page (the detail
    is its first such warning); ``blank``: almost no ink (under ``BLANK_MAX_INK_SHARE`` of
    the cleaned page darker than mid-gray); ``no-staves``: ink, but no staff was found.
    None for a page with candidates.
    """
    if systems:
        return {"empty_reason": None, "detail": None}
    image_warnings = [line for line in warnings if IMAGE_WARNING.search(line)]
    if image_warnings:
        return {"empty_reason": "unreadable-image", "detail": image_warnings[0]}
    ink_share = float((cleaned[::2, ::2] < 128).mean())
    reason = "blank" if ink_share < BLANK_MAX_INK_SHARE else "no-staves"
    return {"empty_reason": reason, "detail": f"ink share {ink_share:.4f}"}
