"""Dataset: the tables the pipeline writes, their typed Arrow schemas, and publishing.

Every table is written with an explicit schema and no wall-clock values, so two runs over
the same input give byte-identical Parquet files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from visionscores.acquire.manifest import read_manifest_rows
from visionscores.acquire.work_pages import ENRICHED_COLUMNS
from visionscores.fileio import atomic_path, read_json, read_page_listing, write_bytes_atomic
from visionscores.quality import FEATURES

BOX = pa.list_(pa.float64(), 4)

FEATURE_FIELDS = [pa.field(name, pa.float64()) for name in FEATURES]

# One row per candidate system, written by segment.
SYSTEM_FIELDS = [
    pa.field("piece_id", pa.string()),
    pa.field("pdf_sha256", pa.string()),
    pa.field("page", pa.int32()),
    pa.field("system_on_page", pa.int32()),
    pa.field("reading_index", pa.int32()),
    pa.field("n_staves", pa.int32()),
    pa.field("staff_bbox", BOX),
    pa.field("crop_bbox", BOX),
    pa.field("deskewed_crop_bbox", BOX),
    pa.field("page_width", pa.int32()),
    pa.field("page_height", pa.int32()),
    pa.field("dpi", pa.float64()),
    pa.field("skew_deg", pa.float64()),
    pa.field("staff_spacing_px", pa.float64()),
    pa.field("line_thickness_px", pa.float64()),
    *FEATURE_FIELDS,
]
SYSTEMS_SCHEMA = pa.schema(SYSTEM_FIELDS)

VERDICT_FIELDS = [
    pa.field("keep", pa.bool_()),
    pa.field("reason", pa.string()),
    pa.field("reason_value", pa.float64()),
    pa.field("reasons", pa.string()),
]
JUDGED_SCHEMA = pa.schema(SYSTEM_FIELDS + VERDICT_FIELDS)

SAMPLE_FIELDS = [
    pa.field("sample_id", pa.string()),
    pa.field("system_index", pa.int32()),
    pa.field("image_path", pa.string()),
]
FORMATTED_SCHEMA = pa.schema(SYSTEM_FIELDS + SAMPLE_FIELDS)

PIECE_FIELDS = [
    *(pa.field(column, pa.string()) for column in ENRICHED_COLUMNS),
    pa.field("title", pa.string()),
    pa.field("composer", pa.string()),
    pa.field("key", pa.string()),
    pa.field("imslp_page", pa.string()),
    pa.field("scenario", pa.string()),
    pa.field("imslp_file_index", pa.string()),
]


def _field(name: str) -> pa.Field:
    for candidate in SYSTEM_FIELDS + SAMPLE_FIELDS + PIECE_FIELDS + VERDICT_FIELDS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


# The published sample metadata: the VisionScores paper's fields first, then ours.
METADATA_COLUMNS = [
    "sample_id",
    "title",
    "composer",
    "key",
    "imslp_page",
    "system_index",
    "scenario",
    "piece_id",
    "imslp_file_index",
    "pdf_sha256",
    "page",
    "system_on_page",
    "reading_index",
    "n_staves",
    "staff_bbox",
    "crop_bbox",
    "dpi",
    "skew_deg",
    *FEATURES,
    *ENRICHED_COLUMNS,
    "image_path",
]
METADATA_SCHEMA = pa.schema([_field(name) for name in METADATA_COLUMNS])

REJECTED_COLUMNS = [
    "scenario",
    "piece_id",
    "title",
    "composer",
    "page",
    "system_on_page",
    "reading_index",
    "reason",
    "reason_value",
    "reasons",
    "n_staves",
    "staff_bbox",
    "crop_bbox",
    *FEATURES,
]
REJECTED_SCHEMA = pa.schema([_field(name) for name in REJECTED_COLUMNS])


def write_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema, path: str | Path) -> None:
    """Write ``rows`` as Parquet with ``schema`` (extra keys ignored), atomically."""
    columns = {field.name: [row.get(field.name) for row in rows] for field in schema}
    table = pa.Table.from_pydict(columns, schema=schema)
    with atomic_path(path) as temp_path:
        pq.write_table(table, temp_path, compression="zstd", write_statistics=False)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a Parquet table as dicts."""
    return pq.read_table(path).to_pylist()


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, e.g.
# a title "=HYPERLINK(...)"); see OWASP's "CSV Injection" page.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would run it as a formula.

    Spreadsheets show the apostrophe's cell as text and do not run it. Only text cells are
    given here: numbers (a negative value) stay numbers. Parquet keeps the text raw.
    """
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # A carriage return would end the row (the writer quotes only cells holding its
        # line terminator, "\n"): it becomes a line feed, inside a quoted cell.
        return spreadsheet_safe(value).replace("\r\n", "\n").replace("\r", "\n")
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: str | Path) -> None:
    """Write ``rows`` as UTF-8 CSV with ``columns``; boxes as JSON lists, atomically.

    Every CSV the pipeline writes goes through here: text that a spreadsheet would run as a
    formula is neutralised (:func:`spreadsheet_safe`).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(column)) for column in columns])
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


FAILURE_FIELDS = [
    pa.field("piece_id", pa.string()),
    pa.field("title", pa.string()),
    pa.field("stage", pa.string()),
    pa.field("cause", pa.string()),
    pa.field("message", pa.string()),
]
FAILURES_SCHEMA = pa.schema(FAILURE_FIELDS)
FAILURE_COLUMNS = [field.name for field in FAILURE_FIELDS]


# One row per page of every piece that has pages: what it gave, and why nothing if so.
PAGE_OUTCOME_FIELDS = [
    pa.field("piece_id", pa.string()),
    pa.field("page", pa.int32()),
    pa.field("candidates", pa.int32()),
    pa.field("kept", pa.int32()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
    pa.field("inverted", pa.bool_()),
]
PAGE_OUTCOMES_SCHEMA = pa.schema(PAGE_OUTCOME_FIELDS)
PAGE_OUTCOME_COLUMNS = [field.name for field in PAGE_OUTCOME_FIELDS]
# Reason of a page whose candidates were all rejected (see rejected.parquet for each's).
ALL_REJECTED = "all-rejected"


def page_outcomes(
    listings: Iterable[Mapping[str, Any]], samples: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Rows of the pages table from the pieces' page listings and the kept samples.

    ``reason`` is empty for a page with a kept system; else the segment stage's reason
    (``blank``, ``unreadable-image``, ``no-staves``) or ``all-rejected``.
    """
    kept: dict[tuple[str, int], int] = {}
    for row in samples:
        key = (row["piece_id"], row["page"])
        kept[key] = kept.get(key, 0) + 1
    rows = []
    for listing in sorted(listings, key=lambda item: item["piece_id"]):
        for page in listing["pages"]:
            count = kept.get((listing["piece_id"], page["page"]), 0)
            reason = page.get("empty_reason") or (ALL_REJECTED if not count else None)
            rows.append(
                {
                    "piece_id": listing["piece_id"],
                    "page": page["page"],
                    "candidates": page.get("candidates", 0),
                    "kept": count,
                    "reason": "" if count else reason,
                    "detail": page.get("detail") or "",
                    "inverted": bool(page.get("inverted")),
                }
            )
    return rows


def publish(
    manifest_path: str | Path,
    scenario: str,
    judged_paths: Iterable[str | Path],
    formatted_paths: Iterable[str | Path],
    pages_dirs: Iterable[str | Path],
    out_dir: str | Path,
    works_path: str | Path | None,
    record_paths: Iterable[str | Path],
) -> dict[str, int]:
    """Write a scenario's metadata, rejected, failures and pages tables (Parquet and CSV).

    ``record_paths``: the acquire record of every piece of the scenario; a piece that failed
    at acquire has no pages folder, its failure is read from its record. ``pages_dirs``,
    ``judged_paths`` and ``formatted_paths``: those of the pieces whose PDF was acquired.
    Returns counts (pieces, failed pieces, pages, candidates, kept, rejected) for the log.
    """
    out_dir = Path(out_dir)
    pieces = read_manifest_rows(manifest_path)
    works = json.loads(Path(works_path).read_text(encoding="utf-8")) if works_path else {}
    for piece in pieces.values():
        work = works.get(piece["imslp_page"], {})
        if "error" in work:
            work = {}
        # The manifest's own key wins; the work page fills it only when empty.
        piece["key"] = piece["key"] or work.get("key", "")
        for column in ENRICHED_COLUMNS:
            piece[column] = work.get(column, "")
    summaries = [read_page_listing(pages_dir) for pages_dir in pages_dirs]
    pages = sum(len(summary["pages"]) for summary in summaries)
    outcomes_by_piece = {record["piece_id"]: record for record in map(read_json, record_paths)} | {
        summary["piece_id"]: summary for summary in summaries
    }
    failures = [
        {**outcome["failure"], "title": pieces[piece_id]["title"]}
        for piece_id, outcome in sorted(outcomes_by_piece.items())
        if outcome.get("failure")
    ]
    samples: list[dict[str, Any]] = []
    for path in sorted(map(Path, formatted_paths)):
        for row in read_rows(path):
            samples.append({**pieces[row["piece_id"]], **row, "scenario": scenario})
    rejected: list[dict[str, Any]] = []
    candidates = 0
    for path in sorted(map(Path, judged_paths)):
        for row in read_rows(path):
            candidates += 1
            if not row["keep"]:
                rejected.append({**pieces[row["piece_id"]], **row, "scenario": scenario})
    samples.sort(key=lambda row: (row["piece_id"], row["reading_index"]))
    rejected.sort(key=lambda row: (row["piece_id"], row["reading_index"]))
    write_table(samples, METADATA_SCHEMA, out_dir / "metadata.parquet")
    write_csv(samples, METADATA_COLUMNS, out_dir / "metadata.csv")
    write_table(rejected, REJECTED_SCHEMA, out_dir / "rejected.parquet")
    write_csv(rejected, REJECTED_COLUMNS, out_dir / "rejected.csv")
    write_table(failures, FAILURES_SCHEMA, out_dir / "failures.parquet")
    write_csv(failures, FAILURE_COLUMNS, out_dir / "failures.csv")
    outcomes = page_outcomes(summaries, samples)
    write_table(outcomes, PAGE_OUTCOMES_SCHEMA, out_dir / "pages.parquet")
    write_csv(outcomes, PAGE_OUTCOME_COLUMNS, out_dir / "pages.csv")
    return {
        "pieces": len(outcomes_by_piece),
        "failed_pieces": len(failures),
        "pages": pages,
        "pages_without_systems": sum(1 for row in outcomes if row["reason"]),
        "candidates": candidates,
        "kept": len(samples),
        "rejected": len(rejected),
    }
