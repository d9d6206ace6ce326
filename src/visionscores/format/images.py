"""Formatting: a system crop to the dataset's fixed image (128 x 512, 8-bit gray, JPEG).

Also the optional auxiliary images cut in the same pass: kept systems at the page's own
resolution, and the piece's full deskewed pages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from visionscores.fileio import read_gray, read_page_listing

FORMAT_MODES = ("fit", "stretch")


def to_sample(crop: np.ndarray, height_px: int, width_px: int, mode: str = "fit") -> np.ndarray:
    """Resize a gray crop to ``height_px`` x ``width_px``.

    ``fit`` keeps the aspect ratio, scales the crop to touch the canvas on one side and
    centres it on white; ``stretch`` scales both axes independently to fill the canvas.
    Downscaling uses area averaging (no aliasing of thin staff lines).
    """
    if mode not in FORMAT_MODES:
        raise ValueError(f"unknown format mode {mode!r}; expected one of {FORMAT_MODES}")
    if crop.ndim != 2 or crop.size == 0:
        raise ValueError(f"expected a non-empty 2-D gray crop, got shape {crop.shape}")
    crop_height, crop_width = crop.shape
    if mode == "stretch":
        return _resize(crop, width_px, height_px)
    scale = min(width_px / crop_width, height_px / crop_height)
    new_width = min(width_px, max(1, round(crop_width * scale)))
    new_height = min(height_px, max(1, round(crop_height * scale)))
    resized = _resize(crop, new_width, new_height)
    canvas = np.full((height_px, width_px), 255, dtype=np.uint8)
    top = (height_px - new_height) // 2
    left = (width_px - new_width) // 2
    canvas[top : top + new_height, left : left + new_width] = resized
    return canvas


def iter_system_crops(
    rows: Iterable[Mapping[str, Any]], pages_dir: str | Path
) -> Iterator[tuple[Mapping[str, Any], np.ndarray]]:
    """(row, crop) for each system row, cut at ``deskewed_crop_bbox`` from its cleaned page.

    ``pages_dir`` is the piece's pages folder (its pages.json names each page's image).
    Rows are taken in the order given; a page is read once per run of rows on it and only
    one page is held in memory.
    """
    pages_dir = Path(pages_dir)
    files = {page["page"]: page["file"] for page in read_page_listing(pages_dir)["pages"]}
    current_page, gray = None, None
    for row in rows:
        if row["page"] != current_page:
            current_page = row["page"]
            gray = read_gray(pages_dir / files[current_page])
        x0, y0, x1, y1 = (round(v) for v in row["deskewed_crop_bbox"])
        yield row, gray[y0:y1, x0:x1]


def page_image_name(piece_id: str, page: int) -> str:
    """``{piece_id}-p{page:03d}.jpg``: a full page of the dataset, named like its samples."""
    return f"{piece_id}-p{page:03d}.jpg"


def crop_image_name(sample_id: str) -> str:
    """``{sample_id}.jpg``: a kept system at the page's resolution, before any resizing."""
    return f"{sample_id}.jpg"


def place_full_pages(pages_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Place a piece's deskewed pages in ``out_dir`` as ``{piece_id}-pNNN.jpg``.

    The files are the cleaned pages themselves (hard links where the file system allows,
    copies otherwise): no second encoding. They are in the coordinates of the samples'
    ``deskewed_crop_bbox``. Returns the file names, in page order.
    """
    pages_dir, out_dir = Path(pages_dir), Path(out_dir)
    listing = read_page_listing(pages_dir)
    names = []
    for page in sorted(listing["pages"], key=lambda item: item["page"]):
        name = page_image_name(listing["piece_id"], page["page"])
        try:
            os.link(pages_dir / page["file"], out_dir / name)
        except OSError:
            shutil.copyfile(pages_dir / page["file"], out_dir / name)
        names.append(name)
    return names


def _resize(image: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    shrinking = width_px * height_px < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width_px, height_px), interpolation=interpolation)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Baseline 8-bit grayscale JPEG bytes of ``image`` at ``quality`` (1–100)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()
