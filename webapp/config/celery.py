"""Celery application: `celery -A webapp.config worker -Q train,infer`."""

import os

from celery import Celery
from celery.signals import worker_ready

from webapp.core.heartbeat import WorkerHeartbeat
from webapp.training.scratch import ScratchCleaner

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Workers keep a heartbeat in the cache, which /api/v1/health/ reads instead of pinging them.
app.steps["worker"].add(WorkerHeartbeat)
# ...and clean their machine's scratch folder (each machine has its own DATA_DIR).
app.steps["worker"].add(ScratchCleaner)


@worker_ready.connect
def _say_which_installation(sender=None, **kwargs) -> None:
    """Workers take only their installation's tasks (the Redis key prefix): say which, so a machine that reached
    the database under another name (another prefix, so no task ever) is seen in its log at once."""
    import logging

    from django.conf import settings

    logging.getLogger("webapp.worker").info(
        "Instance %s: this worker takes the tasks of the installation on this database (docs/security.md, "
        "'Installations sharing a Redis').",
        settings.INSTANCE_NAME,
    )
