"""The file collector: unreferenced files go, after a grace period; referenced ones never do.

The same behaviour on local storage and on S3 (django-storages' S3Storage against moto's in-process S3).
"""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from webapp.core.collect import collect_files, stored_names
from webapp.core.models import UnreferencedFile
from webapp.datasets import services as datasets
from webapp.datasets.models import Image, Label

from .conftest import collect_unreferenced, image_bytes, mask_png
from .test_training_support import fake_ml, owner, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_unreferenced_file_waits_out_the_grace_period(project):
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    name = image.file.name
    datasets.image_delete(image=image)

    first = collect_files(grace_seconds=3600)
    second = collect_files(grace_seconds=3600)

    assert name not in first.deleted and name not in second.deleted and default_storage.exists(name)
    assert UnreferencedFile.objects.filter(name=name).exists()
    later = collect_files(grace_seconds=3600, now=timezone.now() + timedelta(hours=2))
    assert name in later.deleted and not default_storage.exists(name)
    assert not UnreferencedFile.objects.filter(name=name).exists()


def test_a_file_referenced_again_before_deletion_is_kept(project):
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    name = image.file.name
    datasets.image_delete(image=image)
    collect_files(grace_seconds=0)

    # the same bytes are uploaded again between the two passes
    datasets.image_create(project=project, filename="again.png", data=image_bytes())
    report = collect_files(grace_seconds=0)

    assert report.deleted == [] and default_storage.exists(name)
    assert not UnreferencedFile.objects.filter(name=name).exists()


def test_referenced_files_and_files_outside_its_folders_are_never_touched(project):
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    datasets.mask_set(image=image, data=mask_png(image.width, image.height))
    outside = default_storage.save("elsewhere/notes.txt", ContentFile(b"keep"))
    temporary = default_storage.save("models/.half-written.pt.tmp", ContentFile(b"..."))

    report = collect_unreferenced()

    assert report.deleted == []
    image.refresh_from_db()
    for name in (image.file.name, image.thumbnail.name, image.mask.file.name, outside, temporary):
        assert default_storage.exists(name)
    assert report.referenced == 3


def test_dry_run_deletes_nothing(project):
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    datasets.image_delete(image=image)
    collect_files(grace_seconds=0)

    report = collect_files(grace_seconds=0, dry_run=True)

    assert image.file.name in report.deleted and default_storage.exists(image.file.name)


def test_the_management_command_collects_and_says_what_it_did(project):
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    datasets.image_delete(image=image)
    call_command("collect_files", "--grace", "0", stdout=StringIO())
    out = StringIO()

    call_command("collect_files", "--grace", "0", stdout=out)

    assert "deleted 2" in out.getvalue() and image.file.name in out.getvalue()
    assert not default_storage.exists(image.file.name)


def test_the_periodic_task_is_scheduled_and_collects(project, settings):
    from webapp.config.celery import app
    from webapp.core.tasks import collect_files_task

    assert app.conf.beat_schedule["core.collect_files"]["task"] == "core.collect_files"
    image, _ = datasets.image_create(project=project, filename="a.png", data=image_bytes())
    datasets.image_delete(image=image)
    settings.FILES_COLLECT_GRACE_SECONDS = 0

    assert collect_files_task() == 0  # first sighting
    assert collect_files_task() == 2  # image and thumbnail
    assert not default_storage.exists(image.file.name)


def test_command_and_task_keep_the_files_of_a_running_job(tproject, fake_ml, sent, settings):
    from webapp.core.tasks import collect_files_task
    from webapp.training import services
    from webapp.training.runner import claim_job

    # given a running job whose snapshot names an image that was deleted since
    job = services.create_training_job(project=tproject)
    claim_job(job.id, worker="w")
    image = Image.objects.filter(project=tproject).order_by("id").first()
    datasets.image_delete(image=image)
    orphan = default_storage.save("images/zz/orphan.png", ContentFile(b"nobody's"))
    settings.FILES_COLLECT_GRACE_SECONDS = 0

    # when both the command and the periodic task run, twice each
    for _ in range(2):
        call_command("collect_files", "--grace", "0", stdout=StringIO())
        collect_files_task()

    # then the image file is still there for the run, while a file nothing names is gone
    assert default_storage.exists(image.file.name)
    assert not default_storage.exists(orphan)


def test_a_model_version_keeps_the_files_its_snapshot_names(tproject, fake_ml, sent):
    from webapp.training import services
    from webapp.training.runner import run_training_job

    run_training_job(services.create_training_job(project=tproject).id, worker="w")
    image = Image.objects.filter(project=tproject, label=Label.GOOD).order_by("id").first()
    datasets.image_delete(image=image)

    collect_unreferenced()

    assert default_storage.exists(image.file.name)


# --- S3 ------------------------------------------------------------------------------------------------


def test_on_s3_a_running_training_reads_its_snapshot_and_the_collector_keeps_it(s3_storage, tproject, sent):
    from pathlib import Path

    from webapp.training import engine, services
    from webapp.training.models import JobStatus, TrainingJob
    from webapp.training.runner import _finish, build_samples, claim_job

    # given images and a mask stored on S3, and a job that has started (snapshot frozen)
    tproject.auto_retrain = False
    tproject.save()
    image, _ = datasets.image_create(project=tproject, filename="s3.png", data=image_bytes(size=(16, 12)))
    datasets.mask_set(image=image, data=mask_png(16, 12))
    image.refresh_from_db()
    old_mask = image.mask.file.name
    job = services.create_training_job(project=tproject)
    claim_job(job.id, worker="w")

    # when people replace the mask and delete the image, and the collector runs
    datasets.mask_set(image=image, data=mask_png(16, 12, box=(2, 2, 9, 9)))
    datasets.image_delete(image=image)
    collect_unreferenced()

    # then the run still reads exactly the bytes it froze (copied out of S3 into its scratch folder)
    assert s3_storage.exists(image.file.name) and s3_storage.exists(old_mask)
    scratch = engine.scratch_dir("s3-test-")
    samples = build_samples(job=job, mode="supervised", scratch=scratch)
    uploaded = image_bytes(size=(16, 12))
    ours = [s for s in samples.train + samples.eval if Path(s.image_path).read_bytes() == uploaded]
    assert len(ours) == 1 and ours[0].mask_path is not None
    with s3_storage.open(old_mask, "rb") as fh:
        assert Path(ours[0].mask_path).read_bytes() == fh.read()

    # and once the job ends without a version, the collector removes the files from the bucket
    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING)
    _finish(job.id, JobStatus.FAILED)
    report = collect_unreferenced()
    assert image.file.name in report.deleted and old_mask in report.deleted
    assert not s3_storage.exists(image.file.name) and not s3_storage.exists(old_mask)
    assert image.file.name not in set(stored_names())
