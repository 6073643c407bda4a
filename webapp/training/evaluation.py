"""A new model version's metrics, threshold and test-split predictions, from the scores the product shows.

`ml.fit` evaluates its in-memory model (eager PyTorch); the product scores with `ml.Predictor` on the
stored checkpoint (onnxruntime on the CPU, fp16 autocast on CUDA). The two disagree by ~1e-6, enough to
put a test image on the other side of a threshold chosen on fit's scores (a threshold of 0.5592885
over a stored score of 0.5592876). So the version's image metrics, threshold, curves and per-defect-type
figures are computed here, with the production predictor (`engine.load_predictor`, as `predictor_for`
loads it) on the checkpoint that is stored, and exactly those scores, with their heatmaps, are stored
as the version's predictions of its test images. The scoring pass skips images that already have a
prediction by the version, so the score the gallery shows for a test image is the score the metrics used.

Pixel AUROC and AUPRO are kept from fit's evaluation: they need the working-resolution maps and masks,
use no threshold, and are never compared with a stored score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from . import engine
from .inference import store_bytes
from .models import ModelVersion, Prediction

METRIC_KEYS = ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall")
PIXEL_KEYS = ("pixel_auroc", "aupro")
# Images scored to set a threshold when the test split has none to give (0.99 quantile of good scores).
THRESHOLD_SAMPLE = 64


@dataclass
class TestPrediction:
    image_id: int | None  # None: the sample set carried no image ids (nothing to store)
    score: float
    heatmap_png: bytes


@dataclass
class Evaluation:
    metrics: dict  # METRIC_KEYS + per_defect_type + untyped_defects + threshold_cross_validated + score_range
    threshold: float
    curves: dict
    predictions: list[TestPrediction] = field(default_factory=list)


def _number(value) -> float | None:
    return None if value is None else float(value)


def _parallel(values: list, n: int) -> list:
    return list(values) if len(values) == n else [None] * n


def score_test_split(predictor, samples, on_scored=None) -> list[TestPrediction]:
    """Scores (at the product's precision) and heatmap PNGs of the test images, chunk by chunk (full-size
    maps are encoded at once, never all held). `on_scored(done, total)` after each chunk."""
    from ml.metrics import normalise

    ids = _parallel(samples.eval_image_ids, len(samples.eval))
    batch = max(1, settings.INFERENCE_BATCH_SIZE)
    out: list[TestPrediction] = []
    for start in range(0, len(samples.eval), batch):
        chunk = samples.eval[start : start + batch]
        results = predictor.predict([s.image_path for s in chunk], batch_size=batch)
        for image_id, result in zip(ids[start : start + batch], results, strict=True):
            out.append(TestPrediction(image_id, normalise(result.score), engine.heatmap_png(result.anomaly_map)))
        if on_scored is not None:
            on_scored(len(out), len(samples.eval))
    return out


def threshold_on_good_train_images(predictor, samples) -> float:
    """No test split to choose on: the 0.99 quantile of the model's scores on good training images."""
    from ml.metrics import normalise

    good = [s for s in samples.train if s.label == 0][:THRESHOLD_SAMPLE]
    scores = [normalise(r.score) for r in predictor.predict([s.image_path for s in good])]
    return engine.select_threshold(scores, [0] * len(scores))


def evaluate(checkpoint: str, fit_metrics: dict | None, samples, on_scored=None) -> Evaluation:
    """Metrics on the test split from the production predictor's scores (see the module docstring);
    `on_scored(done, total)` follows the scoring of the test images."""
    from ml.metrics import cross_validated_threshold_metrics

    predictor = engine.load_predictor(checkpoint, engine.resolve_device())
    if not samples.eval:
        metrics = {
            **dict.fromkeys(METRIC_KEYS),
            "per_defect_type": {},
            "untyped_defects": None,
            "threshold_cross_validated": None,
            "score_range": None,
        }
        return Evaluation(metrics, threshold_on_good_train_images(predictor, samples), {})
    predictions = score_test_split(predictor, samples, on_scored)
    scores = [p.score for p in predictions]
    labels = [s.label for s in samples.eval]
    # Only defects to test on: the threshold comes from good training images (a quantile of defect scores
    # would call nearly every defect good).
    chosen = None if 0 in labels else threshold_on_good_train_images(predictor, samples)
    computed = engine.compute_metrics(scores, labels, threshold=chosen)
    threshold = float(computed["threshold"])
    metrics = {key: _number(computed.get(key)) for key in METRIC_KEYS}
    metrics.update({key: _number((fit_metrics or {}).get(key)) for key in PIXEL_KEYS})
    metrics["score_range"] = computed.get("score_range")  # equal ends: one score for every image (warning "chance")
    types = _parallel(samples.eval_defect_types, len(samples.eval))
    metrics.update(by_defect_type(scores, labels, types, threshold))
    # A threshold chosen on the test split flatters f1/precision/recall there: say what the rule gets on test
    # images it was not chosen on (None when it came from good training images, or the split is too small).
    metrics["threshold_cross_validated"] = (
        None if chosen is not None else cross_validated_threshold_metrics(scores, labels)
    )
    return Evaluation(metrics, threshold, computed.get("curves") or {}, predictions)


def versus_active(project_id: int, samples, new_scores: list[float]) -> tuple[ModelVersion | None, dict | None]:
    """The active version against the new one, both on the same held-out images: this test split less the
    images the active version trained on (its snapshot's train split; an image moved to test since would be
    scored as one it knows). Returns (active, {version, image_auroc, new_image_auroc, images, excluded}), the
    AUROCs on those images (None where they lack good or defective ones); (None, None) with no active version.

    Its stored predictions are the scores it shows (image files are immutable per id), so only test images
    it has not scored yet are scored now, chunk by chunk, at the product's precision."""
    from ml.metrics import auroc, normalise
    from webapp.datasets.models import Split

    from .models import SnapshotEntry

    active = ModelVersion.objects.filter(project_id=project_id, is_active=True).first()
    if active is None:
        return None, None
    ids = _parallel(samples.eval_image_ids, len(samples.eval))
    trained_on = set()
    if active.job_id is not None:
        entries = SnapshotEntry.objects.filter(job_id=active.job_id, split=Split.TRAIN)
        trained_on = set(entries.values_list("image_id", flat=True))
    keep = [n for n, image_id in enumerate(ids) if image_id is None or image_id not in trained_on]
    stored = dict(
        Prediction.objects.filter(
            model_version=active, image_id__in=[ids[n] for n in keep if ids[n] is not None]
        ).values_list("image_id", "score")
    )
    scores = {n: stored[ids[n]] for n in keep if ids[n] in stored}
    missing = [n for n in keep if n not in scores]
    if missing:
        predictor = engine.predictor_for(active)
        batch = max(1, settings.INFERENCE_BATCH_SIZE)
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            results = predictor.predict([samples.eval[n].image_path for n in chunk], batch_size=batch)
            for n, result in zip(chunk, results, strict=True):
                scores[n] = normalise(result.score)
    labels = [samples.eval[n].label for n in keep]
    return active, {
        "version": active.version,
        "image_auroc": auroc([scores[n] for n in keep], labels),
        "new_image_auroc": auroc([new_scores[n] for n in keep], labels),
        "images": len(keep),
        "excluded": len(ids) - len(keep),
    }


THRESHOLD_KEYS = ("f1", "precision", "recall")


def metrics_at_threshold(version: ModelVersion, threshold: float) -> dict | None:
    """The version's threshold-dependent metrics (f1, precision, recall, per-defect-type recall) at `threshold`,
    from the scores it stored for the test images it was evaluated on (its snapshot's test split). The other
    metrics use no threshold and stay. None when there is nothing to recompute from (no test split, or a
    version trained before snapshots)."""
    from webapp.datasets.models import Label, Split

    from .snapshots import entry_rows

    if version.job_id is None:
        return None
    test = [row for row in entry_rows(version.job_id) if row.split == Split.TEST]
    stored = dict(
        Prediction.objects.filter(model_version=version, image_id__in=[row.image_id for row in test]).values_list(
            "image_id", "score"
        )
    )
    rows = [row for row in test if row.image_id in stored]
    if not rows:
        return None
    scores = [stored[row.image_id] for row in rows]
    labels = [int(row.label == Label.DEFECTIVE) for row in rows]
    computed = engine.compute_metrics(scores, labels, threshold=threshold)
    metrics = {key: _number(computed.get(key)) for key in THRESHOLD_KEYS}
    metrics.update(by_defect_type(scores, labels, [row.defect_type for row in rows], threshold))
    return metrics


def by_defect_type(scores, labels, types, threshold) -> dict:
    """`per_defect_type` and `untyped_defects` (the defective images with no type, so the table adds up)."""
    from ml.metrics import per_defect_type, untyped_defects

    return {
        "per_defect_type": per_defect_type(scores, labels, types, threshold),
        "untyped_defects": untyped_defects(scores, labels, types, threshold),
    }


def store_heatmaps(job_id: int, predictions: list[TestPrediction], into: dict[int, str]) -> dict[int, str]:
    """Write the test predictions' heatmaps before the version's transaction: image id -> stored name, filled into
    `into` one by one, so a caller whose write fails half-way (a full disk) knows which ones to delete."""
    for p in predictions:
        if p.image_id is not None:
            into[p.image_id] = store_bytes(f"predictions/job-{job_id}/{p.image_id}.png", p.heatmap_png)
    return into


def save_predictions(version: ModelVersion, predictions: list[TestPrediction], heatmaps: dict[int, str]) -> list[str]:
    """Prediction rows of the version for its test images (inside the version's transaction, before the
    activation queues the scoring pass). Returns the heatmap names left unused (images deleted meanwhile)."""
    from webapp.datasets.models import Image

    wanted = [p for p in predictions if p.image_id in heatmaps]
    # Locked so that an image cannot be deleted between this check and the commit.
    alive = set(
        Image.objects.select_for_update()
        .filter(project_id=version.project_id, id__in=[p.image_id for p in wanted])
        .values_list("id", flat=True)
    )
    Prediction.objects.bulk_create(
        [
            Prediction(image_id=p.image_id, model_version=version, score=p.score, heatmap=heatmaps[p.image_id])
            for p in wanted
            if p.image_id in alive
        ]
    )
    return [name for image_id, name in heatmaps.items() if image_id not in alive]
