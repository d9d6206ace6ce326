"""Two baseline system finders the segmentation benchmark compares against.

1. The threshold method of the VisionScores paper: A. Romero Amezcua and M. J. J. Rivera
   Meraz, "VisionScores - A system-segmented image score dataset for deep learning tasks",
   IEEE International Conference on Image Processing (ICIP), 2025; arXiv:2506.23030; method
   summarised in ``Segmentation/README.md`` of https://github.com/alroamz/VisionScores. The
   paper used it to cut the Franz Liszt scenario. As described there:

   * invert the gray page (``255 - I``) and blur it with a 2-D Gaussian;
   * sum every row into a vertical profile;
   * find the profile's local minima; a minimum is a separator between systems when its value
     is below ``alpha`` times the mean of all minima, ``alpha = 0.8``;
   * group separators that lie close together and keep the lowest of each group.

   The description leaves three things open, filled here as follows (our choices, not the
   paper's): the Gaussian sigma (``sigma_fraction`` of the page height, 0.4 %, about 14 px
   on an A4 page at 300 dpi); the grouping distance (``group_fraction`` of the page height,
   1.5 %); and which segments between separators are systems (those whose profile peak
   reaches ``ink_peak_fraction`` of the page's highest peak, so empty margins and faint
   specks are dropped). Flat stretches of the profile (blank paper gives runs of equal
   values) count as one minimum at their middle. The method returns horizontal strips; to
   compare them with tight staff boxes, each strip is reported as the bounding box of its ink
   (Otsu threshold, rows and columns with a few ink pixels), which is the most favourable
   reading of a strip.

2. ``incipit`` (PyPI, https://github.com/jlumbroso/incipit), made to crop the first system of
   IMSLP scans: Gaussian blur (9 x 9), adaptive threshold (block 11, C 30), dilation with a
   9 x 9 rectangle four times, outer contours; a contour is a system when its bounding box
   spans at least 70 % of the page width and 10 % of the page height (its defaults). Called
   in memory through ``incipit.processing.detect_regions_from_image``.

Neither method counts staves or measures skew.
"""

from __future__ import annotations

import cv2
import numpy as np


def profile_minima(profile: np.ndarray) -> np.ndarray:
    """Indices of the local minima of a 1-D profile; a flat minimum counts once, at its middle.

    A run of equal values is a minimum when both neighbouring runs are higher (a run at either
    end of the profile needs only its one neighbour to be higher).
    """
    profile = np.asarray(profile, dtype=np.float64)
    if profile.size < 3:
        return np.zeros(0, dtype=int)
    change = np.flatnonzero(np.diff(profile) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [profile.size]])
    values = profile[starts]
    minima = []
    for i in range(len(starts)):
        left_higher = i == 0 or values[i - 1] > values[i]
        right_higher = i == len(starts) - 1 or values[i + 1] > values[i]
        at_edge = i == 0 or i == len(starts) - 1
        if left_higher and right_higher and not (at_edge and len(starts) == 1):
            minima.append((starts[i] + ends[i] - 1) // 2)
    return np.asarray(minima, dtype=int)


def _group_separators(separators: np.ndarray, profile: np.ndarray, distance_px: float) -> list[int]:
    """Keep the lowest separator of every group of separators closer than ``distance_px``."""
    kept: list[int] = []
    group: list[int] = []
    for index in separators:
        if group and index - group[-1] > distance_px:
            kept.append(min(group, key=lambda i: profile[i]))
            group = []
        group.append(int(index))
    if group:
        kept.append(min(group, key=lambda i: profile[i]))
    return kept


def _ink_box(ink: np.ndarray, y0: int, y1: int, min_pixels: int) -> list[float] | None:
    """Bounding box of the ink in rows ``y0:y1``: rows and columns with >= ``min_pixels`` ink."""
    strip = ink[y0:y1]
    rows = np.flatnonzero(strip.sum(axis=1) >= min_pixels)
    columns = np.flatnonzero(strip.sum(axis=0) >= min_pixels)
    if rows.size == 0 or columns.size == 0:
        return None
    x0, x1 = float(columns[0]), float(columns[-1] + 1)
    return [x0, float(y0 + rows[0]), x1, float(y0 + rows[-1] + 1)]


def visionscores_threshold_systems(
    gray: np.ndarray,
    *,
    alpha: float = 0.8,
    sigma_fraction: float = 0.004,
    group_fraction: float = 0.015,
    ink_peak_fraction: float = 0.2,
    min_ink_pixels: int = 3,
) -> list[list[float]]:
    """Systems of a gray page (uint8, 255 = paper) by the VisionScores threshold method.

    alpha: a profile minimum below ``alpha`` x the mean of all minima separates systems.
    sigma_fraction: Gaussian sigma as a fraction of the page height.
    group_fraction: separators closer than this fraction of the page height are grouped.
    ink_peak_fraction: a segment is a system when its profile peak reaches this fraction of
        the page's highest peak.
    min_ink_pixels: rows and columns with fewer ink pixels are left out of a system's box.
    Returns boxes ``[x0, y0, x1, y1]`` in pixels of ``gray``, top to bottom.
    """
    height = gray.shape[0]
    inverted = 255.0 - gray.astype(np.float32)
    blurred = cv2.GaussianBlur(inverted, (0, 0), sigmaX=max(1.0, sigma_fraction * height))
    profile = blurred.sum(axis=1, dtype=np.float64)
    minima = profile_minima(profile)
    if minima.size == 0 or profile.max() <= 0:
        return []
    threshold = alpha * profile[minima].mean()
    separators = minima[profile[minima] < threshold]
    cuts = _group_separators(separators, profile, group_fraction * height)
    bounds = [0, *cuts, height]
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    peak = profile.max()
    systems = []
    for y0, y1 in zip(bounds[:-1], bounds[1:], strict=True):
        if y1 <= y0 or profile[y0:y1].max() < ink_peak_fraction * peak:
            continue
        box = _ink_box(ink, y0, y1, min_ink_pixels)
        if box is not None:
            systems.append(box)
    return systems


def incipit_available() -> tuple[bool, str]:
    """Whether ``incipit`` imports here; the reason when it does not."""
    try:
        import incipit.processing  # noqa: F401
    except Exception as error:  # any import failure makes the baseline unavailable
        return False, f"{type(error).__name__}: {error}"
    return True, ""


def incipit_systems(
    gray: np.ndarray, *, width_percent: float = 70.0, height_percent: float = 10.0
) -> list[list[float]]:
    """Systems of a gray page (uint8) as ``incipit`` finds them, with its default filter.

    width_percent, height_percent: smallest region size kept, in percent of the page width and
        height (incipit's defaults). Returns boxes ``[x0, y0, x1, y1]`` in pixels, top to bottom.
    """
    import incipit.processing
    import loguru

    # incipit logs every intermediate image lazily at debug level; with its logger disabled
    # nothing is evaluated or written.
    loguru.logger.disable("incipit")
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    _, regions = incipit.processing.detect_regions_from_image(image=colour)
    height, width = gray.shape
    boxes = [
        [float(r.x0), float(r.y0), float(r.x1), float(r.y1)]
        for r in regions
        if r.w / width * 100.0 >= width_percent and r.h / height * 100.0 >= height_percent
    ]
    return sorted(boxes, key=lambda b: b[1])
