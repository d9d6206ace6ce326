"""The publish stage: a scenario's metadata, rejected, failures and pages tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from visionscores.acquire.manifest import read_manifest_rows
from visionscores.acquire.work_pages import ENRICHED_COLUMNS
from visionscores.fileio import read_json, read_page_listing
from visionscores.tables import (
    FAILURE_COLUMNS,
    FAILURES_SCHEMA,
    METADATA_COLUMNS,
    METADATA_SCHEMA,
    PAGE_OUTCOME_COLUMNS,
    PAGE_OUTCOMES_SCHEMA,
    REJECTED_COLUMNS,
    REJECTED_SCHEMA,
    read_rows,
    write_csv,
    write_table,
)

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
