"""Metrics agree with scikit-learn on known inputs; AUPRO and thresholds on hand-made maps."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from ml.metrics import aupro, auroc, average_precision, compute_metrics, select_threshold


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(60, int), np.ones(40, int)]
    scores = np.r_[rng.normal(0.3, 0.15, 60), rng.normal(0.6, 0.2, 40)].round(2)  # rounding makes ties
    return scores, labels


def test_auroc_and_ap_match_scikit_learn(scored):
    scores, labels = scored
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_f1_precision_recall_at_the_selected_threshold_match_scikit_learn(scored):
    scores, labels = scored
    metrics = compute_metrics(scores, labels)
    predicted = (scores >= metrics["threshold"]).astype(int)
    assert metrics["f1"] == pytest.approx(f1_score(labels, predicted))
    assert metrics["precision"] == pytest.approx(precision_score(labels, predicted))
    assert metrics["recall"] == pytest.approx(recall_score(labels, predicted))
    # the selected threshold is F1-optimal among all candidate thresholds
    best = max(f1_score(labels, (scores >= t).astype(int)) for t in np.unique(scores))
    assert metrics["f1"] == pytest.approx(best)


def test_given_threshold_is_used(scored):
    scores, labels = scored
    metrics = compute_metrics(scores, labels, threshold=0.5)
    assert metrics["threshold"] == 0.5
    assert metrics["recall"] == pytest.approx(recall_score(labels, (scores >= 0.5).astype(int)))


def test_one_class_gives_none_and_a_quantile_threshold():
    scores = np.linspace(0, 1, 101)
    metrics = compute_metrics(scores, np.zeros(101, int))
    assert metrics["image_auroc"] is None and metrics["image_ap"] is None and metrics["f1"] is None
    assert metrics["threshold"] == pytest.approx(0.99)
    assert select_threshold(scores, np.zeros(101, int)) == pytest.approx(0.99)
    assert metrics["pixel_auroc"] is None and metrics["aupro"] is None


def test_pixel_auroc_matches_scikit_learn_and_weak_masks_are_skipped():
    rng = np.random.default_rng(1)
    masks = [np.zeros((8, 8), np.uint8) for _ in range(3)]
    masks[1][2:5, 2:5] = 1
    maps = [rng.random((8, 8)) + m for m in masks]
    weak_map = np.ones((8, 8))  # a defective image without a mask must not count as all-normal pixels
    metrics = compute_metrics([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], maps + [weak_map], masks + [None])
    expected = roc_auc_score(np.concatenate([m.ravel() for m in masks]), np.concatenate([m.ravel() for m in maps]))
    assert metrics["pixel_auroc"] == pytest.approx(expected)


def test_aupro_of_perfect_and_of_useless_maps():
    mask = np.zeros((20, 20), np.uint8)
    mask[2:6, 2:6] = 1
    mask[12:18, 10:19] = 1
    assert aupro([mask.astype(float)], [mask]) == pytest.approx(1.0)
    # a map that ranks every defect pixel last reaches PRO > 0 only beyond FPR 0.3
    assert aupro([1.0 - mask], [mask]) == pytest.approx(0.0)
    assert aupro([np.zeros((4, 4))], [np.zeros((4, 4))]) is None


def test_aupro_weighs_regions_equally_unlike_pixel_auroc():
    mask = np.zeros((40, 40), np.uint8)
    mask[0:2, 0:2] = 1  # small region, 4 px
    mask[20:40, 20:40] = 1  # large region, 400 px
    found_large_only = np.where(mask, 0.0, 0.5)
    found_large_only[20:40, 20:40] = 1.0
    # the large region is found at FPR 0, the small one never before FPR 1: PRO is 0.5 over [0, 0.3]
    assert aupro([found_large_only], [mask]) == pytest.approx(0.5, abs=1e-6)


def test_curves_are_downsampled_and_histogram_counts_every_image():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(500, int), np.ones(500, int)]
    scores = rng.random(1000)
    curves = compute_metrics(scores, labels)["curves"]
    assert len(curves["roc"]["fpr"]) <= 200 and len(curves["roc"]["fpr"]) == len(curves["roc"]["tpr"])
    assert len(curves["pr"]["precision"]) <= 200
    assert sum(curves["histogram"]["good"]) == 500 and sum(curves["histogram"]["defective"]) == 500
    assert len(curves["histogram"]["bins"]) == len(curves["histogram"]["good"]) + 1


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="scores for"):
        compute_metrics([0.1, 0.2], [0])
