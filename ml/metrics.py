"""Detection and localisation metrics: image AUROC/AP, pixel AUROC, AUPRO (FPR <= 0.3), F1 at a threshold.

Implemented with numpy only (checked against scikit-learn in tests) so the product does not import
scikit-learn at run time. Every metric the inputs cannot give is None, never a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_CURVE_POINTS = 200
HISTOGRAM_BINS = 20


def _binary_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative false and true positives at each distinct threshold, highest threshold first."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]
    tps = np.cumsum(labels)[distinct]
    fps = 1 + distinct - tps
    return fps.astype(np.float64), tps.astype(np.float64), scores[distinct]


def roc_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(fpr, tpr, thresholds) starting at (0, 0); None unless both classes are present."""
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(bool)
    if y.all() or not y.any():
        return None
    fps, tps, thresholds = _binary_curve(s, y)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    curve = roc_curve(scores, labels)
    if curve is None:
        return None
    fpr, tpr, _ = curve
    return float(np.trapezoid(tpr, fpr))


def pr_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(precision, recall, thresholds), thresholds decreasing; None without defects."""
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(bool)
    if not y.any():
        return None
    fps, tps, thresholds = _binary_curve(s, y)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return precision, recall, thresholds


def average_precision(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Step-wise AP (sum of precision times recall increments), as scikit-learn computes it."""
    y = np.asarray(labels).ravel().astype(bool)
    if y.all() or not y.any():
        return None
    precision, recall, _ = pr_curve(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def normalise(value: float) -> float:
    """A score or threshold at the product's one precision: the nearest float32, held as a Python float.

    Models compute scores in float32; a Python float (float64) holds every float32 exactly, and so do
    SQL doubles and JavaScript numbers, so values normalised here compare the same everywhere.
    Idempotent: ``normalise(normalise(x)) == normalise(x)``.
    """
    return float(np.float32(value))


def is_defective(score: float, threshold: float) -> bool:
    """The one decision rule: a score at or above the threshold is defective (``score >= threshold``).

    Both sides are compared as Python floats (float64). Comparing a numpy float32 with a Python float
    directly would round the threshold to float32 first (NEP 50) and could flip a score next to it.
    """
    return float(score) >= float(threshold)


def _float32_after(value: float, direction: float) -> float:
    """The first float32 strictly beyond ``value`` towards ``direction`` (+inf or -inf), as a Python float."""
    candidate = np.float32(value)
    target = np.float32(direction)
    while (float(candidate) <= value) if direction > 0 else (float(candidate) >= value):
        candidate = np.nextafter(candidate, target)
    return float(candidate)


def threshold_between(lower: float | None, upper: float | None) -> float:
    """A threshold strictly between the highest good-side score ``lower`` and the lowest defective-side
    score ``upper`` (None: no score on that side), never equal to either.

    - Both given: the midpoint, rounded to the nearest float32 when that stays strictly between, so that
      storing the threshold as float32 or float64 changes nothing. When ``lower`` and ``upper`` are
      adjacent float32 values no float32 lies between them: then the float64 three quarters of the way
      up is returned; rounded to float32 it becomes ``upper``, which ``score >= threshold`` still calls
      defective, so every observed score gets the same verdict at either precision.
    - Only ``lower``: the first float32 above it. Only ``upper``: the first float32 below it.
    """
    if lower is None and upper is None:
        raise ValueError("threshold_between needs at least one score")
    if upper is None:
        return _float32_after(float(lower), np.inf)
    if lower is None:
        return _float32_after(float(upper), -np.inf)
    lower, upper = float(lower), float(upper)
    if not lower < upper:
        raise ValueError(f"lower ({lower}) must be below upper ({upper})")
    for candidate in (normalise(lower + (upper - lower) / 2), _float32_after(lower, np.inf)):
        if lower < candidate < upper:
            return candidate
    candidate = lower + (upper - lower) * 0.75
    return candidate if lower < candidate < upper else upper  # `upper` only below float64 resolution


def select_threshold(scores: Sequence[float], labels: Sequence[int], good_quantile: float = 0.99) -> float:
    """A decision threshold that lies strictly between two observed scores, never on one.

    With both classes: the F1-optimal split of the sorted scores; the threshold is between the lowest
    score called defective and the next lower score (see :func:`threshold_between`). Otherwise: the
    ``good_quantile`` quantile of the good scores (of all scores when there are no good ones) decides the
    split: scores at or below the quantile are the good side, the threshold lies between the highest of
    them and the next higher score (just above the highest score when none is higher).
    """
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(bool)
    if s.size == 0:
        raise ValueError("select_threshold needs at least one score")
    if y.any() and not y.all():
        precision, recall, thresholds = pr_curve(s, y)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1))
        below = float(thresholds[best + 1]) if best + 1 < thresholds.size else None
        return threshold_between(below, float(thresholds[best]))
    pool = np.sort(s[~y] if (~y).any() else s)
    # The quantile's position among the sorted scores (numpy's "linear" rule); a hair of tolerance keeps
    # an index that is an integer in exact arithmetic from dropping to the one below.
    index = min(pool.size - 1, int(np.floor((pool.size - 1) * good_quantile + 1e-9)))
    lower = float(pool[index])
    higher = pool[pool > lower]
    return threshold_between(lower, float(higher[0]) if higher.size else None)


def cross_validated_threshold_metrics(
    scores: Sequence[float], labels: Sequence[int], folds: int = 5
) -> dict[str, Any] | None:
    """F1, precision and recall as a threshold chosen by :func:`select_threshold` gets them on images it was
    not chosen on: the images are dealt into ``folds`` stratified folds (by score order within each class, so
    every fold spans the range), each fold is judged at the threshold selected on the others, and the verdicts
    of all folds are counted together. The same figures at a threshold selected on all images are optimistic:
    it was tuned on the very images it is judged on.

    Returns ``{f1, precision, recall, folds}``; None without at least two good and two defective images.
    """
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(int)
    k = min(folds, int((y == 0).sum()), int((y == 1).sum()))
    if k < 2:
        return None
    fold = np.empty(s.size, dtype=int)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        fold[members[np.argsort(s[members], kind="stable")]] = np.arange(members.size) % k
    predicted = np.zeros(s.size, dtype=bool)
    for f in range(k):
        held = fold == f
        threshold = select_threshold(s[~held], y[~held])
        predicted[held] = s[held] >= threshold
    tp = int(np.sum(predicted & (y == 1)))
    fp = int(np.sum(predicted & (y == 0)))
    fn = int(np.sum(~predicted & (y == 1)))
    recall = tp / (tp + fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "folds": k}


def per_defect_type(
    scores: Sequence[float], labels: Sequence[int], defect_types: Sequence[str | None], threshold: float | None
) -> dict[str, dict[str, Any]]:
    """``{type: {count, recall, image_auroc}}`` over the defective images of each defect type.

    ``recall``: the share of that type's images with ``score >= threshold`` (None without a threshold).
    ``image_auroc``: that type's images against every good image (None without good images).
    Good images and defective images without a type (None or "") belong to no type: they are under no key
    (``untyped_defects`` measures the latter).
    """
    s, y = _scores_and_labels(scores, labels, defect_types)
    kinds = sorted({t for t, label in zip(defect_types, y, strict=True) if label == 1 and t})
    pairs = list(zip(defect_types, y, strict=True))
    return {kind: _defect_group(s, y, [label == 1 and t == kind for t, label in pairs], threshold) for kind in kinds}


def untyped_defects(
    scores: Sequence[float], labels: Sequence[int], defect_types: Sequence[str | None], threshold: float | None
) -> dict[str, Any] | None:
    """``{count, recall, image_auroc}`` over the defective images that have no defect type, as ``per_defect_type``
    measures one type; None when every defective image has a type (or there is none)."""
    s, y = _scores_and_labels(scores, labels, defect_types)
    chosen = [label == 1 and not t for t, label in zip(defect_types, y, strict=True)]
    return _defect_group(s, y, chosen, threshold) if any(chosen) else None


def _scores_and_labels(scores, labels, defect_types) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(int)
    if not (s.size == y.size == len(defect_types)):
        raise ValueError(f"{s.size} scores, {y.size} labels and {len(defect_types)} defect types")
    return s, y


def _defect_group(s: np.ndarray, y: np.ndarray, chosen: list[bool], threshold: float | None) -> dict[str, Any]:
    good, mine = s[y == 0], s[chosen]
    recall = None if threshold is None else sum(is_defective(v, threshold) for v in mine) / mine.size
    auroc_value = auroc(np.r_[good, mine], np.r_[np.zeros(good.size), np.ones(mine.size)]) if good.size else None
    return {"count": int(mine.size), "recall": recall, "image_auroc": auroc_value}


def aupro(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], max_fpr: float = 0.3) -> float | None:
    """Area under the per-region-overlap curve up to ``max_fpr``, normalised to [0, 1] (MVTec AD protocol).

    Each connected defect region (8-connectivity) weighs equally; FPR is measured on normal pixels.
    Computed exactly by sorting all pixels once instead of sweeping a threshold grid.
    """
    from scipy import ndimage

    flat_scores, weights, normal = [], [], []
    regions_total = 0
    for amap, mask in zip(maps, masks, strict=True):
        mask = np.asarray(mask) > 0
        labelled, count = ndimage.label(mask, structure=np.ones((3, 3)))
        weight = np.zeros(mask.shape, dtype=np.float64)
        if count:
            sizes = np.bincount(labelled.ravel())
            weight[mask] = 1.0 / sizes[labelled[mask]]
        regions_total += count
        flat_scores.append(np.asarray(amap, dtype=np.float64).ravel())
        weights.append(weight.ravel())
        normal.append(~mask.ravel())
    if not regions_total:
        return None
    s, w, n = np.concatenate(flat_scores), np.concatenate(weights), np.concatenate(normal)
    if not n.any():
        return None
    order = np.argsort(-s, kind="mergesort")
    s, w, n = s[order], w[order], n[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    fpr = np.r_[0.0, np.cumsum(n)[distinct] / n.sum()]
    pro = np.r_[0.0, np.cumsum(w)[distinct] / regions_total]
    # Cut the curve at max_fpr, interpolating the PRO value at the cut.
    cut = np.searchsorted(fpr, max_fpr, side="right")
    if cut < fpr.size:
        pro_cut = np.interp(max_fpr, fpr[cut - 1 : cut + 1], pro[cut - 1 : cut + 1])
        fpr = np.r_[fpr[:cut], max_fpr]
        pro = np.r_[pro[:cut], pro_cut]
    return float(np.trapezoid(pro, fpr) / max_fpr)


def _downsample(values: np.ndarray, points: int = MAX_CURVE_POINTS) -> list[float]:
    if values.size <= points:
        return [float(v) for v in values]
    idx = np.unique(np.linspace(0, values.size - 1, points).round().astype(int))
    return [float(v) for v in values[idx]]


def compute_metrics(
    scores: Sequence[float],
    labels: Sequence[int],
    maps: Sequence[np.ndarray] | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """All product metrics for one evaluation set.

    Args:
        scores: image scores in [0, 1]; labels: 0 good / 1 defective.
        maps / masks: optional per-image anomaly maps and binary masks of the same shape; a mask of None
            (defective image without a mask) leaves that image out of the pixel metrics.
        threshold: decision threshold; None selects one with :func:`select_threshold`.

    Returns:
        dict with image_auroc, image_ap, pixel_auroc, aupro, f1, precision, recall, threshold, curves, and
        score_range ``[lowest, highest]`` image score (equal when the model gives every image the same score).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(int)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores for {y.size} labels")
    result: dict[str, Any] = dict.fromkeys(
        ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall", "threshold")
    )
    curves: dict[str, Any] = {"roc": None, "pr": None, "histogram": None}
    result["score_range"] = [float(s.min()), float(s.max())] if s.size else None
    if s.size:
        result["image_auroc"] = auroc(s, y)
        result["image_ap"] = average_precision(s, y)
        threshold = select_threshold(s, y) if threshold is None else float(threshold)
        result["threshold"] = threshold
        predicted = s >= threshold  # is_defective, vectorised (float64 on both sides)
        tp = int(np.sum(predicted & (y == 1)))
        fp = int(np.sum(predicted & (y == 0)))
        fn = int(np.sum(~predicted & (y == 1)))
        if y.any():
            result["recall"] = tp / (tp + fn)
            result["precision"] = tp / (tp + fp) if tp + fp else 0.0
            p, r = result["precision"], result["recall"]
            result["f1"] = 2 * p * r / (p + r) if p + r else 0.0
        roc = roc_curve(s, y)
        if roc is not None:
            curves["roc"] = {"fpr": _downsample(roc[0]), "tpr": _downsample(roc[1])}
        pr = pr_curve(s, y)
        if pr is not None:
            curves["pr"] = {"precision": _downsample(pr[0]), "recall": _downsample(pr[1])}
        lo, hi = min(0.0, float(s.min())), max(1.0, float(s.max()))
        bins = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
        curves["histogram"] = {
            "bins": [float(b) for b in bins],
            "good": np.histogram(s[y == 0], bins)[0].tolist(),
            "defective": np.histogram(s[y == 1], bins)[0].tolist(),
        }
    if maps is not None and masks is not None:
        pairs = [(np.asarray(m), np.asarray(k) > 0) for m, k in zip(maps, masks, strict=True) if k is not None]
        if pairs:
            pixel_scores = np.concatenate([m.ravel() for m, _ in pairs])
            pixel_labels = np.concatenate([k.ravel() for _, k in pairs])
            result["pixel_auroc"] = auroc(pixel_scores, pixel_labels)
            result["aupro"] = aupro([m for m, _ in pairs], [k for _, k in pairs])
    result["curves"] = curves
    return result


INVERTED_AUROC = 0.5


def no_better_than_chance(auroc_value: float | None) -> bool:
    """Test image AUROC at or below 0.5: the model's order of images is no better than a coin's."""
    return auroc_value is not None and auroc_value <= INVERTED_AUROC + 1e-9


def quality_warnings(metrics: dict[str, Any] | None, backbone: str | None = None) -> list[dict[str, str]]:
    """Warnings about a trained model, from its test metrics (and backbone): ``[{code, detail}]``.

    - ``inverted``: test image AUROC below 0.5, the model ranks defective images *below* good ones; its verdicts
      are worse than a coin. Retrain (more good images, masks on a few defects, supervised mode) before use.
    - ``chance``: test image AUROC exactly 0.5, the model tells defective from good no better than a coin; most
      often it gives every image the same score (``score_range`` says so), as when its images reach it blank.
    - ``read_16_bit_blank``: the web app's mark on versions trained before 16-bit images were read by
      ml.pixels (they saw them white); train again.
    - ``non_commercial_backbone``: the backbone's weights carry a non-commercial licence (ml.registry).
    """
    warnings = []
    metrics = metrics or {}
    auroc_value = metrics.get("image_auroc")
    if auroc_value is not None and auroc_value < INVERTED_AUROC - 1e-9:
        warnings.append(
            {
                "code": "inverted",
                "detail": f"Test image AUROC is {auroc_value:.2f} (< 0.5): this model scores defective test images "
                "lower than good ones, worse than chance. The studio does not activate such a version by itself; "
                "add labelled defects (masks) or good images and retrain.",
            }
        )
    elif no_better_than_chance(auroc_value):
        lo, hi = metrics.get("score_range") or (None, None)
        same = lo is not None and hi - lo < 1e-9
        warnings.append(
            {
                "code": "chance",
                "detail": "Test image AUROC is 0.50: this model tells defective test images from good ones no better "
                "than chance"
                + (f"; it gives every test image the same score ({lo:.4f})" if same else "")
                + ". The studio does not activate such a version by itself; check that the images show the parts "
                "(open a few in the labeller), add labelled defects or good images and retrain.",
            }
        )
    if metrics.get("read_16_bit_blank"):
        warnings.append(
            {
                "code": "read_16_bit_blank",
                "detail": "Trained before 16-bit images were read correctly: this version saw its 16-bit training "
                "images as blank pictures, so its scores of them mean little. Train a new version.",
            }
        )
    if backbone is not None:
        from ml.registry import NON_COMMERCIAL, licence_of

        if backbone in NON_COMMERCIAL:
            warnings.append(
                {"code": "non_commercial_backbone", "detail": f"Backbone {backbone}: {licence_of(backbone)}."}
            )
    return warnings
