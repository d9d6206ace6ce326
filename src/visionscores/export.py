"""Export: splits by work, near-duplicate detection, Hugging Face shards, the dataset card.

Everything here is deterministic: equal inputs give byte-identical files (fixed ordering,
no wall-clock values, fixed Parquet settings). Splits are assigned per work group by a
seeded hash, so a work's split does not change when other works are added.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import itertools
import json
import math
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from visionscores.acquire.records import recorded_pieces
from visionscores.dataset import METADATA_COLUMNS, METADATA_SCHEMA, write_csv, write_table
from visionscores.fileio import (
    atomic_directory,
    read_gray,
    read_page_listing,
    write_bytes_atomic,
)
from visionscores.quality import REASON_MEANINGS

DEFAULT_SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}

NEAR_DUPLICATE_SCHEMA = pa.schema(
    [
        pa.field("sample_a", pa.string()),
        pa.field("sample_b", pa.string()),
        pa.field("piece_a", pa.string()),
        pa.field("piece_b", pa.string()),
        pa.field("distance", pa.int32()),
        pa.field("same_split", pa.bool_()),
    ]
)
NEAR_DUPLICATE_COLUMNS = NEAR_DUPLICATE_SCHEMA.names

SPLITS_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string()),
        pa.field("piece_id", pa.string()),
        pa.field("group_key", pa.string()),
        pa.field("phash", pa.string()),
        pa.field("split", pa.string()),
    ]
)

HF_DATA_DIR = "data"
HF_ROW_GROUP_ROWS = 100  # rows per Parquet row group (the Hub viewer pages by row group)


# --- splits by work ----------------------------------------------------------------------


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
    fractions: Mapping[str, float] = DEFAULT_SPLIT_FRACTIONS,
    seed: int | str = 0,
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


# --- perceptual hashes and near-duplicates ------------------------------------------------


def phash_of_image(gray: np.ndarray, hash_size: int = 8, oversample: int = 4) -> int:
    """64-bit DCT perceptual hash of a gray image (the classic pHash).

    The image is area-resized to ``hash_size * oversample`` squared pixels, transformed by
    a 2-D DCT, and the top-left ``hash_size`` squared low frequencies compared with their
    median: bit set where above. Bits are read row by row, most significant first.
    """
    import cv2

    side = hash_size * oversample
    small = cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:hash_size, :hash_size].astype(np.float64)
    bits = (low > np.median(low)).ravel()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def perceptual_hashes(image_paths: Mapping[str, str | Path]) -> dict[str, int]:
    """pHash (:func:`phash_of_image`) per key of ``image_paths`` (e.g. sample_id → JPEG)."""

    hashes = {}
    for key in sorted(image_paths):
        hashes[key] = phash_of_image(read_gray(image_paths[key]))
    return hashes


def sample_image_paths(rows: Iterable[Mapping[str, Any]], dataset_dir: Path) -> dict[str, Path]:
    """sample_id → absolute image file, from the rows' ``image_path`` (relative to the set)."""
    return {row["sample_id"]: Path(dataset_dir) / row["image_path"] for row in rows}


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[values.view(np.uint8).reshape(-1, 8)].sum(axis=1)


def near_duplicates(
    rows: Iterable[Mapping[str, Any]],
    hashes: Mapping[str, int],
    max_hamming: int,
    block_rows: int = 256,
) -> list[dict[str, Any]]:
    """Pairs of samples of *different* pieces whose hashes differ in at most ``max_hamming``
    bits; each ``{sample_a, sample_b, piece_a, piece_b, distance}``, sample_a < sample_b,
    sorted by (sample_a, sample_b).

    ``hashes``: sample_id → 64-bit pHash. Compares all pairs in blocks of ``block_rows``
    (numpy, O(n²) bit counts: about 10 s for 40,000 samples).
    """
    samples = sorted((row["sample_id"], row["piece_id"]) for row in rows)
    if len(samples) < 2:
        return []
    ids = [sample for sample, _ in samples]
    piece_names = sorted({piece for _, piece in samples})
    piece_index = {piece: index for index, piece in enumerate(piece_names)}
    pieces = np.array([piece_index[piece] for _, piece in samples], dtype=np.int64)
    values = np.array([hashes[sample] for sample in ids], dtype=np.uint64)
    pairs = []
    for start in range(0, len(ids), block_rows):
        block = values[start : start + block_rows, None]
        distances = _popcount(block ^ values[None, :])
        rows_i, cols_j = np.nonzero(distances <= max_hamming)
        for i, j in zip(rows_i + start, cols_j, strict=True):
            if j > i and pieces[i] != pieces[j]:
                pairs.append(
                    {
                        "sample_a": ids[i],
                        "sample_b": ids[j],
                        "piece_a": piece_names[pieces[i]],
                        "piece_b": piece_names[pieces[j]],
                        "distance": int(distances[i - start, j]),
                    }
                )
    pairs.sort(key=lambda pair: (pair["sample_a"], pair["sample_b"]))
    return pairs


def near_duplicate_report(
    pairs: Iterable[Mapping[str, Any]], splits: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The pairs with ``same_split``: whether both samples ended in the same split."""
    return [
        {**pair, "same_split": splits[pair["sample_a"]] == splits[pair["sample_b"]]}
        for pair in pairs
    ]


# --- Hugging Face shards -----------------------------------------------------------------


def _hf_value(arrow_type: pa.DataType) -> dict[str, Any]:
    if pa.types.is_fixed_size_list(arrow_type):
        return {
            "feature": _hf_value(arrow_type.value_type),
            "length": arrow_type.list_size,
            "_type": "Sequence",
        }
    names = {
        pa.string(): "string",
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.float64(): "float64",
        pa.bool_(): "bool",
    }
    return {"dtype": names[arrow_type], "_type": "Value"}


def hf_schema(metadata_schema: pa.Schema = METADATA_SCHEMA) -> pa.Schema:
    """Arrow schema of a shard: ``image`` {bytes, path} then the metadata columns, with the
    ``huggingface`` schema metadata naming ``image`` an ``Image`` feature.

    Fixed-length lists are declared as ``Sequence`` with ``length``, which every
    ``datasets`` release reads (newer ones turn it into ``List``).
    """
    image_type = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    features: dict[str, Any] = {"image": {"_type": "Image"}}
    for item in metadata_schema:
        features[item.name] = _hf_value(item.type)
    info = json.dumps({"info": {"features": features}}, separators=(",", ":"))
    fields = [pa.field("image", image_type), *metadata_schema]
    return pa.schema(fields, metadata={"huggingface": info})


def shard_name(split: str, index: int, count: int) -> str:
    """``{split}-00000-of-00003.parquet``: the Hub's shard naming."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def _shard_ranges(n_rows: int, rows_per_shard: int) -> list[tuple[int, int]]:
    """Balanced [start, stop) ranges, each at most ``rows_per_shard`` rows."""
    count = max(1, math.ceil(n_rows / rows_per_shard))
    bounds = [round(index * n_rows / count) for index in range(count + 1)]
    return list(itertools.pairwise(bounds))


def split_order(rows: Iterable[Mapping[str, Any]], names: Iterable[str]) -> list[str]:
    """Split names present in ``rows``, in the order of ``names`` (then any others, sorted)."""
    present = {row["split"] for row in rows}
    ordered = [name for name in names if name in present]
    return ordered + sorted(present - set(ordered))


def write_hf_shards(
    rows: Sequence[Mapping[str, Any]],
    dataset_dir: str | Path,
    out_dir: str | Path,
    rows_per_shard: int,
    split_names: Iterable[str] = DEFAULT_SPLIT_FRACTIONS,
) -> dict[str, list[str]]:
    """Write ``out_dir/data/{split}-0000i-of-0000N.parquet`` with the images embedded.

    ``rows``: metadata rows with a ``split`` key; ``dataset_dir``: the folder the rows'
    ``image_path`` is relative to; ``rows_per_shard``: most rows in one file (a shard of
    1,000 samples is about 20–40 MB). Rows keep the metadata order (piece, reading order);
    the ``data`` folder is replaced whole, so no stale shard survives. Returns the shard
    paths (relative to ``out_dir``) per split.
    """
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be at least 1, got {rows_per_shard}")
    dataset_dir = Path(dataset_dir)
    out_dir = Path(out_dir)
    schema = hf_schema()
    ordered = sorted(rows, key=lambda row: (row["piece_id"], row["reading_index"]))
    written: dict[str, list[str]] = {}
    with atomic_directory(out_dir / HF_DATA_DIR) as temp_dir:
        for split in split_order(ordered, split_names):
            split_rows = [row for row in ordered if row["split"] == split]
            ranges = _shard_ranges(len(split_rows), rows_per_shard)
            written[split] = []
            for index, (start, stop) in enumerate(ranges):
                name = shard_name(split, index, len(ranges))
                _write_shard(split_rows[start:stop], dataset_dir, schema, temp_dir / name)
                written[split].append(f"{HF_DATA_DIR}/{name}")
    return written


def _write_shard(
    rows: Sequence[Mapping[str, Any]], dataset_dir: Path, schema: pa.Schema, path: Path
) -> None:
    images = [
        {"bytes": (dataset_dir / row["image_path"]).read_bytes(), "path": row["image_path"]}
        for row in rows
    ]
    columns: dict[str, list[Any]] = {"image": images}
    for name in METADATA_COLUMNS:
        columns[name] = [row.get(name) for row in rows]
    table = pa.Table.from_pydict(columns, schema=schema)
    pq.write_table(
        table,
        path,
        compression="zstd",
        write_statistics=False,
        row_group_size=HF_ROW_GROUP_ROWS,
    )


# --- dataset card ------------------------------------------------------------------------


@dataclass(frozen=True)
class CardSummary:
    """What the dataset card reports; built by :func:`summarize`."""

    scenario: str
    pieces: int  # score files of the scenario (with or without kept systems)
    pages: int
    candidates: int
    kept: int
    rejected: int
    composers: list[tuple[str, int, int]]  # (composer, pieces, samples), by samples desc
    systems_per_piece: dict[str, float]  # min, median, mean, max over pieces
    reasons: list[tuple[str, int]]  # (reason code, count), by count desc then code
    split_sizes: list[tuple[str, int, int]]  # (split, samples, pieces)
    split_files: dict[str, list[str]]  # split → shard paths, relative to the card
    near_duplicates: int
    near_duplicates_max_hamming: int
    split_seed: str
    split_fractions: dict[str, float] = field(default_factory=dict)
    image_height_px: int = 128
    image_width_px: int = 512
    image_mode: str = "fit"  # config format.mode: fit (padded with white) or stretch


def summarize(
    scenario: str,
    samples: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
    pages_per_piece: Mapping[str, int],
    split_files: Mapping[str, Sequence[str]],
    near_duplicate_pairs: Sequence[Mapping[str, Any]],
    max_hamming: int,
    seed: int | str,
    fractions: Mapping[str, float],
    image_size_px: tuple[int, int] = (128, 512),
    image_mode: str = "fit",
) -> CardSummary:
    """Counts for the card. ``samples``: metadata rows with ``split``; ``rejected``: the
    rejected table's rows; ``pages_per_piece``: piece_id → pages (every piece of the
    scenario, also those without kept systems). Composers count the score files they
    have candidates in, kept or not."""
    per_piece = Counter(row["piece_id"] for row in samples)
    counts = [per_piece.get(piece, 0) for piece in sorted(pages_per_piece)] or [0]
    composer_pieces: dict[str, set[str]] = defaultdict(set)
    composer_samples: Counter[str] = Counter()
    for row in [*samples, *rejected]:
        composer_pieces[row.get("composer") or "(unknown)"].add(row["piece_id"])
    for row in samples:
        composer_samples[row.get("composer") or "(unknown)"] += 1
    composers = sorted(
        ((name, len(composer_pieces[name]), composer_samples[name]) for name in composer_pieces),
        key=lambda item: (-item[2], item[0]),
    )
    reasons = sorted(
        Counter(row["reason"] for row in rejected).items(), key=lambda item: (-item[1], item[0])
    )
    split_sizes = []
    for split in split_order(samples, fractions):
        members = [row for row in samples if row["split"] == split]
        split_sizes.append((split, len(members), len({row["piece_id"] for row in members})))
    return CardSummary(
        scenario=scenario,
        pieces=len(pages_per_piece),
        pages=sum(pages_per_piece.values()),
        candidates=len(samples) + len(rejected),
        kept=len(samples),
        rejected=len(rejected),
        composers=composers,
        systems_per_piece={
            "min": float(min(counts)),
            "median": float(statistics.median(counts)),
            "mean": round(statistics.fmean(counts), 2),
            "max": float(max(counts)),
        },
        reasons=reasons,
        split_sizes=split_sizes,
        split_files={split: list(paths) for split, paths in split_files.items()},
        near_duplicates=len(near_duplicate_pairs),
        near_duplicates_max_hamming=max_hamming,
        split_seed=str(seed),
        split_fractions=dict(fractions),
        image_height_px=image_size_px[0],
        image_width_px=image_size_px[1],
        image_mode=image_mode,
    )


def _size_category(count: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]:
        if count < limit:
            return label
    return "100K<n<1M"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "–"


def _number(value: float) -> str:
    return f"{value:g}"


def _cell(text: str) -> str:
    """Text for a Markdown table cell of the card: HTML escaped (a composer named
    ``<script>...`` stays text on the Hub's page), pipes escaped."""
    return html.escape(str(text)).replace("|", "\\|")


# How the card says a sample was made from its crop, per config format.mode.
IMAGE_MODE_WORDS = {
    "fit": "fitted on white",
    "stretch": "stretched to fill (aspect ratio not kept)",
}


def card_text(summary: CardSummary) -> str:
    """The dataset card (README.md): a YAML header for the Hub, then the description."""
    s = summary
    lines = [
        "---",
        "license: other",
        "license_name: imslp-mixed",
        "license_link: https://imslp.org/wiki/IMSLP:Copyright_Policy",
        f"pretty_name: {json.dumps(f'VisionScores-style system images ({s.scenario})')}",
        "task_categories:",
        "  - image-classification",
        "  - unconditional-image-generation",
        "tags:",
        "  - music",
        "  - sheet-music",
        "  - optical-music-recognition",
        "  - piano",
        "size_categories:",
        f"  - {_size_category(s.kept)}",
        "configs:",
        "  - config_name: default",
        "    data_files:",
    ]
    for split, paths in s.split_files.items():
        lines += [f"      - split: {split}", "        path:"]
        lines += [f"          - {path}" for path in paths]
    lines += ["---", ""]
    lines += [
        f"# System images of two-handed piano scores: scenario {_cell(s.scenario)}",
        "",
        f"One {s.image_height_px} × {s.image_width_px} (height × width) 8-bit grayscale JPEG "
        "per system (one grand staff line) of the score files, cut from the deskewed pages "
        f"and {IMAGE_MODE_WORDS.get(s.image_mode, s.image_mode)}, with metadata: title, "
        "composer, key, IMSLP work page, the "
        "system's position in the piece and on its page, its boxes on the page in pixels, "
        "and the quality features it was judged on.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("parquet", data_dir="data")  # or the Hub repository id',
        'dataset["train"][0]["image"]  # a PIL image, mode L',
        "```",
        "",
        "## Counts",
        "",
        "| score files | pages | candidate systems | kept | rejected |",
        "|---:|---:|---:|---:|---:|",
        f"| {s.pieces} | {s.pages} | {s.candidates} | {s.kept} | {s.rejected} |",
        "",
        "Systems kept per score file: "
        + ", ".join(f"{name} {_number(value)}" for name, value in s.systems_per_piece.items())
        + ".",
        "",
        "## Composers",
        "",
        "| composer | score files | systems |",
        "|---|---:|---:|",
    ]
    lines += [f"| {_cell(name)} | {pieces} | {samples} |" for name, pieces, samples in s.composers]
    lines += [
        "",
        "## Rejected candidates",
        "",
        "Each candidate system is judged on measured features; a rejected one records the "
        "first rule it failed.",
        "",
        "| reason | count | share of rejected | meaning |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| `{code}` | {count} | {_percent(count, s.rejected)} | "
        f"{_cell(REASON_MEANINGS.get(code, 'see quality.judge_candidate'))} |"
        for code, count in s.reasons
    ]
    if not s.reasons:
        lines.append("| – | 0 | – | no candidate was rejected |")
    fractions = ", ".join(f"{name} {_number(value)}" for name, value in s.split_fractions.items())
    lines += [
        "",
        "## Splits",
        "",
        "Splits are drawn per work, never per image: every file of one IMSLP work page (or, "
        "without one, of one title and composer) lands in one split, and works whose images "
        "are near-duplicates are joined first. A work's split comes from a seeded SHA-256 of "
        "its key, so it stays put when works are added. Target shares of works: "
        f"{fractions}; seed `{s.split_seed}`.",
        "",
        "| split | systems | score files |",
        "|---|---:|---:|",
    ]
    lines += [f"| {split} | {samples} | {pieces} |" for split, samples, pieces in s.split_sizes]
    lines += [
        "",
        f"Near-duplicate pairs across score files (64-bit DCT perceptual hash, at most "
        f"{s.near_duplicates_max_hamming} bits apart): {s.near_duplicates}. They are listed "
        "in `near_duplicates.parquet`; their works share a split.",
        "",
        "## Licence",
        "",
        "- The images are derived from scores on IMSLP (the Petrucci Music Library). Their "
        "copyright status varies by country: a score that is public domain in Canada or the "
        "EU may still be protected elsewhere. Check the status of each work for your "
        "jurisdiction on its IMSLP page (`imslp_page`) before reuse; some files there carry "
        "Creative Commons licences with their own terms.",
        "- Titles, composers, keys and work pages come from IMSLP.",
        "- The images are cut, deskewed, scaled and re-encoded; no notation was added.",
        "- The idea and the format (system-segmented 128 × 512 grayscale images of two-handed "
        "piano scores, with the systems' order and the pieces' metadata) follow the "
        "VisionScores dataset; please cite: A. Romero Amezcua and M. J. J. Rivera Meraz, "
        "*VisionScores – A system-segmented image score "
        "dataset for deep learning tasks*, arXiv:2506.23030 (2025), "
        "https://github.com/alroamz/VisionScores.",
        "",
    ]
    return "\n".join(lines)


def write_card(path: str | Path, summary: CardSummary) -> None:
    """Write the dataset card (:func:`card_text`) as UTF-8, atomically."""
    write_bytes_atomic(path, card_text(summary).encode("utf-8"))


# --- the whole export --------------------------------------------------------------------


def export_dataset(
    metadata_path: str | Path,
    rejected_path: str | Path,
    pages_dirs: Iterable[str | Path],
    dataset_dir: str | Path,
    out_dir: str | Path,
    params: Mapping[str, Any],
    sample_format: Mapping[str, Any] | None = None,
    record_paths: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """Splits, near-duplicates, shards and card of one scenario.

    ``pages_dirs``: segment's pages folders of the pieces whose PDF was acquired;
    ``record_paths``: the acquire records of every piece (a piece without pages folder
    counts as a score file with no pages).

    ``params`` (config ``export``): ``split_fractions`` (split → share of works),
    ``split_seed``, ``near_duplicate_max_hamming`` (bits, of 64), ``rows_per_shard``.
    ``sample_format`` (config ``format``): the samples' size and mode the card states
    (default 128 x 512, fit).
    Writes into ``out_dir``: ``data/*.parquet``, ``splits.parquet`` (sample_id, piece_id,
    group_key, phash, split), ``near_duplicates.parquet`` and ``.csv``, ``README.md``.
    Returns counts for the log.
    """
    from visionscores.dataset import read_rows

    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    fractions = dict(params.get("split_fractions", DEFAULT_SPLIT_FRACTIONS))
    seed = params.get("split_seed", 0)
    max_hamming = int(params.get("near_duplicate_max_hamming", 6))
    rows_per_shard = int(params.get("rows_per_shard", 1000))
    check_fractions(fractions)
    sample_format = sample_format or {"height_px": 128, "width_px": 512, "mode": "fit"}

    samples = read_rows(metadata_path)
    rejected = read_rows(rejected_path)
    pages_per_piece = dict.fromkeys(recorded_pieces(record_paths), 0)
    for pages_dir in pages_dirs:
        listing = read_page_listing(pages_dir)
        pages_per_piece[listing["piece_id"]] = len(listing["pages"])

    hashes = perceptual_hashes(sample_image_paths(samples, dataset_dir))
    pairs = near_duplicates(samples, hashes, max_hamming)
    groups = merge_near_duplicate_groups(work_groups(samples), pairs)
    splits = assign_splits(samples, fractions, seed, groups)
    for row in samples:
        row["split"] = splits[row["sample_id"]]

    split_files = write_hf_shards(samples, dataset_dir, out_dir, rows_per_shard, fractions)
    split_rows = [
        {
            "sample_id": row["sample_id"],
            "piece_id": row["piece_id"],
            "group_key": groups[row["sample_id"]],
            "phash": f"{hashes[row['sample_id']]:016x}",
            "split": row["split"],
        }
        for row in samples
    ]
    write_table(split_rows, SPLITS_SCHEMA, out_dir / "splits.parquet")
    report = near_duplicate_report(pairs, splits)
    write_table(report, NEAR_DUPLICATE_SCHEMA, out_dir / "near_duplicates.parquet")
    write_csv(report, NEAR_DUPLICATE_COLUMNS, out_dir / "near_duplicates.csv")
    summary = summarize(
        samples[0]["scenario"] if samples else "",
        samples,
        rejected,
        pages_per_piece,
        split_files,
        pairs,
        max_hamming,
        seed,
        fractions,
        (sample_format["height_px"], sample_format["width_px"]),
        sample_format["mode"],
    )
    write_card(out_dir / "README.md", summary)
    return {
        "samples": len(samples),
        "near_duplicates": len(pairs),
        "splits": {split: size for split, size, _ in summary.split_sizes},
        "shards": sum(len(paths) for paths in split_files.values()),
    }


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``visionscores stage export``."""
    parser = argparse.ArgumentParser(prog="visionscores-export", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dataset = commands.add_parser("dataset", help="splits, near-duplicates, shards, card")
    dataset.add_argument("--metadata", required=True, help="the scenario's metadata.parquet")
    dataset.add_argument("--rejected", required=True, help="the scenario's rejected.parquet")
    dataset.add_argument("--pages", nargs="*", default=[], help="pages folder per piece")
    dataset.add_argument("--records", nargs="*", default=[], help="acquire record per piece")
    dataset.add_argument("--dataset-dir", required=True, help="folder image_path is under")
    dataset.add_argument("--out-dir", required=True, help="where data/ and README.md go")
    dataset.add_argument("--params", type=_json_arg, default={}, help="config export, JSON")
    dataset.add_argument("--format", type=_json_arg, help="config format, JSON (for the card)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: ``dataset`` (see :func:`build_parser`)."""
    args = build_parser().parse_args(argv)
    if args.command == "dataset":
        counts = export_dataset(
            args.metadata,
            args.rejected,
            args.pages,
            args.dataset_dir,
            args.out_dir,
            args.params,
            args.format,
            args.records,
        )
        print(f"exported: {json.dumps(counts, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
