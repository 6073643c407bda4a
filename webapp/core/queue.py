"""Sending Celery tasks without hanging or failing a request when the broker is down.

API.md: when the task queue is unreachable the request's data is still saved. Callers keep their job
row `queued` when `enqueue` returns False and say so in the response; a dispatcher re-sends later.

Services name the task (`enqueue("training.run_job", job_id)`) instead of importing it: tasks call
services, never the other way round, and this module is the one place that turns a name into a send.
"""

import logging

from django.conf import settings
from kombu.exceptions import KombuError, OperationalError

logger = logging.getLogger(__name__)

# Seconds to wait for the broker before declaring it unreachable; a request must not hang on it.
BROKER_TIMEOUT_S = 2.0


def task_named(name: str):
    """The registered Celery task called `name` (its own queue and options come with it)."""
    from celery.exceptions import NotRegistered

    from webapp.config.celery import app

    try:
        return app.tasks[name]
    except NotRegistered:
        # Outside a worker the apps' tasks modules are imported on first need (autodiscovery).
        app.loader.import_default_modules()
        return app.tasks[name]


def enqueue(task, *args, **kwargs) -> bool:
    """Send `task(*args, **kwargs)` to its queue; `task` is a task or a registered task's name.

    Returns False (and logs) when the broker is unreachable."""
    if isinstance(task, str):
        task = task_named(task)
    app = task.app
    if app.conf.task_always_eager:
        task.apply_async(args=args, kwargs=kwargs)
        return True
    timeout = getattr(settings, "BROKER_TIMEOUT_S", BROKER_TIMEOUT_S)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
            task.apply_async(args=args, kwargs=kwargs, connection=connection, retry=False)
        return True
    except (OperationalError, KombuError, ConnectionError, OSError, TimeoutError) as exc:
        logger.warning("Task queue unreachable, %s kept for later: %s", task.name, exc)
        return False


def broker_reachable(app=None, timeout: float | None = None) -> bool:
    """True when the Celery broker accepts a connection within `timeout` (default BROKER_TIMEOUT_S) seconds."""
    if app is None:
        from webapp.config.celery import app
    if timeout is None:
        timeout = getattr(settings, "BROKER_TIMEOUT_S", BROKER_TIMEOUT_S)
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        return True
    except (OperationalError, KombuError, ConnectionError, OSError, TimeoutError):
        return False


def worker_count(app=None, timeout: float = 1.0) -> int:
    """Number of Celery workers that answer a ping within `timeout` seconds; 0 when none or on failure.

    Waits out the whole timeout: for scripts and tests, never per request (/api/v1/health/ reads heartbeats)."""
    if app is None:
        from webapp.config.celery import app
    try:
        replies = app.control.inspect(timeout=timeout).ping()
    except Exception:  # noqa: BLE001 - any transport error means "no worker we can see"
        logger.info("Worker ping failed", exc_info=True)
        return 0
    return len(replies or {})
