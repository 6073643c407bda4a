"""A full disk: nothing half-written is ever trusted, the answer says what was stored (507 for the rest), and jobs
end failed with the reason instead of staying "running"."""

import builtins
import errno
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from webapp.core.exceptions import DISK_FULL
from webapp.datasets import files, importer
from webapp.datasets.models import Image, ImportJob, ImportStatus
from webapp.training import failures

from .conftest import image_bytes, mask_png
from .factories import ImageFactory
from .test_imports import build_zip, tile

pytestmark = pytest.mark.django_db


def full_disk_for(monkeypatch, *markers: str):
    """Writes of files.write_once whose path names one of `markers` get half their bytes out, then ENOSPC."""
    real_open = builtins.open

    class HalfWritten:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
            return False

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    def opener(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return HalfWritten(handle) if "x" in mode and any(m in str(path) for m in markers) else handle

    monkeypatch.setattr(files, "open", opener, raising=False)


def stored(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def upload(client, project, *named):
    files_ = [SimpleUploadedFile(name, data) for name, data in named]
    return client.post(f"/api/v1/projects/{project.pk}/images/", {"files": files_}, format="multipart")


def test_an_upload_on_a_full_disk_says_file_by_file_what_was_stored_and_leaves_no_part(
    api_client, project, monkeypatch, settings
):
    first, second, third = (image_bytes("PNG", color=(c, 40, 90)) for c in (10, 20, 30))
    full_disk_for(monkeypatch, hashlib.sha256(second).hexdigest())

    response = upload(api_client, project, ("a.png", first), ("b.png", second), ("c.png", third))

    assert response.status_code == 201
    body = response.json()
    assert [entry.get("filename") for entry in body] == ["a.png", "b.png", "c.png"]
    assert body[1] == {"filename": "b.png", "status": 507, "error": DISK_FULL}
    assert {i.filename for i in Image.objects.filter(project=project)} == {"a.png", "c.png"}
    names = [p.name for p in stored(settings)]
    assert not any(hashlib.sha256(second).hexdigest() in n for n in names)  # neither the image nor a part of it
    assert not any(n.endswith(".part") for n in names)


def test_a_single_file_on_a_full_disk_is_507_with_the_reason(api_client, project, monkeypatch):
    data = image_bytes("PNG", color=(1, 2, 3))
    full_disk_for(monkeypatch, "images/")

    response = upload(api_client, project, ("a.png", data))

    assert response.status_code == 507 and response.json() == {"detail": DISK_FULL}
    assert not Image.objects.exists()


def test_a_file_left_half_written_by_an_older_write_is_written_again_not_reused(api_client, project, settings):
    data = image_bytes("PNG", size=(60, 40), color=(9, 99, 199))
    first = upload(api_client, project, ("a.png", data)).json()[0]
    path = Path(settings.MEDIA_ROOT) / Image.objects.get(pk=first["id"]).file.name
    path.write_bytes(data[:100])  # what a killed, non-atomic write left under the final name
    Image.objects.all().delete()

    again = upload(api_client, project, ("a.png", data))

    assert again.status_code == 201 and again.json()[0]["duplicate"] is False
    assert path.read_bytes() == data
    file = api_client.get(f"/api/v1/images/{again.json()[0]['id']}/file/")
    assert b"".join(file.streaming_content) == data


def test_concurrent_writers_of_the_same_bytes_keep_one_whole_file(settings):
    name = files.image_name("ab" * 32, "png")
    assert files.write_once(name, b"x" * 1000) is True
    assert files.write_once(name, b"x" * 1000) is False  # already there, whole: this call wrote nothing
    assert (Path(settings.MEDIA_ROOT) / name).read_bytes() == b"x" * 1000
    assert [p.name for p in stored(settings)] == [Path(name).name]


def test_a_mask_on_a_full_disk_is_507_and_the_old_mask_stays(api_client, project, monkeypatch):
    image = ImageFactory(project=project, width=8, height=6)
    url = f"/api/v1/images/{image.pk}/mask/"
    assert api_client.put(url, mask_png(8, 6), content_type="image/png").status_code == 200
    before = b"".join(api_client.get(url).streaming_content)
    full_disk_for(monkeypatch, "masks/")

    response = api_client.put(url, mask_png(8, 6, box=(2, 2, 6, 5)), content_type="image/png")

    assert response.status_code == 507 and response.json()["detail"] == DISK_FULL
    assert b"".join(api_client.get(url).streaming_content) == before


def test_an_archive_that_does_not_fit_leaves_no_part_and_no_job(api_client, project, monkeypatch, settings):
    def half_then_full(self, name, content):
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.read()[:50])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", half_then_full)
    archive = SimpleUploadedFile("lot.zip", build_zip({"a.png": tile(1)}))

    response = api_client.post(f"/api/v1/projects/{project.pk}/imports/", {"archive": archive}, format="multipart")

    assert response.status_code == 507 and response.json()["detail"] == DISK_FULL
    assert not ImportJob.objects.exists() and stored(settings) == []


def test_an_import_that_fills_the_disk_stops_there_and_says_so(project, user, monkeypatch):
    job = importer.import_job_create(
        project=project,
        user=user,
        archive=SimpleUploadedFile("lot.zip", build_zip({f"{i}.png": tile(i + 1) for i in range(5)})),
    )
    full_disk_for(monkeypatch, hashlib.sha256(tile(3)).hexdigest())

    job = importer.run_import(job_id=job.pk)

    assert job.status == ImportStatus.FAILED and job.created == 2
    assert job.error.startswith("The server's disk is full: the import stopped after 2 of 5 images.")
    assert job.errors == []  # one reason for the job, not one per entry left


def test_a_checkpoint_that_does_not_fit_fails_the_training_with_the_disk_sentence():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as cause:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from cause
    except RuntimeError as wrapped:
        assert failures.sentence(wrapped) == failures.DISK_FULL
    assert failures.sentence(RuntimeError("shape mismatch")) == failures.GENERIC


def test_an_import_whose_worker_died_is_failed_on_the_next_look_even_without_beat(api_client, project, user):
    job = ImportJob.objects.create(project=project, created_by=user, status=ImportStatus.RUNNING)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    assert api_client.get(f"/api/v1/imports/{job.pk}/").json()["status"] == "running"  # only 30 s of silence

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))
    polled = api_client.get(f"/api/v1/imports/{job.pk}/").json()

    assert polled["status"] == "failed" and polled["error"] == importer.WORKER_LOST
    assert polled["finished_at"] is not None
