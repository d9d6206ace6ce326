"""Splits by work: every sample of a work (and of its near-duplicates) in one split, chosen by a
seeded hash, so a work's split does not change when other works are added."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

SPLITS_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string()),
        pa.field("piece_id", pa.string()),
        pa.field("group_key", pa.string()),
        pa.field("phash", pa.string()),
        pa.field("split", pa.string()),
    ]
)


def normalize_text(text: str) -> str:
    """Lower-case ASCII words of ``text`` separated by single spaces (accents dropped)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").casefold()
    return " ".join(re.findall(r"[a-z0-9]+", ascii_text))


def normalize_work_url(url: str) -> str:
    """An IMSLP work-page URL without scheme, ``www.``, percent-escapes or trailing slash."""
    text = unquote((url or "").strip()).replace(" ", "_")
    text = re.sub(r"^[a-z]+://", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^www\.", "", text, flags=re.IGNORECASE)
    return text.rstrip("/")


def work_key(row: Mapping[str, Any]) -> str:
    """The work a sample belongs to: its IMSLP work page, else its normalized title+composer.

    Two files (editions) of one work get the same key, so they land in the same split.
    """
    url = normalize_work_url(row.get("imslp_page") or "")
    if url:
        return f"imslp:{url}"
    return f"work:{normalize_text(row.get('composer') or '')}|{normalize_text(row.get('title'))}"


class _DisjointSets:
    """Union-find over string keys; each set is named by its smallest key."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            low, high = sorted((root_a, root_b))
            self.parent[high] = low


def work_groups(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Group key (:func:`work_key`) per sample_id."""
    return {row["sample_id"]: work_key(row) for row in rows}


def merge_near_duplicate_groups(
    groups: Mapping[str, str], pairs: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Merge the groups of every near-duplicate pair (union-find); group key per sample_id.

    ``groups`` maps sample_id to group key; ``pairs`` have ``sample_a`` and ``sample_b``.
    A merged group is named by the smallest of its keys, so adding works leaves existing
    groups' names (and thus splits) alone unless a new near-duplicate joins them.
    """
    sets = _DisjointSets()
    for key in sorted(set(groups.values())):
        sets.find(key)
    for pair in pairs:
        sets.union(groups[pair["sample_a"]], groups[pair["sample_b"]])
    return {sample: sets.find(key) for sample, key in groups.items()}


def unit_interval_hash(seed: int | str, key: str) -> float:
    """A number in [0, 1) from SHA-256 of ``seed`` and ``key`` (stable across runs)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_for(position: float, fractions: Mapping[str, float]) -> str:
    """The split whose cumulative-fraction interval holds ``position`` in [0, 1).

    Intervals follow the order of ``fractions`` (train, validation, test by default).
    """
    total = 0.0
    names = list(fractions)
    for name in names:
        total += fractions[name]
        if position < total:
            return name
    return names[-1]


def check_fractions(fractions: Mapping[str, float]) -> None:
    """Raise ValueError unless the fractions are non-negative and sum to 1."""
    if not fractions or any(value < 0 for value in fractions.values()):
        raise ValueError(f"split fractions must be non-negative, got {dict(fractions)}")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-9):
        raise ValueError(f"split fractions must sum to 1, got {dict(fractions)}")


def assign_splits(
    rows: Iterable[Mapping[str, Any]],
    fractions: Mapping[str, float],
    seed: int | str,
    groups: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Split name per sample_id, assigned per work group so no work straddles splits.

    ``fractions``: split name → share of the *groups* (not of samples) expected in it; the
    realized sample shares vary with group sizes. ``seed``: changes the whole assignment.
    ``groups``: sample_id → group key (default: :func:`work_groups`; pass the result of
    :func:`merge_near_duplicate_groups` to keep near-duplicates together).
    """
    check_fractions(fractions)
    rows = list(rows)
    if groups is None:
        groups = work_groups(rows)
    return {
        row["sample_id"]: split_for(unit_interval_hash(seed, groups[row["sample_id"]]), fractions)
        for row in rows
    }


def split_order(rows: Iterable[Mapping[str, Any]], names: Iterable[str]) -> list[str]:
    """Split names present in ``rows``, in the order of ``names`` (then any others, sorted)."""
    present = {row["split"] for row in rows}
    ordered = [name for name in names if name in present]
    return ordered + sorted(present - set(ordered))
