"""The sequence view: one row per movement (a piece, or a movement of one, inside a score
file), with its systems in reading order, so a model can read whole sequences without
crossing piece boundaries.

A movement's rows come from the published tables: its kept systems (metadata) and its
rejected candidates, both carrying ``movement_index``. Rejected candidates stay in the
``systems`` list with their reason, so a gap in the sequence is visible; ``images`` holds
the kept systems' images in the same order. A movement lies in its work's split.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from visionscores.export.hub import IMAGE_TYPE, hf_features, write_shard_table, write_split_shards

MOVEMENTS_DIR = "movements"

SYSTEM_ENTRY = pa.struct(
    [
        pa.field("reading_index", pa.int32()),
        pa.field("page", pa.int32()),
        pa.field("system_on_page", pa.int32()),
        pa.field("sample_id", pa.string()),  # null for a rejected candidate
        pa.field("kept", pa.bool_()),
        pa.field("rejected_reason", pa.string()),  # "" for a kept system
    ]
)

# The columns of a movement row besides its images (``images``, ``heading``).
MOVEMENT_FIELDS = [
    pa.field("movement_id", pa.string()),
    pa.field("piece_id", pa.string()),
    pa.field("scenario", pa.string()),
    pa.field("title", pa.string()),
    pa.field("composer", pa.string()),
    pa.field("key", pa.string()),
    pa.field("imslp_page", pa.string()),
    pa.field("movement_index", pa.int32()),
    pa.field("key_signature_fifths", pa.int32()),
    pa.field("first_page", pa.int32()),
    pa.field("n_systems", pa.int32()),
    pa.field("n_kept", pa.int32()),
    pa.field("split", pa.string()),
    pa.field("systems", pa.list_(SYSTEM_ENTRY)),
]


def movement_schema() -> pa.Schema:
    """Arrow schema of a movements shard, with the ``huggingface`` metadata that names
    ``images`` a list of ``Image`` and ``heading`` an ``Image``."""
    fields = [
        *MOVEMENT_FIELDS,
        pa.field("heading", IMAGE_TYPE),
        pa.field("images", pa.list_(IMAGE_TYPE)),
    ]
    features = hf_features(MOVEMENT_FIELDS)
    features["heading"] = {"_type": "Image"}
    features["images"] = {"feature": {"_type": "Image"}, "_type": "Sequence"}
    info = json.dumps({"info": {"features": features}}, separators=(",", ":"))
    return pa.schema(fields, metadata={"huggingface": info})


def movement_id(piece_id: str, movement_index: int) -> str:
    """``{piece_id}-m00``: a movement's stable identifier."""
    return f"{piece_id}-m{movement_index:02d}"


def movement_rows(
    samples: Iterable[Mapping[str, Any]],
    rejected: Iterable[Mapping[str, Any]],
    headings: Mapping[tuple[str, int], str],
) -> list[dict[str, Any]]:
    """One row per movement that has at least one kept system, in (piece, movement) order.

    ``samples``: metadata rows with ``split``; ``rejected``: rejected rows; ``headings``:
    (piece_id, movement_index) -> path of the movement's heading image, where there is one.
    A movement whose every candidate was rejected has no images and no split: it is left out.
    """
    samples = list(samples)
    members: dict[tuple[str, int], list[tuple[Mapping[str, Any], bool]]] = {}
    for row in samples:
        members.setdefault((row["piece_id"], row["movement_index"]), []).append((row, True))
    for row in rejected:
        key = (row["piece_id"], row["movement_index"])
        if key in members:
            members[key].append((row, False))
    rows = []
    for (piece_id, index), entries in sorted(members.items()):
        entries.sort(key=lambda entry: entry[0]["reading_index"])
        kept = [row for row, is_kept in entries if is_kept]
        first = kept[0]
        rows.append(
            {
                "movement_id": movement_id(piece_id, index),
                "piece_id": piece_id,
                "scenario": first["scenario"],
                "title": first["title"],
                "composer": first["composer"],
                "key": first["key"],
                "imslp_page": first["imslp_page"],
                "movement_index": index,
                "key_signature_fifths": first["movement_key_signature_fifths"],
                "first_page": entries[0][0]["page"],
                "n_systems": len(entries),
                "n_kept": len(kept),
                "split": first["split"],
                "systems": [
                    {
                        "reading_index": row["reading_index"],
                        "page": row["page"],
                        "system_on_page": row["system_on_page"],
                        "sample_id": row["sample_id"] if is_kept else None,
                        "kept": is_kept,
                        "rejected_reason": "" if is_kept else row["reason"],
                    }
                    for row, is_kept in entries
                ],
                "image_paths": [row["image_path"] for row in kept],
                "heading_path": headings.get((piece_id, index)),
            }
        )
    return rows


def write_movement_shards(
    rows: Sequence[Mapping[str, Any]],
    dataset_dir: str | Path,
    out_dir: str | Path,
    rows_per_shard: int,
    split_names: Iterable[str],
) -> dict[str, list[str]]:
    """Write ``out_dir/movements/{split}-0000i-of-0000N.parquet`` with the images embedded.

    ``rows``: from :func:`movement_rows`; ``dataset_dir``: the folder the samples'
    ``image_path`` is relative to; ``rows_per_shard``: most movements in one file. The
    folder is replaced whole. Returns the shard paths (relative to ``out_dir``) per split.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    schema = movement_schema()
    return write_split_shards(
        rows,
        out_dir / MOVEMENTS_DIR,
        rows_per_shard,
        split_names,
        lambda part, path: _write_shard(part, dataset_dir, schema, path),
    )


def _image(path: Path, name: str) -> dict[str, Any]:
    return {"bytes": path.read_bytes(), "path": name}


def _write_shard(
    rows: Sequence[Mapping[str, Any]], dataset_dir: Path, schema: pa.Schema, path: Path
) -> None:
    columns: dict[str, list[Any]] = {field.name: [] for field in schema}
    for row in rows:
        for field in MOVEMENT_FIELDS:
            columns[field.name].append(row[field.name])
        heading = row["heading_path"]
        columns["heading"].append(_image(Path(heading), Path(heading).name) if heading else None)
        columns["images"].append([_image(dataset_dir / name, name) for name in row["image_paths"]])
    write_shard_table(pa.Table.from_pydict(columns, schema=schema), path)
