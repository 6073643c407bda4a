"""The automatic retraining policy: when a new label starts a training by itself, and why not.

`retrain_status` answers for the training page with a machine-readable `state` and a sentence
(`reason`) shown verbatim; `maybe_auto_retrain` queues a job exactly when the state is `ready`.
States, first match wins:

- `running`: a job is queued or running; nothing else starts until it ends.
- `off`: `auto_retrain` is off (Train still works).
- `no_good_images`, `waiting_for_good`: no model yet and fewer than `min_good_for_first_model` good
  images in the train split; the first model (unsupervised) starts at that count.
- `waiting_for_labels`: a model exists and fewer than `retrain_after_labels` labels arrived since the
  last run started; the run starts at that count.
- `last_failed`, `last_cancelled`: the last run ended without a model and no label arrived since it
  started; the next label starts it.
- `unchanged`: the snapshot a run would freeze now equals the newest version's; nothing starts until
  labels, masks or splits change.
- `ready`: everything above passed; the next label starts it (so does the end of a failed or lost run
  when labels arrived during it).

A run that ends without a version gives its counted labels back (`give_back_labels`), so they count
again; the `last_*` states keep that from becoming a loop of a run that fails every time: another
attempt needs a new label (the run's own `labels_counted` is the mark), never just the end of the
previous attempt.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F

from webapp.core.exceptions import Conflict, InvalidInput
from webapp.datasets.models import Image, Label, Project, Split

from . import snapshots
from .models import ACTIVE_STATUSES, JobStatus, ModelVersion, TrainingJob, TrainingMode, Trigger

# services re-exports this module's functions lazily (its __getattr__), so either module may be imported first.
from .services import create_training_job, dispatch_training_job, resolve_mode

logger = logging.getLogger(__name__)

ENDED_WITHOUT_VERSION = (JobStatus.FAILED, JobStatus.CANCELLED)
STATES = (
    "running",
    "off",
    "no_good_images",
    "waiting_for_good",
    "waiting_for_labels",
    "last_failed",
    "last_cancelled",
    "unchanged",
    "ready",
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def give_back_labels(job: TrainingJob) -> None:
    """A run that ended without a model version: the labels it counted at its start count again.

    Call once, right after the conditional update that ended the run (so a job is never given back twice).
    """
    if job.labels_counted:
        Project.objects.filter(id=job.project_id).update(
            labels_since_training=F("labels_since_training") + job.labels_counted
        )


def _last_finished(project: Project) -> TrainingJob | None:
    return (
        TrainingJob.objects.filter(project=project)
        .exclude(status__in=ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .only("id", "project_id", "status", "trigger", "labels_counted")
        .first()
    )


def _job_brief(job: TrainingJob | None) -> dict | None:
    if job is None:
        return None
    return {"id": job.id, "status": job.status, "trigger": job.trigger}


def _ended_without_version(last: TrainingJob | None) -> str:
    """'The last automatic training failed' (or 'was cancelled'), or '' when the last run made a version."""
    if last is None or last.status not in ENDED_WITHOUT_VERSION:
        return ""
    what = "automatic training" if last.trigger == Trigger.AUTO else "training"
    return f"The last {what} {'failed' if last.status == JobStatus.FAILED else 'was cancelled'}"


def retrain_status(*, project: Project, include_pending: bool = True) -> dict:
    """What the policy will do next and why (see the module docstring). `pending` is the snapshot summary a run
    started now would freeze: computed when asked for and no job is active, or when the policy needs it to decide
    (else None)."""
    has_model = ModelVersion.objects.filter(project=project).exists()
    good_train = Image.objects.filter(project=project, split=Split.TRAIN, label=Label.GOOD).count()
    counted = project.labels_since_training
    if has_model:
        until = max(0, project.retrain_after_labels - counted)
        next_mode = resolve_mode(project=project, mode=TrainingMode.AUTO)
    else:
        until = max(0, project.min_good_for_first_model - good_train)
        next_mode = TrainingMode.UNSUPERVISED
    # before the first model: labelled good images in the test split measure it but do not train it
    good_test = 0 if has_model else Image.objects.filter(project=project, split=Split.TEST, label=Label.GOOD).count()
    good_labels = 0 if has_model else _good_labels_needed(project, until, good_test)
    counts = _Counts(has_model, good_train, good_test, until, good_labels)
    active = TrainingJob.objects.filter(project=project, status__in=ACTIVE_STATUSES).first()
    last = _last_finished(project)
    # Skipped while a job is active (the gallery polls this every 2 s then; it scans every labelled image).
    pending = snapshots.pending(project) if include_pending and active is None else None
    state, reason = _decide(project, counts, active=active, last=last)
    if state == "candidate":
        pending = pending or snapshots.pending(project)
        state, reason = _ready_or_unchanged(pending)
    return {
        "state": state,
        "reason": reason,
        "auto_retrain": project.auto_retrain,
        "retrain_after_labels": project.retrain_after_labels,
        "min_good_for_first_model": project.min_good_for_first_model,
        "labels_since_training": counted,
        "good_train_images": good_train,
        "has_model": has_model,
        "next_run": "retrain" if has_model else "first_model",
        "next_mode": next_mode,
        "labels_until_next_run": until,
        "good_labels_until_first_model": None if has_model else good_labels,
        "last_job": _job_brief(last),
        "pending": pending,
    }


def _good_labels_needed(project: Project, until: int, good_test: int) -> int:
    """About how many more good labels bring `until` more good images to the train split: the split policy first
    fills the test split (SPLIT_MIN_TEST_PER_LABEL good images, to measure the model), then sends a share
    `test_fraction` of new labels to test (datasets/services.py, "Split policy")."""
    if until <= 0:
        return 0
    to_test = max(0, settings.SPLIT_MIN_TEST_PER_LABEL - good_test)
    share = min(max(project.test_fraction, 0.0), 0.95)
    return to_test + math.ceil(until / (1.0 - share))


class _Counts(NamedTuple):
    has_model: bool
    good_train: int  # good images in the train split
    good_test: int  # good images in the test split (counted before the first model only, else 0)
    until: int  # first model: good train images still missing; after: labels until the next run
    good_labels: int  # first model: about how many good labels give those `until` train images


def _decide(project: Project, counts: _Counts, *, active, last) -> tuple[str, str]:
    """(state, reason) of every state but `ready`/`unchanged`, which need the snapshot: `candidate` then."""
    has_model, good_train, good_test, until, good_labels = counts
    if active is not None:
        what = " (automatic retraining)" if active.trigger == Trigger.AUTO else ""
        return "running", f"Training job {active.id}{what} is {active.status}; nothing else starts until it ends."
    if not project.auto_retrain:
        return "off", "Automatic retraining is off."
    ended = _ended_without_version(last)
    note = f"{ended}. " if ended else ""
    if not has_model and until > 0:
        labels = _plural(good_labels, "more good label")
        kept = ""
        if good_test and good_train == 0:
            kept = f" The {_plural(good_test, 'good image')} labelled so far went to the test split, to measure it."
        state = "no_good_images" if good_train == 0 else "waiting_for_good"
        return state, (
            f"{note}{_plural(until, 'more good image')} in the train split until the first model trains by itself: "
            f"about {labels}, as the split policy keeps some for testing.{kept}"
        )
    if has_model and until > 0:
        since = project.labels_since_training
        return "waiting_for_labels", (
            f"{note}{_plural(until, 'more label')} until the next automatic training ({since} since the last run)."
        )
    if ended and project.labels_since_training <= last.labels_counted:
        # No label arrived since that run started: running it again would repeat the same attempt.
        state = "last_failed" if last.status == JobStatus.FAILED else "last_cancelled"
        return state, f"{ended}; the next one starts after the next label — or press Train."
    return "candidate", ""


def _ready_or_unchanged(pending: dict) -> tuple[str, str]:
    if snapshots.is_unchanged(pending):
        version = pending["previous_version"]
        return "unchanged", (
            f"Nothing changed since version {version}: no automatic training until labels, masks or splits change "
            "— press Train to train again anyway."
        )
    return "ready", "Enough new labels: the next label starts an automatic training — or press Train."


def maybe_auto_retrain(*, project_id: int) -> TrainingJob | None:
    """Queue a training when the policy's state is `ready`; None otherwise (the status says why)."""
    project = Project.objects.filter(id=project_id).first()
    if project is None or not project.auto_retrain:
        return None
    status = retrain_status(project=project, include_pending=False)
    if status["state"] != "ready":
        logger.debug("Automatic retraining of project %s: %s (%s)", project_id, status["state"], status["reason"])
        return None
    mode = TrainingMode.AUTO if status["has_model"] else TrainingMode.UNSUPERVISED
    try:
        job = create_training_job(project=project, mode=mode, trigger=Trigger.AUTO)
    except (Conflict, InvalidInput) as exc:
        logger.info("Automatic retraining of project %s skipped: %s", project_id, exc.detail)
        return None
    logger.info("Automatic retraining: job %s (%s) queued for project %s", job.id, job.resolved_mode, project_id)
    transaction.on_commit(lambda: dispatch_training_job(job.id))
    return job


def on_labels_changed(sender, project_id: int, **kwargs) -> None:
    """Receiver of `webapp.datasets.signals.labels_changed` (sent after the commit)."""
    maybe_auto_retrain(project_id=project_id)
