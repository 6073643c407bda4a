"""Workers say they are alive by writing a heartbeat to the shared cache; /api/v1/health/ counts them.

Asking the workers (a Celery ping) costs the health endpoint its whole wait, 1 s or more, on every call; a
heartbeat costs one cache read. Each worker process writes `worker-heartbeat:<hostname>` every
WORKER_HEARTBEAT_SECONDS with a lifetime of three periods, and keeps its name in the `worker-heartbeats`
registry; a worker is counted while its heartbeat is fresh. Beside it, `worker-queues:<hostname>` lists the
queues it consumes, so the dispatcher can tell a train worker that sits idle (webapp/training/services.py). The
cache key prefix (INSTANCE_NAME) keeps two installations on one Redis from counting each other's workers.
"""

import logging
import time

from .periodic import PeriodicStep

logger = logging.getLogger(__name__)

REGISTRY = "worker-heartbeats"
KEY = "worker-heartbeat:{}"
QUEUES_KEY = "worker-queues:{}"
SCHEDULER_KEY = "scheduler-last-run"


def _period() -> float:
    from django.conf import settings

    return max(0.1, float(settings.WORKER_HEARTBEAT_SECONDS))


def beat(hostname: str, *, now: float | None = None, queues: list[str] | None = None) -> None:
    """Record that the worker `hostname` is alive now (and, when given, which queues it consumes)."""
    from django.core.cache import cache

    now = time.time() if now is None else now
    cache.set(KEY.format(hostname), now, timeout=3 * _period())
    if queues is not None:
        cache.set(QUEUES_KEY.format(hostname), sorted(queues), timeout=3 * _period())
    names = cache.get(REGISTRY) or []
    # Re-written when this worker is missing (two workers that start together may each drop the other's
    # name once; the next beat puts it back) and to drop the names of workers that went away.
    wanted = sorted({*live_workers(now=now), hostname})
    if names != wanted:
        cache.set(REGISTRY, wanted, timeout=None)


def forget(hostname: str) -> None:
    """The worker `hostname` stopped cleanly."""
    from django.core.cache import cache

    cache.delete_many([KEY.format(hostname), QUEUES_KEY.format(hostname)])


def live_workers(*, now: float | None = None, queue: str | None = None) -> list[str]:
    """Names of the workers whose heartbeat is at most three periods old; with `queue`, only those known to
    consume it (a worker that never said which queues it reads is not counted then)."""
    from django.core.cache import cache

    now = time.time() if now is None else now
    names = cache.get(REGISTRY) or []
    beats = cache.get_many([KEY.format(name) for name in names]) if names else {}
    fresh_after = now - 3 * _period()
    live = [name for name in names if (beats.get(KEY.format(name)) or 0) >= fresh_after]
    if queue is None or not live:
        return live
    queues = cache.get_many([QUEUES_KEY.format(name) for name in live])
    return [name for name in live if queue in (queues.get(QUEUES_KEY.format(name)) or ())]


def live_by_queue(queues=("train", "infer"), *, now: float | None = None) -> tuple[int, dict[str, int]]:
    """(live workers, {queue: live workers consuming it}) from one read of the registry, beats and queues."""
    from django.core.cache import cache

    live = live_workers(now=now)
    read = cache.get_many([QUEUES_KEY.format(name) for name in live]) if live else {}
    consumed = [read.get(QUEUES_KEY.format(name)) or () for name in live]
    return len(live), {queue: sum(queue in own for own in consumed) for queue in queues}


def scheduler_ran(*, now: float | None = None) -> None:
    """The periodic dispatcher/reaper ran (sent by `celery beat`, run by a worker): the scheduling loop is alive."""
    from django.core.cache import cache

    cache.set(SCHEDULER_KEY, time.time() if now is None else now, timeout=None)


def scheduler_state(*, now: float | None = None) -> tuple[str, float | None]:
    """("ok" | "late" | "unknown", seconds since the dispatcher last ran). "late": not for three of its intervals
    (TRAINING_DISPATCH_INTERVAL_SECONDS): `celery beat` or every worker of queue `infer` is gone, so lost
    trainings are not failed, queued ones not re-sent and unscored images not scored. "unknown": it never ran
    (a fresh installation, or the cache was emptied)."""
    from django.conf import settings
    from django.core.cache import cache

    now = time.time() if now is None else now
    last = cache.get(SCHEDULER_KEY)
    if last is None:
        return "unknown", None
    age = max(0.0, now - float(last))
    return ("ok" if age <= 3 * float(settings.TRAINING_DISPATCH_INTERVAL_SECONDS) else "late"), age


class WorkerHeartbeat(PeriodicStep):
    """Worker bootstep (webapp/config/celery.py): a thread that beats while the worker runs."""

    thread_name = "worker-heartbeat"

    def period(self) -> float:
        return _period()

    def tick(self, worker) -> None:
        beat(worker.hostname, queues=list(worker.app.amqp.queues.consume_from))  # the -Q selection, or all

    def stop(self, worker) -> None:
        super().stop(worker)
        try:
            forget(worker.hostname)
        except Exception:  # noqa: BLE001 - shutting down anyway
            logger.info("Could not clear the worker heartbeat", exc_info=True)
