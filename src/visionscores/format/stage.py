"""The format stage: cut each kept system from its deskewed page and save the sample image."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionscores import tables
from visionscores.fileio import atomic_directory
from visionscores.format import images


def sample_id(piece_id: str, page: int, system_on_page: int) -> str:
    """Stable identifier of a sample: piece, page and position on the page."""
    return f"{piece_id}-p{page:03d}-s{system_on_page:02d}"


def format_samples(
    judged_path: Path,
    pages_dir: Path,
    images_dir: Path,
    out_path: Path,
    dataset_dir: Path,
    params: Mapping[str, Any],
    crops_dir: Path | None = None,
    full_pages_dir: Path | None = None,
) -> int:
    """Cut each kept system from its deskewed page and save the 128 x 512 JPEG.

    With ``crops_dir``, each kept system is also saved there uncut by any resizing (at the
    page's resolution, ``{sample_id}.jpg``); with ``full_pages_dir``, the piece's deskewed
    pages are placed there as ``{piece_id}-pNNN.jpg``. Both in the pass that reads the
    pages for the samples.
    """

    rows = [row for row in tables.read_rows(judged_path) if row["keep"]]
    samples = []
    with contextlib.ExitStack() as outputs:
        temp_dir = outputs.enter_context(atomic_directory(images_dir))
        crops_temp = outputs.enter_context(atomic_directory(crops_dir)) if crops_dir else None
        crops = images.iter_system_crops(rows, pages_dir)
        for system_index, (row, crop) in enumerate(crops):
            image = images.to_sample(crop, params["height_px"], params["width_px"], params["mode"])
            identifier = sample_id(row["piece_id"], row["page"], row["system_on_page"])
            name = f"{identifier}.jpg"
            (temp_dir / name).write_bytes(images.encode_jpeg(image, params["jpeg_quality"]))
            if crops_temp is not None:
                crop_bytes = images.encode_jpeg(crop, params["jpeg_quality"])
                (crops_temp / images.crop_image_name(identifier)).write_bytes(crop_bytes)
            relative = (images_dir / name).relative_to(dataset_dir)
            samples.append(
                {
                    **row,
                    "sample_id": identifier,
                    "system_index": system_index,
                    "image_path": relative.as_posix(),
                }
            )
        if full_pages_dir:
            images.place_full_pages(
                pages_dir, outputs.enter_context(atomic_directory(full_pages_dir))
            )
    tables.write_table(samples, tables.FORMATTED_SCHEMA, out_path)
    return len(samples)
