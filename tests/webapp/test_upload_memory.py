"""Large images and many files cost bounded memory (issue 10, item 6): decode size is checked from the header
(413 with the reason), thumbnails never copy the full-size image, and bulk inference spools uploads to disk
and checks each file before reading the next."""
# ruff: noqa: F811 - pytest fixtures imported from test_training_support are parameters here

import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from webapp.datasets.models import Image
from webapp.training.api import views as training_views
from webapp.training.models import InferenceItem

from .conftest import image_bytes, png_claiming
from .factories import ModelVersionFactory
from .test_training_support import sent  # noqa: F401

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_an_image_whose_decode_needs_more_than_the_limit_is_413_with_the_reason(api_client, project, settings):
    settings.MAX_DECODE_BYTES = 2**20  # 1 MiB; the PNG claims 2000 x 1000 grayscale = 2 MB decoded
    data = png_claiming(2000, 1000)

    response = api_client.post(
        f"/api/v1/projects/{project.pk}/images/", {"files": [SimpleUploadedFile("big.png", data)]}, format="multipart"
    )

    assert response.status_code == 413
    assert "MAX_DECODE_BYTES" in response.json()["detail"]
    assert not Image.objects.exists()


PROBE = textwrap.dedent(
    """
    import resource, sys
    import django
    django.setup()
    from webapp.datasets import imaging
    data = open(sys.argv[1], "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checked = imaging.open_checked(data)
    imaging.thumbnail_jpeg(checked.image)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
    """
)


def test_a_thumbnail_of_a_large_rgba_image_costs_about_one_decoded_copy(tmp_path):
    side = 3000
    path = tmp_path / "large.png"
    PILImage.new("RGBA", (side, side), (30, 60, 90, 128)).save(path, compress_level=1)
    decoded = side * side * 4  # 36 MB, whatever the file's few kilobytes

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.config.test_settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    grown = int(out.stdout.strip().splitlines()[-1])

    # The decode itself plus small change (about 1.2 copies); converting it at full size took 5 copies.
    assert grown < 1.5 * decoded, f"{grown / 2**20:.0f} MiB for a {decoded / 2**20:.0f} MiB image"


def test_bulk_inference_reads_one_file_at_a_time_and_spools_uploads_to_disk(api_client, project, sent, monkeypatch):
    ModelVersionFactory(project=project, is_active=True)
    size = 2 * 2**20
    junk = [SimpleUploadedFile(f"junk{i}.bin", bytes([i + 1]) * size) for i in range(6)]
    peaks = []
    original = training_views.ProjectInferenceBatchesView.post

    def measured(self, request, *args, **kwargs):
        tracemalloc.start()
        try:
            return original(self, request, *args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(training_views.ProjectInferenceBatchesView, "post", measured)

    response = api_client.post(f"/api/v1/projects/{project.pk}/inference-batches/", {"files": junk}, format="multipart")

    # None of them is an image: refused as a whole (415, each file's reason), after reading each one's first bytes.
    assert response.status_code == 415, response.json()
    errors = response.json()["errors"]
    assert len(errors) == 6 and all("Unsupported image format" in e["error"] for e in errors)
    assert not InferenceItem.objects.exists()
    # Six 2 MiB files sent; the view held less than one of them at any time (they were 12 MiB in memory).
    assert peaks[0] < size, f"peak {peaks[0] / 2**20:.1f} MiB"


def test_image_uploads_are_spooled_to_disk_however_small(api_client, project, monkeypatch):
    """1000 files of 4.9 MB would otherwise sit in a web worker's memory (Django keeps small ones there)."""
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from webapp.datasets import services

    seen = []
    original = services.images_upload

    def recording(*, project, uploads):
        uploads = list(uploads)
        seen.extend(type(upload) for upload in uploads)
        return original(project=project, uploads=uploads)

    monkeypatch.setattr(services, "images_upload", recording)
    files = [SimpleUploadedFile(f"tile{i}.png", image_bytes(color=(i, 9, 9)), "image/png") for i in range(3)]

    response = api_client.post(f"/api/v1/projects/{project.pk}/images/", {"files": files}, format="multipart")

    assert response.status_code == 201, response.json()
    assert seen == [TemporaryUploadedFile] * 3
