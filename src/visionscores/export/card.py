"""The dataset card (README.md of the export): what the dataset holds and how it was made."""

from __future__ import annotations

import html
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionscores.export.splits import split_order
from visionscores.fileio import write_bytes_atomic
from visionscores.judge.rules import REASON_MEANINGS


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
    split_fractions: dict[str, float]
    image_height_px: int
    image_width_px: int
    image_mode: str  # config format.mode: fit (padded with white) or stretch
    movement_files: dict[str, list[str]]  # split → movements shard paths, relative to the card
    movements: int  # rows of the sequence view


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
    image_size_px: tuple[int, int],
    image_mode: str,
    movement_files: Mapping[str, Sequence[str]],
    movements: int,
) -> CardSummary:
    """Counts for the card. ``samples``: metadata rows with ``split``; ``rejected``: the
    rejected table's rows; ``pages_per_piece``: piece_id → pages (every piece of the
    scenario, also those without kept systems). Composers count the score files they
    have candidates in, kept or not. ``movement_files``: the sequence view's shards per
    split; ``movements``: its rows."""
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
        movement_files={split: list(paths) for split, paths in movement_files.items()},
        movements=movements,
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


def _data_files(files: Mapping[str, Sequence[str]]) -> list[str]:
    """The card header's ``data_files`` lines of one configuration."""
    lines = []
    for split, paths in files.items():
        lines += [f"      - split: {split}", "        path:"]
        lines += [f"          - {path}" for path in paths]
    return lines


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
    lines += _data_files(s.split_files)
    if s.movement_files:
        lines += ["  - config_name: movements", "    data_files:"]
        lines += _data_files(s.movement_files)
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
        "## Sequences",
        "",
        "Score files are often collections (several pieces, or a work's movements, back to "
        "back). Each system row carries `movement_index` (0-based within its score file), "
        "`movement_start` (true on the first system of a piece or movement), "
        "`key_signature_fifths` (the key signature read after its clefs: sharps positive, "
        "flats negative, empty where it could not be read) and "
        "`movement_key_signature_fifths` (its movement's consensus). The configuration "
        f"`movements` has one row per movement ({s.movements} here): score file, title, "
        "composer, movement index, key signature, the heading above its first system as an "
        "image, and its systems in reading order (`systems`: sample id, or none and the "
        "reason where a candidate was rejected, so gaps are visible; `images`: the kept "
        "systems' images in that order). A movement lies in its work's split.",
        "",
        "```python",
        'movements = load_dataset("path/to/hub", "movements")',
        'first = movements["train"][0]',
        'first["images"]  # the kept systems of one movement, in reading order',
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
        f"{_cell(REASON_MEANINGS.get(code, 'see judge.rules.judge_candidate'))} |"
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
