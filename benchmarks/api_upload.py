"""Upload and gallery-listing throughput of the REST API, in-process, against a throw-away SQLite DATA_DIR.

    .venv/bin/python benchmarks/api_upload.py [--images 500] [--batch 10] [--gallery 10000] [--page-size 50]

1. Uploads N generated 256x256 PNGs through `POST /api/v1/projects/{id}/images/` (multipart, `--batch` files
   per request) and, as the baseline, the same number through `services.image_create` directly (no HTTP),
   so the API's own overhead is visible.
2. Bulk-creates a project of `--gallery` image rows with an active model and a prediction for each, then
   lists it page by page through `GET /api/v1/projects/{id}/images/` (newest first, by score, and filtered),
   against the baseline of the same page fetched with the raw ORM (count + slice, no serializer).
Prints tables (markdown) with images/s and median / p95 latency per page.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(data_dir: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.config.settings",
            "DATA_DIR": data_dir,
            "SECRET_KEY": "benchmark-only",
            "DEBUG": "false",
            "CELERY_BROKER_URL": "memory://",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generated_png(n: int, side: int = 256) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(n)
    pixels = (rng.random((side, side, 3)) * 64 + (n % 192)).astype(np.uint8)  # noisy texture, distinct per n
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_upload(client, user, images: int, batch: int) -> list[tuple[str, float, float]]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from webapp.datasets import services

    payloads = [generated_png(n) for n in range(images * 2)]
    rows = []

    project = services.project_create(owner=user, name="upload via API")
    start = time.perf_counter()
    for first in range(0, images, batch):
        files = [SimpleUploadedFile(f"{n}.png", payloads[n]) for n in range(first, min(first + batch, images))]
        response = client.post(f"/api/v1/projects/{project.pk}/images/", {"files": files}, format="multipart")
        assert response.status_code == 201, response.content
    elapsed = time.perf_counter() - start
    rows.append((f"API, {batch} files per request", images / elapsed, elapsed))

    project = services.project_create(owner=user, name="upload via service")
    start = time.perf_counter()
    for n in range(images, images * 2):
        services.image_create(project=project, filename=f"{n}.png", data=payloads[n])
    elapsed = time.perf_counter() - start
    rows.append(("baseline: services.image_create, no HTTP", images / elapsed, elapsed))
    return rows


def build_gallery(user, count: int):
    from webapp.datasets import services
    from webapp.datasets.models import Image
    from webapp.training.models import ModelVersion, Prediction

    project = services.project_create(owner=user, name="gallery")
    labels = ["good", "defective", "unlabeled", "unlabeled"]
    Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=f"images/xx/{n:064d}.png",
                thumbnail=f"thumbnails/xx/{n:064d}.jpg",
                filename=f"{n}.png",
                sha256=f"{n:064d}",
                width=256,
                height=256,
                label=labels[n % 4],
                split="test" if n % 5 == 0 else "train",
                has_mask=n % 8 == 1,
            )
            for n in range(count)
        ],
        batch_size=1000,
    )
    model = ModelVersion.objects.create(
        project=project,
        version=1,
        mode="unsupervised",
        backbone="efficientnet_lite0",
        image_size=256,
        threshold=0.5,
        is_active=True,
        checkpoint="models/none.pt",
    )
    ids = list(project.images.values_list("pk", flat=True))
    Prediction.objects.bulk_create(
        [
            Prediction(image_id=pk, model_version=model, score=(pk * 7919 % 1000) / 1000, heatmap=f"h/{pk}.png")
            for pk in ids
        ],
        batch_size=1000,
    )
    return project


def bench_listing(client, project, page_size: int) -> list[tuple[str, int, float, float]]:
    from webapp.datasets.models import Image

    pages = -(-project.images.count() // page_size)
    rows = []

    def walk(label: str, query: str) -> None:
        latencies, seen = [], 0
        for page in range(1, pages + 1):
            start = time.perf_counter()
            response = client.get(f"/api/v1/projects/{project.pk}/images/?page_size={page_size}&page={page}{query}")
            latencies.append(time.perf_counter() - start)
            if response.status_code == 404:  # a filter leaves fewer pages
                latencies.pop()
                break
            assert response.status_code == 200, response.content
            seen += len(response.json()["results"])
        rows.append((label, len(latencies), statistics.median(latencies) * 1000, percentile(latencies, 0.95) * 1000))

    walk("API, newest first", "")
    walk("API, ordering=-score (active model)", "&ordering=-score")
    walk("API, label=unlabeled&ordering=score", "&label=unlabeled&ordering=score")
    walk("API, predicted=defective", "&predicted=defective")

    latencies = []
    for page in range(pages):
        start = time.perf_counter()
        queryset = Image.objects.filter(project=project).order_by("-created_at", "-id")
        queryset.count()
        list(queryset[page * page_size : (page + 1) * page_size])
        latencies.append(time.perf_counter() - start)
    rows.append(
        (
            "baseline: raw ORM count + page, no serializer",
            pages,
            statistics.median(latencies) * 1000,
            percentile(latencies, 0.95) * 1000,
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ssn-bench-") as data_dir:
        configure(data_dir)
        from django.contrib.auth import get_user_model
        from rest_framework.test import APIClient

        user = get_user_model().objects.create_user("bench", password="bench-password")
        client = APIClient()
        client.force_authenticate(user)

        upload_rows = bench_upload(client, user, args.images, args.batch)
        print(f"\nUpload of {args.images} generated 256x256 PNGs (SQLite, local storage)\n")
        print("| path | images/s | total s |\n| --- | ---: | ---: |")
        for label, rate, elapsed in upload_rows:
            print(f"| {label} | {rate:.1f} | {elapsed:.1f} |")

        project = build_gallery(user, args.gallery)
        list_rows = bench_listing(client, project, args.page_size)
        print(f"\nListing a {args.gallery}-image project, page_size={args.page_size}, every page in turn\n")
        print("| query | pages | median ms | p95 ms |\n| --- | ---: | ---: | ---: |")
        for label, pages, median, p95 in list_rows:
            print(f"| {label} | {pages} | {median:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
