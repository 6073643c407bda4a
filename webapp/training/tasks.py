"""Celery tasks of the pipeline: thin, named, on explicit queues; the work is in runner.py / inference.py.

- `training.run_job` (queue `train`): one training at a time per worker (a per-worker file lock, so a
  worker started with `--concurrency 2` still runs inference beside one training, never two trainings).
- `training.score_project`, `training.run_inference_chunk` (queue `infer`).
- `training.dispatch_and_reap` (celery beat, every TRAINING_DISPATCH_INTERVAL_SECONDS).
"""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

# Seconds before a training task that found its worker busy is offered again.
BUSY_RETRY_SECONDS = 10


@contextmanager
def _worker_training_slot(hostname: str):
    """Yields True when this worker holds its one training slot (released by the OS if the worker dies)."""
    locks = Path(settings.DATA_DIR) / "tmp" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "@._-" else "_" for c in hostname or "worker")
    fd = os.open(locks / f"train-{safe}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@shared_task(bind=True, name="training.run_job", queue="train", acks_late=True, max_retries=None)
def run_training_job_task(self, job_id: int) -> str | None:
    from .runner import run_training_job

    hostname = self.request.hostname or ""
    with _worker_training_slot(hostname) as free:
        if not free:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        return run_training_job(job_id, worker=hostname)


@shared_task(name="training.score_project", queue="infer", acks_late=True)
def score_project_task(model_version_id: int) -> int:
    from .inference import score_project

    return score_project(model_version_id)


@shared_task(name="training.run_inference_chunk", queue="infer", acks_late=True)
def run_inference_chunk_task(batch_id: int, chunk: int) -> int:
    from .inference import run_inference_chunk

    return run_inference_chunk(batch_id, chunk)


@shared_task(name="training.dispatch_and_reap", queue="infer", ignore_result=True)
def dispatch_and_reap_task() -> dict:
    from .services import dispatch_and_reap

    return dispatch_and_reap()
