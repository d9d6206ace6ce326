"""Staves: find five-line staves on a binarized, deskewed page.

The page's own units come first: staff-line thickness and staff spacing (line to line) are
the most frequent vertical black run and black-plus-white run (after Audiveris' approach);
every other length here is a multiple of them, so the method is resolution-free. Staff lines
are the long horizontal strokes left after a morphological opening; the page is cut into
vertical strips, each strip's row profile gives line candidates, runs of five evenly spaced
lines are staves in that strip, and staves are chained across strips (which tolerates mild
curvature and broken lines). Each staff is then traced along its lines for its x extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LINES_PER_STAFF = 5
# Columns averaged into one while the page's units are measured (before the spacing is
# known): the strokes sought are at least 1/50 of the page wide, dozens of pixels.
METRICS_COLUMN_BIN = 4
# Of those binned columns, every this-many-th is read for the run lengths (every 8th pixel
# column: a few hundred columns a page, plenty for the two most frequent lengths).
METRICS_COLUMN_STEP = 2
# Rows a stroke may step up or down while the page's units are measured (a 1-bit scan's
# thin lines are staircases); the strokes, thickened by as much, say so to the thickness.
METRICS_WOBBLE_PX = 1
# A spacing read with the lines' own thickness as floor replaces the one read above the
# padded thickness when that is a whole multiple of it (2 or more), to within this share
# of the smaller spacing (see estimate_metrics).
SPACING_MULTIPLE_TOLERANCE = 0.15


@dataclass(frozen=True)
class StaffMetrics:
    """The page's units, in pixels."""

    line_thickness_px: float
    staff_spacing_px: float
    # Rows the measurement added to every line (strokes thickened vertically before their
    # runs were read): the lines themselves are this much thinner.
    thickness_padding_px: float = 0.0

    @property
    def bare_line_thickness_px(self) -> float:
        """The lines' own thickness, at least one pixel."""
        return max(1.0, self.line_thickness_px - self.thickness_padding_px)


@dataclass(frozen=True)
class Staff:
    """One five-line staff on the deskewed page. Line positions are line centres, pixels."""

    top_px: float  # centre of the top line, at its highest point
    bottom_px: float  # centre of the bottom line, at its lowest point
    left_px: int  # leftmost staff-line pixel
    right_px: int  # rightmost staff-line pixel
    spacing_px: float  # mean distance between adjacent lines
    slope_deg: float  # residual tilt of the staff, degrees (counter-clockwise positive)
    bend_px: float  # largest deviation of the top line from a straight line, pixels
    line_fill: float  # fraction of the staff's width where at least 3 of its lines show ink

    @property
    def height_px(self) -> float:
        return self.bottom_px - self.top_px


def vertical_runs(ink: np.ndarray, column_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Black run lengths and start-to-next-start distances along columns, in pixels.

    Only every ``column_step``-th column is read.
    """
    columns = ink[:, ::column_step].T  # one row per column read
    padded = np.zeros((columns.shape[0], columns.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = columns != 0
    steps = np.diff(padded, axis=1)
    # Run starts (+1) and ends (-1) in one pass, in column order, then row order.
    changes = np.flatnonzero(steps)
    rise = steps.ravel()[changes] == 1
    start_cols, start_rows = np.divmod(changes[rise], steps.shape[1])
    end_rows = changes[~rise] % steps.shape[1]
    black = end_rows - start_rows
    same_column = start_cols[1:] == start_cols[:-1]
    start_to_start = (start_rows[1:] - start_rows[:-1])[same_column]
    return black, start_to_start


def estimate_metrics(
    ink: np.ndarray, column_step: int = 3, run_padding_px: int = 0
) -> StaffMetrics | None:
    """Staff-line thickness and spacing of a page, or None when the page has no runs.

    The thickness is the most frequent black run; the spacing is the most frequent
    distance from a black run's start to the next one's in the same column, counting only
    distances longer than twice the thickness (shorter ones are noise and note stems).

    ``run_padding_px``: rows a vertical dilation of ``ink`` added to every run. At a 4-6 px
    spacing, twice the padded thickness is more than the spacing itself, which is then read
    from every other line, or from staff to staff. So when the distances above twice the
    lines' own thickness peak at a spacing of which the one found is a whole multiple (2 or
    more, to within ``SPACING_MULTIPLE_TOLERANCE`` of it), that is the spacing. Only then:
    on other pages the short distances this lets in are noise that pulls the estimate down.
    """
    black, start_to_start = vertical_runs(ink, column_step)
    if black.size == 0 or start_to_start.size == 0:
        return None
    thickness = int(np.argmax(np.bincount(black)))
    thickness = max(thickness, 1)
    spacing_px = _most_frequent_distance(start_to_start, 2 * thickness)
    if spacing_px is None:
        return None
    if run_padding_px > 0:
        bare = _most_frequent_distance(start_to_start, 2 * max(thickness - run_padding_px, 1))
        multiple = round(spacing_px / bare) if bare else 0
        if multiple >= 2 and abs(spacing_px - multiple * bare) <= (
            SPACING_MULTIPLE_TOLERANCE * bare
        ):
            spacing_px = bare
    # The thickness, refined the same way, for sub-pixel lines.
    black_counts = np.bincount(black).astype(np.float64)
    window = black_counts[max(thickness - 1, 0) : thickness + 2]
    positions = np.arange(max(thickness - 1, 0), max(thickness - 1, 0) + window.size)
    thickness_px = float(np.dot(window, positions) / max(window.sum(), 1.0))
    return StaffMetrics(
        line_thickness_px=thickness_px,
        staff_spacing_px=spacing_px,
        thickness_padding_px=float(run_padding_px),
    )


def _most_frequent_distance(distances: np.ndarray, floor_px: int) -> float | None:
    """The most frequent of ``distances`` longer than ``floor_px`` (pixels), refined to a
    fraction of a pixel by its neighbours; None when there is none."""
    candidates = distances[distances > floor_px]
    if candidates.size == 0:
        return None
    counts = np.bincount(candidates).astype(np.float64)
    # Lines are not always an integer number of pixels apart: smooth over neighbours.
    smoothed = np.convolve(counts, [0.5, 1.0, 0.5], mode="same")
    spacing = int(np.argmax(smoothed))
    window = counts[max(spacing - 1, 0) : spacing + 2]
    positions = np.arange(max(spacing - 1, 0), max(spacing - 1, 0) + window.size)
    return float(np.dot(window, positions) / max(window.sum(), 1.0))


def as_darkness(image: np.ndarray) -> np.ndarray:
    """uint8 darkness (0 = paper, 255 = ink) of an ink mask (0/1 or bool) or darkness map."""
    if image.dtype == bool or (image.dtype == np.uint8 and image.max(initial=0) <= 1):
        return image.astype(np.uint8) * 255
    return image.astype(np.uint8, copy=False)  # read, never written: no copy needed


def bin_columns(darkness: np.ndarray, column_bin: int) -> np.ndarray:
    """Mean darkness of each run of ``column_bin`` adjacent columns (uint8).

    Column j of the result covers input columns ``j * column_bin`` to
    ``(j + 1) * column_bin - 1``; leftover columns at the right edge are dropped. Rows are
    kept as they are: horizontal strokes keep their darkness and their exact rows, while
    every operation along them costs ``column_bin`` times less.
    """
    if column_bin <= 1:
        return darkness
    height, width = darkness.shape
    binned_width = max(1, width // column_bin)
    return cv2.resize(
        darkness[:, : binned_width * column_bin],
        (binned_width, height),
        interpolation=cv2.INTER_AREA,
    )


def binned_column_centres(columns: np.ndarray, column_bin: int) -> np.ndarray:
    """Input-pixel x of the centres of binned ``columns`` (see :func:`bin_columns`)."""
    return (np.asarray(columns, dtype=np.float64) + 0.5) * max(1, column_bin) - 0.5


def long_horizontal_strokes(
    darkness: np.ndarray,
    min_length_px: int,
    max_gap_px: int,
    min_contrast: int = 48,
    wobble_px: int = 1,
    column_bin: int = 1,
    otsu: bool = True,
) -> np.ndarray:
    """Mask (uint8 0/1) of dark horizontal runs at least ``min_length_px`` long.

    Works on gray levels, not on a binarized page: a blurred or faint scan's thin staff lines
    come out of binarization as dashes or not at all, but stay darker than the paper along
    their whole length. Light gaps up to ``max_gap_px`` along a row are bridged (grayscale
    closing), then a grayscale opening keeps, at each pixel, the darkness a horizontal run of
    ``min_length_px`` holds throughout. Otsu's level on that, but at least ``min_contrast``
    gray levels above the paper, separates the runs from the rest. A run may step up or down
    by ``wobble_px`` rows along its length: a thin line of a noisy 1-bit scan is a staircase
    of one-pixel steps, which an opening along one row would cut into pieces. With ``otsu``
    false the level is ``min_contrast`` alone: on a page whose staff lines are faint beside
    dark beams, Otsu's level falls between the two and keeps the beams only.

    With ``column_bin`` > 1 the search runs on :func:`bin_columns` of the page and the mask
    has its width (lengths stay in input pixels; rows are exact).
    """
    darkness = bin_columns(as_darkness(darkness), column_bin)
    column_bin = max(1, column_bin)
    # Kernel widths are odd: OpenCV centres an even kernel half a pixel off, and a closing
    # or an opening with it moves every stroke end one pixel to the right.
    max_gap = round(max_gap_px / column_bin)
    if max_gap > 0:
        bridge = cv2.getStructuringElement(cv2.MORPH_RECT, ((max_gap + 1) | 1, 1))
        darkness = cv2.morphologyEx(darkness, cv2.MORPH_CLOSE, bridge)
    if wobble_px > 0:
        darkness = cv2.dilate(darkness, np.ones((2 * wobble_px + 1, 1), np.uint8))
    length = max(1, round(min_length_px / column_bin)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    opened = cv2.morphologyEx(darkness, cv2.MORPH_OPEN, kernel)
    # Otsu's level, or min_contrast when that is higher (then a second pass).
    level = min_contrast
    if otsu:
        level, strokes = cv2.threshold(opened, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        if level >= min_contrast:
            return strokes
    _, strokes = cv2.threshold(opened, min_contrast, 1, cv2.THRESH_BINARY)
    return strokes


def estimate_metrics_from_strokes(
    darkness: np.ndarray, column_bin: int = METRICS_COLUMN_BIN, otsu: bool = True
) -> StaffMetrics | None:
    """Staff-line thickness and spacing measured on the page's long horizontal strokes.

    Before the spacing is known, strokes longer than 1/50 of the page width stand in for
    staff lines: far longer than note heads and letters at any usual staff size, so the
    vertical runs measured are those of the lines, even where binarization lost them.
    ``column_bin``: see :func:`long_horizontal_strokes` (the runs are vertical: binning the
    columns does not change their lengths). ``otsu``: see :func:`long_horizontal_strokes`.
    """
    height, width = darkness.shape
    strokes = long_horizontal_strokes(
        darkness,
        max(9, width // 50),
        2,
        wobble_px=METRICS_WOBBLE_PX,
        column_bin=column_bin,
        otsu=otsu,
    )
    return estimate_metrics(
        strokes, column_step=METRICS_COLUMN_STEP, run_padding_px=2 * METRICS_WOBBLE_PX
    )


@dataclass(frozen=True)
class _LineCandidate:
    center_px: float
    fill: float


def line_candidates(
    row_fill: np.ndarray, min_fill: float, max_thickness_px: float, under_beam_fill: float
):
    """Line centres in one strip's row-fill profile: runs of rows filled above ``min_fill``.

    A run thicker than ``max_thickness_px`` is a beam or a block of chords, but a staff line
    under it still fills the whole strip where the beam does not: rows within it filled to
    ``under_beam_fill`` of its fullest row are taken as lines when thin enough.
    """
    above = row_fill >= min_fill
    if not above.any():
        return []
    edges = np.diff(np.concatenate(([0], above.astype(np.int8), [0])))
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0]
    lines = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        weights = row_fill[start:end]
        if end - start <= max_thickness_px:
            # np.dot and sum, as ever: another order of summation moves a centre by a
            # rounding error, and a centre on a half row then rounds to the other row.
            center = float(np.dot(weights, np.arange(start, end)) / weights.sum())
            lines.append(_LineCandidate(center, float(weights.max())))
            continue
        level = under_beam_fill * float(weights.max())
        if level > min_fill:
            for line in line_candidates(weights, level, max_thickness_px, under_beam_fill):
                lines.append(_LineCandidate(line.center_px + start, line.fill))
    return lines


def five_line_groups(lines, spacing_px: float, tolerance: float):
    """Groups of five evenly spaced line candidates (a staff in one strip).

    Consecutive candidates whose gaps lie within ``tolerance`` (a fraction) of the spacing
    are chained; a chain longer than five keeps the five lines with the strongest fill.
    """
    groups = []
    chain = []
    low, high = spacing_px * (1 - tolerance), spacing_px * (1 + tolerance)

    def close_chain():
        if len(chain) >= LINES_PER_STAFF:
            best = max(
                range(len(chain) - LINES_PER_STAFF + 1),
                key=lambda i: sum(line.fill for line in chain[i : i + LINES_PER_STAFF]),
            )
            groups.append([line.center_px for line in chain[best : best + LINES_PER_STAFF]])

    for line in lines:
        if chain and low <= line.center_px - chain[-1].center_px <= high:
            chain.append(line)
        else:
            close_chain()
            chain = [line]
    close_chain()
    return groups


def _trace_extent(
    strokes: np.ndarray, line_rows: np.ndarray, probe_halfheight: int, max_gap_px: int
) -> tuple[int, int, float] | None:
    """Leftmost and rightmost columns where the staff's lines show ink, and the fill.

    ``line_rows`` is (5, width): each line's row at every column. A column belongs to the
    staff when at least 3 of its 5 lines have ink within ``probe_halfheight`` rows; gaps up
    to ``max_gap_px`` are bridged (barlines, broken lines).
    """
    present = (darkest_near(strokes, line_rows, probe_halfheight) > 0).sum(axis=0)
    on = present >= 3
    if not on.any():
        return None
    on_columns = np.nonzero(on)[0]
    gaps = np.diff(on_columns)
    breaks = np.nonzero(gaps > max_gap_px)[0]
    segment_starts = np.concatenate(([0], breaks + 1))
    segment_ends = np.concatenate((breaks, [on_columns.size - 1]))
    lengths = on_columns[segment_ends] - on_columns[segment_starts]
    longest = int(np.argmax(lengths))
    left = int(on_columns[segment_starts[longest]])
    right = int(on_columns[segment_ends[longest]])
    fill = float(on[left : right + 1].mean())
    return left, right, fill


def line_fits(xs: np.ndarray, lines: np.ndarray) -> list[tuple[float, float]]:
    """Straight fit (slope, intercept) of each of a staff's lines, from their rows ``lines``
    (5, n) at the strip centres ``xs`` (pixels); none from a single strip."""
    if xs.size < 2:
        return []
    return [tuple(np.polyfit(xs, row, 1)) for row in lines]


def line_rows_at(
    columns: np.ndarray, xs: np.ndarray, lines: np.ndarray, fits: list[tuple[float, float]]
) -> np.ndarray:
    """Rows of a staff's five lines at ``columns`` (pixels), from their rows ``lines`` (5, n)
    at the strip centres ``xs``: interpolated between strips, extended straight beyond along
    ``fits`` (:func:`line_fits`, fitted once per staff)."""
    rows = np.stack([np.interp(columns, xs, row) for row in lines])
    if fits:
        outside = (columns < xs[0]) | (columns > xs[-1])
        for index, (slope, intercept) in enumerate(fits):
            rows[index, outside] = slope * columns[outside] + intercept
    return rows


def line_like_columns(
    darkness: np.ndarray, line_rows: np.ndarray, probe_halfheight: int, min_contrast: float
) -> np.ndarray:
    """Columns where at least 3 of a staff's 5 lines are darker than the paper between them.

    ``line_rows``: (5, width) rows of the lines at every column of ``darkness`` (0 = paper,
    255 = ink). The paper is read halfway between the lines, so a brace, a barline, a block
    of text or a shadow, dark between the lines too, is not taken for lines; a faint or
    broken stretch of line, missed by the stroke search, is.
    """
    line_rows = np.asarray(line_rows, dtype=np.float64)
    paper = np.median(darkest_near(darkness, (line_rows[:-1] + line_rows[1:]) / 2.0, 1), axis=0)
    present = (darkest_near(darkness, line_rows, probe_halfheight) >= paper + min_contrast).sum(
        axis=0
    )
    return present >= 3


def darkest_near(image: np.ndarray, rows: np.ndarray, halfheight: int) -> np.ndarray:
    """Largest value of ``image`` within ``halfheight`` rows of ``rows`` (k, width), at each of
    its columns (rows rounded, clipped to the image): (k, width) int16.

    One gather of every row offset of every line at once (this runs for every staff).
    """
    height, width = image.shape
    offsets = np.arange(-halfheight, halfheight + 1)
    index = np.rint(rows).astype(np.int64)[:, None, :] + offsets[None, :, None]
    np.clip(index, 0, height - 1, out=index)
    return image[index, np.arange(width)].max(axis=1).astype(np.int16)


def extend_through_faint_lines(
    line_like: np.ndarray, left: int, right: int, window_px: int, min_share: float
) -> tuple[int, int]:
    """Push a staff's ends (pixels) out while ``line_like`` columns stay frequent.

    A window of ``window_px`` columns beyond each end must hold ``min_share`` line-like
    columns for the staff to go on (a dashed or faint line of a scan); one window short of
    it (a chord, a stem, a blot over the lines) is passed when the next one holds them. The
    new end is the last line-like column reached.
    """
    width = line_like.size
    # The left end is the right end of the mirrored row of columns.
    new_right = _reach_right(line_like, right, window_px, min_share)
    new_left = width - 1 - _reach_right(line_like[::-1], width - 1 - left, window_px, min_share)
    return new_left, new_right


def _reach_right(line_like: np.ndarray, right: int, window_px: int, min_share: float) -> int:
    """The right end of :func:`extend_through_faint_lines`."""
    counts = np.concatenate(([0], np.cumsum(line_like, dtype=np.int64)))
    window = max(1, window_px)
    need = min_share * window - 1e-9

    def frequent(start: int) -> bool:  # columns start .. start + window - 1
        return start + window <= line_like.size and counts[start + window] - counts[start] >= need

    reach = right
    while frequent(reach + 1) or frequent(reach + 1 + window):
        reach += window if frequent(reach + 1) else 2 * window
    beyond = np.nonzero(line_like[right + 1 : reach + 1])[0]
    return right + 1 + int(beyond[-1]) if beyond.size else right


def strip_column_sums(mask: np.ndarray, strip_width: int) -> np.ndarray:
    """Row sums of ``mask`` within each vertical strip of ``strip_width`` columns.

    Returns (height, n_strips) int32; the last strip may be narrower.
    """
    height, width = mask.shape
    full = width // strip_width
    sums = (
        mask[:, : full * strip_width].reshape(height, full, strip_width).sum(axis=2, dtype=np.int32)
    )
    if full * strip_width < width:
        rest = mask[:, full * strip_width :].sum(axis=1, dtype=np.int32)
        sums = np.concatenate([sums, rest[:, None]], axis=1)
    return sums


def find_staves(
    ink: np.ndarray,
    metrics: StaffMetrics,
    *,
    stroke_min_length_sp: float,
    stroke_max_gap_sp: float,
    strip_width_sp: float,
    min_row_fill: float,
    line_under_beam_fill: float,
    spacing_tolerance: float,
    max_link_shift_sp: float,
    min_strips: int,
    min_width_sp: float,
    min_spacing_px: float,
    stroke_column_bin_sp: float,
    faint_line_min_contrast: float,
    faint_line_window_sp: float,
    faint_line_min_share: float,
    otsu: bool = True,
) -> list[Staff]:
    """Find the five-line staves of a deskewed page, top to bottom.

    Parameters (lengths in staff spacings, "sp", the distance between two staff lines)
    ----------
    ink : the deskewed page as darkness (uint8, 0 = paper, 255 = ink; gray levels help on
        faint scans) or as an ink mask (0/1 or bool).
    metrics : the page's staff-line thickness and spacing.
    stroke_min_length_sp : shortest horizontal run kept as a possible staff line; longer
        than note heads, ledger lines and letters.
    stroke_max_gap_sp : gaps along a line bridged before that (dashed lines of scans).
    strip_width_sp : width of the vertical strips in which rows are profiled.
    min_row_fill : fraction of a strip's width a row must fill to be a line candidate.
    line_under_beam_fill : within a run too thick for a line (a beam along it), rows filled
        to this share of the fullest row are a line (a line crosses the whole strip).
    spacing_tolerance : allowed deviation of a gap between lines from the spacing (fraction).
    max_link_shift_sp : largest vertical step of a staff from one strip to the next.
    min_strips : a staff must be found in at least this many strips.
    min_width_sp : a staff must be at least this wide.
    min_spacing_px : pages whose spacing is below this (pixels) have no readable staves.
    stroke_column_bin_sp : columns averaged into one while strokes are looked for (speed),
        at most this many staff spacings, whole pixels (3 px at a 25 px spacing, none below
        15.4 px: on small staves binning costs more lines than it saves time). Rows stay
        exact; a staff's ends are found to within the bin's width.
    faint_line_min_contrast : beyond where the strokes end, a column still belongs to the
        staff when 3 of its 5 lines are this much darker (gray levels) than the paper
        between them ...
    faint_line_window_sp : ... in at least ``faint_line_min_share`` of the columns of each
        window this wide beyond the ends (faint or broken lines of scans).
    faint_line_min_share : see ``faint_line_window_sp``.
    otsu : strokes are told from the paper by Otsu's level (or a floor, when that is
        higher); false: by the floor alone, for faint lines beside dark beams
        (:func:`long_horizontal_strokes`).
    """
    spacing = metrics.staff_spacing_px
    thickness = metrics.line_thickness_px
    if spacing < min_spacing_px or spacing < 2 * metrics.bare_line_thickness_px:
        return []
    darkness = as_darkness(ink)
    height, width = ink.shape
    column_bin = max(1, int(stroke_column_bin_sp * spacing))
    strokes = long_horizontal_strokes(
        darkness,
        round(stroke_min_length_sp * spacing),
        round(stroke_max_gap_sp * spacing),
        column_bin=column_bin,
        otsu=otsu,
    )
    binned_width = strokes.shape[1]
    # Strips and traces run on the binned columns; positions are turned back into pixels.
    strip_width = max(2, round(max(8, round(strip_width_sp * spacing)) / column_bin))
    strip_starts = np.arange(0, binned_width, strip_width)
    strip_sums = strip_column_sums(strokes, strip_width)
    strip_widths = np.diff(np.append(strip_starts, binned_width))
    max_line_thickness = max(2.5 * thickness + 2, 0.35 * spacing)

    # Staves per strip: (strip index, five line centres).
    found = []
    for index, strip_width_px in enumerate(strip_widths):
        if strip_width_px < strip_width // 2:
            continue
        row_fill = strip_sums[:, index] / float(strip_width_px)
        lines = line_candidates(row_fill, min_row_fill, max_line_thickness, line_under_beam_fill)
        for group in five_line_groups(lines, spacing, spacing_tolerance):
            found.append((index, np.array(group)))

    # Chain the strip staves left to right into tracks.
    tracks: list[list[tuple[int, np.ndarray]]] = []
    for index, centers in sorted(found, key=lambda item: (item[0], item[1][0])):
        best, best_shift = None, max_link_shift_sp * spacing
        for track in tracks:
            last_index, last_centers = track[-1]
            if last_index >= index:
                continue
            shift = abs(float(last_centers[0] - centers[0]))
            if shift <= best_shift:
                best, best_shift = track, shift
        if best is None:
            tracks.append([(index, centers)])
        else:
            best.append((index, centers))

    staves = []
    binned_centres = binned_column_centres(np.arange(binned_width), column_bin)
    for track in tracks:
        if len(track) < min_strips:
            continue
        xs = np.array([(strip_starts[i] + strip_widths[i] / 2.0) * column_bin for i, _ in track])
        lines = np.stack([c for _, c in track], axis=1)  # (5, n_strips)
        line_rows = np.stack([np.interp(binned_centres, xs, row) for row in lines])
        extent = _trace_extent(
            strokes,
            line_rows,
            probe_halfheight=max(1, round(thickness)),
            max_gap_px=round(1.5 * spacing / column_bin),
        )
        if extent is None:
            continue
        left, right, fill = extent
        left, right = left * column_bin, min(width - 1, (right + 1) * column_bin - 1)
        # Stretches of line too faint or too broken for the stroke search: followed on the
        # gray levels, as long as the lines stay darker than the paper between them.
        # Read only beyond the ends (what the staff may grow into), not along its length.
        fits = line_fits(xs, lines)
        like = np.zeros(width, dtype=bool)
        for first, stop in ((0, left), (right + 1, width)):
            if stop > first:
                like[first:stop] = line_like_columns(
                    darkness[:, first:stop],
                    line_rows_at(np.arange(first, stop, dtype=np.float64), xs, lines, fits),
                    probe_halfheight=max(1, round(thickness)),
                    min_contrast=faint_line_min_contrast,
                )
        new_left, new_right = extend_through_faint_lines(
            like, left, right, round(faint_line_window_sp * spacing), faint_line_min_share
        )
        if (new_left, new_right) != (left, right):
            added = int(like[new_left:left].sum() + like[right + 1 : new_right + 1].sum())
            fill = (fill * (right - left + 1) + added) / (new_right - new_left + 1)
            left, right = new_left, new_right
        if right - left < min_width_sp * spacing:
            continue
        columns = np.arange(left, right + 1)
        top_rows = np.interp(columns, xs, lines[0])
        bottom_rows = np.interp(columns, xs, lines[-1])
        if fits:
            slope, intercept = fits[0]
            bend = float(np.max(np.abs(lines[0] - (slope * xs + intercept))))
        else:
            slope, bend = 0.0, 0.0
        staves.append(
            Staff(
                top_px=float(top_rows.min()),
                bottom_px=float(bottom_rows.max()),
                left_px=left,
                right_px=right,
                spacing_px=float(np.mean(np.diff(lines, axis=0))),
                slope_deg=float(-np.degrees(np.arctan(slope))),
                bend_px=bend,
                line_fill=fill,
            )
        )
    staves.sort(key=lambda staff: staff.top_px)
    return _drop_overlapping(staves)


def _drop_overlapping(staves: list[Staff]) -> list[Staff]:
    """Keep one staff where two overlap vertically (the wider), e.g. a track split in two."""
    kept: list[Staff] = []
    for staff in staves:
        clash = next(
            (
                other
                for other in kept
                if staff.top_px < other.bottom_px
                and other.top_px < staff.bottom_px
                and staff.left_px < other.right_px
                and other.left_px < staff.right_px
            ),
            None,
        )
        if clash is None:
            kept.append(staff)
        elif (staff.right_px - staff.left_px) > (clash.right_px - clash.left_px):
            kept[kept.index(clash)] = staff
    return kept
