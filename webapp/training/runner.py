"""The body of the training task: claim the job, turn rows into `ml` samples, fit, store the version.

Nothing half-done survives: `ml.fit` writes its checkpoint into a private scratch folder, the file is
copied into storage atomically, and the ModelVersion row is created in one transaction after it; a
failed or cancelled run deletes the scratch folder and leaves no row and no stored file.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.datasets.models import Image, Label, Project, Split

from . import engine, evaluation, snapshots
from .evaluation import METRIC_KEYS  # noqa: F401 - re-exported (serializers)
from .models import JobStatus, ModelVersion, TrainingJob, TrainingMode
from .reporter import JobReporter
from .services import activate_version, maybe_auto_retrain, should_activate

logger = logging.getLogger(__name__)


@dataclass
class SampleSet:
    train: list
    eval: list
    train_counts: dict
    test_counts: dict
    # Parallel to `eval`: the image each sample is and its defect type (per-defect-type metrics).
    eval_image_ids: list = field(default_factory=list)
    eval_defect_types: list = field(default_factory=list)
    # Parallel to `train`: the image each training sample is (the `auto` working resolution reads their sizes).
    train_image_ids: list = field(default_factory=list)


def build_samples(*, job: TrainingJob, mode: str, scratch: Path) -> SampleSet:
    """The job's snapshot -> `ml.Sample`s: the train split trains (good only when unsupervised), the test
    split evaluates. Reads only the snapshot, never the live rows, so edits during the run change nothing.

    A defective image without a mask is a weak label (mask_path None): it trains the image score only.
    """
    train, evaluation = [], []
    train_ids, eval_ids, eval_types = [], [], []
    train_counts = {"good": 0, "defective": 0, "masks": 0}
    test_counts = {"good": 0, "defective": 0, "masks": 0}
    for entry in snapshots.entry_rows(job.id):
        defective = entry.label == Label.DEFECTIVE
        if entry.split == Split.TRAIN and defective and mode == TrainingMode.UNSUPERVISED:
            continue
        sample = engine.make_sample(
            engine.local_path(entry.file, scratch),
            1 if defective else 0,
            engine.local_path(entry.mask_file, scratch) if entry.mask_file else None,
        )
        counts = train_counts if entry.split == Split.TRAIN else test_counts
        counts["defective" if defective else "good"] += 1
        counts["masks"] += bool(entry.mask_file)
        if entry.split == Split.TRAIN:
            train.append(sample)
            train_ids.append(entry.image_id)
        else:
            evaluation.append(sample)
            eval_ids.append(entry.image_id)
            eval_types.append(entry.defect_type if defective else None)
    return SampleSet(train, evaluation, train_counts, test_counts, eval_ids, eval_types, train_ids)


def train_image_dims(samples: SampleSet) -> list[tuple[int, int]]:
    """(width, height) of the training images: from their Image rows, or the file's header for an image deleted
    since the snapshot froze (its file is kept while the snapshot lives)."""
    from PIL import Image as PILImage

    known = {
        pk: (w, h)
        for pk, w, h in Image.objects.filter(id__in=samples.train_image_ids).values_list("id", "width", "height")
    }
    dims = []
    for image_id, sample in zip(samples.train_image_ids, samples.train, strict=False):
        if image_id not in known:
            with PILImage.open(sample.image_path) as opened:
                known[image_id] = opened.size
        dims.append(known[image_id])
    return dims


@transaction.atomic
def claim_job(job_id: int, *, worker: str) -> TrainingJob | None:
    """queued -> running, atomically; None when the job is gone, finished, cancelled or already running.

    The project's label counter is reset by subtracting what it held now: labels that arrive while
    the job runs count towards the next one.
    """
    now = timezone.now()
    # A conditional UPDATE is the claim: exactly one worker gets a row count of 1, on every database
    # (SQLite ignores SELECT ... FOR UPDATE).
    claimed = TrainingJob.objects.filter(id=job_id, status=JobStatus.QUEUED, cancel_requested=False).update(
        status=JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now, progress=0.0, phase="prepare"
    )
    if not claimed:
        return None
    job = TrainingJob.objects.select_related("project").get(id=job_id)
    project = Project.objects.select_for_update().get(id=job.project_id)
    counted = project.labels_since_training
    Project.objects.filter(id=project.id).update(labels_since_training=F("labels_since_training") - counted)
    job.labels_counted = counted
    if not job.resolved_mode:
        from .services import resolve_mode

        job.resolved_mode = resolve_mode(project=project, mode=job.mode)
    job.save(update_fields=["labels_counted", "resolved_mode"])
    snapshots.freeze(job)
    return job


def _finish(job_id: int, status: str, error: str = "", *, error_detail: str = "") -> bool:
    """End a running job without a model version (failed or cancelled).

    `error` is the sentence for people, `error_detail` the scrubbed exception (webapp/training/failures.py).
    The labels the run counted at its start count again (the retrain policy, webapp/training/retrain.py).
    False when the job was no longer running (reaped meanwhile): then nothing is written or given back.
    """
    from .retrain import give_back_labels

    ended = TrainingJob.objects.filter(id=job_id, status=JobStatus.RUNNING).update(
        status=status,
        error=error,
        error_detail=error_detail,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    snapshots.release(job_id)
    if ended:
        give_back_labels(TrainingJob.objects.only("id", "project_id", "labels_counted").get(id=job_id))
    return bool(ended)


def run_training_job(job_id: int, *, worker: str = "") -> str | None:
    """The training task body. Returns the final status, or None when there was nothing to do (idempotent)."""
    from django.conf import settings

    job = claim_job(job_id, worker=worker)
    if job is None:
        logger.info("Training job %s: nothing to do (finished, cancelled or running elsewhere)", job_id)
        return None
    scratch = engine.scratch_dir(f"job-{job.id}-")
    reporter = JobReporter(
        job.id,
        progress_every=settings.TRAINING_PROGRESS_SECONDS,
        heartbeat_every=settings.TRAINING_HEARTBEAT_SECONDS,
    )
    reporter.start()
    try:
        project = job.project
        samples = build_samples(job=job, mode=job.resolved_mode, scratch=scratch)
        device = engine.resolve_device()
        auto = "auto" in (str(project.image_size), project.tiling)
        cfg = engine.train_config(
            preset=job.preset,
            mode=job.resolved_mode,
            backbone=project.backbone,
            image_size=project.image_size,
            epochs=job.epochs,
            device=device,
            tiling=project.tiling,
            image_dims=train_image_dims(samples) if auto else None,
        )
        # the epochs fit will run (the fast preset budgets them by the set's size), shown from the first poll
        reporter.flush(device=device, epochs=engine.planned_epochs(cfg, samples.train), phase="features")
        result = engine.fit(
            cfg,
            samples.train,
            scratch / "out",
            on_progress=reporter.on_progress,
            should_stop=reporter.should_stop,
            eval_samples=samples.eval or None,
        )
        # The reporter keeps beating while the version is evaluated and stored (that can take a while on a
        # cold worker); the `finally` below stops it.
        reporter.flush(phase="store", progress=JobReporter.FIT_SHARE, eta_seconds=None)
        status = _store_version(job, cfg, result, samples, on_scored=reporter.store_progress)
    except Exception as exc:  # noqa: BLE001 - any end of a run is recorded on the job, never lost
        reporter.close()
        if _is_cancellation(exc):
            status = JobStatus.CANCELLED
            if _finish(job.id, status):
                logger.info("Training job %s cancelled", job.id)
            else:  # reaped meanwhile (this worker was silent too long), or its project was deleted: left as it is
                ended = TrainingJob.objects.filter(id=job.id).values_list("status", flat=True).first()
                logger.warning("Training job %s stopped: it had already ended (%s)", job.id, ended or "deleted")
        else:
            from . import failures

            logger.exception("Training job %s failed", job.id)
            status = JobStatus.FAILED
            error, detail = failures.describe(exc, project_id=job.project_id)
            if _finish(job.id, status, error=error, error_detail=detail):
                # Labels that arrived during the run start the next one; without them the policy waits for a label.
                maybe_auto_retrain(project_id=job.project_id)
    finally:
        reporter.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if status == JobStatus.SUCCEEDED:
        maybe_auto_retrain(project_id=job.project_id)  # labels that arrived during the run may be enough
    return status


def _is_cancellation(exc: Exception) -> bool:
    try:
        return isinstance(exc, engine.training_cancelled_error())
    except ImportError:
        return False


def _store_version(job: TrainingJob, cfg, result, samples: SampleSet, on_scored=None) -> str:
    checkpoint = str(result.checkpoint_path)
    # Metrics, threshold and curves from the production predictor's scores, which are also stored as the
    # version's test predictions (see webapp/training/evaluation.py).
    evaluated = evaluation.evaluate(checkpoint, result.metrics, samples, on_scored=on_scored)
    metrics, threshold, curves = evaluated.metrics, evaluated.threshold, evaluated.curves
    active, versus = (None, None)
    if metrics["image_auroc"] is not None:
        new_scores = [p.score for p in evaluated.predictions]
        active, versus = evaluation.versus_active(job.project_id, samples, new_scores)
    name = f"models/project-{job.project_id}/job-{job.id}-{uuid.uuid4().hex[:8]}.pt"
    heatmaps: dict[int, str] = {}

    def discard(*, checkpoint_stored: bool = True) -> None:
        for stored in (*((name,) if checkpoint_stored else ()), *heatmaps.values()):
            engine.delete_stored(stored)

    try:
        evaluation.store_heatmaps(job.id, evaluated.predictions, into=heatmaps)
        engine.store_file_atomically(checkpoint, name)
    except BaseException:
        discard(checkpoint_stored=False)  # a failed run leaves no stored file (a full disk, say)
        raise

    unused: list[str] = []
    try:
        with transaction.atomic():
            locked = TrainingJob.objects.select_for_update().get(id=job.id)
            if locked.status != JobStatus.RUNNING or locked.cancel_requested:
                cancelled = locked.cancel_requested and locked.status == JobStatus.RUNNING
                if cancelled:
                    _finish(job.id, JobStatus.CANCELLED)
                discard()
                return JobStatus.CANCELLED if cancelled else locked.status
            Project.objects.select_for_update().filter(id=job.project_id).first()
            current = ModelVersion.objects.filter(project_id=job.project_id, is_active=True).first()
            last = ModelVersion.objects.filter(project_id=job.project_id).order_by("-version").first()
            comparison = None
            if active is not None and current is not None and current.id == active.id:
                comparison = versus
            version = ModelVersion.objects.create(
                project_id=job.project_id,
                job=locked,
                version=(last.version + 1) if last else 1,
                mode=job.resolved_mode,
                preset=job.preset,
                backbone=cfg.backbone,
                image_size=max(cfg.image_height, cfg.image_width),  # one number for old clients
                image_height=cfg.image_height,
                image_width=cfg.image_width,
                tiling=cfg.tiling,
                # as fit read 16-bit images (it decides from the training images when the config leaves it open)
                sample_depth=getattr(getattr(result, "config", None) or cfg, "sample_depth", None),
                threshold=float(threshold),
                checkpoint=name,
                metrics={**metrics, "compared_with": comparison},
                train_counts=dict(result.train_counts or samples.train_counts),
                test_counts=samples.test_counts,
                curves=curves,
                snapshot=locked.snapshot,
            )
            unused = evaluation.save_predictions(version, evaluated.predictions, heatmaps)
            history = [{"epoch": int(h["epoch"]), "loss": float(h["loss"])} for h in (result.history or [])]
            TrainingJob.objects.filter(id=job.id).update(
                status=JobStatus.SUCCEEDED,
                progress=1.0,
                phase="done",
                eta_seconds=None,
                history=history or locked.history,
                device=str(result.device or locked.device),
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
            if should_activate(current=current, new_auroc=metrics["image_auroc"], comparison=comparison):
                activate_version(version=version)
    except Exception:
        discard()
        raise
    for stored in unused:
        engine.delete_stored(stored)
    logger.info("Training job %s succeeded: model version %s (%s)", job.id, version.version, metrics)
    return JobStatus.SUCCEEDED
