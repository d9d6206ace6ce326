"""Segment: from a cleaned page to candidate systems with their boxes and measured features.

This module ties the page's units (:mod:`visionscores.segment.staves`), the grouping of staves
(:mod:`visionscores.segment.systems`) and the measured features
(:mod:`visionscores.segment.features`) into one call per page, and maps every box back from
the deskewed page to the input image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visionscores.segment import clean, features, orientation, render, staves, systems

# Keys of config `segment:` passed to staves.find_staves, and to systems.find_systems.
STAFF_KEYS = (
    "stroke_min_length_sp",
    "stroke_max_gap_sp",
    "strip_width_sp",
    "min_row_fill",
    "line_under_beam_fill",
    "spacing_tolerance",
    "max_link_shift_sp",
    "min_strips",
    "min_width_sp",
    "min_spacing_px",
    "stroke_column_bin_sp",
    "faint_line_min_contrast",
    "faint_line_window_sp",
    "faint_line_min_share",
)
SYSTEM_KEYS = (
    "brace_margin_sp",
    "min_overlap",
    "barline_window_sp",
    "barline_min_cover",
    "barline_max_break_sp",
    "frame_beyond_sp",
    "max_margin_above_sp",
    "max_margin_below_sp",
    "margin_left_sp",
    "margin_right_sp",
)
# Keys of config `clean:` the segment stage uses itself (writing the page), not clean_page.
CLEAN_OUTPUT_KEYS = ("page_jpeg_quality",)
# Keys of config `segment:` read by this module itself (orientation, the ends of systems).
PAGE_KEYS = (
    "end_barline_min_fill",
    "end_barline_reach_sp",
    "end_continue_min_share",
    "end_max_uneven_sp",
    "upside_down_min_share",
    "upside_down_min_margin",
    "quarter_turn_min_width",
    "enlarge_to_spacing_px",
    "enlarge_min_spacing_px",
    "enlarge_max_pixels",
)


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
    # Counter-clockwise turn applied to the input before everything else, degrees (0, 90,
    # 180 or 270): a page scanned sideways or upside down is segmented upright.
    orientation_deg: int = 0
    # The staff lines were found only when measured at the lowest contrast (faint lines
    # beside dark beams): the page's small symbols are as faint, too faint to read reliably.
    faint_lines: bool = False


def cleaning_params(clean_section: Mapping[str, Any]) -> dict[str, Any]:
    """Config `clean:` without the keys of the page output: the arguments of clean_page."""
    return {key: value for key, value in clean_section.items() if key not in CLEAN_OUTPUT_KEYS}


def split_segment_params(
    params: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split config `segment:` into the keys of find_staves and those of find_systems (the
    rest, PAGE_KEYS, this module reads itself).

    A key that belongs to neither is refused (ValueError), never dropped: a misspelled key
    would otherwise change nothing, silently.
    """
    unknown = sorted(set(params) - set(STAFF_KEYS) - set(SYSTEM_KEYS) - set(PAGE_KEYS))
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
    params: Mapping[str, Any],
) -> PageSegmentation:
    """Find the candidate systems on a deskewed page.

    ``ink`` is its binarized ink mask (0/1) and ``darkness`` its flattened gray levels
    inverted (0 = paper, 255 = ink): staff lines are
    found on the darkness, which keeps faint lines that binarization loses; the ink joins
    staves into systems. ``matrix`` maps input-image pixels to the deskewed page (from
    :func:`clean.deskew`); ``params`` holds the `segment:` config keys.
    """
    params = dict(params)
    staff_params, system_params = split_segment_params(params)
    metrics = staves.estimate_metrics_from_strokes(darkness)
    found = staves.find_staves(darkness, metrics, **staff_params) if metrics else []
    faint_lines = False
    if not found:
        # Faint staff lines beside dark beams: measured again at the lowest contrast, the
        # lines count, not the beams alone (which give a spacing of staff to staff).
        faint = staves.estimate_metrics_from_strokes(darkness, otsu=False)
        found_faint = (
            staves.find_staves(darkness, faint, **staff_params, otsu=False) if faint else []
        )
        if found_faint:
            metrics, found, faint_lines = faint, found_faint, True
    result = PageSegmentation(input_width, input_height, skew_deg, metrics)
    result.faint_lines = faint_lines
    if result.metrics is None:
        return result
    result.systems = systems.find_systems(ink, found, **system_params)
    if not result.systems:
        return result
    # Per column of the page (two on a two-page spread): the widest system, and the common
    # staff extent, the median ends of its systems.
    columns = {system.column for system in result.systems}
    widest = {
        c: max(s.staff_box[2] - s.staff_box[0] for s in result.systems if s.column == c)
        for c in columns
    }
    extent_x = {
        c: (
            float(np.median([s.staff_box[0] for s in result.systems if s.column == c])),
            float(np.median([s.staff_box[2] for s in result.systems if s.column == c])),
        )
        for c in columns
    }
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
        noise, text_likeness = features.ink_components(
            ink[crop_top:crop_bottom, left : right + 1], staff_rows, spacing
        )
        result.features.append(
            {
                "width_ratio": round(
                    (system.staff_box[2] - system.staff_box[0]) / widest[system.column], 4
                ),
                "height_sp": round((system.staff_box[3] - system.staff_box[1]) / spacing, 3),
                "ink_density": round(features.ink_density(ink, system.crop_box), 4),
                "residual_skew_deg": round(max((s.slope_deg for s in system.staves), key=abs), 4),
                "bend_sp": round(max(s.bend_px for s in system.staves) / spacing, 3),
                "line_fill": round(min(s.line_fill for s in system.staves), 4),
                "edge_cut": round(
                    features.edge_cut(system.staff_box, page_width, page_height, spacing), 4
                ),
                "sharpness": round(
                    features.line_sharpness(darkness, line_rows, left, right, spacing), 4
                ),
                "noise": noise,
                "text_likeness": text_likeness,
                "overlap": round(
                    features.box_overlap(
                        system.staff_box, all_boxes[:index] + all_boxes[index + 1 :]
                    ),
                    4,
                ),
                "open_end_sp": round(
                    _open_end_sp(ink, darkness, system, extent_x[system.column], params), 3
                ),
                "barline_beyond_sp": round(system.barline_beyond_px / spacing, 3),
            }
        )
    return result


def _open_end_sp(ink, darkness, system, page_extent_x, params: Mapping[str, Any]) -> float:
    """features.open_end_sp of one system: is each of its ends closed?

    An end is closed by a barline there or within ``end_barline_reach_sp`` inside it (an
    engraving may run its lines a little past the final barline), when the staff lines do
    not go on beyond the end: a system cut short by the search, at one of its inner
    barlines, has its lines going on, faint, broken or bent, in ``end_continue_min_share``
    of the columns beyond.
    """
    spacing = system.spacing_px
    rows = [(staff.top_px, staff.bottom_px) for staff in system.staves]
    half_width = max(1, round(0.3 * spacing))
    reach = round(params["end_barline_reach_sp"] * spacing)
    min_fill = params["end_barline_min_fill"]
    left, right = round(system.staff_box[0]), round(system.staff_box[2]) - 1
    # The staves of a system end together at its closing barline; one staff stopping well
    # before another at the right end was followed only part of the way (faint or broken
    # lines), like as not the other too. (At the left end a staff's clef and key often
    # hide its first spacings from the search, also in whole systems.)
    right_ends = [staff.right_px for staff in system.staves]
    right_uneven = max(right_ends) - min(right_ends) > params["end_max_uneven_sp"] * spacing
    # How far each end falls short of the page's extent: an end that reaches it counts
    # nothing, closed or not, so only ends short of it are looked at (most reach it).
    short = (left - page_extent_x[0], page_extent_x[1] - (right + 1))
    closed = []
    for (end, inward), shortfall in zip(((left, 1), (right, -1)), short, strict=True):
        if shortfall <= 0:
            closed.append(True)
            continue
        if inward < 0 and right_uneven:
            closed.append(False)
            continue
        # The end itself and the columns within ``reach`` inside it.
        inside = range(end, end + inward * max(1, reach), inward)
        barline_near = any(
            features.end_barline_fill(ink, rows, x, half_width) >= min_fill
            for x in inside[:: max(1, half_width)]
        )
        beyond = (end - inward * reach, end - inward) if inward > 0 else (end + 1, end + reach)
        closed.append(
            barline_near
            and _lines_going_on(darkness, system, beyond, params) < params["end_continue_min_share"]
        )
    return features.open_end_sp((left, right + 1), page_extent_x, tuple(closed), spacing)


def _lines_going_on(darkness, system, columns: tuple[int, int], params) -> float:
    """Largest share, over a system's staves, of the ``columns`` (first, last) where the
    staff's lines show as lines (:func:`staves.line_like_columns`)."""
    first, last = max(0, columns[0]), min(darkness.shape[1] - 1, columns[1])
    if last < first:
        return 0.0
    region = darkness[:, first : last + 1]
    shares = []
    for staff in system.staves:
        line_rows = np.repeat(
            (staff.top_px + staff.spacing_px * np.arange(5))[:, None], region.shape[1], axis=1
        )
        like = staves.line_like_columns(
            region,
            line_rows,
            probe_halfheight=max(1, round(0.15 * staff.spacing_px)),
            min_contrast=params["faint_line_min_contrast"],
        )
        shares.append(float(like.mean()))
    return max(shares)


def enlargement_factor(
    metrics: staves.StaffMetrics | None,
    page_shape: tuple[int, ...],
    min_spacing_px: float,
    enlarge_to_spacing_px: float,
    enlarge_min_spacing_px: float,
    enlarge_max_pixels: int,
) -> int:
    """How many times to enlarge a page whose staves are too small to read, 1 for none.

    A page measured at a staff spacing below ``min_spacing_px`` (a scan of about 72 dpi, a
    screenshot) but at least ``enlarge_min_spacing_px`` (below that it is text or noise, not
    music) is enlarged by the smallest whole factor that brings its spacing to
    ``enlarge_to_spacing_px`` (pixels), unless it would then exceed ``enlarge_max_pixels``
    pixels (``page_shape``: its rows and columns).
    """
    if metrics is None:
        return 1
    spacing = metrics.staff_spacing_px
    if not enlarge_min_spacing_px <= spacing < min_spacing_px:
        return 1
    factor = math.ceil(enlarge_to_spacing_px / spacing)
    if page_shape[0] * page_shape[1] * factor**2 > enlarge_max_pixels:
        return 1
    return factor


def clean_and_segment(
    gray: np.ndarray,
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
    assume_upright: bool = False,
) -> tuple[np.ndarray, np.ndarray, PageSegmentation]:
    """Clean one raw gray page and find its candidate systems, in memory.

    Returns (cleaned page, 2x3 matrix from ``gray`` to it, the segmentation).
    ``clean_params``: the `clean:` config keys. With
    ``assume_upright`` (a page drawn by vector operations alone, which has no scanner skew)
    the skew is not measured, unless the result says otherwise: no system found, or staves
    tilted by ``min_skew_deg`` or more (median) send the page through again with its skew
    measured (a vectorized scan keeps the skew of the scan). A page whose staves are too
    small to read (:func:`enlargement_factor`) is enlarged and segmented again; the cleaned
    page is then the enlarged one.
    """
    clean_params = cleaning_params(clean_params)  # clean_page refuses unknown keys
    segment_params = dict(segment_params)
    min_skew_deg = clean_params["min_skew_deg"]

    def run(turns: int, measure_skew: bool, scale: int):
        enlarged, scale_matrix = clean.enlarge(gray, scale)
        turned, turn_matrix = orientation.quarter_turn(enlarged, turns)
        page, ink, skew, matrix = clean.clean_page(
            turned, **clean_params, measure_skew=measure_skew
        )
        matrix = orientation.compose(matrix, orientation.compose(turn_matrix, scale_matrix))
        height, width = gray.shape
        result = segment_page(ink, 255 - page, matrix, width, height, skew, segment_params)
        result.orientation_deg = 90 * turns
        return page, matrix, result, ink

    def upside_down(result: PageSegmentation, ink: np.ndarray) -> bool:
        heaviness = [
            orientation.left_heaviness(ink, system.staff_box, system.spacing_px)
            for system in result.systems
        ]
        return orientation.looks_upside_down(
            heaviness,
            segment_params["upside_down_min_share"],
            segment_params["upside_down_min_margin"],
        )

    scale = 1  # kept for every later pass once an enlargement finds systems
    page, matrix, result, ink = run(0, not assume_upright, scale)
    if not result.systems:
        factor = enlargement_factor(
            result.metrics,
            gray.shape,
            segment_params["min_spacing_px"],
            segment_params["enlarge_to_spacing_px"],
            segment_params["enlarge_min_spacing_px"],
            segment_params["enlarge_max_pixels"],
        )
        if factor > 1:
            enlarged = run(0, True, factor)
            if enlarged[2].systems:
                scale = factor
                page, matrix, result, ink = enlarged
    if assume_upright:
        tilts = [abs(staff.slope_deg) for system in result.systems for staff in system.staves]
        if not tilts or float(np.median(tilts)) >= min_skew_deg:
            page, matrix, result, ink = run(0, True, scale)
    if not result.systems:
        # No staves: perhaps scanned sideways. A quarter turn either way makes the staff
        # lines horizontal; the systems' ends then tell which way is up.
        turned = run(1, True, scale)
        widths = [s.staff_box[2] - s.staff_box[0] for s in turned[2].systems]
        turned_width = turned[0].shape[1]
        if orientation.looks_like_music(
            widths, turned_width, segment_params["quarter_turn_min_width"]
        ):
            page, matrix, result, ink = turned
            if upside_down(result, ink):
                page, matrix, result, ink = run(3, True, scale)
    elif upside_down(result, ink):
        page, matrix, result, ink = run(2, True, scale)
    return page, matrix, result


@dataclass
class ProcessedPage:
    """One page through the segment stage: what was rendered, the cleaned page, the systems."""

    info: render.PageImage | None  # None for an image file given directly
    cleaned: np.ndarray  # deskewed gray page, paper flattened to white
    matrix: np.ndarray  # 2x3, input-image pixels -> cleaned page pixels
    result: PageSegmentation
    inverted: bool = False  # dark paper, turned back before anything else
    warnings: list[str] = field(default_factory=list)  # what MuPDF said rendering it


def process_page_image(
    image: np.ndarray,
    info: render.PageImage | None,
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
) -> ProcessedPage:
    """A rendered page (8-bit gray) through the rest of the page pipeline: an inverted page
    turned back, then cleaned and segmented. A page drawn by vector operations alone
    (``info.vector_only``) is taken as upright unless its staves say otherwise."""
    image, inverted = clean.turn_back_inverted(image)
    cleaned, matrix, result = clean_and_segment(
        image, clean_params, segment_params, assume_upright=bool(info and info.vector_only)
    )
    return ProcessedPage(info, cleaned, matrix, result, inverted)


def process_pdf_pages(
    pdf_path,
    page_numbers: Iterable[int],
    render_params: Mapping[str, Any],
    clean_params: Mapping[str, Any],
    segment_params: Mapping[str, Any],
) -> Iterator[ProcessedPage]:
    """The one page pipeline: render each of ``page_numbers`` (1-based) of a PDF, clean it
    and find its candidate systems, with the config's `render:`, `clean:` and `segment:`
    sections.

    The workflow's segment rule, ``visionscores segment`` and the benchmarks all call this
    function, so a benchmark figure describes what the workflow puts in the dataset. Pages
    are rendered in a child process bounded in time (:class:`render.PageRenderer`); a scan
    keeps its own pixels, a vector page is rendered at ``render_params["dpi"]``. Raises
    :class:`render.RenderError` for a page that cannot be rendered within the limits.
    """
    renderer = render.PageRenderer(
        pdf_path,
        render_params["dpi"],
        render_params["max_pixels_per_page"],
        render_params["max_seconds_per_page"],
    )
    with renderer:
        for page_number in page_numbers:
            image, info, warnings = renderer.render(page_number)
            processed = process_page_image(image, info, clean_params, segment_params)
            processed.warnings = list(warnings)
            yield processed


def process_image(
    gray: np.ndarray, clean_params: Mapping[str, Any], segment_params: Mapping[str, Any]
) -> ProcessedPage:
    """The page pipeline for a page image at hand (8-bit gray): as the workflow takes a
    scanned page once rendered."""
    return process_page_image(gray, None, clean_params, segment_params)


def page_to_json(page_number: int, result: PageSegmentation) -> dict[str, Any]:
    """The segment contract's JSON for one page."""
    return {
        "page": page_number,
        "width": result.width,
        "height": result.height,
        "skew_deg": result.skew_deg,
        "orientation_deg": result.orientation_deg,
        "systems": [
            {"staff_bbox": staff_box, "crop_bbox": crop_box, "n_staves": system.n_staves}
            for system, staff_box, crop_box in zip(
                result.systems, result.staff_boxes, result.crop_boxes, strict=True
            )
        ],
    }
