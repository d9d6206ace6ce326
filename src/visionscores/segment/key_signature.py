"""Key signatures: the sharps or flats printed after the clef at the start of each staff.

A staff's key signature is read from the cleaned page (gray, paper white) in four steps:

1. The staff's start is cut out: from its left end a band ``search_width_sp`` wide, from
   ``band_above_sp`` above its top line to ``band_below_sp`` below its bottom line. Ink is
   every pixel darker than ``ink_threshold``.
2. The staff lines are erased: the five lines are found again in short column chunks (they may
   tilt a little), and in every column a black run that lies within a line's thickness is
   removed, so symbols crossing a line keep their pixels. Specks are dropped.
3. The remaining ink is cut into glyphs at empty columns; the clef is the first glyph at least
   ``clef_min_width_sp`` wide and ``clef_min_height_sp`` tall (barlines and braces before it
   are narrower). Each following glyph, while they follow each other closely, is classified by
   its vertical strokes: a sharp has two of nearly the glyph's height side by side, a flat one
   at its left with a bowl at its foot, a natural two offset ones.
4. The run of sharps (or flats) is kept as long as each one sits where the key signature
   pattern puts it (F C G D A E B for sharps, B E A D G C F for flats, on the treble or the
   bass clef), which drops the accidental of a first note that follows the key signature.

All lengths are in staff spacings (``_sp``) of the staff, so the same parameters read pages
from about 7 to 45 pixels per staff spacing.
"""

from __future__ import annotations

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
    spacing = staff.spacing_px
    x0 = max(0, int(np.floor(staff.left_px - 0.3 * spacing)))
    x1 = min(page.shape[1], int(np.ceil(staff.left_px + params["search_width_sp"] * spacing)))
    y0 = max(0, int(np.floor(staff.top_px - params["band_above_sp"] * spacing)))
    y1 = min(page.shape[0], int(np.ceil(staff.bottom_px + params["band_below_sp"] * spacing)))
    return page[y0:y1, x0:x1] < params["ink_threshold"], x0, y0


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
    pieces: Sequence[tuple[int, int]],
    spacing_px: float,
    params: Mapping[str, Any],
) -> list[Glyph] | None:
    """The accidentals following the clef, left to right (see the module's step 3); None when
    no clef is found.

    Accidentals of a key signature may overlap in columns (packed tightly, as some editions
    do), so after the clef the glyphs are made of connected pieces, taken from the left: a
    glyph is the leftmost piece left, alone or with one or two of the next pieces within
    ``join_gap_sp`` of it (erasing the staff lines may cut a sharp between its stems or a
    flat's stem from its bowl), the first of these that classifies as an accidental. The run
    ends at the first piece that makes no accidental, or one that starts further than
    ``max_gap_after_clef_sp`` from the clef or ``max_gap_between_sp`` from the previous glyph.
    """
    clef = find_clef(symbols, pieces, spacing_px, params)
    if clef is None:
        return None
    _, clef_end = clef
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
    check_params(params)
    symbols, pieces, top_line_row = staff_pieces(page, staff, line_thickness_px, params)
    glyphs = key_glyphs(symbols, pieces, staff.spacing_px, params)
    if glyphs is None:
        return None
    _, clef_end = find_clef(symbols, pieces, staff.spacing_px, params)
    # Two readings, by glyphs and by strokes; each ends where its shapes stop making sense
    # and is cut to the accidentals that fit the pattern, so the longer one is kept.
    readings = [
        key_from_accidentals(
            found,
            top_line_row,
            staff.spacing_px,
            params["position_tolerance_steps"],
            params["position_max_bias_steps"],
        )
        for found in (glyphs, stroke_glyphs(symbols, clef_end, staff.spacing_px, params))
    ]
    return max(readings, key=abs)


def combine_staff_keys(values: Sequence[int | None]) -> int | None:
    """A system's key signature from those of its staves: the value more than half of the
    staves read; None otherwise (staves that disagree, or too few read)."""
    counts = Counter(value for value in values if value is not None)
    if not counts:
        return None
    value, count = counts.most_common(1)[0]
    return value if count * 2 > len(values) else None


def system_key_signature(
    page: np.ndarray, system: System, line_thickness_px: float, params: Mapping[str, Any]
) -> int | None:
    """Key signature of a system, in fifths (see :func:`staff_key_signature`).

    The staves of a piano system print the same key signature: the system's is the value read
    on more than half of its staves (both of a grand staff, two of three). When they disagree,
    or only one staff of two could be read, the system's key signature is None.
    """
    return combine_staff_keys(
        [staff_key_signature(page, staff, line_thickness_px, params) for staff in system.staves]
    )


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
