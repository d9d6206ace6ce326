"""The measured features of a candidate system, on which judge decides.

Segment measures (these functions, on arrays); judge decides (on the table of measurements,
with thresholds from config), so the filter can be re-tuned without touching the images.
"""

from __future__ import annotations

import numpy as np

# Feature columns: name → (unit, description). The order is the order of the metadata.
FEATURES: dict[str, tuple[str, str]] = {
    "width_ratio": ("fraction", "staff width / widest staff width on the page"),
    "height_sp": ("staff spacings", "tight staff box height"),
    "ink_density": ("fraction", "ink pixels in the crop box"),
    "residual_skew_deg": ("degrees", "largest tilt of a staff after deskew"),
    "bend_sp": ("staff spacings", "largest bend of a staff's top line from straight"),
    "line_fill": ("fraction", "smallest share of a staff's width where its lines show ink"),
    "edge_cut": ("fraction", "share of the wanted crop box that falls off the page"),
    "sharpness": ("1/px", "steepest gray step across a staff line / the line's darkness"),
    "noise": ("fraction", "ink in specks (components under 0.15 x 0.15 spacings)"),
    "text_likeness": ("fraction", "ink in the crop not attached to the staff lines"),
    "overlap": ("fraction", "largest share of the staff box covered by another system's"),
    "open_end_sp": (
        "staff spacings",
        "how far an end without a barline falls short of the page's common staff extent",
    ),
    "barline_beyond_sp": (
        "staff spacings",
        "how far the left barline runs on beyond the system's top or bottom staff",
    ),
}


def ink_density(ink: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Fraction of ink pixels of ``ink`` (0/1) inside ``box`` (x0, y0, x1, y1), pixels."""
    x0, y0, x1, y1 = (round(v) for v in box)
    region = ink[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    return float(region.mean()) if region.size else 0.0


def end_barline_fill(
    ink: np.ndarray, staff_rows: list[tuple[float, float]], x_px: float, half_width_px: int
) -> float:
    """Share of a system's staff rows with ink within ``half_width_px`` of column ``x_px``.

    ``staff_rows``: (top, bottom) line centres of each staff, pixels. A barline closing the
    staves there fills about all of them; staff lines that merely stop (a system cut short)
    fill only their own rows, about 5 line thicknesses in 4 spacings.
    """
    x0 = max(0, round(x_px) - half_width_px)
    x1 = min(ink.shape[1], round(x_px) + half_width_px + 1)
    rows = np.concatenate([np.arange(round(top), round(bottom) + 1) for top, bottom in staff_rows])
    rows = rows[(rows >= 0) & (rows < ink.shape[0])]
    if x1 <= x0 or not rows.size:
        return 0.0
    return float(ink[rows, x0:x1].any(axis=1).mean())


def open_end_sp(
    box_x: tuple[float, float],
    page_extent_x: tuple[float, float],
    closed: tuple[bool, bool],
    spacing_px: float,
) -> float:
    """How far an end of a system that no barline closes falls short of the page's common
    staff extent, in staff spacings (0 when each end reaches it or is closed).

    ``box_x``: the system's left and right staff ends; ``page_extent_x``: the page's common
    left and right staff ends; ``closed``: whether a barline closes the left and right end.
    An indented first system opens with its barline, a short final one ends in one.
    """
    left_short = 0.0 if closed[0] else max(0.0, box_x[0] - page_extent_x[0])
    right_short = 0.0 if closed[1] else max(0.0, page_extent_x[1] - box_x[1])
    return max(left_short, right_short) / spacing_px


def edge_cut(
    staff_box: tuple[float, float, float, float], width: int, height: int, margin_px: float
) -> float:
    """Share of the staff box grown by ``margin_px`` that lies outside the page."""
    x0, y0, x1, y1 = staff_box
    gx0, gy0, gx1, gy1 = x0 - margin_px, y0 - margin_px, x1 + margin_px, y1 + margin_px
    area = (gx1 - gx0) * (gy1 - gy0)
    inside = max(0.0, min(gx1, width) - max(gx0, 0)) * max(0.0, min(gy1, height) - max(gy0, 0))
    return float(1.0 - inside / area) if area > 0 else 1.0


def line_sharpness(
    darkness: np.ndarray, line_rows: list[float], left: int, right: int, spacing_px: float
) -> float:
    """How crisp staff lines are: the steepest vertical step of darkness across a line
    divided by the line's darkness, median over lines and sample columns (1/px).

    About 0.5-1 for a clean engraving (the line rises to full darkness within a pixel or
    two), lower for blurred scans. ``darkness``: 0 = paper, 255 = ink.
    """
    half = max(2, round(0.4 * spacing_px))
    columns = np.linspace(left, right, num=min(64, max(2, right - left)), dtype=int)
    ratios = []
    height = darkness.shape[0]
    for row in line_rows:
        top, bottom = round(row) - half, round(row) + half + 1
        if top < 0 or bottom > height:
            continue
        profiles = darkness[top:bottom, columns].astype(np.float32)  # (window, columns)
        peak = profiles.max(axis=0)
        steepest = np.abs(np.diff(profiles, axis=0)).max(axis=0)
        usable = peak > 32
        ratios.extend((steepest[usable] / peak[usable]).tolist())
    return float(np.median(ratios)) if ratios else 0.0


def ink_components(
    ink_crop: np.ndarray, staff_rows: np.ndarray, spacing_px: float
) -> tuple[float, float]:
    """(noise, text_likeness) of a crop's ink, as shares of its ink pixels.

    noise: ink in specks smaller than 0.15 x 0.15 staff spacings (scanner dust, salt).
    text_likeness: ink in components that touch no staff-line row (``staff_rows``: row
    indices of the crop holding staff lines); lyrics, text and other detached marks.
    """
    import cv2  # here, not at the top: the tables import FEATURES and need no OpenCV

    total = int(ink_crop.sum())
    if total == 0:
        return 0.0, 0.0
    # Areas counted from the labels: OpenCV's statistics (boxes, centroids) cost five times
    # the labelling and only the areas are needed.
    count, labels = cv2.connectedComponents(ink_crop.astype(np.uint8), connectivity=8)
    areas = np.bincount(labels.ravel(), minlength=count)[1:]
    speck_area = max(2.0, (0.15 * spacing_px) ** 2)
    noise = float(areas[areas <= speck_area].sum()) / total
    on_lines = np.zeros(count, dtype=bool)
    rows = staff_rows[(staff_rows >= 0) & (staff_rows < ink_crop.shape[0])]
    on_lines[np.unique(labels[rows])] = True
    detached = ~on_lines[1:] & (areas > speck_area)
    return round(noise, 4), round(float(areas[detached].sum()) / total, 4)


def box_overlap(box: tuple[float, ...], others: list[tuple[float, ...]]) -> float:
    """Largest share of ``box``'s area covered by one of ``others`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1e-9)
    best = 0.0
    for ox0, oy0, ox1, oy1 in others:
        inter = max(0.0, min(x1, ox1) - max(x0, ox0)) * max(0.0, min(y1, oy1) - max(y0, oy0))
        best = max(best, inter / area)
    return best
