"""End to end on a real stack (PostgreSQL, Redis, gunicorn, a Celery worker with beat, real `ml`):
upload, label, paint, train, progress, version with metrics, heatmaps, predict, inference batch, cancel,
a worker killed with SIGKILL mid-training, and a broker outage.

Runs tiny: 64x64 training images, 2 epochs of the `fast` preset, a dozen synthetic images.
"""

import io
import os
import signal
import time

import numpy as np
import pytest
from PIL import Image as PILImage

from .conftest import wait_for

pytestmark = pytest.mark.integration

TRAIN_TIMEOUT = 240


def texture(seed: int, defect: bool = False, size: int = 72) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size, 3)) * 60 + 90).astype(np.uint8)
    if defect:
        pixels[20:40, 24:44] = 250
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def defect_mask(size: int = 72) -> bytes:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[20:40, 24:44] = 255
    buf = io.BytesIO()
    PILImage.fromarray(mask, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def job_state(api, job_id: int) -> dict:
    return api.get(f"/api/v1/training-jobs/{job_id}/")[1]


def wait_status(api, job_id: int, statuses: set[str], timeout: float = TRAIN_TIMEOUT) -> dict:
    return wait_for(
        lambda: (j := job_state(api, job_id))["status"] in statuses and j, timeout, f"job {job_id} -> {statuses}"
    )


def wait_training(api, job_id: int, in_loop: bool = True) -> dict:
    """Until the job runs (and, with in_loop, has reached the training loop, past feature extraction)."""
    return wait_for(
        lambda: (j := job_state(api, job_id))["status"] == "running" and (j["phase"] == "train" or not in_loop) and j,
        TRAIN_TIMEOUT,
        f"job {job_id} training",
    )


@pytest.fixture(scope="module")
def project(stack):
    """A labelled project: 8 good train images, test split with 2 good and 2 masked defective."""
    api = stack.api
    status, project = api.post("/api/v1/projects/", {"name": "Integration tiles"})
    assert status == 201, project
    status, body = api.patch(
        f"/api/v1/projects/{project['id']}/", {"settings": {"image_size": 64, "auto_retrain": False}}
    )
    assert status == 200, body
    files = [("files", (f"good{i}.png", texture(i))) for i in range(10)]
    files += [("files", (f"bad{i}.png", texture(100 + i, defect=True))) for i in range(2)]
    status, images = api.post(f"/api/v1/projects/{project['id']}/images/", files=files)
    assert status == 201, images
    by_name = {image["filename"]: image for image in images}
    for i in range(10):
        split = "test" if i >= 8 else "train"
        status, body = api.patch(f"/api/v1/images/{by_name[f'good{i}.png']['id']}/", {"label": "good", "split": split})
        assert status == 200, body
    for i in range(2):
        image_id = by_name[f"bad{i}.png"]["id"]
        status, body = api.put(f"/api/v1/images/{image_id}/mask/", defect_mask())
        assert status in (200, 201), body
        assert api.patch(f"/api/v1/images/{image_id}/", {"split": "test"})[0] == 200
    project["images"] = list(by_name.values())
    return project


@pytest.fixture(scope="module")
def trained(stack, project):
    """The first training, run for real by the worker; records every progress value seen while polling."""
    api = stack.api
    status, job = api.post(
        f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "unsupervised", "preset": "fast", "epochs": 2}
    )
    assert status == 201, job
    seen = []
    deadline = time.monotonic() + TRAIN_TIMEOUT
    while time.monotonic() < deadline:
        state = job_state(api, job["id"])
        seen.append(state)
        if state["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.25)
    assert seen[-1]["status"] == "succeeded", (seen[-1], stack.log_tail("worker"))
    return {"job": seen[-1], "seen": seen}


def test_training_progress_rises_and_the_job_records_its_run(stack, trained):
    seen, job = trained["seen"], trained["job"]
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress never goes back"
    assert any(0 < p < 1 for p in progress), "progress was visible while the job ran"
    assert any(s["status"] == "running" and s["heartbeat_at"] for s in seen)
    assert job["progress"] == 1 and job["epochs"] == 2 and job["device"] == "cpu"
    assert [h["epoch"] for h in job["history"]] == [1, 2]
    assert job["started_at"] and job["finished_at"] and job["model"]


def test_the_version_carries_metrics_from_the_test_split(stack, project, trained):
    status, version = stack.api.get(f"/api/v1/models/{trained['job']['model']}/")
    assert status == 200
    assert (version["version"], version["mode"], version["is_active"], version["image_size"]) == (
        1,
        "unsupervised",
        True,
        64,
    )
    assert version["train_counts"] == {"good": 8, "defective": 0, "masks": 0}
    metrics = version["metrics"]
    for key in ("image_auroc", "image_ap", "pixel_auroc", "aupro", "f1"):
        assert metrics[key] is not None and 0 <= metrics[key] <= 1, key
    assert 0 <= version["threshold"] <= 1


def test_every_image_gets_an_image_aligned_heatmap(stack, project, trained):
    api = stack.api
    for image in project["images"]:
        prediction = wait_for(
            lambda image=image: (r := api.get(f"/api/v1/images/{image['id']}/prediction/"))[0] == 200 and r[1],
            90,
            f"prediction of image {image['id']}",
        )
        assert prediction["model"] == trained["job"]["model"] and 0 <= prediction["score"] <= 1
        status, png = api.get(prediction["heatmap_url"], raw=True)
        heatmap = PILImage.open(io.BytesIO(png))
        assert status == 200 and heatmap.mode == "L" and heatmap.size == (image["width"], image["height"])
    _, listing = api.get(f"/api/v1/projects/{project['id']}/images/?ordering=-score")
    scores = [i["prediction"]["score"] for i in listing["results"]]
    assert scores == sorted(scores, reverse=True)


def test_synchronous_predict(stack, project, trained):
    files = [("files", ("a.png", texture(500))), ("files", ("b.png", texture(501, defect=True)))]
    status, body = stack.api.post(f"/api/v1/projects/{project['id']}/predict/", files=files)
    assert status == 200, body
    assert body["model"] == trained["job"]["model"] and [r["filename"] for r in body["results"]] == ["a.png", "b.png"]
    assert all(r["heatmap_png_base64"] for r in body["results"])


def test_an_inference_batch_is_processed_by_the_worker(stack, project, trained):
    api = stack.api
    files = [("files", (f"lot{i}.png", texture(600 + i, defect=i % 2 == 1))) for i in range(6)]
    status, batch = api.post(f"/api/v1/projects/{project['id']}/inference-batches/", files=files)
    assert status == 202 and batch["total"] == 6, batch
    done = wait_for(
        lambda: (b := api.get(f"/api/v1/inference-batches/{batch['id']}/")[1])["status"] == "succeeded" and b,
        120,
        "inference batch",
    )
    assert done["done"] == 6
    _, results = api.get(f"/api/v1/inference-batches/{batch['id']}/results/")
    assert results["count"] == 6 and all(r["score"] is not None for r in results["results"])
    status, png = api.get(results["results"][0]["heatmap_url"], raw=True)
    assert status == 200 and PILImage.open(io.BytesIO(png)).size == (72, 72)
    status, csv_bytes = api.get(f"/api/v1/inference-batches/{batch['id']}/results/?format=csv", raw=True)
    assert status == 200 and csv_bytes.decode().count("\n") == 7


def test_the_model_exports_to_onnx_and_torch(stack, trained):
    model_id = trained["job"]["model"]
    status, onnx_bytes = stack.api.get(f"/api/v1/models/{model_id}/export/?format=onnx", raw=True)
    assert status == 200, onnx_bytes[:300]
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert session.get_inputs()

    status, torch_bytes = stack.api.get(f"/api/v1/models/{model_id}/export/?format=torch", raw=True)
    assert status == 200
    import torch

    checkpoint = torch.load(io.BytesIO(torch_bytes), map_location="cpu", weights_only=False)
    assert checkpoint["image_size"] == 64
    assert stack.api.get(f"/api/v1/models/{model_id}/export/?format=pickle")[0] == 400


def test_cancel_stops_a_running_training_and_leaves_no_version(stack, project, trained):
    api = stack.api
    status, job = api.post(f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "unsupervised", "epochs": 500})
    assert status == 201, job
    wait_training(api, job["id"])

    status, body = api.post(f"/api/v1/training-jobs/{job['id']}/cancel/")
    assert status == 202 and body["cancel_requested"] is True

    final = wait_status(api, job["id"], {"cancelled", "failed", "succeeded"}, timeout=30)
    assert final["status"] == "cancelled" and final["model"] is None
    _, models = api.get(f"/api/v1/projects/{project['id']}/models/")
    assert models["count"] == 1
    checkpoints = list((stack.data_dir / "media" / "models").rglob("*"))
    assert [p for p in checkpoints if p.is_file() and f"job-{job['id']}-" in p.name] == []


def test_a_worker_killed_mid_training_leaves_a_failed_job_and_the_project_can_train_again(stack, project, trained):
    api = stack.api
    status, job = api.post(f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "unsupervised", "epochs": 500})
    assert status == 201, job
    wait_training(api, job["id"])

    worker = stack.procs["worker"]
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    stack.procs.pop("worker")
    stack.start_worker()  # a replacement worker; its beat runs the reaper

    failed = wait_status(api, job["id"], {"failed", "succeeded", "cancelled"}, timeout=90)
    assert failed["status"] == "failed" and failed["error_detail"].startswith("worker lost: no heartbeat since"), failed
    assert failed["model"] is None

    status, again = api.post(
        f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "unsupervised", "epochs": 500}
    )
    assert status == 201, again
    wait_training(api, again["id"], in_loop=False)
    api.post(f"/api/v1/training-jobs/{again['id']}/cancel/")
    assert wait_status(api, again["id"], {"cancelled", "failed", "succeeded"}, timeout=120)["status"] == "cancelled"


def test_a_job_created_while_the_broker_is_down_is_kept_and_dispatched_when_it_is_back(stack, project, trained):
    dead = stack.start_web("web-dead-broker", {**stack.env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/13"})
    dead.token = stack.api.token
    try:
        status, body = dead.post(
            f"/api/v1/projects/{project['id']}/training-jobs/", {"mode": "unsupervised", "epochs": 500}
        )
        assert status == 503, body
        # Kept queued. The live worker's dispatcher may already have sent it while this request waited for its
        # dead broker (then `dispatched_at` is set, by the dispatcher, and a worker may even have claimed it).
        assert "queue" in body["detail"] and body["job"]["status"] in ("queued", "running")
    finally:
        stack.stop("web-dead-broker")

    # The worker's dispatcher, on the working broker, finds the queued job that was never sent.
    running = wait_training(stack.api, body["id"], in_loop=False)
    assert running["status"] == "running"
    stack.api.post(f"/api/v1/training-jobs/{body['id']}/cancel/")
    assert (
        wait_status(stack.api, body["id"], {"cancelled", "failed", "succeeded"}, timeout=120)["status"] == "cancelled"
    )
