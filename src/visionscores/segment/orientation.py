"""Orientation: pages scanned sideways or upside down, turned upright before segmentation.

A page turned by a quarter turn has vertical staff lines and yields no staves; turned by a
half turn it yields its systems, upside down. Which way up a page is shows at the ends of
its systems: a system opens with a brace or bracket left of its staves and a clef, key and
time signature just inside them, and closes with a barline and the margin. Turned upside
down, all of that sits at the right end.
"""

from __future__ import annotations

import numpy as np


def quarter_turn(gray: np.ndarray, turns: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn an image counter-clockwise by ``turns`` quarter turns (0-3).

    Returns the turned image and the 2x3 matrix mapping input pixel coordinates (continuous,
    x right, y down) to the turned image's.
    """
    turns %= 4
    height, width = gray.shape[:2]
    matrices = {
        0: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        1: [[0.0, 1.0, 0.0], [-1.0, 0.0, float(width)]],
        2: [[-1.0, 0.0, float(width)], [0.0, -1.0, float(height)]],
        3: [[0.0, -1.0, float(height)], [1.0, 0.0, 0.0]],
    }
    turned = np.ascontiguousarray(np.rot90(gray, turns)) if turns else gray
    return turned, np.array(matrices[turns], dtype=np.float64)


def compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 affine matrix of applying ``first``, then ``second``."""
    as3 = [np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]]) for m in (second, first)]
    return (as3[0] @ as3[1])[:2]


def _ink_share(ink: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> float:
    height, width = ink.shape
    left, right = max(0, round(x0)), min(width, round(x1))
    top, bottom = max(0, round(y0)), min(height, round(y1))
    region = ink[top:bottom, left:right]
    return float(region.mean()) if region.size else 0.0


def left_heaviness(
    ink: np.ndarray,
    staff_box: tuple[float, float, float, float],
    spacing_px: float,
    outside_sp: float = 3.0,
    inside_sp: float = 4.0,
) -> float:
    """How much more ink a system has at its left end than at its right (share of pixels).

    Compares, over the system's staff rows, the band ``outside_sp`` staff spacings left of
    the staves (brace, bracket) with the same band right of them, and the first ``inside_sp``
    spacings inside the staves (clef, key and time signature) with the last ones. Positive
    on an upright system, negative on one upside down. ``ink``: 0/1 mask of the page.
    """
    x0, y0, x1, y1 = staff_box
    gap = 0.5 * spacing_px  # the barlines at both ends are left out
    outside = _ink_share(ink, x0 - outside_sp * spacing_px, x0 - gap, y0, y1) - _ink_share(
        ink, x1 + gap, x1 + outside_sp * spacing_px, y0, y1
    )
    inside = _ink_share(ink, x0 + gap, x0 + inside_sp * spacing_px, y0, y1) - _ink_share(
        ink, x1 - inside_sp * spacing_px, x1 - gap, y0, y1
    )
    return outside + inside


def looks_upside_down(heaviness: list[float], min_share: float, min_margin: float) -> bool:
    """True when the systems of a page say it is upside down.

    ``heaviness``: :func:`left_heaviness` of each system. Upside down needs two systems at
    least, ``min_share`` of them heavier at the right, and the median heavier at the right
    by more than ``min_margin`` (share of pixels): a page is turned only on clear evidence
    (one odd candidate on a cover page is none).
    """
    if len(heaviness) < 2:
        return False
    values = np.asarray(heaviness, dtype=np.float64)
    return bool(np.mean(values < 0) >= min_share and np.median(values) < -min_margin)


def looks_like_music(system_widths_px: list[float], page_width_px: int, min_width: float) -> bool:
    """True when a page's widest system spans ``min_width`` of its width or more.

    A page turned a quarter turn is taken only on that evidence: the upright lines of a
    picture or a table, turned, give short "staves" that no score has.
    """
    return bool(system_widths_px) and max(system_widths_px) >= min_width * page_width_px
