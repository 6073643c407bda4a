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


def select_threshold(scores: Sequence[float], labels: Sequence[int], good_quantile: float = 0.99) -> float:
    """F1-optimal threshold when both classes exist, else the ``good_quantile`` quantile of good scores
    (or of all scores when there are no good ones)."""
    s, y = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel().astype(bool)
    if s.size == 0:
        raise ValueError("select_threshold needs at least one score")
    if y.any() and not y.all():
        precision, recall, thresholds = pr_curve(s, y)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        return float(thresholds[int(np.argmax(f1))])
    pool = s[~y] if (~y).any() else s
    return float(np.quantile(pool, good_quantile))


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
        dict with image_auroc, image_ap, pixel_auroc, aupro, f1, precision, recall, threshold, curves.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(int)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores for {y.size} labels")
    result: dict[str, Any] = dict.fromkeys(
        ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall", "threshold")
    )
    curves: dict[str, Any] = {"roc": None, "pr": None, "histogram": None}
    if s.size:
        result["image_auroc"] = auroc(s, y)
        result["image_ap"] = average_precision(s, y)
        threshold = select_threshold(s, y) if threshold is None else float(threshold)
        result["threshold"] = threshold
        predicted = s >= threshold
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
