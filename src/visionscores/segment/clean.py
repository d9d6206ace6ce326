"""Clean: measure and undo page skew, and binarize.

Skew is measured on the long horizontal strokes of the page (staff lines, mostly): the angle
that makes their projection onto the vertical axis sharpest. The page is then rotated about
its centre onto a canvas large enough to lose nothing, and binarized after flattening uneven
light. The rotation is returned as a 2x3 affine matrix so that boxes found on the deskewed
page can be mapped back to the input image.

Sign convention: ``skew_deg > 0`` means the content is rotated counter-clockwise as seen on
screen (lines rise to the right).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def flatten_illumination(gray: np.ndarray, window_px: int) -> np.ndarray:
    """Divide ``gray`` by an estimate of the paper's brightness, returning uint8.

    The paper is estimated as a grayscale closing (max filter then min filter) of a 1/4-size
    copy with a window of ``window_px`` full-size pixels, which erases ink narrower than the
    window; uneven light and yellowed paper become white, ink keeps its contrast.
    """
    height, width = gray.shape
    small = cv2.resize(
        gray, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    size = max(3, (window_px // 4) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    if paper.min() == 255:
        return gray  # white paper already (a rendered vector page): nothing to divide
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, cv2.max(paper, 1), scale=255.0)


def projection_sharpness(ys: np.ndarray, xs: np.ndarray, angle_deg: float, height: int) -> float:
    """Sum of squared row counts after shearing the points by ``angle_deg``.

    Largest when the angle matches the skew: the strokes then fall into the fewest rows.
    """
    rows = np.rint(ys + xs * math.tan(math.radians(angle_deg))).astype(np.int64)
    rows -= rows.min(initial=0)
    counts = np.bincount(rows, minlength=1).astype(np.float64)
    return float(np.dot(counts, counts))


def skew_of_flattened(
    flattened: np.ndarray,
    max_skew_deg: float = 5.0,
    precision_deg: float = 0.005,
    min_run_px: int = 25,
    column_bin: int = 8,
    coarse_points: int = 40_000,
) -> float:
    """Estimate the skew in degrees (counter-clockwise positive) of a flattened page.

    Parameters
    ----------
    flattened : uint8 array, the page with its paper flattened to white.
    max_skew_deg : largest skew searched, degrees.
    precision_deg : step of the finest search, degrees.
    min_run_px : shortest horizontal run kept as a stroke, pixels. A line of thickness t
        tilted by a stays a run of about t / tan(a) pixels: 25 px keeps 2.2 px lines up to 5°.
    column_bin : columns averaged into one while strokes are looked for (speed); each binned
        column counts as one point at its centre. Rows stay exact, and they carry the angle.
    coarse_points : points used by the coarse search steps (speed); the last step uses all.

    Strokes are found on gray levels (see :func:`staves.long_horizontal_strokes`), so the
    faint staff lines of a blurred scan count even where binarization would lose them.
    Returns 0.0 for a page without horizontal strokes.
    """
    from visionscores.segment.staves import binned_column_centres, long_horizontal_strokes

    strokes = long_horizontal_strokes(
        cv2.bitwise_not(flattened), min_run_px, max_gap_px=2, column_bin=column_bin
    )
    ys, binned_xs = np.nonzero(strokes)
    ys, xs = ys.astype(np.float64), binned_column_centres(binned_xs, column_bin)
    if ys.size < 100:
        return 0.0
    height = flattened.shape[0]
    # The coarse steps only need the peak's neighbourhood: an even subsample of the points
    # (at most ``coarse_points``) finds it; the finest step uses every point.
    stride = max(1, ys.size // coarse_points)
    coarse_ys, coarse_xs = ys[::stride], xs[::stride]
    center, half_range, step = 0.0, max_skew_deg, 0.25
    while True:
        angles = np.arange(center - half_range, center + half_range + step / 2, step)
        final = step <= precision_deg
        point_ys, point_xs = (ys, xs) if final else (coarse_ys, coarse_xs)
        scores = np.array([projection_sharpness(point_ys, point_xs, a, height) for a in angles])
        # Angles too close to move any pixel to another row score alike: take the middle
        # of the best plateau, not its first angle (which would bias towards negative).
        best = np.nonzero(scores >= scores.max() * (1 - 1e-12))[0]
        center = float(angles[best].mean())
        if final:
            break
        half_range, step = step * 1.5, max(step / 8, precision_deg)
    return round(center, 4)


def rotation_matrix(width: int, height: int, skew_deg: float) -> tuple[np.ndarray, int, int]:
    """Affine matrix (2x3) that undoes ``skew_deg`` and the size of the canvas it needs.

    The canvas grows so that no corner of the input is lost; the input centre maps to the
    canvas centre.
    """
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), -skew_deg, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width = int(math.ceil(width * cos + height * sin))
    new_height = int(math.ceil(width * sin + height * cos))
    matrix[0, 2] += (new_width - width) / 2.0
    matrix[1, 2] += (new_height - height) / 2.0
    return matrix, new_width, new_height


def deskew(gray: np.ndarray, skew_deg: float, min_skew_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``gray`` to undo ``skew_deg``; return (deskewed, 2x3 matrix input → output).

    Skews smaller than ``min_skew_deg`` are left alone (identity), sparing clean pages a
    resampling blur.
    """
    height, width = gray.shape
    if abs(skew_deg) < min_skew_deg:
        return gray, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    matrix, new_width, new_height = rotation_matrix(width, height, skew_deg)
    rotated = cv2.warpAffine(
        gray,
        matrix,
        (new_width, new_height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )
    return rotated, matrix


def ink_of_flattened(flattened: np.ndarray, max_ink_level: int = 200) -> np.ndarray:
    """Ink mask (uint8, 1 = ink) of a page whose paper is already flattened to white.

    The threshold is Otsu's, but never above ``max_ink_level`` (gray level; paper = 255): on
    a blank, noisy page Otsu would split the noise itself in two.
    """
    # 1 where <= the level; Otsu's level is used as found (one pass) unless capped.
    otsu_level, ink = cv2.threshold(flattened, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if otsu_level <= max_ink_level:
        return ink
    _, ink = cv2.threshold(flattened, float(max_ink_level), 1, cv2.THRESH_BINARY_INV)
    return ink


def enlarge(gray: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` enlarged ``factor`` times in both directions (cubic interpolation), and the
    2x3 matrix mapping its pixel coordinates (continuous, x right, y down) to the enlarged
    image's. A factor of 1 returns the image itself."""
    if factor == 1:
        return gray, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    height, width = gray.shape[:2]
    enlarged = cv2.resize(gray, (width * factor, height * factor), interpolation=cv2.INTER_CUBIC)
    return enlarged, np.array([[float(factor), 0.0, 0.0], [0.0, float(factor), 0.0]])


def map_box_back(box: tuple[float, float, float, float], matrix: np.ndarray) -> list[float]:
    """Map an axis-aligned box on the deskewed page back to the input image.

    Returns the axis-aligned box of the four mapped corners, as the segment contract asks.
    """
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64)
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    mapped = corners @ inverse.T
    return [
        float(mapped[:, 0].min()),
        float(mapped[:, 1].min()),
        float(mapped[:, 0].max()),
        float(mapped[:, 1].max()),
    ]


def clean_page(
    gray: np.ndarray,
    *,
    max_skew_deg: float,
    min_skew_deg: float,
    paper_window_fraction: float,
    skew_column_bin: int,
    measure_skew: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Flatten, measure skew, deskew and binarize one raw gray page.

    Returns (page, ink, skew_deg, matrix): the deskewed page with its paper flattened to
    white (what later stages cut samples from), its ink mask (1 = ink), the skew in degrees
    and the 2x3 matrix mapping input pixels to the deskewed page. The paper is flattened
    once, before rotation (the rotation fills the new corners with white paper).
    ``paper_window_fraction`` is the window of the paper estimate, share of the long side;
    ``skew_column_bin`` the columns averaged into one while the skew is measured (pixels).
    ``measure_skew=False`` takes the page as upright (a page drawn by vector operations
    alone has no scanner skew): skew 0, no rotation.
    """
    window = max(15, round(paper_window_fraction * max(gray.shape)))
    flattened = flatten_illumination(gray, window)
    skew = (
        skew_of_flattened(flattened, max_skew_deg, column_bin=skew_column_bin)
        if measure_skew
        else 0.0
    )
    page, matrix = deskew(flattened, skew, min_skew_deg)
    return page, ink_of_flattened(page), skew, matrix


# A page whose median gray level is below this is mostly ink: white on black (an inverted
# scan, a negative) or a black page. Paper covers most of any page of music.
INVERTED_MAX_MEDIAN = 128


def turn_back_inverted(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return (``gray`` with dark paper turned white, whether it was turned).

    Judged from the page itself: when more than half of its pixels are darker than
    ``INVERTED_MAX_MEDIAN``, the paper is dark, so the page is inverted (a black page
    becomes a blank one, and is reported as such).
    """
    # The median of every 4th pixel of every 4th row: the page's paper level, cheaply.
    if float(np.median(gray[::4, ::4])) < INVERTED_MAX_MEDIAN:
        return 255 - gray, True
    return gray, False
