"""Celery application: `celery -A webapp.config worker -Q train,infer`."""

import os

from celery import Celery

from webapp.core.heartbeat import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Workers keep a heartbeat in the cache, which /api/v1/health/ reads instead of pinging them.
app.steps["worker"].add(WorkerHeartbeat)
