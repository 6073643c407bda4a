"""Work whose owner vanished ends quietly (issue 10, item 11): an import whose project is deleted while it
runs, and scratch folders a killed worker left under DATA_DIR/tmp."""

import io
import logging
import os
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.datasets import importer, services
from webapp.datasets.models import ImportJob, Project
from webapp.training import engine
from webapp.training import services as training_services
from webapp.training.models import JobStatus

from .conftest import image_bytes, stored_files
from .factories import TrainingJobFactory

pytestmark = pytest.mark.django_db


def test_deleting_the_project_during_an_import_ends_it_quietly(project, user, settings, monkeypatch, caplog):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", image_bytes(color=(i, 9, 9)))
    job = importer.import_job_create(project=project, user=user, archive=SimpleUploadedFile("a.zip", buf.getvalue()))
    real_create = services.image_create
    calls = []

    def create_then_lose_the_project(**kwargs):
        calls.append(kwargs["filename"])
        created = real_create(**kwargs)
        if len(calls) == 2:  # an operator deletes the project while the import runs
            services.project_delete(project=Project.objects.get(pk=project.pk))
        return created

    monkeypatch.setattr(services, "image_create", create_then_lose_the_project)
    monkeypatch.setattr(importer, "PROGRESS_EVERY_S", 0.0)  # it notices at its next progress write

    with caplog.at_level(logging.INFO, logger="webapp.datasets.importer"):
        result = importer.run_import(job_id=job.pk)

    assert result.status == "failed" and result.error == "The project was deleted during the import."
    assert not ImportJob.objects.filter(pk=job.pk).exists() and not Project.objects.filter(pk=project.pk).exists()
    assert len(calls) == 2  # stopped at once, the third entry was not read
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert "deleted while it ran" in caplog.text
    assert not [name for name in stored_files(settings.MEDIA_ROOT) if name.startswith("imports/")]


def make_scratch(prefix: str, age_s: float) -> Path:
    folder = engine.scratch_dir(prefix)
    (folder / "part.bin").write_bytes(b"x")
    old = time.time() - age_s
    os.utime(folder, (old, old))
    return folder


def test_scratch_folders_of_killed_workers_are_removed_and_live_ones_kept(project, settings, monkeypatch):
    settings.TRAINING_STALE_AFTER_SECONDS = 60
    settings.SCRATCH_MAX_AGE_SECONDS = 3600
    monkeypatch.setattr(training_services, "redispatch_queued_jobs", lambda: [])
    monkeypatch.setattr(training_services, "redispatch_inference_batches", lambda: [])
    monkeypatch.setattr(training_services, "rescore_unscored_images", lambda: [])
    killed = TrainingJobFactory(project=project, status=JobStatus.FAILED)
    running = TrainingJobFactory(project=project, status=JobStatus.RUNNING, heartbeat_at=None)
    dead_training = make_scratch(f"job-{killed.id}-", age_s=600)
    live_training = make_scratch(f"job-{running.id}-", age_s=600)
    starting = make_scratch(f"job-{killed.id + 1000}-", age_s=5)  # claimed a moment ago: too young to judge
    old_scoring = make_scratch("score-", age_s=7200)
    fresh_batch = make_scratch("batch-", age_s=60)
    locks = Path(settings.DATA_DIR) / "tmp" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    os.utime(locks, (0, 0))

    removed = training_services.dispatch_and_reap()["scratch"]

    assert sorted(removed) == sorted([dead_training.name, old_scoring.name])
    assert not dead_training.exists() and not old_scoring.exists()
    assert live_training.exists() and starting.exists() and fresh_batch.exists() and locks.exists()
