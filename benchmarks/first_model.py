"""Seconds from the first click on "Train" (the API POST) to heatmaps for every image of a 50-image project.

Runs the real stack (PostgreSQL, Redis, gunicorn, one Celery worker with beat; see
tests/integration/conftest.py): a project of 50 real magnetic-tile images (40 good in train, 5 good and 5
masked defective in test) is uploaded and labelled through the API with automatic retraining off; then the
clock starts at POST /training-jobs/ (mode auto, preset fast) and stops when every image has a prediction
of the new model. Prints one JSON line with the total and its parts.

    .venv/bin/python benchmarks/first_model.py [--image-size 256] [--preset fast]
"""

from __future__ import annotations

import argparse
import csv
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

from tests.integration.conftest import running_stack, services_answer, wait_for  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "magnetic_tile"


def pick_images() -> list[dict]:
    """40 good train, 5 good test, 5 defective test with masks (first by name in each group, reproducible)."""
    rows = list(csv.DictReader(open(DATA / "manifest.csv")))
    good_train = sorted(r["image"] for r in rows if r["label"] == "good" and r["split_unsupervised"] == "train")
    good_test = sorted(r["image"] for r in rows if r["label"] == "good" and r["split_unsupervised"] == "test")
    bad = sorted((r["image"], r["mask"]) for r in rows if r["label"] == "defective" and r["mask"])
    chosen = [{"path": p, "label": "good", "split": "train"} for p in good_train[:40]]
    chosen += [{"path": p, "label": "good", "split": "test"} for p in good_test[:5]]
    chosen += [{"path": p, "label": "defective", "split": "test", "mask": m} for p, m in bad[::40][:5]]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()
    if not services_answer():
        sys.exit("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")

    with tempfile.TemporaryDirectory(prefix="bench-first-model-") as tmp, running_stack(Path(tmp)) as stack:
        api = stack.api
        _, project = api.post("/api/v1/projects/", {"name": "First model benchmark"})
        settings = {"image_size": args.image_size, "auto_retrain": False}
        assert api.patch(f"/api/v1/projects/{project['id']}/", {"settings": settings})[0] == 200
        chosen = pick_images()
        files = [("files", (Path(c["path"]).name, (DATA / c["path"]).read_bytes())) for c in chosen]
        status, images = api.post(f"/api/v1/projects/{project['id']}/images/", files=files)
        assert status == 201, images
        for image, choice in zip(images, chosen, strict=True):
            if choice.get("mask"):
                assert api.put(f"/api/v1/images/{image['id']}/mask/", (DATA / choice["mask"]).read_bytes())[0] == 200
            body = {"label": choice["label"], "split": choice["split"]}
            assert api.patch(f"/api/v1/images/{image['id']}/", body)[0] == 200

        load = os.getloadavg()[0]  # the machine is shared: say how busy it was
        clicked = time.perf_counter()
        status, job = api.post(
            f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "auto", "preset": args.preset}
        )
        assert status == 201, job

        def all_scored():
            _, page = api.get(f"/api/v1/projects/{project['id']}/images/?page_size=100")
            return all(i["prediction"] for i in page["results"]) and page["count"] == len(chosen)

        trained = wait_for(
            lambda: (j := api.get(f"/api/v1/training-jobs/{job['id']}/")[1])["status"] in ("succeeded", "failed") and j,
            3600,
            "training",
            interval=0.5,
        )
        assert trained["status"] == "succeeded", trained
        trained_at = time.perf_counter()
        wait_for(all_scored, 600, "heatmaps of every image", interval=0.5)
        done = time.perf_counter()
        _, version = api.get(f"/api/v1/models/{trained['model']}/")

    started = datetime.fromisoformat(trained["started_at"])
    finished = datetime.fromisoformat(trained["finished_at"])
    table = [
        ("click -> model version stored", f"{trained_at - clicked:.1f} s"),
        ("model -> heatmaps of every image", f"{done - trained_at:.1f} s"),
        ("click -> heatmaps", f"{done - clicked:.1f} s"),
        ("training job (worker clock)", f"{(finished - started).total_seconds():.1f} s"),
        ("model", f"{trained['resolved_mode']}, {trained['epochs']} epochs, {trained['device']}"),
        ("image AUROC on its test split", str(version["metrics"].get("image_auroc"))),
        ("load average at the click", f"{load:.1f}"),
    ]
    width = max(len(name) for name, _ in table)
    print(f"First model: {len(chosen)} images at {args.image_size}, preset {args.preset}")
    for name, value in table:
        print(f"  {name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "benchmark": "first_model",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
                "images": len(chosen),
                "image_size": args.image_size,
                "preset": args.preset,
                "mode": trained["resolved_mode"],
                "epochs": trained["epochs"],
                "device": trained["device"],
                "seconds_click_to_heatmaps": round(done - clicked, 1),
                "seconds_training_job": round((finished - started).total_seconds(), 1),
                "seconds_click_to_model": round(trained_at - clicked, 1),
                "seconds_scoring_after_model": round(done - trained_at, 1),
                "metrics": version["metrics"],
                "load_average_1min": round(load, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
