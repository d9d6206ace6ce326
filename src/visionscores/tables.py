"""The tables the pipeline writes and their typed Arrow schemas, and how they are written.

Every table is written with an explicit schema and no wall-clock values, so two runs over
the same input give byte-identical Parquet files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from visionscores.acquire.work_pages import ENRICHED_COLUMNS
from visionscores.fileio import atomic_path, write_bytes_atomic
from visionscores.segment.features import FEATURES

BOX = pa.list_(pa.float64(), 4)

FEATURE_FIELDS = [pa.field(name, pa.float64()) for name in FEATURES]

# Where a candidate stands in the file's sequence of pieces and movements (0-based movement
# index, true on a movement's first system) and the key signature read after its clefs
# (fifths: sharps positive, flats negative; null where it cannot be read), with the
# consensus of its movement.
SEQUENCE_FIELDS = [
    pa.field("movement_index", pa.int32()),
    pa.field("movement_start", pa.bool_()),
    pa.field("key_signature_fifths", pa.int32()),
    pa.field("movement_key_signature_fifths", pa.int32()),
]
SEQUENCE_COLUMNS = [field.name for field in SEQUENCE_FIELDS]

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
    *SEQUENCE_FIELDS,
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
    *SEQUENCE_COLUMNS,
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
    *SEQUENCE_COLUMNS,
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
