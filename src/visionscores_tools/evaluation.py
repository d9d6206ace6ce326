"""Score system boxes found on a page against ground-truth boxes.

Pure functions over numpy arrays, used by the segmentation benchmark and by tests.

Conventions: a *box* is ``(x0, y0, x1, y1)`` in pixels, top-left origin, ``x1 >= x0`` and
``y1 >= y0``; box arrays have shape ``(n, 4)``. Predicted boxes are matched one-to-one to true
boxes per page: pairs are taken greedily by decreasing intersection over union (IoU), and a pair
only counts when its IoU reaches the threshold. Counts are summed over pages before precision,
recall and F1 are computed (micro averages).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """Any sequence of ``(x0, y0, x1, y1)`` as a float64 array of shape ``(n, 4)``."""
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_area(boxes) -> np.ndarray:
    """Area of each box in square pixels, shape ``(n,)``; inverted boxes have area 0."""
    boxes = as_boxes(boxes)
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    return widths * heights


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every box of ``boxes_a`` with every box of ``boxes_b``.

    Returns shape ``(len(a), len(b))``, values in [0, 1]; a pair of empty boxes gives 0.
    """
    a, b = as_boxes(boxes_a), as_boxes(boxes_b)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(x1 - x0, 0.0, None) * np.clip(y1 - y0, 0.0, None)
    union = box_area(a)[:, None] + box_area(b)[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / union, 0.0)


def box_iou(box_a, box_b) -> float:
    """Intersection over union of two boxes, in [0, 1]."""
    return float(iou_matrix(box_a, box_b)[0, 0])


def match_boxes(predicted, true, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matching of predicted to true boxes, greedy by decreasing IoU.

    Only pairs with IoU >= ``min_iou`` (and > 0) are considered. Returns
    ``(predicted_index, true_index, iou)`` triples sorted by true index.
    """
    ious = iou_matrix(predicted, true)
    if ious.size == 0:
        return []
    candidates = np.argwhere((ious >= min_iou) & (ious > 0))
    order = np.argsort(-ious[candidates[:, 0], candidates[:, 1]], kind="stable")
    used_predicted: set[int] = set()
    used_true: set[int] = set()
    matches = []
    for p, t in candidates[order]:
        if p in used_predicted or t in used_true:
            continue
        used_predicted.add(int(p))
        used_true.add(int(t))
        matches.append((int(p), int(t), float(ious[p, t])))
    return sorted(matches, key=lambda m: m[1])


@dataclass
class PageScore:
    """The outcome of matching one page at one IoU threshold.

    n_true, n_predicted: numbers of true and predicted systems.
    matches: ``(predicted_index, true_index, iou)`` of the matched pairs.
    n_staves_correct, n_staves_checked: matched pairs whose staff count agrees, and matched
        pairs where both counts are known.
    """

    n_true: int
    n_predicted: int
    matches: list[tuple[int, int, float]] = field(default_factory=list)
    n_staves_correct: int = 0
    n_staves_checked: int = 0

    @property
    def n_matched(self) -> int:
        return len(self.matches)

    @property
    def n_missed(self) -> int:
        return self.n_true - self.n_matched

    @property
    def n_false(self) -> int:
        return self.n_predicted - self.n_matched


def score_page(
    predicted,
    true,
    min_iou: float = 0.5,
    predicted_n_staves: Sequence[int] | None = None,
    true_n_staves: Sequence[int] | None = None,
) -> PageScore:
    """Match one page's boxes and count staff-count agreement over the matched pairs.

    predicted_n_staves, true_n_staves: staves per box, or None when a method does not say.
    """
    predicted, true = as_boxes(predicted), as_boxes(true)
    matches = match_boxes(predicted, true, min_iou)
    score = PageScore(n_true=len(true), n_predicted=len(predicted), matches=matches)
    if predicted_n_staves is not None and true_n_staves is not None:
        score.n_staves_checked = len(matches)
        score.n_staves_correct = sum(
            int(predicted_n_staves[p] == true_n_staves[t]) for p, t, _ in matches
        )
    return score


def precision_recall_f1(
    n_matched: int, n_predicted: int, n_true: int
) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts.

    With nothing predicted precision is 1; with nothing to find recall is 1; F1 is their
    harmonic mean (0 when both are 0).
    """
    precision = n_matched / n_predicted if n_predicted else 1.0
    recall = n_matched / n_true if n_true else 1.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class Summary:
    """Scores summed over pages at one IoU threshold.

    mean_iou: mean IoU of the matched pairs (NaN when nothing matched).
    n_staves_accuracy: share of checked matched pairs with the right staff count (NaN when
        none was checked, e.g. for a method that does not count staves).
    """

    n_pages: int
    n_true: int
    n_predicted: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    n_staves_accuracy: float


def summarize(scores: Iterable[PageScore]) -> Summary:
    """Micro-averaged precision, recall and F1, mean matched IoU and staff-count accuracy."""
    scores = list(scores)
    n_true = sum(s.n_true for s in scores)
    n_predicted = sum(s.n_predicted for s in scores)
    n_matched = sum(s.n_matched for s in scores)
    ious = [iou for s in scores for _, _, iou in s.matches]
    checked = sum(s.n_staves_checked for s in scores)
    correct = sum(s.n_staves_correct for s in scores)
    precision, recall, f1 = precision_recall_f1(n_matched, n_predicted, n_true)
    return Summary(
        n_pages=len(scores),
        n_true=n_true,
        n_predicted=n_predicted,
        n_matched=n_matched,
        precision=precision,
        recall=recall,
        f1=f1,
        mean_iou=float(np.mean(ious)) if ious else float("nan"),
        n_staves_accuracy=correct / checked if checked else float("nan"),
    )


def false_systems_on_negative_pages(predicted_counts: Iterable[int]) -> int:
    """Total number of systems predicted on pages that hold no music."""
    return int(sum(predicted_counts))


def diagnose_page(predicted, true, min_iou: float = 0.5, touch_iou: float = 0.05) -> dict[str, int]:
    """Name what went wrong on a page, counting each kind of error.

    A true box left unmatched at ``min_iou`` is *split* when two or more predicted boxes each
    overlap it with IoU >= ``touch_iou``, else *merged* when a predicted box that overlaps it
    also overlaps another true box, else *partial* when one predicted box overlaps it (found,
    but with IoU below ``min_iou``), else *missed*. A predicted box left unmatched is *false*
    when it overlaps no true box with IoU >= ``touch_iou`` (pieces of a split or of a merge are
    counted under those). *loose* counts matched pairs with IoU below 0.75.
    """
    predicted, true = as_boxes(predicted), as_boxes(true)
    ious = iou_matrix(predicted, true)
    matches = match_boxes(predicted, true, min_iou)
    matched_predicted = {p for p, _, _ in matches}
    matched_true = {t for _, t, _ in matches}
    touching = ious >= touch_iou
    counts = {"missed": 0, "partial": 0, "split": 0, "merged": 0, "false": 0, "loose": 0}
    for t in range(len(true)):
        if t in matched_true:
            continue
        overlapping = np.flatnonzero(touching[:, t])
        if len(overlapping) >= 2:
            counts["split"] += 1
        elif len(overlapping) == 1 and touching[overlapping[0]].sum() >= 2:
            counts["merged"] += 1
        elif len(overlapping) == 1:
            counts["partial"] += 1
        else:
            counts["missed"] += 1
    for p in range(len(predicted)):
        if p not in matched_predicted and not touching[p].any():
            counts["false"] += 1
    counts["loose"] = sum(1 for _, _, iou in matches if iou < 0.75)
    return counts
