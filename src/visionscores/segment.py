"""Segment: from a cleaned page to candidate systems with their boxes and measured features.

This module ties the page's units (:mod:`visionscores.staves`), the grouping of staves
(:mod:`visionscores.systems`) and the quality features (:mod:`visionscores.quality`) into
one call per page, and maps every box back from the deskewed page to the input image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visionscores import clean, quality, staves, systems

# Keys of config `segment:` passed to staves.find_staves, and to systems.find_systems.
STAFF_KEYS = (
    "stroke_min_length_sp",
    "stroke_max_gap_sp",
    "strip_width_sp",
    "min_row_fill",
    "spacing_tolerance",
    "max_link_shift_sp",
    "min_strips",
    "min_width_sp",
    "min_spacing_px",
    "stroke_column_bin_sp",
)
SYSTEM_KEYS = (
    "brace_margin_sp",
    "min_overlap",
    "max_margin_above_sp",
    "max_margin_below_sp",
    "margin_left_sp",
    "margin_right_sp",
)
# Keys of config `clean:` the segment stage uses itself (writing the page), not clean_page.
CLEAN_OUTPUT_KEYS = ("page_jpeg_quality",)


@dataclass
class PageSegmentation:
    """The candidate systems of one page (deskewed boxes and input-image boxes)."""

    width: int  # input image size, pixels
    height: int
    skew_deg: float
    metrics: staves.StaffMetrics | None
    systems: list[systems.System] = field(default_factory=list)
    staff_boxes: list[list[float]] = field(default_factory=list)  # input image pixels
    crop_boxes: list[list[float]] = field(default_factory=list)  # input image pixels
    features: list[dict[str, float]] = field(default_factory=list)


def cleaning_params(clean_section: Mapping[str, Any]) -> dict[str, Any]:
    """Config `clean:` without the keys of the page output: the arguments of clean_page."""
    return {key: value for key, value in clean_section.items() if key not in CLEAN_OUTPUT_KEYS}


def split_segment_params(
    params: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split config `segment:` into the keys of find_staves and those of find_systems.

    A key that belongs to neither is refused (ValueError), never dropped: a misspelled key
    would otherwise change nothing, silently.
    """
    unknown = sorted(set(params) - set(STAFF_KEYS) - set(SYSTEM_KEYS))
    if unknown:
        raise ValueError(f"segment: unknown key(s) {unknown}")
    return (
        {key: params[key] for key in STAFF_KEYS if key in params},
        {key: params[key] for key in SYSTEM_KEYS if key in params},
    )


def _clip_box(box: list[float], width: int, height: int) -> list[float]:
    x0, y0, x1, y1 = box
    return [
        round(min(max(x0, 0.0), width), 1),
        round(min(max(y0, 0.0), height), 1),
        round(min(max(x1, 0.0), width), 1),
        round(min(max(y1, 0.0), height), 1),
    ]


def segment_page(
    ink: np.ndarray,
    darkness: np.ndarray,
    matrix: np.ndarray,
    input_width: int,
    input_height: int,
    skew_deg: float,
    params: Mapping[str, Any] | None = None,
) -> PageSegmentation:
    """Find the candidate systems on a deskewed page.

    ``ink`` is its binarized ink mask (0/1) and ``darkness`` its flattened gray levels
    inverted (0 = paper, 255 = ink): staff lines are
    found on the darkness, which keeps faint lines that binarization loses; the ink joins
    staves into systems. ``matrix`` maps input-image pixels to the deskewed page (from
    :func:`clean.deskew`); ``params`` holds the `segment:` config keys (defaults when absent).
    """
    params = dict(params or {})
    metrics = staves.estimate_metrics_from_strokes(darkness)
    result = PageSegmentation(input_width, input_height, skew_deg, metrics)
    if result.metrics is None:
        return result
    staff_params, system_params = split_segment_params(params)
    found = staves.find_staves(darkness, result.metrics, **staff_params)
    result.systems = systems.find_systems(ink, found, **system_params)
    if not result.systems:
        return result
    widest = max(s.staff_box[2] - s.staff_box[0] for s in result.systems)
    page_height, page_width = ink.shape
    all_boxes = [system.staff_box for system in result.systems]
    for index, system in enumerate(result.systems):
        staff_box = _clip_box(
            clean.map_box_back(system.staff_box, matrix), input_width, input_height
        )
        crop_box = _clip_box(clean.map_box_back(system.crop_box, matrix), input_width, input_height)
        result.staff_boxes.append(staff_box)
        result.crop_boxes.append(crop_box)
        spacing = system.spacing_px
        line_rows = [
            staff.top_px + k * staff.spacing_px for staff in system.staves for k in range(5)
        ]
        left, right = round(system.staff_box[0]), round(system.staff_box[2]) - 1
        crop_top, crop_bottom = round(system.crop_box[1]), round(system.crop_box[3])
        staff_rows = np.unique(
            np.concatenate([np.arange(round(r) - 1, round(r) + 2) for r in line_rows]) - crop_top
        )
        # Only between the staves' ends: instrument names left of the brace are not text.
        noise, text_likeness = quality.ink_components(
            ink[crop_top:crop_bottom, left : right + 1], staff_rows, spacing
        )
        result.features.append(
            {
                "width_ratio": round((system.staff_box[2] - system.staff_box[0]) / widest, 4),
                "height_sp": round((system.staff_box[3] - system.staff_box[1]) / spacing, 3),
                "ink_density": round(quality.ink_density(ink, system.crop_box), 4),
                "residual_skew_deg": round(max((s.slope_deg for s in system.staves), key=abs), 4),
                "bend_sp": round(max(s.bend_px for s in system.staves) / spacing, 3),
                "line_fill": round(min(s.line_fill for s in system.staves), 4),
                "edge_cut": round(
                    quality.edge_cut(system.staff_box, page_width, page_height, spacing), 4
                ),
                "sharpness": round(
                    quality.line_sharpness(darkness, line_rows, left, right, spacing), 4
                ),
                "noise": noise,
                "text_likeness": text_likeness,
                "overlap": round(
                    quality.box_overlap(
                        system.staff_box, all_boxes[:index] + all_boxes[index + 1 :]
                    ),
                    4,
                ),
            }
        )
    return result


def clean_and_segment(
    gray: np.ndarray,
    clean_params: Mapping[str, Any] | None = None,
    segment_params: Mapping[str, Any] | None = None,
    assume_upright: bool = False,
) -> tuple[np.ndarray, np.ndarray, PageSegmentation]:
    """Clean one raw gray page and find its candidate systems, in memory.

    Returns (cleaned page, 2x3 matrix from ``gray`` to it, the segmentation).
    ``clean_params``: the `clean:` config keys (defaults when absent). With
    ``assume_upright`` (a page drawn by vector operations alone, which has no scanner skew)
    the skew is not measured, unless the result says otherwise: no system found, or staves
    tilted by ``min_skew_deg`` or more (median) send the page through again with its skew
    measured (a vectorized scan keeps the skew of the scan).
    """
    clean_params = cleaning_params(clean_params or {})  # clean_page refuses unknown keys
    min_skew_deg = clean_params.get("min_skew_deg", clean.MIN_SKEW_DEG)

    def run(measure_skew: bool):
        page, ink, skew, matrix = clean.clean_page(gray, **clean_params, measure_skew=measure_skew)
        height, width = gray.shape
        result = segment_page(ink, 255 - page, matrix, width, height, skew, segment_params)
        return page, matrix, result

    page, matrix, result = run(measure_skew=not assume_upright)
    if assume_upright:
        tilts = [abs(staff.slope_deg) for system in result.systems for staff in system.staves]
        if not tilts or float(np.median(tilts)) >= min_skew_deg:
            page, matrix, result = run(measure_skew=True)
    return page, matrix, result


def segment_gray_page(
    gray: np.ndarray,
    page_number: int = 1,
    segment_params: Mapping[str, Any] | None = None,
    max_skew_deg: float = 5.0,
    min_skew_deg: float = 0.0,
    paper_window_fraction: float = 0.04,
) -> dict[str, Any]:
    """Clean and segment one gray page in memory; return the segment contract's JSON.

    The path of ``visionscores segment`` and of the benchmarks: the same functions the
    workflow's segment stage runs, without files.
    """
    clean_params = {
        "max_skew_deg": max_skew_deg,
        "min_skew_deg": min_skew_deg,
        "paper_window_fraction": paper_window_fraction,
    }
    _, _, result = clean_and_segment(gray, clean_params, segment_params)
    return page_to_json(page_number, result)


def page_to_json(page_number: int, result: PageSegmentation) -> dict[str, Any]:
    """The segment contract's JSON for one page."""
    return {
        "page": page_number,
        "width": result.width,
        "height": result.height,
        "skew_deg": result.skew_deg,
        "systems": [
            {"staff_bbox": staff_box, "crop_bbox": crop_box, "n_staves": system.n_staves}
            for system, staff_box, crop_box in zip(
                result.systems, result.staff_boxes, result.crop_boxes, strict=True
            )
        ],
    }
