"""The judge stage: keep or reject each candidate system of a piece on its measured features."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionscores import tables
from visionscores.judge.rules import judge_candidate


def judge(systems_path: Path, out_path: Path, thresholds: Mapping[str, Any]) -> tuple[int, int]:
    """Keep or reject each candidate system; returns (kept, rejected)."""

    rows = tables.read_rows(systems_path)
    kept = 0
    for row in rows:
        verdict = judge_candidate(row, thresholds)
        row.update(
            keep=verdict.keep,
            reason=verdict.reason,
            reason_value=None if verdict.keep else verdict.reason_value,
            reasons=verdict.reasons,
        )
        kept += verdict.keep
    tables.write_table(rows, tables.JUDGED_SCHEMA, out_path)
    return kept, len(rows) - kept
