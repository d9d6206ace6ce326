"""The manifest: one row per score file, read from CSV and validated before anything runs.

A bad row stops the run with a message naming the file, the row (its line in the CSV) and
the field. Values are kept as text exactly as written (leading zeros of IMSLP indices stay).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from visionscores.errors import VisionscoresError

MANIFEST_COLUMNS = (
    "piece_id",
    "scenario",
    "title",
    "composer",
    "key",
    "imslp_page",
    "imslp_file_index",
    "source",
    "sha256",
)
OPTIONAL_COLUMNS = frozenset({"sha256"})


class ManifestError(VisionscoresError, ValueError):
    """A manifest that cannot be used; the message names file, row and field."""


@dataclass(frozen=True)
class Piece:
    """One score file of the manifest."""

    piece_id: str
    scenario: str
    title: str
    composer: str
    key: str
    imslp_page: str
    imslp_file_index: str
    source: str
    sha256: str

    @property
    def source_kind(self) -> str:
        """``"url"``, ``"path"`` (relative to the repository) or ``"imslp"`` (by index)."""
        return source_kind(self.source)


def source_kind(source: str) -> str:
    """How a manifest ``source`` is fetched: ``"url"``, ``"path"`` or ``"imslp"`` (by index)."""
    if not source:
        return "imslp"
    if urlsplit(source).scheme in ("http", "https"):
        return "url"
    return "path"


def trimmed_cells(row: dict[str | None, Any]) -> dict[str, str]:
    """A CSV record as the manifest's columns, each cell without surrounding whitespace
    (an absent optional column is empty). Validation and the jobs both read rows so."""
    return {column: (row.get(column) or "").strip() for column in MANIFEST_COLUMNS}


def read_manifest_rows(path: str | Path) -> dict[str, dict[str, str]]:
    """Manifest rows by piece_id, cells trimmed as :func:`load_manifest` trims them, for the
    stage commands.

    The workflow validated the manifest (:func:`load_manifest`) when it started; jobs only
    look up their own row.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [trimmed_cells(row) for row in csv.DictReader(handle)]
    return {row["piece_id"]: row for row in rows}


def _problem(path: Path, line: int | None, field: str | None, message: str) -> ManifestError:
    where = str(path) if line is None else f"{path}, row {line}"
    if field:
        where += f", field '{field}'"
    return ManifestError(f"{where}: {message}")


def _check_source(value: str, file_index: str) -> str | None:
    """Return why ``value`` is not an acceptable source, or None if it is."""
    if not value:
        return None if file_index else "is empty and imslp_file_index is empty too"
    scheme = urlsplit(value).scheme
    if scheme in ("http", "https"):
        return None if urlsplit(value).hostname else "is a URL without a host"
    if scheme and len(scheme) > 1:
        return f"uses the scheme '{scheme}:'; only http(s) URLs or relative paths are allowed"
    relative = PurePosixPath(value.replace("\\", "/"))
    if relative.is_absolute() or (len(value) > 1 and value[1] == ":"):
        return "must be a path relative to the repository, not an absolute path"
    if ".." in relative.parts:
        return "must not leave the repository ('..' in the path)"
    return None


def parse_manifest(text: str, path: Path, schema: dict[str, Any]) -> list[Piece]:
    """Parse and validate manifest CSV ``text`` (read from ``path``, named in messages)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in MANIFEST_COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    if missing:
        raise _problem(path, 1, None, f"missing column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in MANIFEST_COLUMNS]
    if unknown:
        raise _problem(path, 1, None, f"unknown column(s): {', '.join(unknown)}")
    import jsonschema  # here: stage commands only read rows (read_manifest_rows)

    validator = jsonschema.Draft202012Validator(schema)
    pieces: list[Piece] = []
    first_line_of: dict[str, int] = {}
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as error:  # e.g. a cell longer than the csv module's limit
        line = len(rows) + 2  # the record being read when it failed
        raise _problem(path, line, None, f"is not readable CSV: {error}") from error
    for row_number, row in enumerate(rows):
        line = row_number + 2  # the header is line 1
        if None in row:
            raise _problem(path, line, None, "has more cells than the header has columns")
        values = trimmed_cells(row)
        for error in sorted(validator.iter_errors(values), key=lambda e: list(e.path)):
            field = str(error.path[0]) if error.path else None
            shown = values.get(field, "") if field else ""
            raise _problem(path, line, field, f"value {shown!r} is not valid: {error.message}")
        reason = _check_source(values["source"], values["imslp_file_index"])
        if reason:
            raise _problem(path, line, "source", f"value {values['source']!r} {reason}")
        piece_id = values["piece_id"]
        if piece_id in first_line_of:
            raise _problem(
                path,
                line,
                "piece_id",
                f"duplicate piece_id {piece_id!r} (first used in row {first_line_of[piece_id]})",
            )
        first_line_of[piece_id] = line
        pieces.append(Piece(**values))
    if not pieces:
        raise _problem(path, None, None, "has no rows")
    return pieces


def load_manifest(path: str | Path, schema: dict[str, Any]) -> list[Piece]:
    """Read and validate the manifest CSV at ``path`` (UTF-8, a BOM is allowed)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise _problem(path, None, None, f"cannot be read: {error.strerror}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, field = _locate_undecodable(raw, path)
        raise _problem(
            path, line, field, f"is not UTF-8 (byte 0x{raw[error.start]:02x}); save it as UTF-8"
        ) from error
    return parse_manifest(text, path, schema)


def _locate_undecodable(raw: bytes, path: Path) -> tuple[int, str | None]:
    """Row (CSV record, header = 1) and column of the first byte that is not UTF-8."""
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    try:
        for row_number, cells in enumerate(reader):
            if row_number == 0:
                header = cells
            for column, cell in enumerate(cells):
                if any("\udc80" <= character <= "\udcff" for character in cell):
                    name = header[column] if row_number and column < len(header) else None
                    return row_number + 1, name
    except csv.Error:
        pass
    return 1, None
