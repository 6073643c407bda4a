"""Stale scratch folders under DATA_DIR/tmp: what a killed worker left behind, removed once nothing uses it.

`engine.scratch_dir` makes `job-<id>-*` folders for trainings and `score-*`, `batch-*`, `export-*` ones for
scoring, inference chunks and exports; they are removed when their work ends, but not when the process is
killed (OOM, SIGKILL, a lost machine). The periodic `training.dispatch_and_reap` task removes:
- a `job-<id>-*` folder once its job is not running (finished, failed, cancelled or deleted) and the folder
  is older than TRAINING_STALE_AFTER_SECONDS (a job that is just starting is running by then);
- any other folder older than SCRATCH_MAX_AGE_SECONDS (no scoring or export takes that long).
`locks/` (training slots) stays. In `checkpoints/` (this machine's copies of stored checkpoints, engine.
local_checkpoint) a copy is removed once no model version names its checkpoint any more, and a partial
download once it is older than SCRATCH_MAX_AGE_SECONDS.

Each machine has its own DATA_DIR, so each cleans its own: every worker process runs this when it starts and
then every SCRATCH_CLEAN_INTERVAL_SECONDS (`ScratchCleaner`, a worker bootstep), the web at start
(`manage.py clean_scratch`, run by scripts/run.sh and the Docker entrypoint), and `dispatch_and_reap` too.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from django.conf import settings

from webapp.core.periodic import PeriodicStep

logger = logging.getLogger(__name__)

KEEP = frozenset({"locks", "checkpoints"})
_JOB_FOLDER = re.compile(r"^job-(\d+)-")


def clean_stale_scratch(*, now: float | None = None) -> list[str]:
    """Remove stale scratch folders; returns their names."""
    base = Path(settings.DATA_DIR) / "tmp"
    if not base.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(base.iterdir()):
        if entry.name in KEEP or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue  # removed by its owner meanwhile
        match = _JOB_FOLDER.match(entry.name)
        if match:
            from .models import JobStatus, TrainingJob

            running = TrainingJob.objects.filter(id=int(match.group(1)), status=JobStatus.RUNNING).exists()
            stale = not running and age > settings.TRAINING_STALE_AFTER_SECONDS
        else:
            stale = age > settings.SCRATCH_MAX_AGE_SECONDS
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    removed += clean_checkpoint_copies(base / "checkpoints", now=now)
    if removed:
        logger.info("Removed %s stale scratch entries: %s", len(removed), ", ".join(removed))
    return removed


def clean_checkpoint_copies(folder: Path, *, now: float) -> list[str]:
    """Copies of checkpoints no model version names any more (the version or its project was deleted), and
    partial downloads a killed process left."""
    if not folder.is_dir():
        return []
    from .engine import checkpoint_copy_name
    from .models import ModelVersion

    wanted = {checkpoint_copy_name(name) for name in ModelVersion.objects.values_list("checkpoint", flat=True)}
    removed = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or entry.is_symlink():
            continue
        try:
            age = now - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        partial = entry.name.startswith(".") and entry.name.endswith(".part")
        if (partial and age > settings.SCRATCH_MAX_AGE_SECONDS) or (not partial and entry.name not in wanted):
            entry.unlink(missing_ok=True)
            removed.append(f"checkpoints/{entry.name}")
    return removed


class ScratchCleaner(PeriodicStep):
    """Worker bootstep (webapp/config/celery.py): cleans this machine's scratch at start, then periodically,
    whichever queues the worker consumes (a train-only GPU worker never runs `dispatch_and_reap`)."""

    thread_name = "scratch-cleaner"

    def period(self) -> float:
        return max(1.0, float(settings.SCRATCH_CLEAN_INTERVAL_SECONDS))

    def tick(self, worker) -> None:
        clean_stale_scratch()
