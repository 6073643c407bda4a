"""Celery tasks of the datasets app: thin wrappers around services."""

from celery import shared_task

from . import importer


@shared_task(name="datasets.import_archive", queue="infer", acks_late=True)
def import_archive(job_id: int) -> None:
    importer.run_import(job_id=job_id)


@shared_task(name="datasets.redispatch_imports", queue="infer", ignore_result=True)
def redispatch_imports() -> dict:
    return importer.redispatch_and_reap()
