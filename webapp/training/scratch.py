"""Stale scratch folders under DATA_DIR/tmp: what a killed worker left behind, removed once nothing uses it.

`engine.scratch_dir` makes `job-<id>-*` folders for trainings and `score-*`, `batch-*`, `export-*` ones for
scoring, inference chunks and exports; they are removed when their work ends, but not when the process is
killed (OOM, SIGKILL, a lost machine). The periodic `training.dispatch_and_reap` task removes:
- a `job-<id>-*` folder once its job is not running (finished, failed, cancelled or deleted) and the folder
  is older than TRAINING_STALE_AFTER_SECONDS (a job that is just starting is running by then);
- any other folder older than SCRATCH_MAX_AGE_SECONDS (no scoring or export takes that long).
`locks/` (training slots) and `checkpoints/` (the predictor cache) are never touched.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from django.conf import settings

from .models import JobStatus, TrainingJob

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
            running = TrainingJob.objects.filter(id=int(match.group(1)), status=JobStatus.RUNNING).exists()
            stale = not running and age > settings.TRAINING_STALE_AFTER_SECONDS
        else:
            stale = age > settings.SCRATCH_MAX_AGE_SECONDS
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        logger.info("Removed %s stale scratch folder(s): %s", len(removed), ", ".join(removed))
    return removed
