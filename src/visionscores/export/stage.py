"""The export stage: splits, near-duplicates, Hugging Face shards and the card of a scenario.

Everything here is deterministic: equal inputs give byte-identical files (fixed ordering,
no wall-clock values, fixed Parquet settings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from visionscores.acquire.records import recorded_pieces
from visionscores.export.card import summarize, write_card
from visionscores.export.duplicates import (
    NEAR_DUPLICATE_COLUMNS,
    NEAR_DUPLICATE_SCHEMA,
    near_duplicate_report,
    near_duplicates,
    perceptual_hashes,
    sample_image_paths,
)
from visionscores.export.hub import write_hf_shards
from visionscores.export.movements import movement_rows, write_movement_shards
from visionscores.export.splits import (
    SPLITS_SCHEMA,
    assign_splits,
    check_fractions,
    merge_near_duplicate_groups,
    work_groups,
)
from visionscores.fileio import read_page_listing
from visionscores.tables import read_rows, write_csv, write_table


def export_dataset(
    metadata_path: str | Path,
    rejected_path: str | Path,
    pages_dirs: Iterable[str | Path],
    dataset_dir: str | Path,
    out_dir: str | Path,
    params: Mapping[str, Any],
    sample_format: Mapping[str, Any],
    record_paths: Iterable[str | Path],
) -> dict[str, Any]:
    """Splits, near-duplicates, shards and card of one scenario.

    ``pages_dirs``: segment's pages folders of the pieces whose PDF was acquired;
    ``record_paths``: the acquire records of every piece (a piece without pages folder
    counts as a score file with no pages).

    ``params`` (config ``export``): ``split_fractions`` (split → share of works),
    ``split_seed``, ``near_duplicate_max_hamming`` (bits, of 64), ``rows_per_shard``.
    ``sample_format`` (config ``format``): the samples' size and mode the card states.
    Writes into ``out_dir``: ``data/*.parquet`` (one row per system), ``movements/*.parquet``
    (one row per movement, :mod:`visionscores.export.movements`), ``splits.parquet``
    (sample_id, piece_id, group_key, phash, split), ``near_duplicates.parquet`` and ``.csv``,
    ``README.md``.
    Returns counts for the log.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    fractions = dict(params["split_fractions"])
    seed = params["split_seed"]
    max_hamming = int(params["near_duplicate_max_hamming"])
    rows_per_shard = int(params["rows_per_shard"])
    check_fractions(fractions)

    samples = read_rows(metadata_path)
    rejected = read_rows(rejected_path)
    pages_per_piece = dict.fromkeys(recorded_pieces(record_paths), 0)
    headings = {}
    for pages_dir in map(Path, pages_dirs):
        listing = read_page_listing(pages_dir)
        pages_per_piece[listing["piece_id"]] = len(listing["pages"])
        for index, name in listing.get("headings", {}).items():
            headings[(listing["piece_id"], int(index))] = pages_dir / name

    hashes = perceptual_hashes(sample_image_paths(samples, dataset_dir))
    pairs = near_duplicates(samples, hashes, max_hamming)
    groups = merge_near_duplicate_groups(work_groups(samples), pairs)
    splits = assign_splits(samples, fractions, seed, groups)
    for row in samples:
        row["split"] = splits[row["sample_id"]]

    split_files = write_hf_shards(samples, dataset_dir, out_dir, rows_per_shard, fractions)
    movements = movement_rows(samples, rejected, headings)
    movement_files = write_movement_shards(
        movements, dataset_dir, out_dir, rows_per_shard, fractions
    )
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
        movement_files,
        len(movements),
    )
    write_card(out_dir / "README.md", summary)
    return {
        "samples": len(samples),
        "near_duplicates": len(pairs),
        "splits": {split: size for split, size, _ in summary.split_sizes},
        "shards": sum(len(paths) for paths in split_files.values()),
        "movements": len(movements),
    }
