"""Synchronous predict and asynchronous inference batches (files or zip, chunks, results, CSV, heatmaps)."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import base64
import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from webapp.datasets.models import Role
from webapp.training.inference import run_inference_chunk
from webapp.training.models import InferenceBatch, InferenceItem

from .factories import MembershipFactory, ModelVersionFactory, ProjectFactory, UserFactory
from .test_training_support import fake_ml, owner, owner_client, png, sent  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner):
    return ProjectFactory(owner=owner)


@pytest.fixture
def model(project):
    return ModelVersionFactory(project=project, is_active=True, threshold=0.5)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buf.getvalue()


# --- synchronous predict -------------------------------------------------------------------------------


def test_predict_scores_files_with_the_active_model_and_stores_nothing(project, model, owner_client, fake_ml):
    files = [upload("dark.png", png(20, 10, 51)), upload("bright.png", png(20, 10, 204))]

    response = owner_client.post(f"/api/v1/projects/{project.id}/predict/", {"files": files}, format="multipart")

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == model.id
    dark, bright = body["results"]
    assert (dark["filename"], dark["is_defective"], bright["is_defective"]) == ("dark.png", False, True)
    assert bright["score"] == pytest.approx(0.8)
    heatmap = PILImage.open(io.BytesIO(base64.b64decode(bright["heatmap_png_base64"])))
    assert heatmap.mode == "L" and heatmap.size == (20, 10)
    assert not InferenceBatch.objects.exists() and not model.predictions.exists()


def test_predict_without_a_model_is_409(project, owner_client, fake_ml):
    response = owner_client.post(
        f"/api/v1/projects/{project.id}/predict/", {"files": [upload("a.png", png())]}, format="multipart"
    )
    assert response.status_code == 409 and response.json()["detail"]


def test_predict_refuses_more_than_64_files(project, model, owner_client, fake_ml):
    files = [upload(f"{i}.png", png(4, 4, i)) for i in range(65)]
    response = owner_client.post(f"/api/v1/projects/{project.id}/predict/", {"files": files}, format="multipart")
    assert response.status_code == 400 and "64" in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"GIF89a" + b"\x00" * 40, 415), (png()[:40], 400), (b"", 400)],
    ids=["unsupported format", "truncated png", "empty"],
)
def test_predict_validates_files_like_uploads(project, model, owner_client, fake_ml, data, code):
    files = [upload("ok.png", png()), upload("bad.bin", data)]
    response = owner_client.post(f"/api/v1/projects/{project.id}/predict/", {"files": files}, format="multipart")
    assert response.status_code == code and response.json()["detail"]


def test_predict_refuses_files_over_the_size_limit(project, model, owner_client, fake_ml, settings):
    settings.MAX_UPLOAD_BYTES = 100
    response = owner_client.post(
        f"/api/v1/projects/{project.id}/predict/", {"files": [upload("big.png", png(64, 64, 7))]}, format="multipart"
    )
    assert response.status_code == 413


def test_viewers_may_not_predict_and_outsiders_get_404(project, model, fake_ml):
    viewer = APIClient()
    viewer.force_authenticate(MembershipFactory(project=project, user=UserFactory(), role=Role.VIEWER).user)
    outsider = APIClient()
    outsider.force_authenticate(UserFactory())
    for client, code in ((viewer, 403), (outsider, 404)):
        response = client.post(
            f"/api/v1/projects/{project.id}/predict/", {"files": [upload("a.png", png())]}, format="multipart"
        )
        assert response.status_code == code


# --- inference batches ----------------------------------------------------------------------------------


def create_batch(client, project, **data):
    return client.post(f"/api/v1/projects/{project.id}/inference-batches/", data, format="multipart")


def run_all_chunks(batch_id: int, sent) -> None:
    for name, args in list(sent):
        if name == "training.run_inference_chunk" and args[0] == batch_id:
            run_inference_chunk(*args)


def test_a_batch_of_files_is_chunked_processed_and_polled(project, model, owner_client, fake_ml, sent, settings):
    settings.INFERENCE_CHUNK_SIZE = 2
    files = [upload(f"f{i}.png", png(8, 6, 40 * i)) for i in range(5)]

    response = create_batch(owner_client, project, files=files)

    assert response.status_code == 202
    batch = response.json()
    assert (batch["status"], batch["total"], batch["done"]) == ("queued", 5, 0)
    assert [args for name, args in sent] == [(batch["id"], 0), (batch["id"], 1), (batch["id"], 2)]

    run_all_chunks(batch["id"], sent)

    polled = owner_client.get(f"/api/v1/inference-batches/{batch['id']}/").json()
    assert (polled["status"], polled["total"], polled["done"]) == ("succeeded", 5, 5)


def test_results_are_paginated_with_scores_decisions_and_downloadable_heatmaps(
    project, model, owner_client, fake_ml, sent
):
    files = [upload("dark.png", png(9, 7, 51)), upload("bright.png", png(9, 7, 204))]
    batch_id = create_batch(owner_client, project, files=files).json()["id"]
    run_all_chunks(batch_id, sent)

    page = owner_client.get(f"/api/v1/inference-batches/{batch_id}/results/?page_size=1").json()
    assert page["count"] == 2 and page["next"]
    first = page["results"][0]
    assert (first["filename"], first["is_defective"]) == ("dark.png", False)
    assert first["score"] == pytest.approx(0.2)

    heatmap = owner_client.get(first["heatmap_url"])
    assert heatmap.status_code == 200
    image = PILImage.open(io.BytesIO(b"".join(heatmap.streaming_content)))
    assert image.mode == "L" and image.size == (9, 7)


def test_results_as_csv(project, model, owner_client, fake_ml, sent):
    batch_id = create_batch(owner_client, project, files=[upload("a.png", png(4, 4, 204))]).json()["id"]
    run_all_chunks(batch_id, sent)

    response = owner_client.get(f"/api/v1/inference-batches/{batch_id}/results/?format=csv")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 and rows[0]["filename"] == "a.png" and rows[0]["is_defective"] == "True"
    assert float(rows[0]["score"]) == pytest.approx(0.8) and rows[0]["heatmap_url"].startswith("http")


def test_a_zip_brings_its_images_and_reports_bad_entries_without_escaping(project, model, owner_client, fake_ml, sent):
    archive = zip_of(
        {
            "lot1/a.png": png(5, 5, 10),
            "../../escape.png": png(5, 5, 20),
            "notes.txt": b"not an image",
            "lot1/.hidden.png": png(5, 5, 30),
        }
    )

    response = create_batch(owner_client, project, archive=upload("lot.zip", archive))

    assert response.status_code == 202
    batch_id = response.json()["id"]
    run_all_chunks(batch_id, sent)
    items = {i.filename: i for i in InferenceItem.objects.filter(batch_id=batch_id)}
    assert set(items) == {"lot1/a.png", "../../escape.png", "notes.txt"}
    assert items["notes.txt"].error and items["notes.txt"].score is None
    # an entry whose path escapes the archive is a row with its reason, as an import reports it, and unscored
    escape = items["../../escape.png"]
    assert escape.score is None and "path escapes the archive" in escape.error
    polled = owner_client.get(f"/api/v1/inference-batches/{batch_id}/").json()
    assert (polled["status"], polled["done"], polled["failed"]) == ("succeeded", 3, 2)


def test_a_damaged_zip_entry_becomes_a_failed_row_and_the_rest_is_scored(project, model, owner_client, fake_ml, sent):
    good, damaged = png(5, 5, 10), png(6, 6, 90)
    archive = bytearray(zip_of({"a.png": good, "b.png": damaged}))  # stored, not compressed
    at = archive.index(damaged) + len(damaged) // 2
    archive[at] ^= 0xFF  # the entry's CRC no longer matches

    response = create_batch(owner_client, project, archive=upload("lot.zip", bytes(archive)))

    assert response.status_code == 202
    batch_id = response.json()["id"]
    run_all_chunks(batch_id, sent)
    items = {i.filename: i for i in InferenceItem.objects.filter(batch_id=batch_id)}
    assert items["b.png"].error and items["b.png"].score is None
    assert not items["a.png"].error and items["a.png"].score is not None


def encrypted(archive: bytes, only: str | None = None) -> bytes:
    """The zip with its entries (or the entry named `only`) marked password-protected (general purpose flag
    bit 0), as a zip tool writes them."""
    data = bytearray(archive)
    # (signature, offset of the flags, offset of the name's length, offset of the name)
    for signature, flags, length, name in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        at = data.find(signature)
        while at != -1:
            size = int.from_bytes(data[at + length : at + length + 2], "little")
            if only is None or data[at + name : at + name + size].decode() == only:
                data[at + flags] |= 0x01
            at = data.find(signature, at + 4)
    return bytes(data)


def test_a_damaged_zip_entry_says_so_in_its_row(project, model, owner_client, fake_ml, sent):
    good, damaged = png(5, 5, 10), png(6, 6, 90)
    archive = bytearray(zip_of({"a.png": good, "b.png": damaged}))
    archive[archive.index(damaged) + len(damaged) // 2] ^= 0xFF

    batch_id = create_batch(owner_client, project, archive=upload("lot.zip", bytes(archive))).json()["id"]

    assert InferenceItem.objects.get(batch_id=batch_id, filename="b.png").error.startswith("The zip entry is damaged")


def test_a_batch_whose_every_file_is_refused_is_415_or_400_with_each_reason_and_keeps_nothing(
    project, model, owner_client, sent
):
    gif = b"GIF89a" + b"\x00" * 20
    only_gif = create_batch(owner_client, project, files=[upload("x.gif", gif)])
    two_kinds = create_batch(owner_client, project, files=[upload("x.gif", gif), upload("y.png", b"\x89PNG\r\n\x1a\n")])
    locked = create_batch(owner_client, project, archive=upload("lot.zip", encrypted(zip_of({"a.jpg": png(5, 5, 9)}))))

    assert only_gif.status_code == 415 and "Unsupported image format" in only_gif.json()["detail"]
    assert two_kinds.status_code == 400 and two_kinds.json()["detail"] == "None of the 2 files was scored."
    assert [e["filename"] for e in two_kinds.json()["errors"]] == ["x.gif", "y.png"]
    assert locked.status_code == 400 and "encrypted (password-protected)" in locked.json()["detail"]
    assert not InferenceBatch.objects.exists() and not InferenceItem.objects.exists()
    assert [name for name, _ in sent if name == "training.run_inference_chunk"] == []


def test_predict_refuses_an_unknown_query_parameter(project, model, owner_client, fake_ml):
    response = owner_client.post(
        f"/api/v1/projects/{project.pk}/predict/?threshold=0.2", {"files": [upload("a.png", png(5, 5, 10))]}
    )
    assert response.status_code == 400 and "'threshold'" in response.json()["detail"]
    assert "takes none" in response.json()["detail"]


def test_an_archive_over_the_size_limit_is_413(project, model, owner_client, sent, settings):
    settings.MAX_ARCHIVE_BYTES = 100
    archive = zip_of({"a.png": png(20, 20, 10)})

    response = create_batch(owner_client, project, archive=upload("lot.zip", archive))

    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert not InferenceBatch.objects.exists()


def test_two_archives_in_one_batch_are_400_and_no_batch_is_kept(project, model, owner_client, sent):
    parts = [upload(f"{name}.zip", zip_of({f"{name}.png": png(5, 5, n)})) for n, name in enumerate("ab", 1)]

    response = create_batch(owner_client, project, archive=parts)

    assert response.status_code == 400 and "this one has 2" in response.json()["detail"]
    assert not InferenceBatch.objects.exists()


def test_a_corrupt_zip_is_400(project, model, owner_client, sent):
    response = create_batch(owner_client, project, archive=upload("lot.zip", b"PK\x03\x04 nope"))
    assert response.status_code == 400


def test_a_redelivered_chunk_does_not_count_twice(project, model, owner_client, fake_ml, sent):
    batch_id = create_batch(owner_client, project, files=[upload("a.png", png())]).json()["id"]
    run_all_chunks(batch_id, sent)
    assert run_inference_chunk(batch_id, 0) == 0
    assert InferenceBatch.objects.get(id=batch_id).done == 1


def test_a_batch_without_a_model_is_409_and_without_files_400(project, owner_client, sent):
    assert create_batch(owner_client, project, files=[upload("a.png", png())]).status_code == 409
    ModelVersionFactory(project=project, is_active=True)
    assert create_batch(owner_client, project).status_code == 400


def test_when_the_queue_is_down_the_batch_is_saved_and_sent_later(project, model, owner_client, fake_ml, sent):
    from webapp.training import services

    sent.broker_up = False
    response = create_batch(owner_client, project, files=[upload("a.png", png())])
    assert response.status_code == 503 and response.json()["id"]
    assert InferenceBatch.objects.get(id=response.json()["id"]).status == "queued"

    sent.broker_up = True
    assert services.dispatch_and_reap()["batches"] == [response.json()["id"]]


def test_a_batch_whose_chunk_worker_died_is_sent_again_after_a_quiet_spell(
    project, model, owner_client, fake_ml, sent, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from webapp.training import services

    settings.INFERENCE_CHUNK_SIZE = 1
    files = [upload(f"{i}.png", png(5, 5, 10 * i + 5)) for i in range(3)]
    batch_id = create_batch(owner_client, project, files=files).json()["id"]
    run_inference_chunk(batch_id, 0)  # chunk 0 done; the worker scoring chunk 1 is killed, chunk 2 waits behind it
    sent.clear()
    assert services.redispatch_inference_batches() == []  # it was just scored: nothing is lost yet

    # Three minutes without any item scored: the chunks left are sent again, and the batch finishes.
    long_ago = timezone.now() - timedelta(seconds=settings.INFERENCE_STALL_SECONDS + 1)
    InferenceBatch.objects.filter(id=batch_id).update(dispatched_at=long_ago)
    InferenceItem.objects.filter(batch_id=batch_id).exclude(processed_at=None).update(processed_at=long_ago)
    assert services.redispatch_inference_batches() == [batch_id]
    assert sorted(args[1] for name, args in sent if name == "training.run_inference_chunk") == [1, 2]
    run_all_chunks(batch_id, sent)
    polled = owner_client.get(f"/api/v1/inference-batches/{batch_id}/").json()
    assert (polled["status"], polled["done"], polled["failed"]) == ("succeeded", 3, 0)


def test_a_model_that_cannot_be_loaded_fails_the_batch_visibly_instead_of_looping(
    project, model, owner_client, fake_ml, sent, monkeypatch
):
    from webapp.training import engine, services

    def broken(path, device):
        raise OSError("checkpoint unreadable")

    monkeypatch.setattr(engine, "load_predictor", broken)
    engine.forget_predictors()
    batch_id = create_batch(owner_client, project, files=[upload("a.png", png())]).json()["id"]

    run_all_chunks(batch_id, sent)

    polled = owner_client.get(f"/api/v1/inference-batches/{batch_id}/").json()
    assert polled["status"] == "failed"
    assert "could not be loaded" in InferenceBatch.objects.get(id=batch_id).error
    assert batch_id not in services.redispatch_inference_batches()


def test_batches_are_private_to_project_members(project, model, owner_client, fake_ml, sent):
    batch_id = create_batch(owner_client, project, files=[upload("a.png", png())]).json()["id"]
    run_all_chunks(batch_id, sent)
    item = InferenceItem.objects.get(batch_id=batch_id)
    outsider = APIClient()
    outsider.force_authenticate(UserFactory())
    for path in (
        f"/api/v1/inference-batches/{batch_id}/",
        f"/api/v1/inference-batches/{batch_id}/results/",
        f"/api/v1/inference-items/{item.id}/heatmap/",
    ):
        assert outsider.get(path).status_code == 404
    assert create_batch(outsider, project, files=[upload("a.png", png())]).status_code == 404


def test_workers_load_each_model_version_once_and_keep_the_most_recent(project, fake_ml, settings, monkeypatch):
    from webapp.training import engine

    from .test_training_support import FakePredictor

    loads = []
    monkeypatch.setattr(engine, "load_predictor", lambda path, device: loads.append(path) or FakePredictor(path))
    settings.PREDICTOR_CACHE_SIZE = 2
    v1, v2, v3 = (ModelVersionFactory(project=project, version=n) for n in (1, 2, 3))

    first = engine.predictor_for(v1)
    assert engine.predictor_for(v1) is first and len(loads) == 1
    engine.predictor_for(v2)
    engine.predictor_for(v1)  # most recently used again
    engine.predictor_for(v3)  # evicts v2, the least recently used
    assert engine.predictor_for(v1) is first and len(loads) == 3
    engine.predictor_for(v2)
    assert len(loads) == 4
