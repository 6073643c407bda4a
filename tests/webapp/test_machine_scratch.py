"""Several machines, each with its own DATA_DIR: a machine keeps one copy of each stored checkpoint it uses
(downloaded whole or not at all), removes the copies of versions that are gone, and every worker cleans its
own machine's scratch, whichever queues it consumes."""

import os
import time
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.base import ContentFile

from webapp.training import engine, scratch
from webapp.training.models import ModelVersion

from .factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def copies(settings) -> list[str]:
    folder = Path(settings.DATA_DIR) / "tmp" / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_machine_downloads_a_checkpoint_once_for_every_process_and_restart(s3_storage, settings, project):
    name = s3_storage.save("models/project-1/job-2-abc.pt", ContentFile(b"weights"))

    first = engine.local_checkpoint(name)
    with mock.patch.object(engine, "_download", side_effect=AssertionError("downloaded again")):
        again = engine.local_checkpoint(name)  # another process of the machine, or the same after a restart

    assert first == again and Path(first).read_bytes() == b"weights"
    assert copies(settings) == [engine.checkpoint_copy_name(name)]


def test_a_failed_download_leaves_no_empty_copy_behind(s3_storage, settings, project):
    name = s3_storage.save("models/project-1/job-3-abc.pt", ContentFile(b"weights"))

    with mock.patch.object(s3_storage, "open", side_effect=OSError("Could not connect to the endpoint URL")):
        with pytest.raises(OSError):
            engine.local_checkpoint(name)

    assert copies(settings) == []  # the next try downloads it again, instead of loading a 0-byte file
    assert Path(engine.local_checkpoint(name)).read_bytes() == b"weights"


def test_copies_of_deleted_versions_and_old_partial_downloads_are_removed(s3_storage, settings, project):
    kept = ModelVersionFactory(project=project)
    gone = ModelVersionFactory(project=project)
    kept_copy, gone_copy = engine.local_checkpoint(kept.checkpoint.name), engine.local_checkpoint(gone.checkpoint.name)
    folder = Path(kept_copy).parent
    old_partial, new_partial = folder / ".x.pt.1.part", folder / ".y.pt.2.part"
    for partial, age in ((old_partial, settings.SCRATCH_MAX_AGE_SECONDS + 60), (new_partial, 5)):
        partial.write_bytes(b"half")
        os.utime(partial, (time.time() - age, time.time() - age))
    ModelVersion.objects.filter(pk=gone.pk).delete()

    removed = scratch.clean_stale_scratch()

    assert sorted(removed) == sorted([f"checkpoints/{Path(gone_copy).name}", f"checkpoints/{old_partial.name}"])
    assert Path(kept_copy).exists() and new_partial.exists()


def test_every_worker_cleans_its_own_machine_at_start_whatever_its_queues(settings):
    settings.SCRATCH_CLEAN_INTERVAL_SECONDS = 3600
    ran = []
    step = scratch.ScratchCleaner(mock.Mock())
    with mock.patch.object(scratch, "clean_stale_scratch", side_effect=lambda: ran.append(1) or []):
        step.start(mock.Mock())
        deadline = time.time() + 5
        while not ran and time.time() < deadline:
            time.sleep(0.01)
        step.stop(mock.Mock())

    assert ran == [1]


def test_the_celery_app_runs_the_cleaner_in_every_worker():
    from webapp.config.celery import app

    assert scratch.ScratchCleaner in app.steps["worker"]


def test_the_web_cleans_its_machine_at_start_with_a_command(settings):
    from io import StringIO

    from django.core.management import call_command

    stale = engine.scratch_dir("export-")
    os.utime(stale, (time.time() - settings.SCRATCH_MAX_AGE_SECONDS - 60,) * 2)
    out = StringIO()

    call_command("clean_scratch", stdout=out)

    assert not stale.exists() and "removed 1 stale scratch entries" in out.getvalue()
