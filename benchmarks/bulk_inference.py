"""Bulk inference through the asynchronous API with one worker, against the `ml` Predictor on the same images.

Runs the real stack (PostgreSQL, Redis, gunicorn, one Celery worker process with concurrency 1; see
tests/integration/conftest.py). A model is trained through the API on 20 good magnetic-tile images; then
200 images of 256x256 (crops of real magnetic-tile images) go through POST /inference-batches/, clocked
from the POST until the batch is `succeeded` (upload, storage, chunked tasks, model load in the worker,
heatmap PNGs and rows included). In the same run the `ml` Predictor scores the same 200 files with the same
checkpoint in this process (model load included, batch 16), before and after the API run. Prints one JSON
line: images/s of both and their ratio (API / mean of the two Predictor runs).

    .venv/bin/python benchmarks/bulk_inference.py [--images 200]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image as PILImage  # noqa: E402

from tests.integration.conftest import running_stack, services_answer, wait_for  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "magnetic_tile"
SIDE = 256


def tiles(count: int) -> list[tuple[str, bytes]]:
    """`count` 256x256 PNGs: the image resized so its short side is 256, centre-cropped (real texture)."""
    rows = sorted(r["image"] for r in csv.DictReader(open(DATA / "manifest.csv")))
    out = []
    for name in rows[:count]:
        image = PILImage.open(DATA / name).convert("L")
        scale = SIDE / min(image.size)
        image = image.resize((max(SIDE, round(image.width * scale)), max(SIDE, round(image.height * scale))))
        left, top = (image.width - SIDE) // 2, (image.height - SIDE) // 2
        buf = io.BytesIO()
        image.crop((left, top, left + SIDE, top + SIDE)).save(buf, format="PNG")
        out.append((Path(name).stem + ".png", buf.getvalue()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    if not services_answer():
        sys.exit("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    images = tiles(args.images)
    train = [(f"train{i}.png", data) for i, (_, data) in enumerate(tiles(args.images + 20)[args.images :])]

    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp, running_stack(Path(tmp), concurrency=1) as stack:
        api = stack.api
        _, project = api.post("/api/v1/projects/", {"name": "Bulk inference benchmark"})
        assert api.patch(f"/api/v1/projects/{project['id']}/", {"settings": {"auto_retrain": False}})[0] == 200
        status, uploaded = api.post(f"/api/v1/projects/{project['id']}/images/", files=[("files", f) for f in train])
        assert status == 201, uploaded
        for image in uploaded:
            assert api.patch(f"/api/v1/images/{image['id']}/", {"label": "good", "split": "train"})[0] == 200
        status, job = api.post(f"/api/v1/projects/{project['id']}/training-jobs/", {"preset": "fast", "epochs": 2})
        assert status == 201, job
        job = wait_for(
            lambda: (j := api.get(f"/api/v1/training-jobs/{job['id']}/")[1])["status"] in ("succeeded", "failed") and j,
            1800,
            "training",
        )
        assert job["status"] == "succeeded", job
        # Let the worker finish scoring the 20 training images so the batch has the worker to itself.
        wait_for(
            lambda: all(i["prediction"] for i in api.get(f"/api/v1/projects/{project['id']}/images/")[1]["results"]),
            600,
            "project scoring",
        )

        # The same files, the same checkpoint, in this process: the `ml` Predictor alone. Measured before and
        # after the API run (the machine is shared; the mean of both brackets the API run's conditions).
        import ml

        checkpoint = next((Path(tmp) / "media" / "models").rglob("*.pt"))
        folder = Path(tmp) / "direct"
        folder.mkdir()
        paths = []
        for name, data in images:
            (folder / name).write_bytes(data)
            paths.append(str(folder / name))

        def direct() -> float:
            started = time.perf_counter()
            predictor = ml.Predictor(checkpoint, device="cpu")
            assert len(predictor.predict(paths, batch_size=16)) == len(images)
            return time.perf_counter() - started

        direct_before = direct()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        status, batch = api.post(
            f"/api/v1/projects/{project['id']}/inference-batches/", files=[("files", f) for f in images], timeout=600
        )
        assert status == 202, batch
        done = wait_for(
            lambda: (b := api.get(f"/api/v1/inference-batches/{batch['id']}/")[1])["status"] == "succeeded" and b,
            3600,
            "the batch",
            interval=0.2,
        )
        api_seconds = time.perf_counter() - started
        assert done["done"] == len(images) and done["failed"] == 0, done
        direct_after = direct()
        direct_seconds = (direct_before + direct_after) / 2

    api_rate = len(images) / api_seconds
    direct_rate = len(images) / direct_seconds
    table = [
        ("async API, 1 worker", f"{api_seconds:.1f} s", f"{api_rate:.2f}"),
        ("ml.Predictor in-process (mean of before/after)", f"{direct_seconds:.1f} s", f"{direct_rate:.2f}"),
        ("ratio API / Predictor", "", f"{api_rate / direct_rate:.2f}"),
    ]
    width = max(len(name) for name, _, _ in table)
    print(f"Bulk inference: {len(images)} images of {SIDE}x{SIDE}, load average {load_before:.1f}")
    print(f"  {'path':<{width}}  {'time':>8}  {'images/s':>8}")
    for name, seconds, rate in table:
        print(f"  {name:<{width}}  {seconds:>8}  {rate:>8}")
    print(
        json.dumps(
            {
                "benchmark": "bulk_inference",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
                "images": len(images),
                "size": f"{SIDE}x{SIDE}",
                "worker": "1 process, concurrency 1, CPU",
                "api_seconds": round(api_seconds, 2),
                "api_images_per_s": round(api_rate, 2),
                "predictor_seconds_before_after": [round(direct_before, 2), round(direct_after, 2)],
                "predictor_images_per_s": round(direct_rate, 2),
                "ratio_api_over_predictor": round(api_rate / direct_rate, 3),
                "load_average_1min": round(load_before, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
