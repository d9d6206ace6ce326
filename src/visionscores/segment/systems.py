"""Systems: group staves into systems and choose the box each system is cut from.

Two vertically adjacent staves belong to one system when ink joins them across the gap
between them: the system's left barline, a brace or bracket, a barline drawn through, a
cross-staff beam. Between two systems nothing is drawn across, however close they are.

The crop box of a system takes in what belongs to it above and below its staves (ledger
lines, dynamics, slurs, pedal marks) and reaches at most halfway to the neighbouring system,
so that no staff line of another system is ever inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from visionscores.segment.staves import Staff

# Rows pooled into one while the length of vertical lines is measured (speed).
LONG_LINE_ROW_POOL = 4


@dataclass(frozen=True)
class System:
    """A system on the deskewed page: its staves and its boxes (x0, y0, x1, y1), pixels."""

    staves: tuple[Staff, ...]
    staff_box: tuple[float, float, float, float]
    crop_box: tuple[float, float, float, float]
    column: int = 0  # 0 on a single page; 0 and 1 for the left and right page of a spread
    # How far the barline at the staves' left end runs on above the top staff or below the
    # bottom staff, pixels (:func:`left_barline_beyond_px`): the reach of a staff not joined.
    barline_beyond_px: float = 0.0

    @property
    def n_staves(self) -> int:
        return len(self.staves)

    @property
    def spacing_px(self) -> float:
        return float(np.mean([staff.spacing_px for staff in self.staves]))


def staves_joined(
    ink: np.ndarray, upper: Staff, lower: Staff, margin_left_px: int, line_margin_px: int
) -> bool:
    """True when a connected piece of ink crosses the whole gap between two staves.

    The gap band runs from just below the upper staff's bottom line to just above the lower
    staff's top line, from ``margin_left_px`` left of the staves (braces sit there) to their
    right end. Staff lines themselves are outside the band, so they cannot join anything.
    Ink that reaches the page's left or right edge inside the band does not join: it is a
    gutter shadow or the scanner's dark border, which would chain every system of the page.
    """
    top = int(np.ceil(upper.bottom_px)) + line_margin_px
    bottom = int(np.floor(lower.top_px)) - line_margin_px
    if bottom - top < 1:
        return True  # staves touching: no gap to cross
    left = max(0, min(upper.left_px, lower.left_px) - margin_left_px)
    right = min(ink.shape[1], max(upper.right_px, lower.right_px) + 1)
    band = np.ascontiguousarray(ink[top : bottom + 1, left:right], dtype=np.uint8)
    count, labels = cv2.connectedComponents(band, connectivity=8)
    if count <= 1:
        return False
    touching_top = np.unique(labels[0][labels[0] > 0])
    touching_bottom = np.unique(labels[-1][labels[-1] > 0])
    crossing = np.intersect1d(touching_top, touching_bottom)
    if left == 0:
        crossing = np.setdiff1d(crossing, labels[:, 0])
    if right == ink.shape[1]:
        crossing = np.setdiff1d(crossing, labels[:, -1])
    return bool(crossing.size)


def left_end_closed(
    ink: np.ndarray,
    upper: Staff,
    lower: Staff,
    margin_left_px: int,
    window_px: int,
    line_margin_px: int,
    min_cover: float,
    max_break_px: int,
) -> bool:
    """True when a barline or bracket at the staves' left end covers the gap between them,
    even with breaks: some ``window_px``-wide band of columns from ``margin_left_px`` left
    of the staves' start to just inside it holds ink on ``min_cover`` of the gap's rows.

    Scans and thin engravings break the system's left barline between a voice or violin
    staff and the piano, so no one piece of ink crosses the gap; every row of it still has
    ink in those few columns once breaks up to ``max_break_px`` rows are bridged (a dotted
    line of a 1-bit scan).
    """
    top = int(np.ceil(upper.bottom_px)) + line_margin_px
    bottom = int(np.floor(lower.top_px)) - line_margin_px
    if bottom - top < 1:
        return True
    start = min(upper.left_px, lower.left_px)
    left = max(0, start - margin_left_px)
    right = min(ink.shape[1], max(upper.left_px, lower.left_px) + window_px)
    if left == 0 or right - left < window_px:
        return False  # at the page's edge: a shadow, not a barline
    band = np.ascontiguousarray(ink[top : bottom + 1, left:right], dtype=np.uint8)
    if max_break_px > 0:
        bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (1, (max_break_px + 1) | 1))
        band = cv2.morphologyEx(band, cv2.MORPH_CLOSE, bridge)
    # For each window position, the rows with ink anywhere in the window's columns.
    cumulative = np.concatenate(
        [np.zeros((band.shape[0], 1), np.int32), np.cumsum(band, axis=1, dtype=np.int32)], axis=1
    )
    in_window = cumulative[:, window_px:] - cumulative[:, :-window_px]
    rows_with_ink = (in_window > 0).sum(axis=0)
    return bool(rows_with_ink.max() >= min_cover * band.shape[0])


def inked_run_length(rows_inked: np.ndarray, max_break_px: int) -> int:
    """Length, in rows, of the run of ink from the first of ``rows_inked`` (bool, one per row,
    nearest first), breaks of up to ``max_break_px`` rows bridged: the index after its last
    inked row (0 when a longer break comes first)."""
    inked = np.flatnonzero(rows_inked)
    if not inked.size or inked[0] > max_break_px:
        return 0
    # The run stops at the first step between inked rows longer than a bridged break.
    breaks = np.flatnonzero(np.diff(inked) > max_break_px + 1)
    last = inked[breaks[0]] if breaks.size else inked[-1]
    return int(last) + 1


def left_barline_beyond_px(
    ink: np.ndarray, staves: tuple[Staff, ...], half_width_px: int, max_break_px: int
) -> float:
    """How far ink runs on from a system's left end beyond its outer staves, pixels: up from
    the top staff's top line and down from the bottom staff's bottom line, in the band of
    columns within ``half_width_px`` of the staves' left end, breaks up to ``max_break_px``
    rows bridged (the larger of the two runs).

    A system's left barline (or bracket) spans its staves and stops there; a brace's tips
    pass its outer lines by about a spacing. A barline running on several spacings beyond
    goes on to a staff that was not found or not joined: the candidate is part of a larger
    system (a voice staff over a piano pair whose thin lines went unseen).
    """
    height, width = ink.shape
    left = min(staff.left_px for staff in staves)
    first, stop = max(0, left - half_width_px), min(width, left + half_width_px + 1)
    if stop <= first:
        return 0.0
    band = ink[:, first:stop].any(axis=1)
    top = int(np.floor(staves[0].top_px))
    bottom = int(np.ceil(staves[-1].bottom_px))
    above = band[max(0, top - 1) :: -1] if top >= 1 else band[:0]
    below = band[min(height, bottom + 1) :]
    return float(max(inked_run_length(above, max_break_px), inked_run_length(below, max_break_px)))


def horizontally_overlapping(upper: Staff, lower: Staff, min_overlap: float) -> bool:
    """True when the staves share at least ``min_overlap`` of the narrower one's width."""
    overlap = min(upper.right_px, lower.right_px) - max(upper.left_px, lower.left_px)
    narrower = min(upper.right_px - upper.left_px, lower.right_px - lower.left_px)
    return narrower > 0 and overlap >= min_overlap * narrower


def group_staves(
    ink: np.ndarray,
    staves: list[Staff],
    *,
    brace_margin_sp: float,
    min_overlap: float,
    barline_window_sp: float,
    barline_min_cover: float,
    barline_max_break_sp: float,
) -> list[list[Staff]]:
    """Group staves (sorted top to bottom) into systems, top to bottom.

    Two staves are one system when ink joins them across the gap (:func:`staves_joined`)
    or a broken barline closes their left end (:func:`left_end_closed`: a band of
    ``barline_window_sp`` staff spacings with ink on ``barline_min_cover`` of the gap's
    rows once breaks up to ``barline_max_break_sp`` are bridged). ``brace_margin_sp`` is
    how far left of the staves a brace or bracket is looked for, in staff spacings.
    """
    groups: list[list[Staff]] = []
    for staff in staves:
        if groups:
            upper = groups[-1][-1]
            spacing = (upper.spacing_px + staff.spacing_px) / 2.0
            line_margin = max(2, round(0.25 * spacing))
            brace_margin = round(brace_margin_sp * spacing)
            if horizontally_overlapping(upper, staff, min_overlap) and (
                staves_joined(
                    ink, upper, staff, margin_left_px=brace_margin, line_margin_px=line_margin
                )
                or left_end_closed(
                    ink,
                    upper,
                    staff,
                    margin_left_px=brace_margin,
                    window_px=max(2, round(barline_window_sp * spacing)),
                    line_margin_px=line_margin,
                    min_cover=barline_min_cover,
                    max_break_px=round(barline_max_break_sp * spacing),
                )
            ):
                groups[-1].append(staff)
                continue
        groups.append([staff])
    return groups


def without_long_verticals(
    ink: np.ndarray, staves: list[Staff], beyond_sp: float, margin_left_sp: float
) -> np.ndarray:
    """The ink less every vertical line longer than all the page's staves together, where
    staves are joined at their left: from ``margin_left_sp`` staff spacings left of the
    leftmost staff start to as far right of the rightmost staff start.

    A frame ruled round the page, a gutter shadow or the scanner's border runs past the top
    staff and the bottom staff of the page; no barline, brace or bracket does (they end
    within their system). Lines longer than the span from the page's top staff to its bottom
    staff plus ``beyond_sp`` staff spacings are removed, so that they join no staves.
    """
    if not staves:
        return ink
    margin_px = round(margin_left_sp * float(np.median([s.spacing_px for s in staves])))
    first = max(0, min(s.left_px for s in staves) - margin_px)
    stop = min(ink.shape[1], max(s.left_px for s in staves) + margin_px)
    band = ink[:, first:stop]
    cleared_band = _without_long_lines(band, staves, beyond_sp)
    if cleared_band is band:
        return ink  # no long line: the page's ink as it is, not a copy of it
    cleared = np.array(ink, dtype=np.uint8, copy=True)
    cleared[:, first:stop] = cleared_band
    return cleared


def _without_long_lines(ink: np.ndarray, staves: list[Staff], beyond_sp: float) -> np.ndarray:
    """:func:`without_long_verticals` on a band of the page's columns (``ink`` itself when
    it holds no long line)."""
    spacing = float(np.median([staff.spacing_px for staff in staves]))
    span = max(s.bottom_px for s in staves) - min(s.top_px for s in staves)
    length = int(round(span + beyond_sp * spacing)) | 1
    if length >= ink.shape[0]:
        return ink
    mask = np.ascontiguousarray(ink, dtype=np.uint8)
    height, width = mask.shape
    # Lengths are taken on rows pooled by fours (a quarter of the work; a line is still a
    # line). A scanned line wanders a pixel or two sideways and breaks: it is thickened
    # sideways and its breaks up to half a spacing are bridged before its length is taken.
    pool = LONG_LINE_ROW_POOL
    pooled = mask[: height // pool * pool].reshape(height // pool, pool, width).max(axis=1)
    wander = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 1))
    bridge_rows = max(3, round(spacing / 2 / pool)) | 1
    bridged = cv2.morphologyEx(
        cv2.dilate(pooled, wander),
        cv2.MORPH_CLOSE,
        cv2.getStructuringElement(cv2.MORPH_RECT, (1, bridge_rows)),
    )
    pooled_length = (length // pool) | 1
    # The opening below keeps vertical runs of ink at least pooled_length long, or half of
    # it where a run meets the top or bottom edge (the erosion takes no rows beyond the
    # edges). The kernel is one column wide, so each column is opened on its own: only the
    # columns with that many inked rows (a frame, a shadow, barlines aligned down the page)
    # go through the tall opening, the costliest step here.
    tall = np.nonzero(bridged.sum(axis=0, dtype=np.int32) >= pooled_length // 2 + 1)[0]
    if not tall.size:
        return ink
    long_tall = cv2.morphologyEx(
        np.ascontiguousarray(bridged[:, tall]),
        cv2.MORPH_OPEN,
        cv2.getStructuringElement(cv2.MORPH_RECT, (1, pooled_length)),
    )
    if not long_tall.any():
        return ink
    long_pooled = np.zeros_like(bridged)
    long_pooled[:, tall] = long_tall
    long_lines = np.zeros_like(mask)
    long_lines[: height // pool * pool] = np.repeat(cv2.dilate(long_pooled, wander), pool, axis=0)
    return mask & (1 - long_lines)


def page_columns(staves: list[Staff], min_overlap: float) -> list[list[Staff]]:
    """Staves in columns of the page, left to right, each top to bottom.

    Staves that overlap horizontally (by ``min_overlap`` of the narrower), directly or
    through others, are one column: a single page is one column, a two-page spread (a book
    scanned open) two, side by side. Grouping staves into systems within each column keeps
    the staves of the facing pages, which alternate from top to bottom, apart.
    """
    parent = list(range(len(staves)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for i, upper in enumerate(staves):
        for j in range(i + 1, len(staves)):
            if horizontally_overlapping(upper, staves[j], min_overlap):
                parent[root(j)] = root(i)
    columns: dict[int, list[Staff]] = {}
    for index, staff in enumerate(staves):
        columns.setdefault(root(index), []).append(staff)
    return sorted(columns.values(), key=lambda column: min(s.left_px for s in column))


def staff_box(staves: list[Staff]) -> tuple[float, float, float, float]:
    """Tight box: top line of the top staff to bottom line of the bottom staff."""
    return (
        float(min(staff.left_px for staff in staves)),
        float(staves[0].top_px),
        float(max(staff.right_px for staff in staves) + 1),
        float(staves[-1].bottom_px),
    )


def crop_boxes(
    boxes: list[tuple[float, float, float, float]],
    spacings_px: list[float],
    page_width: int,
    page_height: int,
    *,
    max_margin_above_sp: float,
    max_margin_below_sp: float,
    margin_left_sp: float,
    margin_right_sp: float,
) -> list[tuple[float, float, float, float]]:
    """Crop boxes around tight staff boxes (sorted top to bottom), in pixels.

    Each box reaches up to ``max_margin_above_sp`` / ``max_margin_below_sp`` staff spacings
    beyond its staves, but never past the midpoint between it and its neighbour, nor off the
    page; left and right margins take in the brace and the last barline.
    """
    crops = []
    for index, ((x0, y0, x1, y1), spacing) in enumerate(zip(boxes, spacings_px, strict=True)):
        top = y0 - max_margin_above_sp * spacing
        bottom = y1 + max_margin_below_sp * spacing
        if index > 0:
            top = max(top, (boxes[index - 1][3] + y0) / 2.0)
        if index + 1 < len(boxes):
            bottom = min(bottom, (y1 + boxes[index + 1][1]) / 2.0)
        crops.append(
            (
                max(0.0, x0 - margin_left_sp * spacing),
                max(0.0, top),
                min(float(page_width), x1 + margin_right_sp * spacing),
                min(float(page_height), bottom),
            )
        )
    return crops


def find_systems(
    ink: np.ndarray,
    staves: list[Staff],
    *,
    brace_margin_sp: float,
    min_overlap: float,
    barline_window_sp: float,
    barline_min_cover: float,
    barline_max_break_sp: float,
    frame_beyond_sp: float,
    max_margin_above_sp: float,
    max_margin_below_sp: float,
    margin_left_sp: float,
    margin_right_sp: float,
) -> list[System]:
    """Systems of a deskewed page in reading order, with their boxes: top to bottom, and on
    a two-page spread the left page's before the right page's (see :func:`page_columns`)."""
    height, width = ink.shape
    # A vertical line longer than the page's staves together (by frame_beyond_sp) is a
    # frame or a shadow: it joins nothing.
    margin_px = round(
        brace_margin_sp * float(np.median([s.spacing_px for s in staves or []] or [0]))
    )
    joining_ink = without_long_verticals(ink, staves, frame_beyond_sp, margin_px)
    found: list[System] = []
    for column, column_staves in enumerate(page_columns(staves, min_overlap)):
        groups = group_staves(
            joining_ink,
            column_staves,
            brace_margin_sp=brace_margin_sp,
            min_overlap=min_overlap,
            barline_window_sp=barline_window_sp,
            barline_min_cover=barline_min_cover,
            barline_max_break_sp=barline_max_break_sp,
        )
        boxes = [staff_box(group) for group in groups]
        spacings = [float(np.mean([s.spacing_px for s in group])) for group in groups]
        crops = crop_boxes(
            boxes,
            spacings,
            width,
            height,
            max_margin_above_sp=max_margin_above_sp,
            max_margin_below_sp=max_margin_below_sp,
            margin_left_sp=margin_left_sp,
            margin_right_sp=margin_right_sp,
        )
        for group, box, crop, spacing in zip(groups, boxes, crops, spacings, strict=True):
            beyond = left_barline_beyond_px(
                joining_ink,
                tuple(group),
                half_width_px=max(1, round(barline_window_sp * spacing)),
                max_break_px=round(barline_max_break_sp * spacing),
            )
            found.append(System(tuple(group), box, crop, column, barline_beyond_px=beyond))
    return found
