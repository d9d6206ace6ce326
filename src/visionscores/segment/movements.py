"""Movement boundaries: which systems of a score file start a piece or a movement.

IMSLP files are often collections (six sonatinas, twelve études, a sonata's movements back to
back). Engravers mark the first system of a piece or movement on the page itself: its left
end is indented, a heading or tempo text stands in a wider gap above it, the system before it
closes with a final barline (thin and thick), and it opens with a time signature. This module
measures those cues per page (:func:`system_cues`, cheap: a few narrow bands of the page
around each system), decides over a whole file in reading order (:func:`movement_starts`),
numbers the movements (:func:`movement_indices`) and gives the region of a movement's heading
(:func:`heading_box`).

Lengths are in staff spacings (sp) of the system measured unless a name says otherwise;
coordinates are pixels of the cleaned (deskewed) page, as the systems' boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from visionscores.segment.systems import System

# Keys of config `movements:` read by system_cues.
CUE_KEYS = (
    "ink_threshold",
    "heading_clear_sp",
    "heading_reach_sp",
    "end_window_sp",
    "bar_min_fill",
    "thick_bar_min_thickness",
    "double_bar_max_gap_sp",
    "repeat_dot_min_fill",
    "start_window_sp",
    "staff_left_tolerance_sp",
    "left_mark_reach_sp",
    "left_mark_min_fill",
    "time_signature_width_sp",
)


# --------------------------------------------------------------------------------------------
# Per-page measurements
# --------------------------------------------------------------------------------------------


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last + 1) of every run of True in a 1-D boolean array."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _column_fill(ink: np.ndarray, system: System, first: int, last: int) -> np.ndarray:
    """Per column of ``first .. last - 1``: the smallest, over the system's staves, share of
    the staff's rows (top line to bottom line) that are ink. A barline fills every staff."""
    fills = []
    for staff in system.staves:
        top, bottom = round(staff.top_px), round(staff.bottom_px) + 1
        fills.append(ink[top:bottom, first:last].mean(axis=0))
    return np.min(fills, axis=0)


def end_barline(
    ink: np.ndarray, system: System, line_thickness_px: float, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The bars at the right end of a system and what they are.

    Looks at the last ``end_window_sp`` of the system: columns inked over every staff's
    height (``bar_min_fill``) form bars; a bar at least ``thick_bar_min_thickness`` line
    thicknesses wide is thick, a narrower one thin. A final barline is a thin bar and then,
    within ``double_bar_max_gap_sp``, a thick one, with no repeat dots
    (ink at the middle of the second and third spaces of every staff, ``repeat_dot_min_fill``)
    just left of the thin bar.

    Returns ``end_bars`` (number of bars), ``end_thick_bar`` (bool), ``end_double_bar``
    (two bars close together, bool), ``end_repeat_dots`` (bool) and
    ``ends_with_final_barline`` (bool).
    """
    spacing = system.spacing_px
    right = min(ink.shape[1], round(system.staff_box[2]) + max(1, round(0.2 * spacing)))
    left = max(0, right - round(params["end_window_sp"] * spacing))
    if right - left < 2:
        return {
            "end_bars": 0,
            "end_thick_bar": False,
            "end_double_bar": False,
            "end_repeat_dots": False,
            "ends_with_final_barline": False,
        }
    fill = _column_fill(ink, system, left, right)
    bars = [(a + left, b + left) for a, b in _runs(fill >= params["bar_min_fill"])]
    widths = [b - a for a, b in bars]
    thick = [w >= params["thick_bar_min_thickness"] * line_thickness_px for w in widths]
    max_gap = params["double_bar_max_gap_sp"] * spacing
    double, final, dots = False, False, False
    for k in range(len(bars) - 1):
        if bars[k + 1][0] - bars[k][1] <= max_gap:
            double = True
            if not thick[k] and thick[k + 1]:
                dots = _repeat_dots(ink, system, bars[k][0], params)
                final = not dots
    return {
        "end_bars": len(bars),
        "end_thick_bar": any(thick),
        "end_double_bar": double,
        "end_repeat_dots": dots,
        "ends_with_final_barline": final,
    }


def _repeat_dots(ink: np.ndarray, system: System, bar_left: int, params) -> bool:
    """Repeat dots left of a bar: ink at the middle of the 2nd and 3rd spaces of every
    staff from 1.2 to 0.25 spacings left of ``bar_left`` (nearer, the bar's own blurred
    edge would pass for a dot)."""
    spacing = system.spacing_px
    first = max(0, bar_left - round(1.2 * spacing))
    last = bar_left - round(0.25 * spacing)
    half = max(1, round(0.2 * spacing))
    for staff in system.staves:
        for space in (1.5, 2.5):
            row = round(staff.top_px + space * staff.spacing_px)
            band = ink[row - half : row + half + 1, first:last]
            if band.size == 0 or band.mean(axis=0).max() < params["repeat_dot_min_fill"]:
                return False
    return True


def left_closed(ink: np.ndarray, system: System, params: Mapping[str, Any]) -> bool:
    """Whether the system's left end is a true start of its staves: they begin together
    (within ``staff_left_tolerance_sp``) at a brace or barline (a column from
    ``left_mark_reach_sp`` left of the end to one spacing right of it inked over
    ``left_mark_min_fill`` of every staff's height). A system whose start the segmenter
    lost (lines tracked only from mid-page) fails both, so its left end is no indent."""
    spacing = system.spacing_px
    lefts = [staff.left_px for staff in system.staves]
    if max(lefts) - min(lefts) > params["staff_left_tolerance_sp"] * spacing:
        return False
    first = max(0, round(system.staff_box[0] - params["left_mark_reach_sp"] * spacing))
    last = min(ink.shape[1], round(system.staff_box[0] + spacing) + 1)
    if last <= first:
        return False
    return bool(_column_fill(ink, system, first, last).max() >= params["left_mark_min_fill"])


def start_time_signature(ink: np.ndarray, system: System, params: Mapping[str, Any]) -> float:
    """How much the start of a system looks like a time signature, 0..1: the largest ink
    share, over column bands ``time_signature_width_sp`` wide in the system's first
    ``start_window_sp`` (past the clef's first 2.5 sp), of the staff's height (top line to
    bottom line), on the staff where it is lowest, counting only bands clear above and
    below the staff (a clef and notes on ledger lines reach out of it; the bold digits of a
    time signature stand inside it and fill it: 0.7-0.8 on 600 dpi scans, where the
    thin strokes of a key signature's sharps give about 0.5)."""
    spacing = system.spacing_px
    left = max(0, round(system.staff_box[0] + 2.5 * spacing))
    right = min(ink.shape[1], round(system.staff_box[0] + params["start_window_sp"] * spacing))
    width = max(1, round(params["time_signature_width_sp"] * spacing))
    if right - left < width:
        return 0.0
    clear_reach = max(1, round(0.6 * spacing))
    per_staff = []
    for staff in system.staves:
        top, bottom = round(staff.top_px), round(staff.bottom_px) + 1
        inside = ink[top:bottom, left:right].sum(axis=0, dtype=np.int64)
        outside = ink[max(0, top - 2 * clear_reach) : top - clear_reach, left:right].any(axis=0)
        outside |= ink[bottom + clear_reach : bottom + 2 * clear_reach, left:right].any(axis=0)
        window = np.ones(width)
        share = np.convolve(inside, window, "valid") / (width * (bottom - top))
        blocked = np.convolve(outside, window, "valid") > 0
        per_staff.append(np.where(blocked, 0.0, share))
    return float(np.min(per_staff, axis=0).max())


def system_cues(
    page: np.ndarray,
    systems: Sequence[System],
    line_thickness_px: float,
    params: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Per system of one page (in the given order), the cues of a movement start.

    page: the cleaned gray page (uint8, paper white); systems: its systems, in reading order;
    line_thickness_px: the page's staff-line thickness; params: config ``movements:``.

    Each dict holds: ``page_width_px`` and ``page_height_px``; ``spacing_px``; ``index_on_page`` and
    ``systems_on_page``; ``left_px`` (left end of the staves) and ``usual_left_px`` (the
    page's usual left end: the lower quartile of its systems' left ends, the same column);
    ``indent_sp`` (left end right of the usual, sp); ``gap_above_sp`` (from the staff bottom
    of the system above, or the page's top, to this system's top line, sp) and
    ``gap_ratio`` (that gap over the page's median gap between systems, 1 when unknown);
    ``heading_ink_share`` (ink share of the band above the system that notes rarely reach:
    from ``heading_clear_sp`` above its top line up to ``heading_reach_sp`` or halfway to the
    system above, over the page's width); the end-barline cues of :func:`end_barline`;
    ``time_signature`` (:func:`start_time_signature`, 0..1).
    """
    # 0/1 bytes viewed as booleans: OpenCV thresholds several times faster than numpy
    _, ink01 = cv2.threshold(page, params["ink_threshold"] - 1, 1, cv2.THRESH_BINARY_INV)
    ink = ink01.view(np.bool_)
    height, width = ink.shape
    lefts = np.array([s.staff_box[0] for s in systems], dtype=float)
    columns = np.array([s.column for s in systems])
    gaps: list[float] = []
    previous_bottom: dict[int, float] = {}
    above_bottom = []
    for system in systems:
        bottom = previous_bottom.get(system.column)
        above_bottom.append(bottom)
        if bottom is not None:
            gaps.append((system.staff_box[1] - bottom) / system.spacing_px)
        previous_bottom[system.column] = system.staff_box[3]
    median_gap = float(np.median(gaps)) if gaps else float("nan")
    cues = []
    for index, system in enumerate(systems):
        spacing = system.spacing_px
        usual_left = float(np.percentile(lefts[columns == system.column], 25))
        top = system.staff_box[1]
        bottom_above = above_bottom[index]
        gap_px = top - (bottom_above if bottom_above is not None else 0.0)
        band_bottom = round(top - params["heading_clear_sp"] * spacing)
        band_top = round(top - params["heading_reach_sp"] * spacing)
        if bottom_above is not None:
            band_top = max(band_top, round((bottom_above + top) / 2))
        band_top = max(0, band_top)
        band = ink[band_top:band_bottom, :] if band_bottom > band_top else ink[:0, :]
        gap_sp = gap_px / spacing
        cue = {
            "page_width_px": width,
            "page_height_px": height,
            "spacing_px": spacing,
            "index_on_page": index,
            "systems_on_page": len(systems),
            "left_px": float(system.staff_box[0]),
            "usual_left_px": usual_left,
            "indent_sp": (system.staff_box[0] - usual_left) / spacing,
            "gap_above_sp": gap_sp,
            "gap_ratio": (
                gap_sp / median_gap
                if bottom_above is not None and np.isfinite(median_gap) and median_gap > 0
                else 1.0
            ),
            "heading_ink_share": float(band.mean()) if band.size else 0.0,
        }
        cue.update(end_barline(ink, system, line_thickness_px, params))
        cue["left_closed"] = left_closed(ink, system, params)
        cue["time_signature"] = start_time_signature(ink, system, params)
        cues.append(cue)
    return cues


# --------------------------------------------------------------------------------------------
# Over a whole file
# --------------------------------------------------------------------------------------------


def file_indent_sp(cues: Sequence[Mapping[str, Any]], min_systems_on_page: int) -> list[float]:
    """The indent of every system, sp: against its page's usual left end when the page holds
    at least ``min_systems_on_page`` systems, else against the file's median usual left end
    (as a share of the page's width: pages of a scan share their margins only roughly)."""
    usual_share = [c["usual_left_px"] / c["page_width_px"] for c in cues]
    file_usual_share = float(np.median(usual_share)) if cues else 0.0
    indents = []
    for cue in cues:
        if cue["systems_on_page"] >= min_systems_on_page:
            indents.append(cue["indent_sp"])
        else:
            usual = file_usual_share * cue["page_width_px"]
            indents.append((cue["left_px"] - usual) / cue["spacing_px"])
    return indents


def file_gap_ratios(cues: Sequence[Mapping[str, Any]]) -> list[float]:
    """The gap above every system over the usual one: a system below another, against its
    page's median gap between systems (``gap_ratio``); a page's first system, against the
    file's median gap from the page's top to the first system (a piece starting at the top
    of a page has its title or heading there, on top of the page's running head)."""
    tops = [c["gap_above_sp"] for c in cues if c["index_on_page"] == 0]
    usual_top = float(np.median(tops)) if tops else float("nan")
    ratios = []
    for cue in cues:
        if cue["index_on_page"] > 0:
            ratios.append(cue["gap_ratio"])
        elif np.isfinite(usual_top) and usual_top > 0:
            ratios.append(cue["gap_above_sp"] / usual_top)
        else:
            ratios.append(1.0)
    return ratios


# The cues movement_starts weighs, and the config key of each one's weight.
CUE_WEIGHTS = {
    "indent": "weight_indent",
    "final_barline_before": "weight_final_barline",
    "heading": "weight_heading",
    "wide_gap": "weight_gap",
    "time_signature": "weight_time_signature",
}


def fired_cues(
    cues: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> list[dict[str, bool]]:
    """Per system of a file in reading order, which cues of a movement start fire:
    ``indent`` (``indent_min_sp`` to ``indent_max_sp`` right of the usual left end: a
    system further in is a short fragment, not an indented start; and its left end
    :func:`left_closed`), ``final_barline_before``
    (the system before it closes with a final barline), ``heading``
    (``heading_min_ink_share`` in the band above), ``wide_gap`` (the gap above is at least
    ``gap_min_ratio`` times the usual one, :func:`file_gap_ratios`), ``time_signature``
    (:func:`start_time_signature` at least ``time_signature_min_score``)."""
    indents = file_indent_sp(cues, params["min_systems_for_page_left"])
    gap_ratios = file_gap_ratios(cues)
    fired = []
    for index, cue in enumerate(cues):
        fired.append(
            {
                "indent": bool(
                    params["indent_min_sp"] <= indents[index] <= params["indent_max_sp"]
                    and cue["left_closed"]
                ),
                "final_barline_before": bool(
                    index > 0 and cues[index - 1]["ends_with_final_barline"]
                ),
                "heading": cue["heading_ink_share"] >= params["heading_min_ink_share"],
                "wide_gap": gap_ratios[index] >= params["gap_min_ratio"],
                "time_signature": cue["time_signature"] >= params["time_signature_min_score"],
            }
        )
    return fired


def start_scores(cues: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[float]:
    """The evidence that each system starts a movement: the sum of the weights (config
    ``movements: weight_*``) of its :func:`fired_cues`."""
    return [
        float(sum(params[CUE_WEIGHTS[name]] for name, fired in system.items() if fired))
        for system in fired_cues(cues, params)
    ]


def movement_starts(cues: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> list[bool]:
    """Per system of a file in reading order (every page's :func:`system_cues` one after the
    other): True on the first system of a piece or movement. The first system is always a
    start; another is when its :func:`start_scores` reaches ``start_min_score``."""
    scores = start_scores(cues, params)
    return [index == 0 or score >= params["start_min_score"] for index, score in enumerate(scores)]


def movement_indices(starts: Sequence[bool]) -> list[int]:
    """The 0-based movement of every system: how many starts come before it, minus one (a
    file whose first system is not marked still starts in movement 0)."""
    indices, current = [], 0
    for index, start in enumerate(starts):
        if start and index > 0:
            current += 1
        indices.append(current)
    return indices


def heading_box(
    page_shape: tuple[int, ...],
    systems: Sequence[System],
    index: int,
    params: Mapping[str, Any],
) -> tuple[int, int, int, int] | None:
    """The region above system ``index`` of a page where a movement's heading stands
    (x0, y0, x1, y1, pixels of the cleaned page; None when there is no room).

    Across the systems' crop boxes; from ``heading_clear_sp`` below the staff bottom of the
    system above (clear of its low notes; or the page's top) to ``heading_box_clear_sp``
    above the system's top line (a tempo word may stand as low as 1.5 sp above it), at
    most ``heading_max_height_sp`` tall (a title block above a first system is mostly kept).
    """
    height, width = page_shape[:2]
    system = systems[index]
    spacing = system.spacing_px
    above = [
        other.staff_box[3]
        for other in systems[:index]
        if other.column == system.column and other.staff_box[3] <= system.staff_box[1]
    ]
    y1 = round(system.staff_box[1] - params["heading_box_clear_sp"] * spacing)
    y0 = round(max(above) + params["heading_clear_sp"] * spacing) if above else 0
    y0 = max(0, y0, round(y1 - params["heading_max_height_sp"] * spacing))
    y1 = min(height, y1)
    if y1 - y0 < 1:
        return None
    same_column = [other for other in systems if other.column == system.column]
    x0 = round(max(0.0, min(other.crop_box[0] for other in same_column)))
    x1 = round(min(float(width), max(other.crop_box[2] for other in same_column)))
    return (x0, y0, x1, y1)
