"""The pipeline's stages, one function each: read the previous stage's files, write our own.

These are the functions behind ``visionscores stage <name>``, which the workflow's rules
call. Each writes its outputs atomically, so a killed job never leaves a finished-looking
file. Heavy imports stay inside the functions that need them (a job pays only for its own).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionscores.errors import VisionscoresError, failure_record
from visionscores.fileio import (
    atomic_directory,
    atomic_path,
    read_gray,
    read_json,
    sha256_of,
    write_json_atomic,
)

PAGES_FILE = "pages.json"


class StageError(VisionscoresError):
    """A piece that cannot go through a stage; the message names the piece and the cause."""


def _page_name(page: int, kind: str) -> str:
    return f"page-{page:04d}.{kind}.png"


def _write_png(path: Path, image, compression: int = 1, bilevel: bool = False) -> None:
    import cv2

    flags = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    if bilevel:
        flags += [cv2.IMWRITE_PNG_BILEVEL, 1]
    with atomic_path(path) as temp_path:
        if not cv2.imwrite(str(temp_path), image, flags):
            raise StageError(f"cannot write {path}")


# --- acquire -----------------------------------------------------------------------------


def _usable_present_pdf(pdf: Path, expected_sha256: str) -> str | None:
    """SHA-256 of a file already at ``pdf`` (placed by hand, or fetched before), if usable.

    It is not opened here: a file placed by hand is used as it is, and if it is no good
    render says why (encrypted, corrupt...). Only a checksum mismatch fetches it again.
    """
    if not pdf.is_file():
        return None
    digest = sha256_of(pdf)
    return digest if not expected_sha256 or digest == expected_sha256 else None


def _copy_local(piece: Mapping[str, str], pdf: Path, repo_root: Path) -> dict[str, Any]:
    piece_id, source = piece["piece_id"], piece["source"]
    expected = (piece.get("sha256") or "").lower()
    local = (repo_root / source).resolve()
    if not local.is_relative_to(repo_root.resolve()):
        raise StageError(
            f"piece {piece_id}: source {source!r} lies outside the repository",
            cause="source-outside-repository",
        )
    if not local.is_file():
        raise StageError(f"piece {piece_id}: source file {local} not found", cause="missing")
    digest = sha256_of(local)
    if expected and digest != expected:
        raise StageError(
            f"piece {piece_id}: checksum mismatch for {local}: expected {expected}, found {digest}",
            cause="checksum-mismatch",
        )
    with atomic_path(pdf) as temp_path:
        shutil.copyfile(local, temp_path)
    return {"source_url": source, "sha256": digest, "bytes": local.stat().st_size}


def acquire(
    piece: Mapping[str, str], out_record: Path, repo_root: Path, download: Mapping[str, Any]
) -> dict[str, Any]:
    """Bring a piece's PDF beside ``out_record`` and write the record of how it went.

    A relative ``source`` is copied from the repository (checksum checked when the manifest
    gives one). Otherwise a PDF already at ``resources/pdf/{piece_id}.pdf`` is used as it is
    (placed by hand, or fetched by an earlier run), and only when there is none is the URL or
    the IMSLP file index downloaded. A failure is recorded (``status: failed``, cause,
    message), not raised: later stages pass it on and publish lists it.
    """
    from visionscores.manifest import source_kind

    piece_id = piece["piece_id"]
    source = piece.get("source", "")
    pdf = out_record.with_suffix(".pdf")
    record: dict[str, Any] = {
        "piece_id": piece_id,
        "source_url": source or None,
        "final_url": None,
        "file_index": piece.get("imslp_file_index") or None,
        "sha256": None,
        "bytes": None,
        "fetched_at": None,
        "user_agent": None,
    }
    try:
        if source_kind(source) == "path":
            record.update(_copy_local(piece, pdf, repo_root), origin="repository")
        elif digest := _usable_present_pdf(pdf, (piece.get("sha256") or "").lower()):
            record.update(sha256=digest, bytes=pdf.stat().st_size, origin="present")
        else:
            from visionscores import imslp

            fetched = imslp.fetch_pdf(
                piece_id,
                pdf,
                file_index=None if source else record["file_index"],
                url=source or None,
                expected_sha256=(piece.get("sha256") or "").lower() or None,
                policy=imslp.DownloadPolicy(**download),
            )
            record.update(fetched.sidecar(), origin="download")
        record["status"] = "ok"
    except VisionscoresError as error:
        record.update(status="failed", failure=failure_record(piece_id, "acquire", error))
    write_json_atomic(out_record, record)
    return record


# --- enrich (optional) -------------------------------------------------------------------


def enrich(
    manifest_path: Path, scenario: str, policy: Mapping[str, Any], cache_dir: Path, out: Path
) -> dict[str, dict[str, str]]:
    """Fetch (once, cached) the IMSLP work-page metadata of a scenario's pieces."""
    from visionscores import imslp, imslp_metadata
    from visionscores.manifest import read_manifest_rows

    rows = read_manifest_rows(manifest_path).values()
    download_policy = imslp.DownloadPolicy(**policy)
    works = imslp_metadata.enrich_work_pages(
        [row["imslp_page"] for row in rows if row["scenario"] == scenario],
        lambda url: imslp.fetch_text(url, download_policy, "work page"),
        download_policy.base_url.rstrip("/") + "/api.php",
        cache_dir,
    )
    write_json_atomic(out, works)
    return works


# --- render ------------------------------------------------------------------------------


def _failed_listing(failure: Mapping[str, str]) -> dict[str, Any]:
    return {"pdf_sha256": None, "pages": [], "failure": dict(failure)}


def render(
    piece_id: str, record_path: Path, out_dir: Path, dpi: float, max_pages: int, max_pixels: int
) -> dict[str, Any]:
    """Render every page of the piece's PDF into ``out_dir`` (gray PNGs and pages.json).

    A piece that failed before, or whose PDF cannot be rendered, gets a pages.json with no
    pages and the failure.
    """
    record = read_json(record_path)
    with atomic_directory(out_dir) as temp_dir:
        if record.get("status") != "ok":
            listing = _failed_listing(record["failure"])
        else:
            pdf_path = record_path.with_suffix(".pdf")
            try:
                listing = _render_pages(pdf_path, temp_dir, dpi, max_pages, max_pixels)
            except VisionscoresError as error:
                for leftover in temp_dir.iterdir():
                    leftover.unlink()
                listing = _failed_listing(failure_record(piece_id, "render", error))
        write_json_atomic(temp_dir / PAGES_FILE, listing)
    return listing


def _render_pages(
    pdf_path: Path, out_dir: Path, dpi: float, max_pages: int, max_pixels: int
) -> dict[str, Any]:
    """Render every page of a PDF into ``out_dir``; raise StageError with the cause if not."""
    from visionscores import render as rendering

    with rendering.open_pdf(pdf_path) as document:
        if document.page_count > max_pages:
            raise StageError(
                f"{pdf_path}: {document.page_count} pages, above the limit of {max_pages}"
                " (render.max_pages)",
                cause="too-many-pages",
            )
        pages = []
        for page_number in range(1, document.page_count + 1):
            try:
                image, info = rendering.render_page(document, page_number, dpi, max_pixels)
            except VisionscoresError as error:
                raise StageError(f"{pdf_path}: {error}", cause=error.cause) from error
            except Exception as error:  # MuPDF errors on a damaged page
                raise StageError(
                    f"{pdf_path}: page {page_number} cannot be rendered ({error})",
                    cause="corrupt-page",
                ) from error
            name = _page_name(page_number, "page")
            _write_png(out_dir / name, image)
            pages.append({**rendering.page_record(info), "file": name})
    return {"pdf_sha256": sha256_of(pdf_path), "pages": pages, "failure": None}


# --- clean -------------------------------------------------------------------------------


def clean(pages_dir: Path, out_dir: Path, params: Mapping[str, Any]) -> list[float]:
    """Flatten, deskew and binarize each page; write gray + ink PNGs and the skew per page.

    The gray page keeps the scan's gray levels with its paper flattened to white.
    """
    from visionscores import clean as cleaning

    listing = read_json(pages_dir / PAGES_FILE)
    skews = []
    with atomic_directory(out_dir) as temp_dir:
        for page in listing["pages"]:
            gray = read_gray(pages_dir / page["file"])
            deskewed, ink, skew, matrix = cleaning.clean_page(
                gray,
                params["max_skew_deg"],
                params["min_skew_deg"],
                params["paper_window_fraction"],
            )
            gray_name = _page_name(page["page"], "gray")
            ink_name = _page_name(page["page"], "ink")
            _write_png(temp_dir / gray_name, deskewed)
            _write_png(temp_dir / ink_name, (1 - ink) * 255, bilevel=True)
            page.update(
                skew_deg=skew,
                matrix=[[round(v, 10) for v in row] for row in matrix.tolist()],
                gray_file=gray_name,
                ink_file=ink_name,
            )
            skews.append(skew)
        write_json_atomic(temp_dir / PAGES_FILE, listing)
    return skews


# --- segment -----------------------------------------------------------------------------


def segment(
    piece_id: str, clean_dir: Path, out_systems: Path, out_pages: Path, params: Mapping[str, Any]
) -> int:
    """Find candidate systems on every cleaned page; write their geometry and features.

    Staff lines are found on the cleaned gray page (paper flattened), the ink mask joins
    staves.
    """
    import numpy as np

    from visionscores import dataset
    from visionscores import segment as segmenting

    listing = read_json(clean_dir / PAGES_FILE)
    rows: list[dict[str, Any]] = []
    page_summaries = []
    for page in listing["pages"]:
        ink = (read_gray(clean_dir / page["ink_file"]) < 128).astype(np.uint8)
        darkness = 255 - read_gray(clean_dir / page["gray_file"])
        matrix = np.array(page["matrix"], dtype=np.float64)
        result = segmenting.segment_page(
            ink, darkness, matrix, page["width"], page["height"], page["skew_deg"], params
        )
        metrics = result.metrics
        for index, system in enumerate(result.systems):
            rows.append(
                {
                    "piece_id": piece_id,
                    "pdf_sha256": listing["pdf_sha256"],
                    "page": page["page"],
                    "system_on_page": index + 1,
                    "reading_index": len(rows),
                    "n_staves": system.n_staves,
                    "staff_bbox": result.staff_boxes[index],
                    "crop_bbox": result.crop_boxes[index],
                    "deskewed_crop_bbox": [round(v, 1) for v in system.crop_box],
                    "page_width": page["width"],
                    "page_height": page["height"],
                    "dpi": page["dpi"],
                    "skew_deg": page["skew_deg"],
                    "staff_spacing_px": round(system.spacing_px, 3),
                    "line_thickness_px": round(metrics.line_thickness_px, 3),
                    **result.features[index],
                }
            )
        page_summaries.append(
            {
                "page": page["page"],
                "width": page["width"],
                "height": page["height"],
                "dpi": page["dpi"],
                "origin": page["origin"],
                "skew_deg": page["skew_deg"],
                "staff_spacing_px": round(metrics.staff_spacing_px, 3) if metrics else None,
                "line_thickness_px": round(metrics.line_thickness_px, 3) if metrics else None,
                "candidates": len(result.systems),
            }
        )
    dataset.write_table(rows, dataset.SYSTEMS_SCHEMA, out_systems)
    write_json_atomic(
        out_pages,
        {"piece_id": piece_id, "pages": page_summaries, "failure": listing.get("failure")},
    )
    return len(rows)


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
    clean_dir: Path,
    images_dir: Path,
    out_path: Path,
    dataset_dir: Path,
    params: Mapping[str, Any],
) -> int:
    """Cut each kept system from its deskewed page and save the 128 x 512 JPEG."""
    from visionscores import dataset, formatting

    rows = [row for row in dataset.read_rows(judged_path) if row["keep"]]
    samples = []
    with atomic_directory(images_dir) as temp_dir:
        crops = formatting.iter_system_crops(rows, clean_dir)
        for system_index, (row, crop) in enumerate(crops):
            image = formatting.to_sample(
                crop, params["height_px"], params["width_px"], params["mode"]
            )
            identifier = sample_id(row["piece_id"], row["page"], row["system_on_page"])
            name = f"{identifier}.jpg"
            (temp_dir / name).write_bytes(formatting.encode_jpeg(image, params["jpeg_quality"]))
            relative = (images_dir / name).relative_to(dataset_dir)
            samples.append(
                {
                    **row,
                    "sample_id": identifier,
                    "system_index": system_index,
                    "image_path": relative.as_posix(),
                }
            )
    dataset.write_table(samples, dataset.FORMATTED_SCHEMA, out_path)
    return len(samples)
