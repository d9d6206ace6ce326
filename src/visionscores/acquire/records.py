"""The acquire records of a scenario read together: which pieces have their PDF in place, and
which records no longer describe the file beside them.

Light on purpose (JSON and the file system only): the workflow reads it when it starts, and
the ``acquired`` job that lists a scenario's usable pieces imports nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from visionscores.fileio import write_json_atomic


def partial_path(dest: Path) -> Path:
    """Where an interrupted download of ``dest`` is kept for resumption (``x.pdf.part``)."""
    return Path(dest).with_suffix(".pdf.part")


def read_record(record_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The acquire record at ``record_path``, or None when it is absent or unreadable."""
    try:
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def recorded_pieces(record_paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The piece ids, sorted, of the readable records among ``record_paths`` (every piece
    that went through acquire, whatever its outcome)."""
    return sorted(
        record["piece_id"] for record in map(read_record, record_paths) if record is not None
    )


def acquired_pieces(record_paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The piece ids, sorted, whose record says their PDF is in place (``status: ok``).

    A record that is absent or unreadable counts as a failed piece (no later stage runs).
    """
    pieces = []
    for path in record_paths:
        record = read_record(path)
        if record is not None and record.get("status") == "ok":
            pieces.append(record["piece_id"])
    return sorted(pieces)


def stale_record(record_path: str | os.PathLike[str]) -> bool:
    """True when the record at ``record_path`` (``x.json``) no longer describes the PDF
    beside it (``x.pdf``): an ok record whose PDF is gone or has another size than its
    ``bytes``, or any record older than the PDF (placed or replaced by hand since; the
    acquire stage writes the PDF first, the record last).

    Compares sizes and modification times only (no checksum), so that checking every piece
    of a scenario when the workflow starts costs a ``stat`` or two per piece.
    """
    record_path = Path(record_path)
    record = read_record(record_path)
    if record is None:
        return False
    ok = record.get("status") == "ok"
    try:
        pdf = record_path.with_suffix(".pdf").stat()
    except FileNotFoundError:
        return ok
    if pdf.st_mtime_ns > record_path.stat().st_mtime_ns:
        return True
    return ok and pdf.st_size != record.get("bytes")


def drop_stale_records(record_paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Remove every stale record (:func:`stale_record`) among ``record_paths``, so that the
    next run acquires those pieces anew; return the removed paths."""
    removed = [Path(path) for path in record_paths if stale_record(path)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_acquired(
    record_paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str]
) -> list[str]:
    """Write the list of acquired pieces (:func:`acquired_pieces`) to ``out`` as JSON
    (``{"pieces": [...]}``), atomically; return it."""
    pieces = acquired_pieces(record_paths)
    write_json_atomic(out, {"pieces": pieces})
    return pieces
