"""The acquire stage: bring each piece's PDF into place and record how (or why not).

Also the optional enrich stage, which fetches IMSLP work-page metadata for a scenario.
These are the functions behind ``visionscores stage acquire`` and ``visionscores stage
enrich``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionscores.acquire.download import fetch_pdf
from visionscores.acquire.http import fetch_text
from visionscores.acquire.manifest import read_manifest_rows, source_kind
from visionscores.acquire.policy import DownloadPolicy
from visionscores.acquire.work_pages import enrich_work_pages
from visionscores.errors import VisionscoresError, failure_record
from visionscores.fileio import atomic_path, sha256_of, write_json_atomic


class StageError(VisionscoresError):
    """A piece that cannot go through the acquire stage; the message names piece and cause."""


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
            fetched = fetch_pdf(
                piece_id,
                pdf,
                file_index=None if source else record["file_index"],
                url=source or None,
                expected_sha256=(piece.get("sha256") or "").lower() or None,
                policy=DownloadPolicy(**download),
            )
            record.update(fetched.sidecar(), origin="download")
        record["status"] = "ok"
    except VisionscoresError as error:
        record.update(status="failed", failure=failure_record(piece_id, "acquire", error))
    write_json_atomic(out_record, record)
    return record


def enrich(
    manifest_path: Path, scenario: str, policy: Mapping[str, Any], cache_dir: Path, out: Path
) -> dict[str, dict[str, str]]:
    """Fetch (once, cached) the IMSLP work-page metadata of a scenario's pieces."""
    rows = read_manifest_rows(manifest_path).values()
    download_policy = DownloadPolicy(**policy)
    works = enrich_work_pages(
        [row["imslp_page"] for row in rows if row["scenario"] == scenario],
        lambda url: fetch_text(url, download_policy, "work page"),
        download_policy.base_url.rstrip("/") + "/api.php",
        cache_dir,
    )
    write_json_atomic(out, works)
    return works
