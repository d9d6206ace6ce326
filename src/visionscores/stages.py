"""The pipeline's stages, one function each: read the previous stage's files, write our own.

These are the functions behind ``visionscores stage <name>``, which the workflow's rules
call. Each writes its outputs atomically, so a killed job never leaves a finished-looking
file. Heavy imports stay inside the functions that need them (a job pays only for its own).
"""

from __future__ import annotations

import contextlib
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


# --- segment: render, clean and segment each page in memory -----------------------------


def page_file_name(page: int) -> str:
    """File name of a piece's cleaned page in its pages folder."""
    return f"page-{page:04d}.jpg"


def _failed_listing(piece_id: str, failure: Mapping[str, str]) -> dict[str, Any]:
    return {"piece_id": piece_id, "pdf_sha256": None, "pages": [], "failure": dict(failure)}


def segment(
    piece_id: str,
    record_path: Path,
    pages_dir: Path,
    out_systems: Path,
    render_params: Mapping[str, Any],
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
) -> dict[str, Any]:
    """Render, clean and segment every page of a piece; write its pages and candidates.

    Each page goes from the PDF to candidate systems in memory (no image files in between:
    writing and reading them again cost more than the work itself). Writes ``pages_dir``
    (each deskewed gray page, paper flattened to white, as JPEG, and ``pages.json``: per
    page its size, dpi, origin, skew, the matrix from the rendered page to the deskewed
    one, the staff units and the number of candidates) and ``out_systems`` (one row per
    candidate: geometry and features, no verdict). A piece that failed before, or whose PDF
    cannot be rendered, gets a listing with no pages and the failure, and no candidates.
    """
    from visionscores import dataset

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
                )
            except VisionscoresError as error:
                for leftover in temp_dir.iterdir():
                    leftover.unlink()
                rows.clear()
                listing = _failed_listing(piece_id, failure_record(piece_id, "render", error))
        write_json_atomic(temp_dir / PAGE_LISTING, listing)
    dataset.write_table(rows, dataset.SYSTEMS_SCHEMA, out_systems)
    return listing


def _segment_pdf(
    piece_id: str,
    pdf_path: Path,
    out_dir: Path,
    rows: list[dict[str, Any]],
    render_params: Mapping[str, Any],
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
) -> dict[str, Any]:
    """Segment every page of a PDF, appending candidates to ``rows``; return the listing.

    Raises StageError with the cause when the PDF or one of its pages cannot be rendered.
    """
    from visionscores.formatting import encode_jpeg
    from visionscores.segment import page as segmenting
    from visionscores.segment import render as rendering

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
    numbers = range(1, page_count + 1)
    processing = segmenting.process_pdf_pages(
        pdf_path, numbers, render_params, clean_params, segment_params
    )
    try:
        for page_number, processed in zip(numbers, processing, strict=True):
            page = {**rendering.page_record(processed.info), "file": page_file_name(page_number)}
            result = processed.result
            rows += _candidate_rows(piece_id, pdf_sha256, page, result, first_index=len(rows))
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
    return {"piece_id": piece_id, "pdf_sha256": pdf_sha256, "pages": pages, "failure": None}


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


# --- judge -------------------------------------------------------------------------------


def judge(systems_path: Path, out_path: Path, thresholds: Mapping[str, Any]) -> tuple[int, int]:
    """Keep or reject each candidate system; returns (kept, rejected)."""
    from visionscores import dataset, quality

    rows = dataset.read_rows(systems_path)
    kept = 0
    for row in rows:
        verdict = quality.judge_candidate(row, thresholds)
        row.update(
            keep=verdict.keep,
            reason=verdict.reason,
            reason_value=None if verdict.keep else verdict.reason_value,
            reasons=verdict.reasons,
        )
        kept += verdict.keep
    dataset.write_table(rows, dataset.JUDGED_SCHEMA, out_path)
    return kept, len(rows) - kept


# --- format ------------------------------------------------------------------------------


def sample_id(piece_id: str, page: int, system_on_page: int) -> str:
    """Stable identifier of a sample: piece, page and position on the page."""
    return f"{piece_id}-p{page:03d}-s{system_on_page:02d}"


def format_samples(
    judged_path: Path,
    pages_dir: Path,
    images_dir: Path,
    out_path: Path,
    dataset_dir: Path,
    params: Mapping[str, Any],
    crops_dir: Path | None = None,
    full_pages_dir: Path | None = None,
) -> int:
    """Cut each kept system from its deskewed page and save the 128 x 512 JPEG.

    With ``crops_dir``, each kept system is also saved there uncut by any resizing (at the
    page's resolution, ``{sample_id}.jpg``); with ``full_pages_dir``, the piece's deskewed
    pages are placed there as ``{piece_id}-pNNN.jpg``. Both in the pass that reads the
    pages for the samples.
    """
    from visionscores import dataset, formatting

    rows = [row for row in dataset.read_rows(judged_path) if row["keep"]]
    samples = []
    with contextlib.ExitStack() as outputs:
        temp_dir = outputs.enter_context(atomic_directory(images_dir))
        crops_temp = outputs.enter_context(atomic_directory(crops_dir)) if crops_dir else None
        crops = formatting.iter_system_crops(rows, pages_dir)
        for system_index, (row, crop) in enumerate(crops):
            image = formatting.to_sample(
                crop, params["height_px"], params["width_px"], params["mode"]
            )
            identifier = sample_id(row["piece_id"], row["page"], row["system_on_page"])
            name = f"{identifier}.jpg"
            (temp_dir / name).write_bytes(formatting.encode_jpeg(image, params["jpeg_quality"]))
            if crops_temp is not None:
                crop_bytes = formatting.encode_jpeg(crop, params["jpeg_quality"])
                (crops_temp / formatting.crop_image_name(identifier)).write_bytes(crop_bytes)
            relative = (images_dir / name).relative_to(dataset_dir)
            samples.append(
                {
                    **row,
                    "sample_id": identifier,
                    "system_index": system_index,
                    "image_path": relative.as_posix(),
                }
            )
        if full_pages_dir:
            formatting.place_full_pages(
                pages_dir, outputs.enter_context(atomic_directory(full_pages_dir))
            )
    dataset.write_table(samples, dataset.FORMATTED_SCHEMA, out_path)
    return len(samples)
