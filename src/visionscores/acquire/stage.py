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
from urllib.parse import urlsplit

from visionscores.acquire.errors import acquire_error
from visionscores.acquire.host_state import host_state_of
from visionscores.acquire.manifest import read_manifest_rows, source_kind
from visionscores.acquire.policy import DownloadPolicy, image_from_index_url
from visionscores.acquire.records import partial_path
from visionscores.errors import VisionscoresError, failure_record
from visionscores.fileio import atomic_path, read_json, sha256_of, write_json_atomic


class StageError(VisionscoresError):
    """A piece that cannot go through the acquire stage; the message names piece and cause."""


def placement_path(pdf: Path) -> Path:
    """Where the record of how ``pdf`` was placed lives (``x.pdf`` -> ``x.placed.json``).

    It is not a Snakemake output (Snakemake deletes a job's outputs before rerunning it), so
    it survives to tell the next acquire job whether the PDF is still the one the manifest
    asks for.
    """
    return pdf.with_suffix(".placed.json")


def source_identity(piece: Mapping[str, str]) -> dict[str, str]:
    """What names a piece's file: its ``source`` (URL or path), else its IMSLP file index."""
    source = piece.get("source") or ""
    return {"source": source} if source else {"file_index": piece.get("imslp_file_index") or ""}


def write_placement(pdf: Path, piece: Mapping[str, str], facts: Mapping[str, Any]) -> None:
    """Record that ``pdf`` now holds the file of ``piece`` (``facts``: origin, sha256, ...)."""
    write_json_atomic(placement_path(pdf), {"identity": source_identity(piece), **facts})


def _present_pdf(pdf: Path, piece: Mapping[str, str]) -> dict[str, Any] | None:
    """What is known of a usable PDF already at ``pdf``, or None to fetch it (anew).

    A PDF placed for another source (the manifest's URL, path or index changed since) or not
    matching the manifest's sha256 is removed, with its partial download: the record must
    describe the bytes beside it. A PDF placed by hand (no placement record, or bytes other
    than those recorded) is used as it is and not opened here: if it is no good, render says
    why (encrypted, corrupt...).
    """
    placed = read_json_or_none(placement_path(pdf))
    expected = (piece.get("sha256") or "").lower()
    if pdf.is_file():
        digest = sha256_of(pdf)
        by_hand = placed is None or placed.get("sha256") != digest
        same_source = by_hand or placed.get("identity") == source_identity(piece)
        if same_source and (not expected or digest == expected):
            facts = {} if by_hand else {k: v for k, v in placed.items() if k != "identity"}
            return {**facts, "sha256": digest, "bytes": pdf.stat().st_size}
    for stale in (pdf, placement_path(pdf), partial_path(pdf), _partial_identity_path(pdf)):
        stale.unlink(missing_ok=True)
    return None


def _partial_identity_path(pdf: Path) -> Path:
    return pdf.with_suffix(".part.json")


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is absent or unreadable."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    facts = {"source_url": source, "sha256": digest, "bytes": local.stat().st_size}
    write_placement(pdf, piece, {"origin": "repository", **facts})
    return facts


def acquire(
    piece: Mapping[str, str], out_record: Path, repo_root: Path, download: Mapping[str, Any]
) -> dict[str, Any]:
    """Bring a piece's PDF beside ``out_record`` and write the record of how it went.

    A relative ``source`` is copied from the repository (checksum checked when the manifest
    gives one). Otherwise a PDF already at ``resources/pdf/{piece_id}.pdf`` is used as it is
    (placed by hand, imported, or fetched by an earlier run) unless it differs from the
    manifest's sha256 or was placed for another source; only when there is none is the URL
    or the IMSLP file index downloaded. The record always describes the bytes beside it. A
    failure is recorded (``status: failed``, cause, message), not raised: later stages pass
    it on and publish lists it.
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
        elif (present := _present_pdf(pdf, piece)) is not None:
            placed_by = present.pop("origin", "hand")
            record.update(present, origin="present", placed_by=placed_by)
        else:
            policy = DownloadPolicy(**download)
            _stop_if_host_blocked(piece_id, source, record["file_index"], policy)
            # Imported only for a download (HTTP, TLS): a job that copies, finds its PDF in
            # place, or meets a host marker starts faster without them.
            from visionscores.acquire.download import fetch_pdf

            # A partial download is resumed only for the source it was started for.
            partial_identity = _partial_identity_path(pdf)
            if read_json_or_none(partial_identity) != source_identity(piece):
                partial_path(pdf).unlink(missing_ok=True)
            write_json_atomic(partial_identity, source_identity(piece))
            fetched = fetch_pdf(
                piece_id,
                pdf,
                file_index=None if source else record["file_index"],
                url=source or None,
                expected_sha256=(piece.get("sha256") or "").lower() or None,
                policy=policy,
            )
            partial_identity.unlink(missing_ok=True)
            record.update(fetched.sidecar(), origin="download")
            write_placement(pdf, piece, {"origin": "download", **fetched.sidecar()})
        record["status"] = "ok"
    except VisionscoresError as error:
        # The URL that failed names the host whose marker (daily cap, unreachable) stopped
        # the piece: once no marker holds for it, the workflow tries the piece again.
        record.update(
            status="failed",
            failure=failure_record(piece_id, "acquire", error),
            failed_url=getattr(error, "url", None),
        )
    write_json_atomic(out_record, record)
    return record


def _stop_if_host_blocked(
    piece_id: str, url: str, file_index: str | None, policy: DownloadPolicy
) -> None:
    """Raise the error a download would meet when a daily-cap or unreachable marker holds
    for its host, before anything of the download is started (the client checks the
    markers again under the host's lock)."""
    url = url or image_from_index_url(policy.base_url, file_index or "")
    marker = host_state_of(policy).blocking(urlsplit(url).hostname or "")
    if marker:
        error_class, cause, what = marker.stop_reason()
        raise acquire_error(error_class, piece_id, cause, what, url, "")


def enrich(
    manifest_path: Path, scenario: str, policy: Mapping[str, Any], cache_dir: Path, out: Path
) -> dict[str, dict[str, str]]:
    """Fetch (once, cached) the IMSLP work-page metadata of a scenario's pieces."""
    from visionscores.acquire.http import fetch_text
    from visionscores.acquire.work_pages import enrich_work_pages

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
