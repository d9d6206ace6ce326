"""Box matching and segmentation scores on hand-made boxes."""

import math

import numpy as np
import pytest

from visionscores_tools import evaluation


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    assert evaluation.box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert evaluation.box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    # Overlap 5 x 10 = 50, union 150.
    assert evaluation.box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)


def test_iou_of_touching_and_empty_boxes_is_zero():
    assert evaluation.box_iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0
    assert evaluation.box_iou([5, 5, 5, 5], [5, 5, 5, 5]) == 0.0


def test_iou_matrix_shape_and_empty_inputs():
    a = [[0, 0, 10, 10], [0, 20, 10, 30]]
    b = [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]
    ious = evaluation.iou_matrix(a, b)
    assert ious.shape == (2, 3)
    np.testing.assert_allclose(ious, [[1, 0, 0], [0, 1, 0]])
    assert evaluation.iou_matrix([], b).shape == (0, 3)
    assert evaluation.match_boxes([], b) == []


def test_matching_is_one_to_one_and_prefers_the_best_pair():
    true = [[0, 0, 100, 20], [0, 40, 100, 60]]
    # Both predictions overlap the first true box; the better one takes it.
    predicted = [[0, 2, 100, 22], [0, 0, 100, 20]]
    matches = evaluation.match_boxes(predicted, true, 0.5)
    assert matches == [(1, 0, 1.0)]


def test_matching_respects_the_threshold():
    true = [[0, 0, 100, 20]]
    predicted = [[0, 0, 100, 14]]  # IoU 0.7
    assert len(evaluation.match_boxes(predicted, true, 0.5)) == 1
    assert evaluation.match_boxes(predicted, true, 0.75) == []


def test_precision_recall_f1_and_their_conventions():
    assert evaluation.precision_recall_f1(3, 4, 6) == pytest.approx((0.75, 0.5, 0.6))
    assert evaluation.precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)
    assert evaluation.precision_recall_f1(0, 2, 0) == (0.0, 1.0, 0.0)
    assert evaluation.precision_recall_f1(0, 0, 3) == (1.0, 0.0, 0.0)


def test_summary_sums_counts_over_pages_and_checks_staff_counts():
    true = [[0, 0, 100, 20], [0, 40, 100, 60]]
    page_1 = evaluation.score_page([[0, 0, 100, 20], [0, 40, 100, 58]], true, 0.5, [2, 3], [2, 2])
    page_2 = evaluation.score_page([[0, 0, 100, 20]], true, 0.5, [2], [2, 2])
    negative = evaluation.score_page([[0, 0, 50, 50]], [], 0.5, [2], [])
    summary = evaluation.summarize([page_1, page_2, negative])
    assert (summary.n_true, summary.n_predicted, summary.n_matched) == (4, 4, 3)
    assert summary.precision == pytest.approx(0.75)
    assert summary.recall == pytest.approx(0.75)
    assert summary.mean_iou == pytest.approx((1 + 0.9 + 1) / 3)
    assert summary.n_staves_accuracy == pytest.approx(2 / 3)


def test_summary_without_staff_counts_or_matches_is_nan():
    summary = evaluation.summarize([evaluation.score_page([], [[0, 0, 1, 1]], 0.5)])
    assert math.isnan(summary.mean_iou)
    assert math.isnan(summary.n_staves_accuracy)
    assert summary.recall == 0.0


def test_false_systems_on_negative_pages_adds_up():
    assert evaluation.false_systems_on_negative_pages([0, 2, 1]) == 3
    assert evaluation.false_systems_on_negative_pages([]) == 0


def test_diagnose_names_split_merged_missed_false_and_loose():
    true = [[0, 0, 100, 40], [0, 100, 100, 140], [0, 200, 100, 240], [0, 300, 100, 340]]
    predicted = [
        [0, 0, 100, 18],  # first system split in two halves
        [0, 22, 100, 40],
        [0, 100, 100, 240],  # second and third merged into one box
        [0, 500, 100, 540],  # a system where there is none
    ]
    counts = evaluation.diagnose_page(predicted, true, 0.5)
    # Both merged systems count; the fourth true system is simply missed.
    assert counts == {"missed": 1, "partial": 0, "split": 1, "merged": 2, "false": 1, "loose": 0}


def test_diagnose_names_a_box_found_with_too_little_overlap_partial():
    counts = evaluation.diagnose_page([[0, 0, 40, 40]], [[0, 0, 100, 40]], 0.5)
    assert counts["partial"] == 1 and counts["missed"] == 0 and counts["false"] == 0


def test_diagnose_counts_loose_matches():
    counts = evaluation.diagnose_page([[0, 0, 100, 28]], [[0, 0, 100, 40]], 0.5)
    assert counts["loose"] == 1 and counts["missed"] == 0
