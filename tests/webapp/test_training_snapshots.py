"""Training snapshots: a run trains on what it froze at its start, whatever people edit meanwhile."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import pytest
from django.core.files.storage import default_storage

from webapp.datasets import services as datasets
from webapp.datasets.models import Image, Label, Split
from webapp.training import services, snapshots
from webapp.training.models import JobStatus, ModelVersion, SnapshotEntry, TrainingJob
from webapp.training.runner import claim_job, run_training_job

from .conftest import collect_unreferenced, mask_png
from .test_training_support import fake_ml, make_image, owner, sent, tproject  # noqa: F401

pytestmark = pytest.mark.django_db


def new_job(project, **kwargs) -> TrainingJob:
    return services.create_training_job(project=project, **kwargs)


def _edit_everything(project):
    """What operators do during a run: replace a mask, delete an image, relabel, label new ones, and the
    collector runs (twice, no grace) as if hours had passed."""
    masked = Image.objects.get(project=project, has_mask=True)
    datasets.mask_set(image=masked, data=mask_png(masked.width, masked.height, box=(0, 0, 5, 5)))
    doomed = Image.objects.filter(project=project, split=Split.TEST, label=Label.GOOD).order_by("id").first()
    datasets.image_delete(image=doomed)
    for image in Image.objects.filter(project=project, split=Split.TRAIN).order_by("id")[:2]:
        datasets.image_update(image=image, label=Label.DEFECTIVE)
    fresh = make_image(project, label=Label.UNLABELED, value=35)
    datasets.image_update(image=fresh, label=Label.GOOD, split=Split.TRAIN)
    collect_unreferenced()
    return doomed


def test_a_run_trains_and_evaluates_on_its_snapshot_while_people_edit(tproject, fake_ml, sent):
    # given a job, and operators who edit everything while it trains
    job = new_job(tproject)
    edited = {}
    fake_ml.during = lambda: edited.setdefault("deleted", _edit_everything(tproject))

    # when it runs
    status = run_training_job(job.id, worker="w")

    # then it succeeded on exactly what it froze: 10 good train images, 2 good + 2 defective test images,
    # and it read the deleted image's file during evaluation (FakePredictor opens every eval file)
    assert status == JobStatus.SUCCEEDED
    assert len(fake_ml.calls[0]["samples"]) == 10
    assert len(fake_ml.calls[0]["eval"]) == 4
    job.refresh_from_db()
    assert job.snapshot["images"] == 14 and job.snapshot["train"]["good"] == 10
    assert job.snapshot["test"] == {"images": 4, "good": 2, "defective": 2, "masks": 1}
    assert job.snapshot["changed"] is None and job.snapshot["previous_version"] is None
    version = ModelVersion.objects.get(job=job)
    assert version.snapshot == job.snapshot
    assert version.test_counts == {"good": 2, "defective": 2, "masks": 1}
    # the deleted image's file is still there: the version's snapshot names it
    assert default_storage.exists(edited["deleted"].file.name)


def test_the_next_run_sees_the_edits_and_says_what_changed(tproject, fake_ml, sent):
    first = new_job(tproject)
    fake_ml.during = lambda: _edit_everything(tproject)
    run_training_job(first.id, worker="w")
    fake_ml.during = None

    second = new_job(tproject, mode="auto")
    assert run_training_job(second.id, worker="w") == JobStatus.SUCCEEDED

    second.refresh_from_db()
    assert second.snapshot["previous_version"] == 1
    assert second.snapshot["changed"] == {"added": 1, "removed": 1, "relabelled": 2, "masks": 1, "moved": 0}
    assert second.snapshot["train"] == {"images": 11, "good": 9, "defective": 2, "masks": 0}
    assert second.resolved_mode == "supervised"
    # the supervised run trained on the relabelled defects
    assert sum(s.label == 1 for s in fake_ml.calls[1]["samples"]) == 2


def test_an_unchanged_project_has_an_unchanged_pending_snapshot(tproject, fake_ml, sent):
    run_training_job(new_job(tproject).id, worker="w")

    assert snapshots.is_unchanged(snapshots.pending(tproject))
    image = Image.objects.filter(project=tproject, label=Label.GOOD).first()
    datasets.image_update(image=image, label=Label.DEFECTIVE)
    pending = snapshots.pending(tproject)
    assert not snapshots.is_unchanged(pending) and pending["changed"]["relabelled"] == 1


def test_a_running_job_keeps_the_files_of_its_snapshot_and_releases_them_when_it_fails(tproject, fake_ml, sent):
    # given a job that has started (snapshot frozen) and an image deleted meanwhile
    job = new_job(tproject)
    claim_job(job.id, worker="w")
    image = Image.objects.filter(project=tproject).order_by("id").first()
    name = image.file.name
    datasets.image_delete(image=image)

    # when the collector runs, the file stays: the running job's snapshot refers to it
    collect_unreferenced()
    assert default_storage.exists(name)
    assert SnapshotEntry.objects.filter(job=job, file=name).exists()

    # when the job fails, its entries go and the collector may take the file
    TrainingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING)
    from webapp.training.runner import _finish

    _finish(job.id, JobStatus.FAILED, error="boom")
    assert not SnapshotEntry.objects.filter(job=job).exists()
    collect_unreferenced()
    assert not default_storage.exists(name)


def test_a_reaped_job_releases_its_snapshot(tproject, fake_ml, sent, settings):
    from datetime import timedelta

    from django.utils import timezone

    job = new_job(tproject)
    claim_job(job.id, worker="w")
    assert SnapshotEntry.objects.filter(job=job).count() == 14
    TrainingJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert services.fail_stale_jobs() == [job.id]

    assert not SnapshotEntry.objects.filter(job=job).exists()


def test_unlabelled_images_are_not_in_the_snapshot(tproject, fake_ml, sent):
    make_image(tproject, label=Label.UNLABELED)
    job = new_job(tproject)

    claim_job(job.id, worker="w")

    assert SnapshotEntry.objects.filter(job=job).count() == 14
    assert not SnapshotEntry.objects.filter(job=job, label=Label.UNLABELED).exists()
