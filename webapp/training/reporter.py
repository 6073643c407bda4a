"""Progress of a running training, from `ml.fit` to the job row: throttled writes of progress, phase, epoch, loss
history and the time the current phase still needs, a heartbeat thread, and the cancel flag carried back."""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connection
from django.utils import timezone

from .models import JobStatus, TrainingJob

logger = logging.getLogger(__name__)


class JobReporter:
    """Carries progress from `fit` to the job row, throttled, and the cancel flag back.

    `on_progress` and `should_stop` run in the training thread; they write at most every
    TRAINING_PROGRESS_SECONDS. A background thread beats the heartbeat every TRAINING_HEARTBEAT_SECONDS
    even while `fit` is busy in a long step (feature extraction) and reports no progress.
    """

    # `fit` reports 0..1 over its own work; after it the run still scores the test split with the stored model and
    # stores the version (phase "store"), which takes a while on a large split: fit's share of the job's progress.
    FIT_SHARE = 0.9

    def __init__(self, job_id: int, *, progress_every: float, heartbeat_every: float):
        self.job_id = job_id
        self._phase: str | None = None
        self._phase_started, self._phase_done = 0.0, 0
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
            if p.phase == "train":
                done, total = (p.epoch - 1) * p.steps + p.step, p.epochs * p.steps
            else:
                done, total = p.step, p.steps
            self._pending.update(
                progress=self.FIT_SHARE * min(1.0, max(0.0, float(p.fraction))),
                phase=p.phase,
                epoch=int(p.epoch),
                epochs=int(p.epochs),
                eta_seconds=self._phase_eta(p.phase, done, total),
            )
        if time.monotonic() - self._last_write >= self.progress_every:
            self.flush()

    def store_progress(self, done: int, total: int) -> None:
        """The run's own evaluation after `fit` (test images scored by the stored model): phase "store"."""
        with self._lock:
            self._pending.update(
                progress=self.FIT_SHARE + (1.0 - self.FIT_SHARE) * 0.95 * done / max(total, 1),
                phase="store",
                eta_seconds=self._phase_eta("store", done, total),
            )
        if time.monotonic() - self._last_write >= self.progress_every:
            self.flush()

    def _phase_eta(self, phase: str, done: int, total: int) -> float | None:
        """Seconds the phase still needs at its pace since this reporter first saw it; None until a few seconds
        of it were seen."""
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._phase_started, self._phase_done = phase, now, done
        elapsed, progressed = now - self._phase_started, done - self._phase_done
        if progressed <= 0 or total <= 0 or elapsed < 3.0:
            return None
        return round(elapsed * max(0, total - done) / progressed, 1)

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
