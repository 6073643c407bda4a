"""Training jobs and model versions: every write that is not the body of a worker task.

The worker-side bodies live in `runner.py` (training) and `inference.py` (scoring); this module owns
job creation and cancel, dispatch to the queue, the reaper and version edits. The automatic retraining
policy is in `retrain.py` (its functions stay importable from here).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ml.metrics import no_better_than_chance
from webapp.core.exceptions import Conflict, InvalidInput
from webapp.core.queue import enqueue
from webapp.datasets.models import Image, Label, Project, Split

from . import snapshots
from .models import ACTIVE_STATUSES, InferenceBatch, JobStatus, ModelVersion, Preset, TrainingJob, TrainingMode, Trigger

logger = logging.getLogger(__name__)


def resolve_mode(*, project: Project, mode: str) -> str:
    """`auto` -> supervised when the train split holds defective images (masked or weakly labelled)."""
    if mode != TrainingMode.AUTO:
        return mode
    has_defects = Image.objects.filter(project=project, split=Split.TRAIN, label=Label.DEFECTIVE).exists()
    return TrainingMode.SUPERVISED if has_defects else TrainingMode.UNSUPERVISED


def _check_trainable(*, project: Project, mode: str) -> None:
    train = Image.objects.filter(project=project, split=Split.TRAIN)
    if not train.filter(label=Label.GOOD).exists():
        raise InvalidInput("The train split has no images labelled good; label some good images first.")
    if mode == TrainingMode.SUPERVISED and not train.filter(label=Label.DEFECTIVE).exists():
        raise InvalidInput("Supervised training needs defective images in the train split.")


@transaction.atomic
def create_training_job(
    *,
    project: Project,
    created_by=None,
    mode: str = TrainingMode.AUTO,
    preset: str = Preset.FAST,
    epochs: int | None = None,
    trigger: str = Trigger.MANUAL,
) -> TrainingJob:
    """A queued job for the project. Raises Conflict (409) while another job is queued or running.

    The caller sends it to the queue after the commit (`dispatch_training_job`).
    """
    Project.objects.select_for_update().filter(id=project.id).first()  # serialises creations per project
    reap_lost_jobs(project_id=project.id)  # a job whose worker died does not block the project
    active = TrainingJob.objects.filter(project=project, status__in=ACTIVE_STATUSES).first()
    if active is not None:
        raise Conflict(f"Training job {active.id} is already {active.status} for this project.")
    resolved = resolve_mode(project=project, mode=mode)
    _check_trainable(project=project, mode=resolved)
    try:
        with transaction.atomic():
            return TrainingJob.objects.create(
                project=project,
                created_by=created_by,
                mode=mode,
                resolved_mode=resolved,
                preset=preset,
                epochs=epochs,
                trigger=trigger,
            )
    except IntegrityError as exc:  # the partial unique constraint: a concurrent request won the race
        raise Conflict("Another training job was just created for this project.") from exc


def dispatch_training_job(job_id: int) -> bool:
    """Send the job to queue `train`. False (job stays queued, the dispatcher retries) when the broker is down."""
    if not enqueue("training.run_job", job_id):
        return False
    TrainingJob.objects.filter(id=job_id, status=JobStatus.QUEUED).update(
        dispatched_at=timezone.now(), dispatch_count=F("dispatch_count") + 1
    )
    return True


@transaction.atomic
def cancel_training_job(*, job: TrainingJob) -> TrainingJob:
    """Queued -> cancelled at once; running -> cancel_requested (the worker stops within one step); running
    with a lost worker -> failed at once (the reaper's verdict: no worker is left to stop it)."""
    if job.id in reap_lost_jobs(project_id=job.project_id):
        return TrainingJob.objects.get(id=job.id)
    job = TrainingJob.objects.select_for_update().get(id=job.id)
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.cancel_requested = True
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "cancel_requested", "finished_at"])
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
    else:
        raise Conflict(f"The job has already finished ({job.status}).")
    return job


WORKER_LOST = (
    "The worker running this training stopped answering at {since} (restarted, shut down, out of memory, or the "
    "server's disk was full), "
    "so the training was given up. Press Train to try again."
)


def fail_stale_jobs(*, now=None, project_id: int | None = None) -> list[int]:
    """The reaper: running jobs (of one project, or all) whose heartbeat is older than
    TRAINING_STALE_AFTER_SECONDS become failed."""
    from .retrain import give_back_labels

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TRAINING_STALE_AFTER_SECONDS)
    stale = TrainingJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    if project_id is not None:
        stale = stale.filter(project_id=project_id)
    failed = []
    for job in stale:
        since = job.heartbeat_at.isoformat(timespec="seconds")
        # Conditional update: a heartbeat that lands meanwhile keeps the job alive.
        updated = TrainingJob.objects.filter(id=job.id, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=JobStatus.FAILED,
            error=WORKER_LOST.format(since=timezone.localtime(job.heartbeat_at).strftime("%Y-%m-%d %H:%M:%S %Z")),
            error_detail=f"worker lost: no heartbeat since {since} (worker {job.worker or 'unknown'})",
            finished_at=now,
        )
        if updated:
            snapshots.release(job.id)
            give_back_labels(job)
            logger.warning("Training job %s failed: worker %s lost (heartbeat %s)", job.id, job.worker, since)
            failed.append(job.id)
    return failed


def reap_lost_jobs(*, project_id: int | None = None) -> list[int]:
    """Fail the running jobs whose worker stopped answering, then start the next run of their projects where
    labels arrived meanwhile. The periodic dispatcher runs it for every project; the requests that show, start
    or cancel a project's jobs run it for that project, so a lost job is failed when somebody looks at it even
    while the scheduler itself is down (one indexed query when nothing is stale)."""
    from .retrain import maybe_auto_retrain

    failed = fail_stale_jobs(project_id=project_id)
    if failed:
        projects = TrainingJob.objects.filter(id__in=failed).values_list("project_id", flat=True).distinct()
        for lost_project in projects:
            maybe_auto_retrain(project_id=lost_project)  # starts only when labels arrived during the lost run
    return failed


def _redispatch(queryset, dispatch, now, also: Q | None = None) -> list[int]:
    """Send again what was never sent (broker down) or sent long ago (message lost), and what `also` selects,
    oldest first."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.TRAINING_REDISPATCH_AFTER_SECONDS)
    never_sent_or_lost = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff)
    if also is not None:
        never_sent_or_lost |= also
    sent = []
    for pk in queryset.filter(never_sent_or_lost).order_by("created_at").values_list("id", flat=True):
        if not dispatch(pk):
            break  # broker still down: try again at the next beat
        sent.append(pk)
    return sent


def redispatch_queued_jobs(*, now=None) -> list[int]:
    """Queued jobs that no worker took: after TRAINING_REDISPATCH_AFTER_SECONDS, or after
    TRAINING_IDLE_REDISPATCH_SECONDS while a train worker sits idle (fewer trainings run than train workers
    beat), since a free worker takes a job within seconds. Sending one twice is harmless (the claim is atomic)."""
    from webapp.core import heartbeat

    now = now or timezone.now()
    queued = TrainingJob.objects.filter(status=JobStatus.QUEUED, cancel_requested=False)
    idle = None
    if queued.exists():
        running = TrainingJob.objects.filter(status=JobStatus.RUNNING).count()
        if running < len(heartbeat.live_workers(queue="train")):
            idle = Q(dispatched_at__lt=now - timedelta(seconds=settings.TRAINING_IDLE_REDISPATCH_SECONDS))
    return _redispatch(queued, dispatch_training_job, now, also=idle)


def redispatch_inference_batches(*, now=None) -> list[int]:
    """Batches with unprocessed chunks: never sent, sent long ago, or *stalled*: running, but no item done for
    INFERENCE_STALL_SECONDS (the worker scoring a chunk was killed; its message comes back only after the
    broker's visibility timeout). Sending a chunk twice is harmless: an item is scored once."""
    from .inference import dispatch_inference_batch

    now = now or timezone.now()
    quiet = now - timedelta(seconds=settings.INFERENCE_STALL_SECONDS)
    active = InferenceBatch.objects.filter(status__in=ACTIVE_STATUSES)
    stalled = (
        active.filter(status=JobStatus.RUNNING, dispatched_at__lt=quiet)
        .annotate(last_done=Max("items__processed_at"))
        .filter(Q(last_done__isnull=True) | Q(last_done__lt=quiet))
        .values_list("id", flat=True)
    )
    return _redispatch(active, dispatch_inference_batch, now, also=Q(id__in=list(stalled)))


def dispatch_and_reap() -> dict:
    """The periodic task body (celery beat): reap lost workers first, so their projects can train again;
    then remove the scratch folders killed workers left behind (scratch.py)."""
    from webapp.core import heartbeat

    from .scratch import clean_stale_scratch

    heartbeat.scheduler_ran()  # /api/v1/health/ reports a scheduler that stopped
    return {
        "failed": reap_lost_jobs(),
        "sent": redispatch_queued_jobs(),
        "batches": redispatch_inference_batches(),
        "scoring": rescore_unscored_images(),
        "scratch": clean_stale_scratch(),
    }


# --- automatic retraining: webapp/training/retrain.py ----------------------------------------------------

_RETRAIN_NAMES = ("maybe_auto_retrain", "retrain_status", "on_labels_changed", "give_back_labels")


def __getattr__(name: str):
    """`services.maybe_auto_retrain` & co. stay importable from here; loaded on first use (no import cycle)."""
    if name in _RETRAIN_NAMES:
        from . import retrain

        return getattr(retrain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- model versions -------------------------------------------------------------------------------------


@transaction.atomic
def set_threshold(*, version: ModelVersion, threshold: float) -> ModelVersion:
    """Every `is_defective` of the version follows the new threshold (it is computed, never stored), and so do
    its threshold-dependent metrics: f1, precision, recall and the per-defect-type recall are recomputed at the
    new threshold from the test scores the version stored (`evaluation.metrics_at_threshold`).

    Stored at the scores' precision (`ml.metrics.normalise`: the nearest float32), so a threshold set to a
    score the API showed equals that score exactly, and that image is defective (`score >= threshold`).
    """
    from ml.metrics import normalise

    from .evaluation import metrics_at_threshold

    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("threshold must be between 0 and 1 (scores are probabilities).")
    version.threshold = normalise(threshold)
    fields = ["threshold"]
    recomputed = metrics_at_threshold(version, version.threshold)
    if recomputed is not None:
        version.metrics = {**(version.metrics or {}), **recomputed}
        fields.append("metrics")
    version.save(update_fields=fields)
    return version


def should_activate(*, current: ModelVersion | None, new_auroc: float | None, comparison: dict | None) -> bool:
    """First version, or image AUROC not worse than the active one's on the same held-out images (this test
    split less what the active version trained on: `comparison`, from evaluation.versus_active); never one no
    better than chance (test image AUROC at or below 0.5: it ranks defects below good parts, or gives them all
    one score), even the first.
    Such a version stays available with its warning; a person may still activate it by hand.

    With no AUROC to compare (the split lacks good or defective images, so neither version has one)
    the newer model, trained on more labels, wins.
    """
    if no_better_than_chance(new_auroc):
        return False
    if current is None:
        return True
    if new_auroc is None:
        return True
    if comparison:  # both on the same held-out images (evaluation.versus_active)
        old, new = comparison["image_auroc"], comparison["new_image_auroc"]
    else:
        old, new = (current.metrics or {}).get("image_auroc"), new_auroc
    return old is None or new is None or new >= old - 1e-9


@transaction.atomic
def activate_version(*, version: ModelVersion) -> ModelVersion:
    """Make the version the project's active model and score the project's images with it (queue `infer`).

    One transaction, with the project's row locked (SQLite: the IMMEDIATE write lock), so two activations at
    once leave exactly one active version, the one that committed last, never none. The version's own
    `is_active` is written whatever the object passed in says: it was read before the lock."""
    Project.objects.select_for_update().filter(id=version.project_id).first()
    ModelVersion.objects.filter(project_id=version.project_id, is_active=True).exclude(id=version.id).update(
        is_active=False
    )
    ModelVersion.objects.filter(id=version.id).update(is_active=True)
    version.is_active = True
    version_id = version.id
    transaction.on_commit(lambda: dispatch_scoring(version_id))
    return version


def dispatch_scoring(version_id: int) -> bool:
    if not enqueue("training.score_project", version_id):
        return False
    ModelVersion.objects.filter(id=version_id).update(scoring_dispatched_at=timezone.now())
    return True


# Scoring that made no new prediction for this long (or was never sent) is sent again.
SCORING_STALL_SECONDS = 60


def rescore_unscored_images(*, now=None) -> list[int]:
    """Active versions with images they have not scored (uploaded after activation, or a lost task).

    Sent again only when no scoring of that version was sent or made progress in the last
    SCORING_STALL_SECONDS, so a long scoring run is not duplicated every beat.
    """
    from .models import Prediction

    now = now or timezone.now()
    recent = now - timedelta(seconds=SCORING_STALL_SECONDS)
    sent = []
    active = ModelVersion.objects.filter(is_active=True).filter(
        Q(scoring_dispatched_at__isnull=True) | Q(scoring_dispatched_at__lt=recent)
    )
    for version in active:
        if Prediction.objects.filter(model_version=version, created_at__gte=recent).exists():
            continue
        unscored = Image.objects.filter(project_id=version.project_id).exclude(predictions__model_version=version)
        if not unscored.exists():
            continue
        if not dispatch_scoring(version.id):
            break
        sent.append(version.id)
    return sent
