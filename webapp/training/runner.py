"""The body of the training task: claim the job, turn rows into `ml` samples, fit, store the version.

Nothing half-done survives: `ml.fit` writes its checkpoint into a private scratch folder, the file is
copied into storage atomically, and the ModelVersion row is created in one transaction after it; a
failed or cancelled run deletes the scratch folder and leaves no row and no stored file.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from webapp.datasets.models import Image, Label, Project, Split

from . import engine
from .models import JobStatus, ModelVersion, TrainingJob, TrainingMode
from .services import activate_version, maybe_auto_retrain

logger = logging.getLogger(__name__)

METRIC_KEYS = ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1", "precision", "recall")
# Images scored to set a threshold when the test split has none to give (0.99 quantile of good scores).
THRESHOLD_SAMPLE = 64


@dataclass
class SampleSet:
    train: list
    eval: list
    train_counts: dict
    test_counts: dict


def build_samples(*, project: Project, mode: str, scratch: Path) -> SampleSet:
    """Rows -> `ml.Sample`s: the train split trains (good only when unsupervised), the test split evaluates.

    A defective image without a mask is a weak label (mask_path None): it trains the image score only.
    """
    labelled = (
        Image.objects.filter(project=project, label__in=[Label.GOOD, Label.DEFECTIVE])
        .select_related("mask")
        .order_by("id")
    )
    train, evaluation = [], []
    train_counts = {"good": 0, "defective": 0, "masks": 0}
    test_counts = {"good": 0, "defective": 0, "masks": 0}
    for image in labelled:
        defective = image.label == Label.DEFECTIVE
        if image.split == Split.TRAIN and defective and mode == TrainingMode.UNSUPERVISED:
            continue
        mask = getattr(image, "mask", None) if image.has_mask else None
        sample = engine.make_sample(
            engine.local_path(image.file.name, scratch),
            1 if defective else 0,
            engine.local_path(mask.file.name, scratch) if mask is not None else None,
        )
        counts = train_counts if image.split == Split.TRAIN else test_counts
        counts["defective" if defective else "good"] += 1
        counts["masks"] += mask is not None
        (train if image.split == Split.TRAIN else evaluation).append(sample)
    return SampleSet(train, evaluation, train_counts, test_counts)


class JobReporter:
    """Carries progress from `fit` to the job row, throttled, and the cancel flag back.

    `on_progress` and `should_stop` run in the training thread; they write at most every
    TRAINING_PROGRESS_SECONDS. A background thread beats the heartbeat every TRAINING_HEARTBEAT_SECONDS
    even while `fit` is busy in a long step (feature extraction) and reports no progress.
    """

    def __init__(self, job_id: int, *, progress_every: float, heartbeat_every: float):
        self.job_id = job_id
        self.progress_every = progress_every
        self.heartbeat_every = heartbeat_every
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: dict = {}
        self._history: list[dict] = []
        self._epoch_losses: list[float] = []
        self._epoch_seen: int | None = None
        self._last_write = 0.0

    # training thread ------------------------------------------------------------------------------
    def on_progress(self, p) -> None:
        with self._lock:
            if p.phase == "train" and p.loss is not None:
                if self._epoch_seen is not None and p.epoch != self._epoch_seen and self._epoch_losses:
                    self._close_epoch()
                self._epoch_seen = p.epoch
                self._epoch_losses.append(float(p.loss))
                if p.steps and p.step >= p.steps:
                    self._close_epoch()
            self._pending.update(progress=min(1.0, max(0.0, float(p.fraction))), phase=p.phase, epoch=int(p.epoch))
        if time.monotonic() - self._last_write >= self.progress_every:
            self.flush()

    def _close_epoch(self) -> None:
        if self._epoch_losses:
            loss = sum(self._epoch_losses) / len(self._epoch_losses)
            self._history.append({"epoch": int(self._epoch_seen or 0), "loss": round(loss, 6)})
            self._pending["history"] = list(self._history)
            self._epoch_losses = []

    def should_stop(self) -> bool:
        if not self._stop_requested.is_set() and time.monotonic() - self._last_write >= self.progress_every:
            self.flush()
        return self._stop_requested.is_set()

    def flush(self, **extra) -> None:
        """Write pending progress + heartbeat; learn whether a cancel was asked (or the job was reaped)."""
        with self._lock:
            fields = {**self._pending, **extra, "heartbeat_at": timezone.now()}
            self._pending = {}
            self._last_write = time.monotonic()
        self._write(fields)

    def _write(self, fields: dict) -> None:
        updated = TrainingJob.objects.filter(id=self.job_id, status=JobStatus.RUNNING).update(**fields)
        cancel = TrainingJob.objects.filter(id=self.job_id).values_list("cancel_requested", flat=True).first()
        if not updated or cancel:
            self._stop_requested.set()

    # heartbeat thread -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.heartbeat_every <= 0:
            return
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-job-{self.job_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            while not self._closing.wait(self.heartbeat_every):
                try:
                    self._write({"heartbeat_at": timezone.now()})
                except Exception:  # noqa: BLE001 - a failed beat must not kill the beating; the next one retries
                    logger.warning("Heartbeat of job %s failed", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own database connection

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.heartbeat_every))


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
    return job


def _finish(job_id: int, status: str, error: str = "") -> None:
    TrainingJob.objects.filter(id=job_id, status=JobStatus.RUNNING).update(
        status=status, error=error, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


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
        samples = build_samples(project=project, mode=job.resolved_mode, scratch=scratch)
        device = engine.resolve_device()
        cfg = engine.train_config(
            preset=job.preset,
            mode=job.resolved_mode,
            backbone=project.backbone,
            image_size=project.image_size,
            epochs=job.epochs,
            device=device,
        )
        reporter.flush(device=device, epochs=cfg.epochs, phase="features")
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
        status = _store_version(job, cfg, result, samples)
    except Exception as exc:  # noqa: BLE001 - any end of a run is recorded on the job, never lost
        reporter.close()
        if _is_cancellation(exc):
            logger.info("Training job %s cancelled", job.id)
            status = JobStatus.CANCELLED
            _finish(job.id, status)
        else:
            logger.exception("Training job %s failed", job.id)
            status = JobStatus.FAILED
            _finish(job.id, status, error=f"{type(exc).__name__}: {exc}"[:4000])
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


def _metrics(result, samples: SampleSet) -> tuple[dict, float | None, dict]:
    raw = dict(result.metrics or {})
    curves = raw.pop("curves", None) or {}
    metrics = {key: (None if raw.get(key) is None else float(raw[key])) for key in METRIC_KEYS}
    return metrics, raw.get("threshold"), curves


def _threshold_without_test_split(checkpoint: str, samples: SampleSet) -> float:
    """No test split to choose on: the 0.99 quantile of the model's scores on good training images."""
    good = [s for s in samples.train if s.label == 0][:THRESHOLD_SAMPLE]
    predictor = engine.load_predictor(checkpoint, engine.resolve_device())
    scores = [r.score for r in predictor.predict([s.image_path for s in good])]
    return engine.select_threshold(scores, [0] * len(scores))


def _active_auroc_on(project_id: int, samples: SampleSet) -> tuple[ModelVersion | None, float | None]:
    """The active version's image AUROC on *this* test split (the split may have changed since it trained)."""
    active = ModelVersion.objects.filter(project_id=project_id, is_active=True).first()
    if active is None:
        return None, None
    predictor = engine.predictor_for(active)
    scores = [r.score for r in predictor.predict([s.image_path for s in samples.eval])]
    labels = [s.label for s in samples.eval]
    return active, engine.compute_metrics(scores, labels).get("image_auroc")


def _store_version(job: TrainingJob, cfg, result, samples: SampleSet) -> str:
    metrics, threshold, curves = _metrics(result, samples)
    checkpoint = str(result.checkpoint_path)
    if threshold is None:
        threshold = _threshold_without_test_split(checkpoint, samples)
    active, active_auroc = (None, None)
    if metrics["image_auroc"] is not None:
        active, active_auroc = _active_auroc_on(job.project_id, samples)
    name = f"models/project-{job.project_id}/job-{job.id}-{uuid.uuid4().hex[:8]}.pt"
    engine.store_file_atomically(checkpoint, name)
    try:
        with transaction.atomic():
            locked = TrainingJob.objects.select_for_update().get(id=job.id)
            if locked.status != JobStatus.RUNNING or locked.cancel_requested:
                cancelled = locked.cancel_requested and locked.status == JobStatus.RUNNING
                if cancelled:
                    _finish(job.id, JobStatus.CANCELLED)
                engine.delete_stored(name)
                return JobStatus.CANCELLED if cancelled else locked.status
            Project.objects.select_for_update().filter(id=job.project_id).first()
            current = ModelVersion.objects.filter(project_id=job.project_id, is_active=True).first()
            last = ModelVersion.objects.filter(project_id=job.project_id).order_by("-version").first()
            comparison = None
            if active is not None and current is not None and current.id == active.id:
                comparison = {"version": active.version, "image_auroc": active_auroc}
            version = ModelVersion.objects.create(
                project_id=job.project_id,
                job=locked,
                version=(last.version + 1) if last else 1,
                mode=job.resolved_mode,
                preset=job.preset,
                backbone=cfg.backbone,
                image_size=cfg.image_size,
                threshold=float(threshold),
                checkpoint=name,
                metrics={**metrics, "compared_with": comparison},
                train_counts=dict(result.train_counts or samples.train_counts),
                test_counts=samples.test_counts,
                curves=curves,
            )
            history = [{"epoch": int(h["epoch"]), "loss": float(h["loss"])} for h in (result.history or [])]
            TrainingJob.objects.filter(id=job.id).update(
                status=JobStatus.SUCCEEDED,
                progress=1.0,
                phase="done",
                history=history or locked.history,
                device=str(result.device or locked.device),
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
            if should_activate(current=current, new_auroc=metrics["image_auroc"], comparison=comparison):
                activate_version(version=version)
    except Exception:
        engine.delete_stored(name)
        raise
    logger.info("Training job %s succeeded: model version %s (%s)", job.id, version.version, metrics)
    return JobStatus.SUCCEEDED


def should_activate(*, current: ModelVersion | None, new_auroc: float | None, comparison: dict | None) -> bool:
    """First version, or image AUROC not worse than the active one's on the same test split.

    With no AUROC to compare (the split lacks good or defective images, so neither version has one)
    the newer model, trained on more labels, wins.
    """
    if current is None:
        return True
    if new_auroc is None:
        return True
    old = comparison["image_auroc"] if comparison else (current.metrics or {}).get("image_auroc")
    return old is None or new_auroc >= old - 1e-9
