"""Hugging Face shards: the samples with their images, per split, in Parquet files the Hub
viewer and ``datasets.load_dataset`` read."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from visionscores.export.splits import split_order
from visionscores.fileio import atomic_directory
from visionscores.tables import METADATA_COLUMNS, METADATA_SCHEMA

HF_DATA_DIR = "data"
HF_ROW_GROUP_ROWS = 100  # rows per Parquet row group (the Hub viewer pages by row group)


IMAGE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def _hf_value(arrow_type: pa.DataType) -> dict[str, Any]:
    if pa.types.is_fixed_size_list(arrow_type):
        return {
            "feature": _hf_value(arrow_type.value_type),
            "length": arrow_type.list_size,
            "_type": "Sequence",
        }
    if pa.types.is_list(arrow_type):
        return {"feature": _hf_value(arrow_type.value_type), "_type": "Sequence"}
    if pa.types.is_struct(arrow_type):
        return hf_features(arrow_type)
    names = {
        pa.string(): "string",
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.float64(): "float64",
        pa.bool_(): "bool",
    }
    return {"dtype": names[arrow_type], "_type": "Value"}


def hf_features(fields: Iterable[pa.Field]) -> dict[str, Any]:
    """The ``datasets`` feature of each Arrow field, by name."""
    return {item.name: _hf_value(item.type) for item in fields}


def write_shard_table(table: pa.Table, path: Path) -> None:
    """A shard as the Hub reads it: zstd, no statistics, row groups the viewer pages by."""
    pq.write_table(
        table, path, compression="zstd", write_statistics=False, row_group_size=HF_ROW_GROUP_ROWS
    )


def hf_schema(metadata_schema: pa.Schema) -> pa.Schema:
    """Arrow schema of a shard: ``image`` {bytes, path} then the metadata columns, with the
    ``huggingface`` schema metadata naming ``image`` an ``Image`` feature.

    Fixed-length lists are declared as ``Sequence`` with ``length``, which every
    ``datasets`` release reads (newer ones turn it into ``List``).
    """
    features: dict[str, Any] = {"image": {"_type": "Image"}, **hf_features(metadata_schema)}
    info = json.dumps({"info": {"features": features}}, separators=(",", ":"))
    fields = [pa.field("image", IMAGE_TYPE), *metadata_schema]
    return pa.schema(fields, metadata={"huggingface": info})


def shard_name(split: str, index: int, count: int) -> str:
    """``{split}-00000-of-00003.parquet``: the Hub's shard naming."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def shard_ranges(n_rows: int, rows_per_shard: int) -> list[tuple[int, int]]:
    """Balanced [start, stop) ranges, each at most ``rows_per_shard`` rows."""
    count = max(1, math.ceil(n_rows / rows_per_shard))
    bounds = [round(index * n_rows / count) for index in range(count + 1)]
    return list(itertools.pairwise(bounds))


def write_hf_shards(
    rows: Sequence[Mapping[str, Any]],
    dataset_dir: str | Path,
    out_dir: str | Path,
    rows_per_shard: int,
    split_names: Iterable[str],
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
    schema = hf_schema(METADATA_SCHEMA)
    ordered = sorted(rows, key=lambda row: (row["piece_id"], row["reading_index"]))
    return write_split_shards(
        ordered,
        out_dir / HF_DATA_DIR,
        rows_per_shard,
        split_names,
        lambda part, path: _write_shard(part, dataset_dir, schema, path),
    )


def write_split_shards(
    rows: Sequence[Mapping[str, Any]],
    folder: Path,
    rows_per_shard: int,
    split_names: Iterable[str],
    write_shard: Callable[[Sequence[Mapping[str, Any]], Path], None],
) -> dict[str, list[str]]:
    """Write ``rows`` (each with a ``split``) into ``folder/{split}-0000i-of-0000N.parquet``,
    at most ``rows_per_shard`` to a shard, each shard by ``write_shard(rows, path)``, splits
    in the order of ``split_names``. The folder is replaced whole, so no stale shard
    survives. Returns the shard paths (``{folder name}/{shard}``) per split."""
    written: dict[str, list[str]] = {}
    with atomic_directory(folder) as temp_dir:
        for split in split_order(rows, split_names):
            split_rows = [row for row in rows if row["split"] == split]
            ranges = shard_ranges(len(split_rows), rows_per_shard)
            written[split] = []
            for index, (start, stop) in enumerate(ranges):
                name = shard_name(split, index, len(ranges))
                write_shard(split_rows[start:stop], temp_dir / name)
                written[split].append(f"{folder.name}/{name}")
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
    write_shard_table(pa.Table.from_pydict(columns, schema=schema), path)
