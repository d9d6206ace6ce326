"""Key signatures: the sharps or flats printed after the clef at the start of each staff.

A staff's key signature is read from the cleaned page (gray, paper white) in four steps:

1. The staff's start is cut out: from its left end a band ``search_width_sp`` wide, from
   ``band_above_sp`` above its top line to ``band_below_sp`` below its bottom line. Ink is
   every pixel darker than ``ink_threshold``.
2. The staff lines are erased: the five lines are found again in short column chunks (they may
   tilt a little), and in every column a black run that lies within a line's thickness is
   removed, so symbols crossing a line keep their pixels. What is left of a line drawn
   thicker (long thin horizontal strokes) and specks are dropped.
3. The remaining ink is cut into glyphs at empty columns; the clef is the first glyph at least
   ``clef_min_width_sp`` wide and ``clef_min_height_sp`` tall (barlines and braces before it
   are narrower). Each following glyph, while they follow each other closely, is classified by
   its vertical strokes: a sharp has two of nearly the glyph's height side by side, a flat one
   at its left with a bowl at its foot, a natural two offset ones.
4. The run of sharps (or flats) is kept as long as each one sits where the key signature
   pattern puts it (F C G D A E B for sharps, B E A D G C F for flats, on the treble or the
   bass clef), which drops the accidental of a first note that follows the key signature.

A system's key signature is the one more than half of its staves read. When its staves
disagree (a staff cut short by a damaged accidental, or reading none), they are read again
together, place by place: the first accidental read on the system serves as template (all
accidentals of a key signature are one glyph, printed in the page's own font and scan), and
at each place of the pattern (for each staff's clef) it is sought on every staff, the staves'
matches one above the other. The key is taken when this reading finds at least as many
accidentals as any staff read and ends cleanly (at the next place the template matches no
staff even passably); otherwise the system stays None, as a wrong key is worse than none.

All lengths are in staff spacings (``_sp``) of the staff, so the same parameters read pages
from about 7 to 45 pixels per staff spacing.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from visionscores.segment.staves import Staff
from visionscores.segment.systems import System

# Staff positions, in half spacings below the top line, of the accidentals of a key signature
# on the treble clef, in the order they are added; on the bass clef each sits a third lower
# (two half spacings). Standard engraving practice, e.g. Gould, "Behind Bars" (2011), p. 84.
SHARP_STEPS = (0, 3, -1, 2, 5, 1, 4)  # F5 C5 G5 D5 A4 E5 B4
FLAT_STEPS = (4, 1, 5, 2, 6, 3, 7)  # B4 E5 A4 D5 G4 C5 F4
CLEF_OFFSETS_STEPS = (0, 2)  # treble, bass

SHARP, FLAT, NATURAL, OTHER = "sharp", "flat", "natural", "other"

# Keys of config `key_signature:` (every one is required).
PARAM_KEYS = (
    "ink_threshold",
    "search_width_sp",
    "band_above_sp",
    "band_below_sp",
    "line_chunk_sp",
    "line_search_sp",
    "line_shift_search_sp",
    "line_run_max_thickness",
    "speck_max_area_sq_sp",
    "residue_min_length_sp",
    "residue_max_thickness",
    "gap_max_ink_sp",
    "clef_min_width_sp",
    "clef_max_width_sp",
    "clef_min_height_sp",
    "clef_max_start_sp",
    "clef_join_gap_sp",
    "stroke_max_width_sp",
    "join_gap_sp",
    "max_gap_after_clef_sp",
    "max_gap_between_sp",
    "accidental_min_height_sp",
    "accidental_max_height_sp",
    "accidental_max_width_sp",
    "stem_min_share",
    "stroke_slant_sp",
    "stroke_gap_sp",
    "sharp_stem_min_share",
    "sharp_stem_max_gap_sp",
    "sharp_end_share",
    "sharp_min_height_sp",
    "flat_bowl_top_share",
    "position_tolerance_steps",
    "position_max_bias_steps",
    "slot_search_steps",
    "slot_blur_sp",
    "slot_match_min_score",
    "slot_end_max_score",
    "slot_min_step_sp",
    "slot_max_step_sp",
    "slot_align_sp",
)


@dataclass(frozen=True)
class Glyph:
    """A piece of ink between empty columns, in pixels of the staff's band.

    x0, x1: first and one-past-last column; y0, y1: first and one-past-last row.
    kind: sharp, flat, natural or other; pitch_y: row of the accidental's pitch (its centre
    for a sharp or natural, its bowl for a flat), NaN for other glyphs.
    """

    x0: int
    x1: int
    y0: int
    y1: int
    kind: str
    pitch_y: float


def check_params(params: Mapping[str, Any]) -> None:
    """Raise ValueError when ``params`` lacks a key of the `key_signature:` section."""
    missing = [key for key in PARAM_KEYS if key not in params]
    if missing:
        raise ValueError(f"key_signature parameters missing: {', '.join(missing)}")


def _best_shift(
    profile: np.ndarray, expected_rows: np.ndarray, max_shift_px: int, reach_px: int
) -> int:
    """Vertical shift, within ``max_shift_px``, that puts the five expected line rows on the
    fullest rows (within ``reach_px``) of the band's ink ``profile`` (row sums): a staff found
    a line off, a ledger line or a beam taken for one of its lines, is put back on its lines."""
    best_shift, best_fill = 0, -1.0
    height = profile.size
    for shift in sorted(range(-max_shift_px, max_shift_px + 1), key=abs):
        rows = np.round(expected_rows + shift).astype(np.int64)
        if rows.min() < reach_px or rows.max() > height - 1 - reach_px:
            continue
        fill = float(sum(profile[row - reach_px : row + reach_px + 1].max() for row in rows))
        if fill > best_fill:
            best_shift, best_fill = shift, fill
    return best_shift


def _line_rows(
    ink: np.ndarray, expected_rows: np.ndarray, chunk_px: int, search_px: int
) -> np.ndarray:
    """Row of each of the five lines in each column, shape (5, width).

    The lines are followed from left to right in chunks of ``chunk_px`` columns: in each, the
    fullest row within ``search_px`` of the line's row in the chunk before (of
    ``expected_rows`` in the first), so a tilted or wavy staff is followed.
    """
    height, width = ink.shape
    rows = np.empty((len(expected_rows), width), dtype=np.int64)
    previous = np.round(expected_rows).astype(np.int64)
    for start in range(0, width, chunk_px):
        profile = ink[:, start : start + chunk_px].sum(axis=1)
        for i, expected in enumerate(previous):
            low = max(0, int(expected) - search_px)
            high = min(height, int(expected) + search_px + 1)
            window = profile[low:high] if high > low else np.zeros(0)
            # A chunk where the line does not show (covered by a symbol) keeps the last row.
            if window.size and window.max() >= 0.5 * min(chunk_px, width - start):
                previous[i] = low + int(np.argmax(window))
        rows[:, start : start + chunk_px] = previous[:, None]
    return rows


def _runs_from_above(ink: np.ndarray) -> np.ndarray:
    """For each ink pixel, how many ink pixels run up from it (itself included); 0 on paper."""
    counts = np.cumsum(ink, axis=0, dtype=np.int32)
    # The count at the last paper pixel above each pixel: what the run started from.
    before = np.maximum.accumulate(np.where(ink, 0, counts), axis=0)
    return counts - before


def _vertical_run_extents(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ink pixel, how many ink pixels run up from it and down from it (itself
    included); 0 on paper."""
    ink = ink.astype(bool)
    return _runs_from_above(ink), _runs_from_above(ink[::-1])[::-1]


def erase_staff_lines(ink: np.ndarray, line_rows: np.ndarray, max_run_px: float) -> np.ndarray:
    """``ink`` (bool) without the staff lines: in each column, the black run through a line's
    row (or a row next to it) is removed when it is at most ``max_run_px`` long, so a symbol
    crossing the line keeps its pixels."""
    height, width = ink.shape
    up, down = _vertical_run_extents(ink)
    columns = np.arange(width)
    # +1 where a run to erase begins, -1 below its end: the running sum marks the runs.
    marks = np.zeros((height + 1, width), dtype=np.int32)
    for rows in line_rows:
        for offset in (0, -1, 1):
            row = np.clip(rows + offset, 0, height - 1)
            length = up[row, columns] + down[row, columns] - 1
            chosen = np.flatnonzero((length > 0) & (length <= max_run_px))
            first = row[chosen] - up[row[chosen], chosen] + 1
            np.add.at(marks, (first, chosen), 1)
            np.add.at(marks, (first + length[chosen], chosen), -1)
    return ink & (np.cumsum(marks, axis=0)[:height] == 0)


def drop_line_residue(symbols: np.ndarray, min_length_px: int, max_thickness_px: float):
    """``symbols`` (bool) without thin horizontal strokes at least ``min_length_px`` long and
    at most ``max_thickness_px`` thick: what is left of a staff line drawn thicker than the
    page's lines (it would join the clef, the key signature and the notes into one piece).
    A beam is thicker; no accidental, clef or time signature has so long a stroke."""
    # An odd length: the opening's anchor then sits in the middle and keeps the run's ends.
    kernel = np.ones((1, min_length_px | 1), np.uint8)
    long_runs = cv2.morphologyEx(symbols.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    if not long_runs.any():
        return symbols
    up, down = _vertical_run_extents(long_runs)
    thin = long_runs & (up + down - 1 <= max_thickness_px)
    return symbols & ~thin


def _drop_specks(ink: np.ndarray, max_area_px: float) -> np.ndarray:
    """``ink`` without connected pieces of at most ``max_area_px`` pixels (noise, and slivers
    of a symbol left between erased staff lines)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), 8)
    keep = stats[:, cv2.CC_STAT_AREA] > max_area_px
    keep[0] = False
    return keep[labels]


def _column_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D bool array, end exclusive."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    steps = np.diff(padded)
    return list(zip(np.flatnonzero(steps == 1), np.flatnonzero(steps == -1), strict=True))


def _longest_vertical_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, first row and end row of the longest black run of each column of ``mask``
    (the topmost of equally long ones; 0, 0, 0 for a column without ink)."""
    up, _ = _vertical_run_extents(mask)
    lengths = up.max(axis=0).astype(np.int64)
    ends = np.where(lengths > 0, up.argmax(axis=0) + 1, 0).astype(np.int64)
    return lengths, ends - lengths, ends


def classify_glyph(mask: np.ndarray, spacing_px: float, params: Mapping[str, Any]) -> str:
    """sharp, flat, natural or other, from the vertical strokes of one glyph's tight mask.

    A stroke is a set of adjacent columns whose longest black run is at least
    ``stem_min_share`` of the glyph's height. Sharp: two strokes, both at least
    ``sharp_stem_min_share`` of the height and overlapping over as much, the glyph at least
    ``sharp_min_height_sp`` tall (a flat cut short has two such strokes too). Natural: two
    strokes, the left one reaching the top, the right one the bottom. Flat: one stroke at the
    left, and right of it no ink in the top ``flat_bowl_top_share`` of the glyph (the bowl is
    at the foot). Any other glyph of an accidental's size may still be a sharp told by its
    ends (:func:`_sharp_by_its_ends`).
    """
    height, width = mask.shape
    height_sp, width_sp = height / spacing_px, width / spacing_px
    if not (
        params["accidental_min_height_sp"] <= height_sp <= params["accidental_max_height_sp"]
        and width_sp <= params["accidental_max_width_sp"]
    ):
        return OTHER
    # A stem a little slanted (a scan, an engraver's punch) is still one column of runs once
    # each column is merged with its neighbours.
    reach = max(1, int(round(params["stroke_slant_sp"] * spacing_px)))
    merged = cv2.dilate(mask.astype(np.uint8), np.ones((1, reach), np.uint8))
    # A thin stem broken in a bilevel scan is one stroke again once short gaps are closed.
    gap = max(1, int(round(params["stroke_gap_sp"] * spacing_px)))
    merged = cv2.morphologyEx(merged, cv2.MORPH_CLOSE, np.ones((gap, 1), np.uint8)) > 0
    lengths, starts, ends = _longest_vertical_runs(merged)
    strokes = _column_runs(lengths >= params["stem_min_share"] * height)
    if len(strokes) == 2:
        (a0, a1), (b0, b1) = strokes
        left_len, right_len = lengths[a0:a1].max(), lengths[b0:b1].max()
        left_top = starts[a0:a1][np.argmax(lengths[a0:a1])]
        right_top = starts[b0:b1][np.argmax(lengths[b0:b1])]
        left_end, right_end = left_top + left_len, right_top + right_len
        tall = params["sharp_stem_min_share"] * height
        overlap = min(left_end, right_end) - max(left_top, right_top)
        if (
            left_len >= tall
            and right_len >= tall
            and overlap >= tall
            and height >= params["sharp_min_height_sp"] * spacing_px
        ):
            return SHARP
        # A natural's left stroke goes up from its middle, its right one down.
        if left_top < right_top and left_end + 0.15 * height < right_end:
            return NATURAL
        # A flat whose stem was cut short: its bowl's right side, starting lower and no
        # longer, is the second stroke.
        if right_top - left_top >= 0.2 * height and right_len < left_len:
            strokes = strokes[:1]
        else:
            return _sharp_by_its_ends(mask, spacing_px, params)
    if len(strokes) == 1:
        s0, s1 = strokes[0]
        if s0 > 0.35 * width or s1 >= width - 0.2 * width:
            return _sharp_by_its_ends(mask, spacing_px, params)
        # The bowl: ink right of the stem (beyond a serif as wide as the stem) in the lower
        # part only.
        bowl = mask[:, s1 + (s1 - s0) :]
        top_rows = max(1, int(round(params["flat_bowl_top_share"] * height)))
        if bowl[:top_rows].any() or not bowl[top_rows:].any():
            return _sharp_by_its_ends(mask, spacing_px, params)
        return FLAT
    return _sharp_by_its_ends(mask, spacing_px, params)


def _row_segments(rows: np.ndarray) -> int:
    """The most separate pieces of ink along any of ``rows`` (a 2-D bool array)."""
    if rows.size == 0:
        return 0
    starts = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 0))), axis=1) == 1
    return int(starts.sum(axis=1).max())


def _sharp_by_its_ends(mask: np.ndarray, spacing_px: float, params: Mapping[str, Any]) -> str:
    """A sharp whose stems are lost in a heavy bilevel scan (blots with stubs), told by its
    ends: at least ``sharp_min_height_sp`` tall, with two
    separate stubs in the top and in the bottom ``sharp_end_share`` of its rows."""
    height = mask.shape[0]
    if height < params["sharp_min_height_sp"] * spacing_px:
        return OTHER
    end_rows = max(1, int(round(params["sharp_end_share"] * height)))
    if _row_segments(mask[:end_rows]) >= 2 and _row_segments(mask[-end_rows:]) >= 2:
        return SHARP
    return OTHER


def _pitch_row(mask: np.ndarray, kind: str, stem_min_share: float) -> float:
    """Row (in the glyph's mask) of the pitch an accidental marks: for a sharp halfway between
    its centre and that of the ink of its central columns (its beams), the centre of a
    natural, the centre of the ink right of a flat's stem (its bowl)."""
    height, width = mask.shape
    if kind == FLAT:
        lengths, _, _ = _longest_vertical_runs(mask)
        stems = np.flatnonzero(lengths >= stem_min_share * height)
        stem_end = int(stems.max()) + 1 if stems.size else width // 3
        rows = np.nonzero(mask[:, stem_end:])[0]
        if rows.size:
            return float(rows.mean())
    if kind == SHARP:
        # Halfway between its box's centre (its stems' ends may be lost where they meet a
        # staff line) and its beams' (a beam lying along a line may be erased with it).
        centre = width // 2
        rows = np.nonzero(mask[:, max(0, centre - 1) : centre + 2])[0]
        if rows.size:
            return ((height - 1) / 2.0 + float(rows.mean())) / 2.0
    return (height - 1) / 2.0


def staff_band(
    page: np.ndarray, staff: Staff, params: Mapping[str, Any]
) -> tuple[np.ndarray, int, int]:
    """The cut-out start of a staff as an ink mask, and its top-left corner (x, y) on the page."""
    x0, y0, x1, y1 = _band_box(page.shape, staff, params)
    return page[y0:y1, x0:x1] < params["ink_threshold"], x0, y0


def _band_box(
    page_shape: tuple[int, ...], staff: Staff, params: Mapping[str, Any]
) -> tuple[int, int, int, int]:
    """Box ``(x0, y0, x1, y1)`` on the page (pixels, ends exclusive) of a staff's start."""
    spacing = staff.spacing_px
    x0 = max(0, int(np.floor(staff.left_px - 0.3 * spacing)))
    x1 = min(page_shape[1], int(np.ceil(staff.left_px + params["search_width_sp"] * spacing)))
    y0 = max(0, int(np.floor(staff.top_px - params["band_above_sp"] * spacing)))
    y1 = min(page_shape[0], int(np.ceil(staff.bottom_px + params["band_below_sp"] * spacing)))
    return x0, y0, x1, y1


def staff_pieces(
    page: np.ndarray, staff: Staff, line_thickness_px: float, params: Mapping[str, Any]
) -> tuple[np.ndarray, list[tuple[int, int]], float]:
    """A staff start's symbols without the staff lines (bool mask of its band), the column
    ranges of its pieces of ink between empty columns, left to right, and the band row of the
    staff's top line at its left end (see the module's steps 1-2)."""
    spacing = staff.spacing_px
    ink, _, y0 = staff_band(page, staff, params)
    if ink.size == 0:
        return ink, [], float("nan")
    # The staff's top_px is its top line's highest point: on a tilted staff the lines at its
    # start lie a little lower. Over the whole band the lines fill their rows more than any
    # symbol does (a clef, a row of sharps fill a few spacings).
    expected = staff.top_px - y0 + spacing * np.arange(5)
    expected = expected + _best_shift(
        ink.sum(axis=1),
        expected,
        int(round(params["line_shift_search_sp"] * spacing)),
        max(1, int(round(0.1 * spacing))),
    )
    rows = _line_rows(
        ink,
        expected,
        max(2, int(round(params["line_chunk_sp"] * spacing))),
        max(1, int(round(params["line_search_sp"] * spacing))),
    )
    max_run_px = params["line_run_max_thickness"] * line_thickness_px + 1.0
    symbols = erase_staff_lines(ink, rows, max_run_px)
    symbols = drop_line_residue(
        symbols,
        max(2, int(round(params["residue_min_length_sp"] * spacing))),
        params["residue_max_thickness"] * line_thickness_px + 1.0,
    )
    symbols = _drop_specks(symbols, params["speck_max_area_sq_sp"] * spacing**2)
    filled = symbols.sum(axis=0) > params["gap_max_ink_sp"] * spacing
    pieces = [(int(a), int(b)) for a, b in _column_runs(filled)]
    return symbols, pieces, float(rows[0, 0])


def find_clef(
    symbols: np.ndarray, pieces: Sequence[tuple[int, int]], spacing_px: float, params
) -> tuple[int, int] | None:
    """Index of the first piece after the clef and the clef's right end, or None.

    The clef is the last cluster of pieces, starting within ``clef_max_start_sp`` of the
    staff's start with a piece wider than a stroke (a barline or a brace's tip is not), whose
    pieces follow each other within ``clef_join_gap_sp`` (an F clef's dots; a curve cut where
    it crossed a line) while it stays within ``clef_max_width_sp`` (a key signature packed
    close to the clef is not its own), that is ``clef_min_width_sp`` wide and
    ``clef_min_height_sp`` tall.
    """
    index = 0
    found = None
    while index < len(pieces):
        x0, x1 = pieces[index]
        if x0 > params["clef_max_start_sp"] * spacing_px:
            break
        if x1 - x0 <= params["stroke_max_width_sp"] * spacing_px:
            index += 1
            continue
        end, following = x1, index + 1
        while (
            following < len(pieces)
            and pieces[following][0] - end <= params["clef_join_gap_sp"] * spacing_px
            and pieces[following][1] - x0 <= params["clef_max_width_sp"] * spacing_px
        ):
            end = pieces[following][1]
            following += 1
        rows = np.flatnonzero(symbols[:, x0:end].any(axis=1))
        height = rows[-1] + 1 - rows[0] if rows.size else 0
        if (
            end - x0 >= params["clef_min_width_sp"] * spacing_px
            and height >= params["clef_min_height_sp"] * spacing_px
        ):
            # The last such cluster: the end of a brace or a thick barline may come first.
            found = (following, end)
        index = following
    return found


def _components_after(symbols: np.ndarray, x_from: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected pieces of the symbols that start at or right of column ``x_from``: the label
    image and their boxes ``(label, x0, y0, x1, y1)`` sorted by x0."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(symbols.astype(np.uint8), 8)
    boxes = []
    for label in range(1, count):
        x0, y0 = stats[label, cv2.CC_STAT_LEFT], stats[label, cv2.CC_STAT_TOP]
        x1 = x0 + stats[label, cv2.CC_STAT_WIDTH]
        y1 = y0 + stats[label, cv2.CC_STAT_HEIGHT]
        if x0 >= x_from:
            boxes.append((label, x0, y0, x1, y1))
    boxes.sort(key=lambda box: (box[1], box[2]))
    return labels, np.array(boxes, dtype=np.int64).reshape(-1, 5)


def _union_glyph(
    labels: np.ndarray,
    parts: np.ndarray,
    spacing_px: float,
    params: Mapping[str, Any],
) -> Glyph:
    """The glyph made of some connected pieces (rows of ``(label, x0, y0, x1, y1)``), with
    only their own pixels (a neighbour overlapping their box is left out), classified."""
    x0, y0 = int(parts[:, 1].min()), int(parts[:, 2].min())
    x1, y1 = int(parts[:, 3].max()), int(parts[:, 4].max())
    mask = np.isin(labels[y0:y1, x0:x1], parts[:, 0])
    kind = classify_glyph(mask, spacing_px, params)
    pitch = y0 + _pitch_row(mask, kind, params["stem_min_share"]) if kind != OTHER else np.nan
    return Glyph(x0, x1, y0, y1, kind, float(pitch))


def _near(box: np.ndarray, other: np.ndarray, gap_px: float) -> bool:
    """Whether two boxes ``(label, x0, y0, x1, y1)`` overlap or lie within ``gap_px``, both
    horizontally and vertically."""
    return bool(
        other[1] - box[3] <= gap_px
        and box[1] - other[3] <= gap_px
        and other[2] - box[4] <= gap_px
        and box[2] - other[4] <= gap_px
    )


def key_glyphs(
    symbols: np.ndarray,
    clef_end: int,
    spacing_px: float,
    params: Mapping[str, Any],
) -> list[Glyph]:
    """The accidentals following the clef that ends at band column ``clef_end`` (see
    :func:`find_clef`), left to right (the module's step 3).

    Accidentals of a key signature may overlap in columns (packed tightly, as some editions
    do), so after the clef the glyphs are made of connected pieces, taken from the left: a
    glyph is the leftmost piece left, alone or with one or two of the next pieces within
    ``join_gap_sp`` of it (erasing the staff lines may cut a sharp between its stems or a
    flat's stem from its bowl), the first of these that classifies as an accidental. The run
    ends at the first piece that makes no accidental, or one that starts further than
    ``max_gap_after_clef_sp`` from the clef or ``max_gap_between_sp`` from the previous glyph.
    """
    labels, boxes = _components_after(symbols, clef_end)
    join_gap = params["join_gap_sp"] * spacing_px
    max_gap = params["max_gap_after_clef_sp"] * spacing_px
    previous_end = clef_end
    used = np.zeros(len(boxes), dtype=bool)
    glyphs: list[Glyph] = []
    while not used.all():
        first = int(np.flatnonzero(~used)[0])
        if boxes[first, 1] - previous_end > max_gap:
            break
        neighbours = [
            i for i in np.flatnonzero(~used)[1:] if _near(boxes[first], boxes[i], join_gap)
        ][:2]
        candidates = [[first]] + [[first, i] for i in neighbours]
        if len(neighbours) == 2:
            candidates.append([first, *neighbours])
        found = None
        for members in candidates:
            glyph = _union_glyph(labels, boxes[members], spacing_px, params)
            if glyph.kind != OTHER:
                found = (glyph, members)
                break
        if found is None:
            pair = _split_touching(labels, boxes[first], spacing_px, params)
            if pair is None:
                break
            used[first] = True
            glyphs += pair
            previous_end = pair[1].x1
        else:
            glyph, members = found
            used[members] = True
            glyphs.append(glyph)
            previous_end = glyph.x1
        max_gap = params["max_gap_between_sp"] * spacing_px
    return glyphs


def _split_touching(
    labels: np.ndarray,
    box: np.ndarray,
    spacing_px: float,
    params: Mapping[str, Any],
) -> list[Glyph] | None:
    """Two accidentals of one kind that touch (one piece of ink), split at a column, or None.

    The columns are tried from the piece's middle outwards; the first split whose left and
    right parts both classify as the same accidental is taken.
    """
    label, x0, y0, x1, y1 = (int(v) for v in box)
    width = x1 - x0
    if width < 2 * params["stroke_max_width_sp"] * spacing_px:
        return None
    mask = labels[y0:y1, x0:x1] == label
    middle = width // 2
    margin = max(1, int(round(params["stroke_max_width_sp"] * spacing_px)))
    for offset in sorted(range(margin - middle, width - margin - middle), key=abs):
        split = middle + offset
        parts = []
        for part, left in ((mask[:, :split], 0), (mask[:, split:], split)):
            rows = np.flatnonzero(part.any(axis=1))
            if rows.size == 0:
                break
            tight = part[rows[0] : rows[-1] + 1]
            kind = classify_glyph(tight, spacing_px, params)
            if kind not in (SHARP, FLAT):
                break
            pitch = y0 + rows[0] + _pitch_row(tight, kind, params["stem_min_share"])
            parts.append(
                Glyph(
                    x0 + left,
                    x0 + left + part.shape[1],
                    y0 + int(rows[0]),
                    y0 + int(rows[-1]) + 1,
                    kind,
                    float(pitch),
                )
            )
        if len(parts) == 2 and parts[0].kind == parts[1].kind:
            return parts
    return None


def _strokes(symbols: np.ndarray, x_from: int, spacing_px: float, params) -> np.ndarray:
    """Vertical strokes right of column ``x_from``: boxes ``(x0, y0, x1, y1)`` sorted by x0.

    A stroke is made of the column runs (after gaps up to ``stroke_gap_sp`` are closed)
    between ``accidental_min_height_sp`` x ``stem_min_share`` and ``accidental_max_height_sp``
    long, side by side, at most ``stroke_max_width_sp`` wide: a sharp's two stems, a flat's
    or a natural's.
    """
    region = symbols[:, x_from:].astype(np.uint8)
    if region.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    gap = max(1, int(round(params["stroke_gap_sp"] * spacing_px)))
    closed = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((gap, 1), np.uint8)) > 0
    shortest = params["accidental_min_height_sp"] * params["stem_min_share"] * spacing_px
    longest = params["accidental_max_height_sp"] * spacing_px
    up, down = _vertical_run_extents(closed)
    length = up + down - 1  # each ink pixel's whole column run
    runs = (closed & (length >= shortest) & (length <= longest)).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(runs, 8)
    boxes = []
    for label in range(1, count):
        x0, y0 = stats[label, cv2.CC_STAT_LEFT], stats[label, cv2.CC_STAT_TOP]
        width, height = stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]
        if width <= params["stroke_max_width_sp"] * spacing_px:
            boxes.append((x0 + x_from, y0, x0 + x_from + width, y0 + height))
    boxes.sort()
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def stroke_glyphs(
    symbols: np.ndarray, clef_end: int, spacing_px: float, params: Mapping[str, Any]
) -> list[Glyph]:
    """The accidentals after the clef read from their vertical strokes alone, left to right.

    Where accidentals touch or overlap (tightly packed flats), their strokes still stand
    apart. Two strokes side by side (gap at most ``sharp_stem_max_gap_sp``), overlapping in
    rows over ``sharp_stem_min_share`` of the longer, are a sharp, its pitch their middle; a
    stroke with ink right of it in its lower part only (``flat_bowl_top_share``) is a flat,
    its pitch the middle of that ink (its bowl). The run ends at the first stroke that is
    neither, or one further than ``max_gap_after_clef_sp`` from the clef or
    ``max_gap_between_sp`` from the previous accidental.
    """
    strokes = _strokes(symbols, clef_end, spacing_px, params)
    glyphs: list[Glyph] = []
    previous_end = clef_end
    max_gap = params["max_gap_after_clef_sp"] * spacing_px
    bowl_width = int(round(params["accidental_max_width_sp"] * spacing_px / 2))
    index = 0
    while index < len(strokes):
        x0, y0, x1, y1 = (int(v) for v in strokes[index])
        if x0 - previous_end > max_gap:
            break
        length = y1 - y0
        if index + 1 < len(strokes):
            u0, v0, u1, v1 = (int(v) for v in strokes[index + 1])
            overlap = min(y1, v1) - max(y0, v0)
            if u0 - x1 <= params["sharp_stem_max_gap_sp"] * spacing_px and overlap >= params[
                "sharp_stem_min_share"
            ] * max(length, v1 - v0):
                # The middle of the beams between the stems (a stem's end may be lost).
                beams = np.nonzero(symbols[min(y0, v0) : max(y1, v1), x1:u0])[0]
                pitch = (y0 + y1 + v0 + v1) / 4.0
                if beams.size:
                    pitch = (pitch + min(y0, v0) + float(beams.mean())) / 2.0
                glyphs.append(Glyph(x0, u1, min(y0, v0), max(y1, v1), SHARP, pitch))
                previous_end, index = u1, index + 2
                max_gap = params["max_gap_between_sp"] * spacing_px
                continue
        # Right of a flat's stem: its bowl at the foot, nothing higher up (the next flat's
        # stem may start within reach: only columns before the next stroke are looked at).
        right_end = x1 + bowl_width
        if index + 1 < len(strokes):
            right_end = min(right_end, int(strokes[index + 1][0]))
        right = symbols[y0:y1, x1:right_end]
        top_rows = max(1, int(round(params["flat_bowl_top_share"] * length)))
        rows = np.nonzero(right)[0]
        if right.size and rows.size and not right[:top_rows].any():
            glyphs.append(Glyph(x0, right_end, y0, y1, FLAT, float(y0 + rows.mean())))
            previous_end, index = right_end, index + 1
            max_gap = params["max_gap_between_sp"] * spacing_px
            continue
        break
    return glyphs


def _fits_pattern(
    steps: Sequence[float], kind: str, tolerance_steps: float, max_bias_steps: float
) -> int:
    """How many leading accidentals sit where a key signature of ``kind`` puts them, on the
    clef (treble or bass) that fits the most of them.

    A glyph's measured pitch may sit a little off its line or space the same way for every
    accidental of a font (a flat's bowl); that common bias, the median offset of the first
    three from the pattern, is allowed up to ``max_bias_steps`` and taken out first.
    """
    pattern = SHARP_STEPS if kind == SHARP else FLAT_STEPS
    best = 0
    for offset in CLEF_OFFSETS_STEPS:
        expected = np.array(pattern[: len(steps)], dtype=np.float64) + offset
        residuals = np.asarray(steps[: len(expected)], dtype=np.float64) - expected
        if residuals.size == 0:
            continue
        bias = float(np.clip(np.median(residuals[:3]), -max_bias_steps, max_bias_steps))
        count = 0
        for residual in residuals:
            if abs(residual - bias) > tolerance_steps:
                break
            count += 1
        best = max(best, count)
    return best


def key_from_accidentals(
    glyphs: Sequence[Glyph],
    top_line_row: float,
    spacing_px: float,
    tolerance_steps: float,
    max_bias_steps: float,
) -> int:
    """Key signature in fifths from the accidentals after the clef (the module's step 4)."""
    run = list(glyphs)
    # Naturals before the new key cancel the previous one; they are not part of it.
    while run and run[0].kind == NATURAL:
        run.pop(0)
    if not run or run[0].kind not in (SHARP, FLAT):
        return 0
    kind = run[0].kind
    same = []
    for glyph in run:
        if glyph.kind != kind:
            break
        same.append(glyph)
    steps = [(glyph.pitch_y - top_line_row) / (spacing_px / 2.0) for glyph in same]
    count = _fits_pattern(steps, kind, tolerance_steps, max_bias_steps)
    return count if kind == SHARP else -count


@dataclass(frozen=True)
class StaffReading:
    """What was read at the start of one staff.

    value: key signature in fifths (None: no clef found); symbols: the band's ink without
    the staff lines (bool); band_x0: the band's first column on the
    page; top_line_row: the band row of the top line at the staff's start; clef_end: the
    band column where the clef ends (0 when no clef); spacing_px: the staff's spacing;
    accidentals: the glyphs of the key signature read, left to right (band pixels).
    """

    value: int | None
    symbols: np.ndarray
    band_x0: int
    top_line_row: float
    clef_end: int
    spacing_px: float
    accidentals: tuple[Glyph, ...] = ()


def read_staff(
    page: np.ndarray, staff: Staff, line_thickness_px: float, params: Mapping[str, Any]
) -> StaffReading:
    """Key signature at the start of one staff, with what it was read from (see
    :func:`staff_key_signature`)."""
    check_params(params)
    symbols, pieces, top_line_row = staff_pieces(page, staff, line_thickness_px, params)
    band_x0 = _band_box(page.shape, staff, params)[0]
    clef = find_clef(symbols, pieces, staff.spacing_px, params)
    if clef is None:
        return StaffReading(None, symbols, band_x0, top_line_row, 0, staff.spacing_px)
    clef_end = clef[1]
    glyphs = key_glyphs(symbols, clef_end, staff.spacing_px, params)
    # Two readings, by glyphs and by strokes; each ends where its shapes stop making sense
    # and is cut to the accidentals that fit the pattern, so the longer one is kept.
    readings = [
        (
            key_from_accidentals(
                found,
                top_line_row,
                staff.spacing_px,
                params["position_tolerance_steps"],
                params["position_max_bias_steps"],
            ),
            found,
        )
        for found in (glyphs, stroke_glyphs(symbols, clef_end, staff.spacing_px, params))
    ]
    value, found = max(readings, key=lambda reading: abs(reading[0]))
    kind = SHARP if value > 0 else FLAT
    accidentals = tuple(glyph for glyph in found if glyph.kind == kind)[: abs(value)]
    return StaffReading(
        value, symbols, band_x0, top_line_row, clef_end, staff.spacing_px, accidentals
    )


def staff_key_signature(
    page: np.ndarray, staff: Staff, line_thickness_px: float, params: Mapping[str, Any]
) -> int | None:
    """Key signature at the start of one staff of the cleaned page, in fifths.

    page: cleaned gray page (uint8, paper white), in the staff's coordinates.
    staff: the staff, as the segmenter found it.
    line_thickness_px: the page's staff line thickness, pixels.
    params: config section `key_signature:`.
    Returns sharps as positive, flats as negative numbers, 0 when the clef is followed by no
    key signature, None when no clef is found at the staff's start.
    """
    return read_staff(page, staff, line_thickness_px, params).value


def combine_staff_keys(values: Sequence[int | None]) -> int | None:
    """A system's key signature from those of its staves: the value more than half of the
    staves read; None otherwise (staves that disagree, or too few read)."""
    counts = Counter(value for value in values if value is not None)
    if not counts:
        return None
    value, count = counts.most_common(1)[0]
    return value if count * 2 > len(values) else None


def accidental_template(
    readings: Sequence[StaffReading], kind: str
) -> tuple[np.ndarray, float] | None:
    """The first accidental of ``kind`` read on the staff that read the most of them: its
    ink (without the staff lines) and the row of its pitch in it; None when none was read.
    The accidentals of a key signature are one glyph, so this one stands for all of the
    system's, in the page's own font and scan."""
    best = max(
        (r for r in readings if r.accidentals and r.accidentals[0].kind == kind),
        key=lambda r: len(r.accidentals),
        default=None,
    )
    if best is None:
        return None
    glyph = best.accidentals[0]
    mask = best.symbols[glyph.y0 : glyph.y1, glyph.x0 : glyph.x1]
    return mask.astype(np.float32), glyph.pitch_y - glyph.y0


def match_columns(
    reading: StaffReading,
    template: tuple[np.ndarray, float],
    x_from: int,
    x_to: int,
    step: float,
    min_score: float,
    params: Mapping[str, Any],
) -> list[tuple[int, float]]:
    """Where the accidental ``template`` (mask, pitch row in it) matches a staff with its
    pitch on ``step`` (half spacings below the top line), its left edge from page column
    ``x_from`` to ``x_to``: (page column, score) of each best match scoring at least
    ``min_score`` (normalized correlation, -1 to 1, of both blurred by ``slot_blur_sp``),
    left to right. The pitch may sit up to ``slot_search_steps`` off the step."""
    mask, pitch_in_mask = template
    height, width = mask.shape
    spacing = reading.spacing_px
    reach = max(1, int(round(params["slot_search_steps"] * spacing / 2.0)))
    top = int(round(reading.top_line_row + step * spacing / 2.0 - pitch_in_mask)) - reach
    left = x_from - reading.band_x0
    right = x_to - reading.band_x0 + width
    rows, cols = reading.symbols.shape
    window = np.zeros((height + 2 * reach, max(0, right - left)), np.float32)
    r0, r1 = max(0, top), min(rows, top + window.shape[0])
    c0, c1 = max(0, left), min(cols, right)
    if r1 <= r0 or c1 <= c0 or window.shape[1] < width:
        return []
    window[r0 - top : r1 - top, c0 - left : c1 - left] = reading.symbols[r0:r1, c0:c1]
    # Both blurred a little: two prints of one glyph differ by a pixel here and there.
    sigma = params["slot_blur_sp"] * spacing
    if sigma > 0:
        window = cv2.GaussianBlur(window, (0, 0), sigma)
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    scores = cv2.matchTemplate(window, mask, cv2.TM_CCOEFF_NORMED)
    # A window without ink (or all ink) has no correlation: 0, not what OpenCV makes of it.
    ink = cv2.matchTemplate(window, np.ones_like(mask), cv2.TM_CCORR)
    scores = np.where((ink > 0.5) & (ink < mask.size - 0.5), np.nan_to_num(scores), 0.0)
    best = scores.max(axis=0)
    found = []
    for a, b in _column_runs(best >= min_score):
        x = a + int(np.argmax(best[a:b]))
        found.append((x + left + reading.band_x0, float(best[x])))
    return found


def walk_pattern(
    readings: Sequence[StaffReading],
    kind: str,
    offsets: Sequence[int],
    template: tuple[np.ndarray, float],
    params: Mapping[str, Any],
) -> tuple[int, bool]:
    """How many accidentals of ``kind``, in the key signature pattern, every staff shows at
    once, read place by place with the page's own accidental (``template``, see
    :func:`accidental_template`); and whether the walk ended cleanly.

    readings: the staves, each with its clef (``StaffReading.clef_end`` > 0); offsets: the
    pattern offset of each staff's clef (0 treble, 2 bass). The first accidental starts
    within ``max_gap_after_clef_sp`` of the clefs (from the first clef's end: a clef may be
    read too wide on one staff), each next one from ``slot_min_step_sp`` to
    ``slot_max_step_sp`` right of the last; the template must match at least
    ``slot_match_min_score`` on every staff, the matches of one place starting within
    ``slot_align_sp`` of each other (a system's key signatures are printed one above the
    other). The walk ends cleanly when, at the first place not found, the template matches no
    staff over ``slot_end_max_score``: an accidental too damaged to match well would cut the
    key short.
    """
    pattern = SHARP_STEPS if kind == SHARP else FLAT_STEPS
    spacing = float(np.median([r.spacing_px for r in readings]))
    first_clef_end = min(r.band_x0 + r.clef_end for r in readings)
    last_clef_end = max(r.band_x0 + r.clef_end for r in readings)
    starts = [
        (first_clef_end, last_clef_end + int(params["max_gap_after_clef_sp"] * r.spacing_px))
        for r in readings
    ]
    for count, step in enumerate(pattern):
        matches = [
            match_columns(r, template, x0, x1, step + offset, params["slot_end_max_score"], params)
            for r, (x0, x1), offset in zip(readings, starts, offsets, strict=True)
        ]
        good = [
            [x for x, score in found if score >= params["slot_match_min_score"]]
            for found in matches
        ]
        # The leftmost place every staff shows within reach of the others.
        aligned = None
        for x in sorted(c for found in good for c in found):
            near = [
                [c for c in found if abs(c - x) <= params["slot_align_sp"] * spacing]
                for found in good
            ]
            if all(near):
                aligned = [min(found) for found in near]
                break
        if aligned is None:
            return count, not any(matches)
        starts = [
            (
                x + int(round(params["slot_min_step_sp"] * r.spacing_px)),
                x + int(round(params["slot_max_step_sp"] * r.spacing_px)),
            )
            for x, r in zip(aligned, readings, strict=True)
        ]
    return len(pattern), True


def settle_disagreement(readings: Sequence[StaffReading], params) -> int | None:
    """The key signature of a system whose staves read different ones, read again place by
    place on all staves at once (:func:`walk_pattern`), or None.

    Every staff must have a clef, and the staves that read accidentals one kind. The walk
    (on the clefs that carry it furthest) is taken when it finds at least as many accidentals
    as the staff that read the most, and ends cleanly: it confirms that staff on the others,
    or finds more where all were cut short. Anything else stays None (a wrong key is worse
    than none).
    """
    values = [r.value for r in readings]
    if any(value is None for value in values):
        return None
    signs = {int(np.sign(value)) for value in values if value}
    if len(signs) != 1:
        return None
    sign = signs.pop()
    kind = SHARP if sign > 0 else FLAT
    counts = [abs(value) for value in values]
    walked = best_walk(readings, kind, params)
    if walked is None:
        return None
    best, clean = walked
    if clean and best >= max(1, *counts):
        return sign * best
    return None


def best_walk(
    readings: Sequence[StaffReading], kind: str, params: Mapping[str, Any]
) -> tuple[int, bool] | None:
    """The place-by-place reading (:func:`walk_pattern`) of the staves with the system's own
    first accidental of ``kind`` as template, for the clef (treble or bass) of each staff that
    finds the most: (accidentals found, whether the run ended cleanly); None without a
    template."""
    template = accidental_template(readings, kind)
    if template is None:
        return None
    return max(
        walk_pattern(readings, kind, offsets, template, params)
        for offsets in itertools.product(CLEF_OFFSETS_STEPS, repeat=len(readings))
    )


def system_key_signature(
    page: np.ndarray, system: System, line_thickness_px: float, params: Mapping[str, Any]
) -> int | None:
    """Key signature of a system, in fifths (see :func:`staff_key_signature`).

    The staves of a piano system print the same key signature: the system's is the value read
    on more than half of its staves (both of a grand staff, two of three), unless all of them
    were cut short alike (:func:`extend_agreement`). When they disagree, they are read again
    place by place (:func:`settle_disagreement`); a system still unsettled, or with a staff
    whose clef is not found, has None.
    """
    readings = [read_staff(page, staff, line_thickness_px, params) for staff in system.staves]
    agreed = combine_staff_keys([r.value for r in readings])
    if len(readings) < 2:
        return agreed
    if agreed is not None:
        return extend_agreement(readings, agreed, params)
    return settle_disagreement(readings, params)


def extend_agreement(readings: Sequence[StaffReading], agreed: int, params) -> int:
    """The key signature ``agreed`` by the staves, or more accidentals of its kind where the
    place-by-place reading (:func:`walk_pattern`) finds more on every staff and ends cleanly:
    all staves were cut short by the same damage (a scan that blurred every sharp alike)."""
    if agreed == 0 or any(r.value is None for r in readings):
        return agreed
    walked = best_walk(readings, SHARP if agreed > 0 else FLAT, params)
    if walked is None:
        return agreed
    best, clean = walked
    if clean and best > abs(agreed):
        return best if agreed > 0 else -best
    return agreed


def movement_key_consensus(values: Sequence[int | None]) -> int | None:
    """The key signature of a movement: the most frequent non-null value of its systems.

    None when no system was read. A tie between values goes to the one read first (the
    movement's opening key: a later key change that lasts as long is the rarer case).
    """
    counts = Counter(value for value in values if value is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(value for value in values if value is not None and counts[value] == top)


# Position of each note name on the circle of fifths, from C (F is one flat, G one sharp).
_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
_SHARP_WORDS = ("♯", "#", "sharp", "is")
_FLAT_WORDS = ("♭", "flat", "b", "es", "s")
_MAJOR_WORDS = ("major", "maj", "dur", "")
_MINOR_WORDS = ("minor", "min", "moll", "m")


def fifths_of_key(key: str) -> int | None:
    """Key signature, in fifths, of a key name such as "C major", "A minor", "B-flat major",
    "F♯ minor", "Eb", "Es-Dur", "fis-moll", "H-moll" (B minor) or "B-Dur" (B-flat major).

    Major when no mode is given. None when the text is not a key, or names one whose
    signature would need more than seven sharps or flats (e.g. "D# major").
    """
    text = key.strip()
    # German names: H is B, and B alone before Dur or moll is B-flat.
    if not text or text[0].upper() not in (*_LETTER_FIFTHS, "H"):
        return None
    letter, rest = text[0].upper(), text[1:].strip().lower()
    german_b = letter == "B" and rest.replace("-", " ").split() in (["dur"], ["moll"])
    letter = "B" if letter == "H" else letter
    rest = rest.replace("-", " ").replace("_", " ")
    words = rest.split()
    accidental = 0
    # The accidental is glued to the letter ("Eb", "F♯", "fis") or its own word ("B flat").
    if words:
        first = words[0]
        for mark in _SHARP_WORDS:
            if first == mark or (mark in ("♯", "#") and first.startswith(mark)):
                accidental, words = 1, [first[len(mark) :], *words[1:]]
                break
        else:
            for mark in _FLAT_WORDS:
                if first == mark or (mark in ("♭", "b") and first.startswith(mark)):
                    # "b" alone after the letter is a flat ("Eb"); "B" the letter is read above.
                    accidental, words = -1, [first[len(mark) :], *words[1:]]
                    break
    if german_b:
        accidental = -1
    mode = " ".join(word for word in words if word).strip()
    if mode in _MAJOR_WORDS:
        fifths = _LETTER_FIFTHS[letter] + 7 * accidental
    elif mode in _MINOR_WORDS:
        fifths = _LETTER_FIFTHS[letter] + 7 * accidental - 3
    else:
        return None
    return fifths if -7 <= fifths <= 7 else None
