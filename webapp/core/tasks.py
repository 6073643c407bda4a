"""Periodic housekeeping: the file collector (celery beat, every FILES_COLLECT_INTERVAL_SECONDS)."""

from celery import shared_task
from django.conf import settings


@shared_task(name="core.collect_files", queue="infer", ignore_result=True)
def collect_files_task() -> int:
    from .collect import collect_files

    return len(collect_files(grace_seconds=settings.FILES_COLLECT_GRACE_SECONDS).deleted)
