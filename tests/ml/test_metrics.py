"""Metrics agree with scikit-learn on known inputs; AUPRO and thresholds on hand-made maps."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from ml.metrics import (
    aupro,
    auroc,
    average_precision,
    compute_metrics,
    cross_validated_threshold_metrics,
    is_defective,
    normalise,
    per_defect_type,
    select_threshold,
    threshold_between,
    untyped_defects,
)


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
    # The 0.99 quantile is the observed 0.99: the threshold lies between it and the next score, 1.0.
    assert 0.99 < metrics["threshold"] < 1.0
    assert metrics["threshold"] == select_threshold(scores, np.zeros(101, int))
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


# --- the threshold rule: between two observed scores, the same verdict at float32 and float64 -------------


def _float32_scores(rng, n, ties=True):
    scores = rng.random(n).astype(np.float32)
    if ties:
        scores = np.round(scores * 20).astype(np.float32) / np.float32(20)  # many exact ties
    return scores


@pytest.mark.parametrize("seed", range(25))
def test_the_selected_threshold_is_never_an_observed_score_and_splits_like_the_best_observed_one(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    scores = _float32_scores(rng, n, ties=seed % 2 == 0)
    labels = (rng.random(n) < 0.4).astype(int)
    labels[0], labels[1] = 0, 1  # both classes
    threshold = select_threshold(scores, labels)

    assert threshold not in {float(v) for v in scores}
    # A float32 round trip of the threshold changes no verdict, and neither does comparing in float32.
    as64 = [is_defective(v, threshold) for v in scores]
    assert as64 == [is_defective(v, normalise(threshold)) for v in scores]
    assert as64 == list(scores >= np.float32(threshold))
    # The split is F1-optimal among all splits the observed scores allow (ties stay on one side).
    f1 = f1_score(labels, np.array(as64, dtype=int))
    best = max(f1_score(labels, (scores >= t).astype(int)) for t in np.unique(scores))
    assert f1 == pytest.approx(best)


@pytest.mark.parametrize("seed", range(10))
def test_the_good_quantile_threshold_lies_between_two_observed_scores(seed):
    rng = np.random.default_rng(100 + seed)
    scores = _float32_scores(rng, int(rng.integers(1, 250)), ties=seed % 2 == 0)
    threshold = select_threshold(scores, np.zeros(scores.size, int))
    observed = {float(v) for v in scores}
    assert threshold not in observed
    # The good side is everything at or below the 0.99 quantile.
    quantile = float(np.quantile(scores.astype(np.float64), 0.99))
    assert all(is_defective(v, threshold) == (float(v) > quantile) for v in scores)
    assert [is_defective(v, threshold) for v in scores] == list(scores >= np.float32(threshold))


def test_ties_all_on_one_score_put_the_threshold_just_above_it():
    threshold = select_threshold(np.full(4, 0.2, np.float32), [0, 0, 0, 0])
    assert threshold > float(np.float32(0.2))
    assert threshold == float(np.nextafter(np.float32(0.2), np.float32(1)))
    # A defective and a good image with the same score cannot be split: both fall on one side.
    tied = select_threshold(np.float32([0.4, 0.4, 0.1]), [0, 1, 0])
    assert 0.1 < tied < float(np.float32(0.4))


def test_adjacent_float32_scores_get_a_threshold_between_them_and_the_same_verdicts_in_float32():
    good = np.float32(0.5592876)
    bad = np.nextafter(good, np.float32(1))  # no float32 lies between the two
    threshold = select_threshold(np.array([good, bad, np.float32(0.1)]), [0, 1, 0])
    assert float(good) < threshold < float(bad)
    assert not is_defective(good, threshold) and is_defective(bad, threshold)
    # Stored as float32 anyway, the verdicts survive: the threshold rounds onto the defective score.
    assert normalise(threshold) == float(bad)
    assert not is_defective(good, normalise(threshold)) and is_defective(bad, normalise(threshold))


def test_threshold_between_prefers_a_float32_midpoint_and_refuses_nonsense():
    threshold = threshold_between(0.25, 0.75)
    assert threshold == 0.5 and normalise(threshold) == threshold
    assert 0.3 < threshold_between(0.3, 0.30000001) < 0.30000001  # float64 inputs closer than a float32 step
    assert threshold_between(None, 0.0) < 0.0
    with pytest.raises(ValueError):
        threshold_between(0.5, 0.5)
    with pytest.raises(ValueError):
        threshold_between(None, None)


def test_is_defective_at_exactly_the_threshold_and_in_float64_even_for_float32_scores():
    score = np.float32(0.5592876)
    assert is_defective(score, float(score)) is True  # at the threshold: defective
    assert is_defective(float(score), float(score)) is True
    above = float(score) + 1e-12  # a float64 threshold just above a float32 score
    assert is_defective(score, above) is False
    assert bool(score >= above) is True  # what numpy's float32 comparison would wrongly say (NEP 50)


def test_normalise_is_float32_held_as_a_python_float_and_idempotent():
    value = normalise(0.3)
    assert isinstance(value, float) and value == float(np.float32(0.3)) and normalise(value) == value
    assert normalise(np.float64(value)) == value and normalise(np.float32(value)) == value


def test_metrics_at_a_threshold_equal_to_a_score_count_that_image_as_defective():
    scores = np.float32([0.1, 0.4, 0.6, 0.8])
    metrics = compute_metrics(scores, [0, 1, 1, 1], threshold=float(scores[1]))
    assert metrics["recall"] == 1.0 and metrics["precision"] == 1.0


def test_per_defect_type_counts_recall_and_auroc_per_type_with_nulls_where_unmeasurable():
    scores = [0.1, 0.3, 0.9, 0.5, 0.2, 0.7, 0.95]
    labels = [0, 0, 1, 1, 1, 1, 1]
    types = [None, None, "scratch", "scratch", "pit", None, ""]
    result = per_defect_type(scores, labels, types, threshold=0.5)
    assert set(result) == {"pit", "scratch"}  # untyped defects belong to no type
    # scratch: 0.9 and 0.5 (exactly at the threshold: defective) -> recall 1; both above every good score
    assert result["scratch"] == {"count": 2, "recall": 1.0, "image_auroc": 1.0}
    # pit: 0.2 is below the threshold and between the good scores 0.1 and 0.3
    assert result["pit"] == {"count": 1, "recall": 0.0, "image_auroc": pytest.approx(0.5)}
    assert result["pit"]["image_auroc"] == pytest.approx(roc_auc_score([0, 0, 1], [0.1, 0.3, 0.2]))

    no_good = per_defect_type([0.9, 0.2], [1, 1], ["pit", "pit"], threshold=None)
    assert no_good == {"pit": {"count": 2, "recall": None, "image_auroc": None}}
    assert per_defect_type([0.1], [0], [None], threshold=0.5) == {}
    with pytest.raises(ValueError):
        per_defect_type([0.1, 0.2], [0, 1], ["pit"], threshold=0.5)


def test_untyped_defects_are_measured_as_one_more_type_so_the_table_adds_up():
    scores = [0.1, 0.3, 0.9, 0.5, 0.2, 0.7, 0.95]
    labels = [0, 0, 1, 1, 1, 1, 1]
    types = [None, None, "scratch", "scratch", "pit", None, ""]  # None and "" both mean "no type"
    untyped = untyped_defects(scores, labels, types, threshold=0.8)
    # 0.7 and 0.95: one at or above 0.8; both above every good score
    assert untyped == {"count": 2, "recall": 0.5, "image_auroc": 1.0}
    typed = per_defect_type(scores, labels, types, threshold=0.8)
    assert untyped["count"] + sum(t["count"] for t in typed.values()) == sum(labels)
    assert untyped_defects(scores, labels, ["a", "a", "b", "b", "c", "d", "e"], threshold=0.5) is None
    assert untyped_defects([0.1], [0], [None], threshold=0.5) is None  # a good image has no type either


def test_a_threshold_judged_on_images_it_was_not_chosen_on_scores_no_better_than_one_tuned_on_them():
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(40, int), np.ones(20, int)]
    scores = np.r_[rng.normal(0.4, 0.12, 40), rng.normal(0.6, 0.12, 20)]  # overlapping classes
    tuned = compute_metrics(scores, labels)  # threshold chosen on these very images

    honest = cross_validated_threshold_metrics(scores, labels)

    assert honest["folds"] == 5 and 0 <= honest["f1"] <= 1
    assert honest["f1"] <= tuned["f1"] + 1e-12  # the tuned figure is the best any threshold gets here
    # perfectly separated classes: any threshold the rule picks between them is right on every fold
    clean = cross_validated_threshold_metrics([0.1, 0.2, 0.3, 0.8, 0.9, 0.95], [0, 0, 0, 1, 1, 1])
    assert (clean["f1"], clean["precision"], clean["recall"], clean["folds"]) == (1.0, 1.0, 1.0, 3)


def test_cross_validation_needs_two_of_each_class():
    assert cross_validated_threshold_metrics([0.1, 0.9, 0.8], [0, 1, 1]) is None
    assert cross_validated_threshold_metrics([0.1, 0.2, 0.9], [0, 0, 1]) is None
    assert cross_validated_threshold_metrics([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])["folds"] == 2
