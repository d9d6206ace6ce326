"""The browser path: list the PDFs still missing, and place the ones a person downloaded.

IMSLP answers scripted clients with bot checks and caps free downloads per day; the
downloader stops there by design. These two commands make the way around it a person's
browser:

* :func:`todo` lists every piece of a manifest without a usable PDF under
  ``resources/pdf/``, with its IMSLP work page, file index, the link that downloads the file
  in a browser, and why it is missing (read from the acquire records);
* :func:`import_folder` takes a folder of PDFs downloaded in a browser, recognises each by
  the IMSLP file index in IMSLP's own file naming (``IMSLP<index>-PMLP<digits>-<name>.pdf``)
  or else by the manifest's sha256, and places it at ``resources/pdf/{piece_id}.pdf`` with a
  placement record saying it was imported (from which file, its sha256, when). The next
  acquire job uses it and sends no request for it.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from visionscores.acquire.download import image_from_index_url
from visionscores.acquire.manifest import read_manifest_rows, source_kind
from visionscores.acquire.stage import (
    placement_path,
    read_json_or_none,
    source_identity,
    write_placement,
)
from visionscores.fileio import atomic_path, sha256_of

#: IMSLP's file naming: ``IMSLP<index>-PMLP<work number>-<name>.pdf`` (a browser may add
#: `` (1)`` before the extension for a second copy).
IMSLP_FILE_NAME_RE = re.compile(r"^IMSLP(\d+)-PMLP\d+-.+\.pdf$", re.IGNORECASE)

TODO_COLUMNS = (
    "piece_id",
    "title",
    "composer",
    "imslp_page",
    "imslp_file_index",
    "download_url",
    "reason",
    "message",
    "place_at",
)


# --- todo -------------------------------------------------------------------------------------


def missing_reason(piece: Mapping[str, str], pdf_dir: Path) -> tuple[str, str] | None:
    """Why ``piece`` has no usable PDF in ``pdf_dir`` (reason code, message), or None.

    Reason codes: the acquire record's failure cause (``captcha``, ``daily-cap``,
    ``copyright-blocked``, ``checksum-mismatch``, ``host-unreachable``, ...), else
    ``never-tried`` (no record), ``pdf-missing`` (an ok record but no file) or
    ``checksum-mismatch`` (a file in place whose sha256 differs from the manifest's).
    Pieces copied from a path in the repository are never listed.
    """
    if source_kind(piece.get("source", "")) == "path":
        return None
    piece_id = piece["piece_id"]
    pdf = pdf_dir / f"{piece_id}.pdf"
    record = read_json_or_none(pdf_dir / f"{piece_id}.json")
    if record and record.get("status") == "failed":
        failure = record.get("failure") or {}
        return failure.get("cause", "error"), failure.get("message", "")
    if not pdf.is_file():
        if record is None:
            return "never-tried", "no download was tried yet (or its record was removed)"
        return "pdf-missing", f"the record says ok but {pdf} is not there"
    expected = (piece.get("sha256") or "").lower()
    if expected and sha256_of(pdf) != expected:
        return "checksum-mismatch", f"{pdf} is not the file the manifest's sha256 names"
    placed = read_json_or_none(placement_path(pdf))
    if placed and placed.get("identity") not in (None, source_identity(piece)):
        return "source-changed", f"{pdf} was placed for another source than the manifest's"
    return None


def download_url(piece: Mapping[str, str], base_url: str) -> str:
    """The link that gets the piece's file in a browser: its URL, or IMSLP's page for its
    file index (the disclaimer and wait pages lead to the file)."""
    source = piece.get("source", "")
    if source_kind(source) == "url":
        return source
    index = piece.get("imslp_file_index", "")
    return image_from_index_url(base_url, index) if index else ""


def todo(
    manifest: Path,
    out_csv: Path,
    pdf_dir: Path,
    base_url: str,
    scenario: str | None = None,
) -> list[dict[str, str]]:
    """Write the missing pieces of ``manifest`` to ``out_csv`` and an HTML page beside it.

    Args:
        manifest: the manifest CSV.
        out_csv: the list to write; the HTML page goes to ``out_csv`` with ``.html``.
        pdf_dir: where the PDFs and acquire records are (``resources/pdf``).
        base_url: IMSLP's root (config ``imslp.base_url``) for the download links.
        scenario: only rows of this scenario, when given.

    Returns:
        The rows written, one per missing piece, with :data:`TODO_COLUMNS`.
    """
    rows = []
    for piece in read_manifest_rows(manifest).values():
        if scenario and piece["scenario"] != scenario:
            continue
        missing = missing_reason(piece, pdf_dir)
        if missing is None:
            continue
        rows.append(
            {
                "piece_id": piece["piece_id"],
                "title": piece["title"],
                "composer": piece["composer"],
                "imslp_page": piece["imslp_page"],
                "imslp_file_index": piece["imslp_file_index"],
                "download_url": download_url(piece, base_url),
                "reason": missing[0],
                "message": missing[1],
                "place_at": str(pdf_dir / f"{piece['piece_id']}.pdf"),
            }
        )
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_path(out_csv) as temporary,
        open(temporary, "w", encoding="utf-8", newline="") as handle,
    ):
        writer = csv.DictWriter(handle, fieldnames=TODO_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(out_csv.with_suffix(".html")) as temporary:
        temporary.write_text(_todo_html(rows, manifest), encoding="utf-8")
    return rows


def _link(url: str, label: str) -> str:
    if not url:
        return ""
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'


def _todo_html(rows: list[dict[str, str]], manifest: Path) -> str:
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>PDFs to download</title>',
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style>",
        "</head><body>",
        f"<h1>{len(rows)} PDF(s) to download ({html.escape(str(manifest))})</h1>",
        "<p>Open each file link in your browser, accept IMSLP's disclaimer, wait for the file "
        "and save it (keep IMSLP's file name). Then place them all with <code>visionscores "
        f"import DOWNLOADS_FOLDER --manifest {html.escape(str(manifest))}</code> and run the "
        "workflow again.</p>",
        "<table><tr><th>piece</th><th>title</th><th>composer</th><th>work page</th>"
        "<th>file</th><th>why missing</th></tr>",
    ]
    for row in rows:
        index = row["imslp_file_index"]
        cells = [
            html.escape(row["piece_id"]),
            html.escape(row["title"]),
            html.escape(row["composer"]),
            _link(row["imslp_page"], "work page"),
            _link(row["download_url"], f"file {index}" if index else "file"),
            f'<span title="{html.escape(row["message"], quote=True)}">'
            f"{html.escape(row['reason'])}</span>",
        ]
        lines.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    lines += ["</table>", "</body></html>", ""]
    return "\n".join(lines)


# --- import -----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, file by file (each entry: file, then what happened).

    Attributes:
        placed: (file, piece_id) placed now.
        already: (file, piece_id) whose PDF was already in place, byte for byte.
        refused: (file, why) not placed: not a PDF, unreadable, or its checksum differs
            from the manifest's.
        conflicts: (file, why) not placed because a different PDF is already in place.
        unmatched: files that match no manifest row.
    """

    placed: list[tuple[Path, str]] = field(default_factory=list)
    already: list[tuple[Path, str]] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    conflicts: list[tuple[Path, str]] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per file, for the console."""
        out = [f"placed     {file} -> {piece}" for file, piece in self.placed]
        out += [f"in place   {file} -> {piece} (the same file)" for file, piece in self.already]
        out += [f"REFUSED    {file}: {why}" for file, why in self.refused]
        out += [f"CONFLICT   {file}: {why}" for file, why in self.conflicts]
        out += [f"unmatched  {file}: no manifest row has its index or sha256" for file in
                self.unmatched]  # fmt: skip
        return out


def pdf_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete, readable PDF (None when it is one).

    An HTML page saved under a ``.pdf`` name (IMSLP's disclaimer, wait or cap page) and a
    download cut short are the usual cases.
    """
    with open(path, "rb") as handle:
        head = handle.read(1024)
        handle.seek(max(path.stat().st_size - 1024, 0))
        tail = handle.read()
    if b"%PDF-" not in head:
        looks = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else ""
        return f"not a PDF ({looks or 'no %PDF header'}); was a web page saved instead?"
    if b"%%EOF" not in tail:
        return "an incomplete PDF (no end-of-file marker): the download was cut short"
    import pymupdf  # here: only an import opens PDFs

    try:
        with pymupdf.open(path) as document:
            if document.is_repaired or document.page_count < 1:
                return "a damaged PDF (it needs repair or has no page)"
    except Exception as error:  # PyMuPDF raises several types for unreadable files
        return f"an unreadable PDF ({error})"
    return None


def _file_index(name: str) -> int | None:
    match = IMSLP_FILE_NAME_RE.match(name)
    return int(match.group(1)) if match else None


def _matching_rows(
    path: Path, digest: str, pieces: Iterable[Mapping[str, str]]
) -> list[Mapping[str, str]]:
    """Rows ``path`` belongs to: by IMSLP file index in its name, else by sha256."""
    pieces = list(pieces)
    index = _file_index(path.name)
    if index is not None:
        by_index = [
            piece
            for piece in pieces
            if piece["imslp_file_index"].isdigit() and int(piece["imslp_file_index"]) == index
        ]
        if by_index:
            return by_index
    return [piece for piece in pieces if (piece.get("sha256") or "").lower() == digest]


def import_folder(folder: Path, manifest: Path, pdf_dir: Path) -> ImportReport:
    """Place the PDFs of ``folder`` that belong to rows of ``manifest`` into ``pdf_dir``.

    Files are taken in name order. A file is refused when it is not a complete, readable PDF
    or its sha256 differs from its row's; a PDF matching two rows is placed for both; a
    different PDF already in place is never replaced (reported as a conflict: delete it
    first). Placing a file removes the piece's acquire record, so that the next run reruns
    acquire, which uses the file and sends no request. Running it again changes nothing.
    """
    pieces = list(read_manifest_rows(manifest).values())
    report = ImportReport()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        problem = pdf_problem(path)
        if problem:
            report.refused.append((path, problem))
            continue
        digest = sha256_of(path)
        rows = _matching_rows(path, digest, pieces)
        if not rows:
            report.unmatched.append(path)
            continue
        for piece in rows:
            _place(path, digest, piece, pdf_dir, report)
    return report


def _place(
    path: Path, digest: str, piece: Mapping[str, str], pdf_dir: Path, report: ImportReport
) -> None:
    piece_id = piece["piece_id"]
    expected = (piece.get("sha256") or "").lower()
    if expected and digest != expected:
        report.refused.append(
            (path, f"its sha256 {digest} is not the {expected} the manifest gives {piece_id}")
        )
        return
    pdf = pdf_dir / f"{piece_id}.pdf"
    if pdf.is_file():
        if sha256_of(pdf) == digest:
            report.already.append((path, piece_id))
            if read_json_or_none(placement_path(pdf)) is None:
                _write_import_record(pdf, piece, path, digest)
            return
        report.conflicts.append(
            (path, f"a different PDF is already at {pdf}; delete it first to replace it")
        )
        return
    pdf_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(pdf) as temporary:
        shutil.copyfile(path, temporary)
    _write_import_record(pdf, piece, path, digest)
    # The acquire record of the earlier attempt goes, so that the next run reruns acquire,
    # whose record then describes these bytes.
    (pdf_dir / f"{piece_id}.json").unlink(missing_ok=True)
    report.placed.append((path, piece_id))


def _write_import_record(pdf: Path, piece: Mapping[str, str], path: Path, digest: str) -> None:
    facts: dict[str, Any] = {
        "origin": "import",
        "imported_from": str(path.resolve()),
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "sha256": digest,
        "bytes": pdf.stat().st_size,
    }
    write_placement(pdf, piece, facts)
