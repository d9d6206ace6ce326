"""The acquire records of a scenario read together, and the files beside them: which pieces
have their PDF in place, and which records are stale (no longer describe the file beside
them, or record a pause that is over).

Light on purpose (JSON and the file system only): the workflow reads it when it starts, and
the ``acquired`` job that lists a scenario's usable pieces imports nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visionscores.fileio import write_json_atomic

#: Failure causes that say only that a host was not asked while a marker held for it (the
#: daily cap, an unreachable host), nothing of the file itself.
PAUSED_CAUSES = frozenset({"daily-cap", "host-unreachable"})


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


def stale_record(record_path: str | os.PathLike[str], paused_hosts: Collection[str]) -> bool:
    """True when the record at ``record_path`` (``x.json``) is stale, so that the piece must
    be acquired anew:

    - an ok record whose PDF (``x.pdf``) is gone or has another size than its ``bytes``;
    - any record older than the PDF beside it (placed or replaced by hand since; the acquire
      stage writes the PDF first, the record last);
    - a failure of a :data:`PAUSED_CAUSES` cause whose host (of its ``failed_url``) is not in
      ``paused_hosts``, the hosts a daily-cap or unreachable marker still holds for: the
      pause is over (or its marker was deleted), the host is asked again. A record naming
      no host waits until no marker holds at all.

    Compares sizes and modification times only (no checksum), so that checking every piece
    of a scenario when the workflow starts costs a ``stat`` or two per piece.
    """
    record_path = Path(record_path)
    record = read_record(record_path)
    if record is None:
        return False
    ok = record.get("status") == "ok"
    if not ok and (record.get("failure") or {}).get("cause") in PAUSED_CAUSES:
        host = urlsplit(record.get("failed_url") or "").hostname
        if (host not in paused_hosts) if host else not paused_hosts:
            return True
    try:
        pdf = record_path.with_suffix(".pdf").stat()
    except FileNotFoundError:
        return ok
    if pdf.st_mtime_ns > record_path.stat().st_mtime_ns:
        return True
    return ok and pdf.st_size != record.get("bytes")


def drop_stale_records(
    record_paths: Iterable[str | os.PathLike[str]], paused_hosts: Collection[str]
) -> list[Path]:
    """Remove every stale record (:func:`stale_record`) among ``record_paths``, so that the
    next run acquires those pieces anew; return the removed paths."""
    removed = [Path(path) for path in record_paths if stale_record(path, paused_hosts)]
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
