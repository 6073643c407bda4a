"""Zip imports: MVTec AD layout and flat zips, hostile entries, caps, the Celery task, magnetic_tile."""

import errno
import io
import stat
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from webapp.datasets import importer
from webapp.datasets.models import Image, ImportJob, ImportStatus, Label, Mask, Role

from .conftest import image_bytes, mask_png, stored_files

pytestmark = pytest.mark.django_db

MAGNETIC_TILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "magnetic_tile"


def build_zip(entries: dict[str, bytes], symlinks: dict[str, str] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in dict(symlinks).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def tile(n: int, size=(16, 12)) -> bytes:
    return image_bytes("PNG", size=size, color=(n, 255 - n, 3 * n % 256))


def run(project, user, data: bytes, name: str = "data.zip") -> ImportJob:
    job = importer.import_job_create(project=project, user=user, archive=SimpleUploadedFile(name, data))
    return importer.run_import(job_id=job.pk)


def mvtec_zip() -> bytes:
    return build_zip(
        {
            "tiles/train/good/000.png": tile(1),
            "tiles/train/good/001.png": tile(2),
            "tiles/train/crack/010.png": tile(3),  # a defect placed in train (supervised training)
            "tiles/test/good/002.png": tile(4),
            "tiles/test/crack/011.png": tile(5),
            "tiles/test/crack/012.png": tile(6),
            "tiles/test/hole/013.jpg": image_bytes("JPEG", size=(16, 12)),
            "tiles/ground_truth/crack/010_mask.png": mask_png(16, 12),
            "tiles/ground_truth/crack/011_mask.png": mask_png(16, 12, box=(0, 0, 4, 4)),
            "tiles/ground_truth/crack/012_mask.png": mask_png(16, 12, box=(0, 0, 0, 0)),  # empty
            "tiles/ground_truth/hole/013_mask.png": mask_png(10, 10),  # wrong size
            "tiles/ground_truth/hole/999_mask.png": mask_png(16, 12),  # no image
            "tiles/README.txt": b"about these tiles",
        }
    )


def test_an_mvtec_archive_brings_labels_masks_and_splits(project, user, settings):
    job = run(project, user, mvtec_zip())

    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert (job.created, job.duplicates, job.masks, job.progress, job.total) == (7, 0, 2, 1.0, 7)
    rows = {
        image.filename: (image.label, image.split, image.has_mask, image.split_locked) for image in project.images.all()
    }
    assert rows == {
        "000.png": ("good", "train", False, True),
        "001.png": ("good", "train", False, True),
        "010.png": ("defective", "train", True, True),
        "002.png": ("good", "test", False, True),
        "011.png": ("defective", "test", True, True),
        "012.png": ("defective", "test", False, True),
        "013.jpg": ("defective", "test", False, True),
    }
    assert Mask.objects.get(image__filename="011.png").area == 16
    skipped = {entry["name"]: entry["reason"] for entry in job.skipped}
    assert "empty mask" in skipped["tiles/ground_truth/crack/012_mask.png"]
    assert "without a matching" in skipped["tiles/ground_truth/hole/999_mask.png"]
    assert "outside the MVTec AD layout" in skipped["tiles/README.txt"]
    assert [entry["name"] for entry in job.errors] == ["tiles/ground_truth/hole/013_mask.png"]
    assert "must be 16x12" in job.errors[0]["reason"]
    assert not any(name.startswith("imports/") for name in stored_files(settings.MEDIA_ROOT))  # archive removed
    project.refresh_from_db()
    assert project.labels_since_training == 7 + 2  # labelled images + masks


def test_a_flat_zip_imports_unlabeled_images_and_reports_duplicates(project, user):
    job = run(project, user, build_zip({"a.png": tile(1), "sub/b.bmp": image_bytes("BMP"), "copy.png": tile(1)}))

    assert job.status == ImportStatus.SUCCEEDED
    assert (job.created, job.duplicates) == (2, 1)
    assert set(project.images.values_list("label", "split")) == {("unlabeled", "train")}
    again = run(project, user, build_zip({"a.png": tile(1)}))
    assert (again.created, again.duplicates) == (0, 1)


def test_hostile_entries_are_skipped_and_nothing_is_written_outside(project, user, settings, tmp_path):
    data = build_zip(
        {
            "../escape.png": tile(1),
            "ok/../../escape2.png": tile(2),
            "/etc/evil.png": tile(3),
            "C:/windows/evil.png": tile(4),
            "dir\\..\\evil.png": tile(5),
            "fine.png": tile(6),
        },
        symlinks={"link.png": "/etc/passwd"},
    )

    job = run(project, user, data)

    assert job.status == ImportStatus.SUCCEEDED
    assert list(project.images.values_list("filename", flat=True)) == ["fine.png"]
    reasons = {entry["name"]: entry["reason"] for entry in job.skipped}
    assert reasons["../escape.png"] == "path escapes the archive"
    assert reasons["ok/../../escape2.png"] == "path escapes the archive"
    assert reasons["/etc/evil.png"] == "absolute path"
    assert reasons["C:/windows/evil.png"] == "absolute path"
    assert reasons["dir\\..\\evil.png"] == "path escapes the archive"
    assert reasons["link.png"] == "symbolic link"
    assert not list(tmp_path.parent.glob("escape*.png")) and not (tmp_path / "escape.png").exists()
    assert all(name.startswith(("images/", "thumbnails/")) for name in stored_files(settings.MEDIA_ROOT))


def test_bad_entries_do_not_stop_the_rest(project, user):
    good, corrupt = tile(1), tile(2)[:60]
    raw = io.BytesIO(
        build_zip(
            {"a.png": good, "b.png": corrupt, "c.txt": b"hi", "d.png": tile(3), "e.gif": image_bytes("GIF", mode="P")}
        )
    )

    job = run(project, user, raw.getvalue())

    assert job.status == ImportStatus.SUCCEEDED
    assert sorted(project.images.values_list("filename", flat=True)) == ["a.png", "d.png"]
    errors = {entry["name"]: entry["reason"] for entry in job.errors}
    assert "orrupt" in errors["b.png"] and "Unsupported" in errors["e.gif"]
    assert {"name": "c.txt", "reason": "not an image file"} in job.skipped


def test_an_entry_with_a_broken_crc_is_reported(project, user):
    data = bytearray(build_zip({"a.png": tile(1), "b.png": tile(2)}))
    # Flip a byte inside b.png's stored data: its CRC check fails while reading.
    offset = bytes(data).index(b"IDAT", bytes(data).index(b"b.png")) + 6
    data[offset] ^= 0xFF

    job = run(project, user, bytes(data))

    assert job.status == ImportStatus.SUCCEEDED
    assert list(project.images.values_list("filename", flat=True)) == ["a.png"]
    assert [entry["name"] for entry in job.errors] == ["b.png"]


def test_too_many_entries_refuse_the_archive(project, user, settings):
    settings.MAX_ARCHIVE_ENTRIES = 2
    job = run(project, user, build_zip({f"{n}.png": tile(n) for n in range(3)}))

    assert job.status == ImportStatus.FAILED and "3 entries" in job.error
    assert project.images.count() == 0


def test_a_zip_bomb_is_refused_before_reading(project, user, settings):
    settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES = 10_000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bmp", b"\x00" * 1_000_000)

    job = run(project, user, out.getvalue())

    assert job.status == ImportStatus.FAILED and "unpacks to 1000000 bytes" in job.error
    assert len(out.getvalue()) < 5_000


def test_oversized_entries_are_errors(project, user, settings):
    settings.MAX_UPLOAD_BYTES = 500
    job = run(project, user, build_zip({"big.bmp": image_bytes("BMP", size=(50, 50)), "small.png": tile(1)}))
    assert [entry["name"] for entry in job.errors] == ["big.bmp"]
    assert project.images.count() == 1


def test_a_finished_job_is_not_run_twice(project, user):
    job = run(project, user, build_zip({"a.png": tile(1)}))
    assert importer.run_import(job_id=job.pk).created == 1
    assert project.images.count() == 1


# ---------------------------------------------------------------- through the API


def post_archive(client, project, data: bytes, name="data.zip"):
    return client.post(
        f"/api/v1/projects/{project.pk}/imports/", {"archive": SimpleUploadedFile(name, data)}, format="multipart"
    )


@pytest.fixture
def eager_celery():
    from webapp.config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)  # real commits: the job is sent to the queue before the response
def test_the_api_queues_a_job_and_the_task_runs_it(api_client, project, eager_celery):
    response = post_archive(api_client, project, mvtec_zip())

    assert response.status_code == 202
    body = response.json()
    assert {"id", "status", "progress", "created", "skipped", "errors"} <= set(body)
    assert body["status"] == "queued" and body["queue"] == "ok"
    polled = api_client.get(f"/api/v1/imports/{body['id']}/").json()
    assert polled["status"] == "succeeded" and polled["created"] == 7 and polled["progress"] == 1.0
    assert api_client.get(f"/api/v1/projects/{project.pk}/imports/").json()["count"] == 1


def test_the_task_is_named_and_routed_to_infer():
    from webapp.datasets.tasks import import_archive

    assert import_archive.name == "datasets.import_archive" and import_archive.queue == "infer"


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_job_is_kept_queued(api_client, project, monkeypatch):
    monkeypatch.setattr("webapp.core.queue.enqueue", lambda task, *args: False)  # test_queue.py covers enqueue
    response = post_archive(api_client, project, build_zip({"a.png": tile(1)}))

    assert response.status_code == 503 and "unreachable" in response.json()["detail"]
    assert response.json()["job"]["status"] == "queued" and response.json()["job"]["queue"] == "unavailable"
    assert ImportJob.objects.get(pk=response.json()["id"]).archive.name.startswith("imports/")
    # Pollers see it too, not only the answer to the POST; once the broker is back beat's sending says "ok".
    polled = api_client.get(f"/api/v1/imports/{response.json()['id']}/").json()
    listed = api_client.get(f"/api/v1/projects/{project.pk}/imports/").json()["results"][0]
    assert polled["queue"] == listed["queue"] == "unavailable" and polled["status"] == "queued"
    monkeypatch.setattr("webapp.core.queue.enqueue", lambda task, *args: True)
    ImportJob.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert importer.redispatch_and_reap()["sent"] == 1
    assert api_client.get(f"/api/v1/imports/{response.json()['id']}/").json()["queue"] == "ok"


def test_an_encrypted_entry_is_reported_in_words_and_the_others_are_imported(project, user):
    from .test_inference_api import encrypted

    archive = encrypted(build_zip({"open.png": tile(1), "secret.png": tile(2)}), only="secret.png")

    job = run(project, user, archive)

    assert job.status == ImportStatus.SUCCEEDED and job.created == 1
    reason = "The zip entry is encrypted (password-protected); zip the images without a password."
    assert job.errors == [{"name": "secret.png", "reason": reason}]


def test_a_file_that_is_not_a_zip_is_400(api_client, project):
    response = post_archive(api_client, project, b"PK but not really", name="x.zip")
    assert response.status_code == 400 and "not a zip" in response.json()["detail"]
    assert ImportJob.objects.count() == 0


def test_an_archive_over_the_limit_is_413(api_client, project, settings):
    settings.MAX_ARCHIVE_BYTES = 100
    assert post_archive(api_client, project, build_zip({"a.png": tile(1)})).status_code == 413


def test_a_missing_archive_is_400(api_client, project):
    response = api_client.post(f"/api/v1/projects/{project.pk}/imports/", {}, format="multipart")
    assert response.status_code == 400 and "archive" in response.json()["detail"]


def test_two_archives_in_one_request_are_400_and_neither_is_imported(api_client, project):
    """Taking one of them silently would leave the client guessing which lot it imported."""
    parts = [SimpleUploadedFile(name, build_zip({name + ".png": tile(n)})) for n, name in enumerate(["a", "b"], 1)]

    response = api_client.post(f"/api/v1/projects/{project.pk}/imports/", {"archive": parts}, format="multipart")

    assert response.status_code == 400 and "one 'archive' file per request; this one has 2" in response.json()["detail"]
    assert ImportJob.objects.count() == 0


def test_an_import_counts_its_labels_as_it_goes_so_one_stopped_half_way_loses_none(project, user, monkeypatch):
    """A killed worker runs no `finally`: what the import stored before it died must already be counted for
    retraining, since importing the archive again finds those images (duplicates) and counts nothing."""
    from webapp.datasets.models import Project

    monkeypatch.setattr(importer, "PROGRESS_EVERY_S", -1.0)  # a progress write after every image
    counted_during = []
    real_import_one = importer._import_one

    def import_one(job, *args):
        counted_during.append(Project.objects.get(pk=project.pk).labels_since_training)
        return real_import_one(job, *args)

    monkeypatch.setattr(importer, "_import_one", import_one)
    told = []
    monkeypatch.setattr(importer.services, "labels_arrived", told.append)
    entries = {f"lot/train/good/{i:03}.png": tile(i + 1) for i in range(4)}

    job = run(project, user, build_zip(entries))

    assert job.status == ImportStatus.SUCCEEDED
    assert counted_during == [0, 1, 2, 3]  # each stored label was counted before the next image was read
    assert Project.objects.get(pk=project.pk).labels_since_training == 4  # and none twice
    assert told == [project.pk]  # retraining is told once, at the end


def test_an_import_that_fails_half_way_keeps_the_labels_it_stored_counted(project, user, monkeypatch):
    from webapp.datasets.models import Project

    real_import_one = importer._import_one
    calls = []

    def import_one(job, *args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_import_one(job, *args)

    monkeypatch.setattr(importer, "_import_one", import_one)
    entries = {f"lot/train/good/{i:03}.png": tile(i + 1) for i in range(4)}

    job = run(project, user, build_zip(entries))

    assert job.status == ImportStatus.FAILED and job.created == 2 and "disk is full" in job.error
    assert Project.objects.get(pk=project.pk).labels_since_training == 2  # no progress write came in between


def test_reaping_an_import_whose_worker_died_lets_retraining_look_at_what_it_counted(project, user, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    told = []
    monkeypatch.setattr(importer.services, "labels_arrived", told.append)
    job = ImportJob.objects.create(project=project, created_by=user, status=ImportStatus.RUNNING)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))

    assert importer.reap_lost_imports() == 1
    assert told == [project.pk]
    assert importer.reap_lost_imports() == 0 and told == [project.pk]


def test_import_permissions(project, member_client, outsider_client, api_client, user):
    job = run(project, user, build_zip({"a.png": tile(1)}))

    assert post_archive(member_client(Role.VIEWER), project, build_zip({"a.png": tile(1)})).status_code == 403
    assert post_archive(outsider_client, project, build_zip({"a.png": tile(1)})).status_code == 404
    assert outsider_client.get(f"/api/v1/imports/{job.pk}/").status_code == 404
    assert member_client(Role.VIEWER).get(f"/api/v1/imports/{job.pk}/").status_code == 200


# ---------------------------------------------------------------- the real data set


@pytest.mark.skipif(not MAGNETIC_TILE.exists(), reason="shared/data/magnetic_tile is not here")
def test_magnetic_tile_imports_as_1344_images(project, user, tmp_path):
    archive_path = tmp_path / "magnetic_tile.zip"
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(MAGNETIC_TILE.rglob("*")):
            if path.is_file():
                archive.write(path, f"magnetic_tile/{path.relative_to(MAGNETIC_TILE)}")

    job = run(project, user, archive_path.read_bytes(), name="magnetic_tile.zip")

    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.errors == []
    images = Image.objects.filter(project=project)
    assert images.count() == 1344
    assert images.filter(label=Label.GOOD).count() == 952
    assert images.filter(label=Label.DEFECTIVE).count() == 392
    assert images.filter(has_mask=True).count() == 388 == Mask.objects.filter(image__project=project).count()
    assert images.filter(split="train").count() == 761
    assert images.filter(split="test", label=Label.GOOD).count() == 191
    assert images.filter(split="test", label=Label.DEFECTIVE).count() == 392
    assert len([entry for entry in job.skipped if "empty mask" in entry["reason"]]) == 4
    # Defect types from the test/<type> folders (the dataset's manifest.csv agrees and is consumed, not skipped).
    types = Counter(images.values_list("defect_type", flat=True))
    assert types == {None: 952, "blowhole": 115, "break": 85, "crack": 57, "fray": 32, "uneven": 103}
    assert not any(entry["name"].endswith("manifest.csv") for entry in job.skipped)


def test_queued_imports_are_sent_again_and_dead_ones_failed(project, user, monkeypatch):
    sent = []
    monkeypatch.setattr(importer, "dispatch", lambda job: sent.append(job.pk) or True)
    old = timezone.now() - timedelta(hours=1)
    waiting = ImportJob.objects.create(project=project, archive="imports/a.zip")
    fresh = ImportJob.objects.create(project=project, archive="imports/b.zip")
    dead = ImportJob.objects.create(project=project, status=ImportStatus.RUNNING, heartbeat_at=old)
    alive = ImportJob.objects.create(project=project, status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    ImportJob.objects.filter(pk__in=[waiting.pk, dead.pk, alive.pk]).update(created_at=old)

    assert importer.redispatch_and_reap() == {"sent": 1, "reaped": 1}

    assert sent == [waiting.pk] and fresh.pk not in sent
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == ImportStatus.FAILED and "stopped" in dead.error
    assert alive.status == ImportStatus.RUNNING


def test_celery_beat_runs_the_import_dispatcher():
    from webapp.config.celery import app

    entry = app.conf.beat_schedule["datasets.redispatch_imports"]
    assert entry["task"] == "datasets.redispatch_imports" and entry["options"]["queue"] == "infer"


def test_a_lost_import_gives_its_archive_back_to_the_storage(
    api_client, project, user, django_capture_on_commit_callbacks
):
    name = default_storage.save("imports/lost.zip", ContentFile(b"PK" + b"\0" * 100))
    job = ImportJob.objects.create(project=project, created_by=user, status=ImportStatus.RUNNING, archive=name)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))

    with django_capture_on_commit_callbacks(execute=True):
        polled = api_client.get(f"/api/v1/imports/{job.pk}/").json()

    assert polled["status"] == "failed" and not default_storage.exists(name)
    assert ImportJob.objects.get(pk=job.pk).archive.name == ""


def test_the_worker_never_writes_back_a_queue_state_it_read_before_the_web_wrote_it(project, user, monkeypatch):
    job = ImportJob.objects.create(project=project, created_by=user)
    original = importer._import

    def web_writes_meanwhile(job, archive):  # the web's dispatch() lands after the worker read the row
        ImportJob.objects.filter(pk=job.pk).update(queue="ok")
        return original(job, archive)

    monkeypatch.setattr(importer, "_import", web_writes_meanwhile)
    archive = default_storage.save("imports/a.zip", ContentFile(build_zip({"good/a.png": tile(1)})))
    ImportJob.objects.filter(pk=job.pk).update(archive=archive)

    importer.run_import(job_id=job.pk)

    assert ImportJob.objects.get(pk=job.pk).queue == "ok"
