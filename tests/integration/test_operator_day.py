"""An operator's day on the real stack (PostgreSQL, Redis, gunicorn, a Celery worker with beat, real `ml`):

import a magnetic-tile zip in MVTec layout, let the automatic training start, and *during* it replace
three masks, delete an image, relabel five and label ten new ones. The run succeeds on its snapshot; the
next automatic run starts by itself, trains on the new labels (its counts and "changed since" say so)
and gives a different version.
"""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from .conftest import wait_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "magnetic_tile"
TIMEOUT = 420


def _manifest() -> list[dict]:
    with open(DATA / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _mvtec_zip(rows: list[dict]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for row in rows:
            archive.write(DATA / row["image"], row["image"])
            if row["mask"]:
                archive.write(DATA / row["mask"], row["mask"])
    return out.getvalue()


def _mask_for(image: dict, box: tuple[int, int, int, int]) -> bytes:
    mask = np.zeros((image["height"], image["width"]), dtype=np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    buf = io.BytesIO()
    PILImage.fromarray(mask, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _all_images(api, project_id: int) -> list[dict]:
    status, page = api.get(f"/api/v1/projects/{project_id}/images/?page_size=500")
    assert status == 200, page
    return page["results"]


def _jobs(api, project_id: int) -> list[dict]:
    return api.get(f"/api/v1/projects/{project_id}/training-jobs/")[1]["results"]


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/magnetic_tile is not there")
def test_an_operator_day_of_edits_during_training(stack):
    api = stack.api
    rows = _manifest()
    good_train = [r for r in rows if r["image"].startswith("train/good/")][:40]
    good_test = [r for r in rows if r["image"].startswith("test/good/")][:8]
    defects = [r for r in rows if r["label"] == "defective" and r["mask"] and r["defect_type"] in ("crack", "fray")]
    defects = defects[:3] + [r for r in defects if r["defect_type"] == "fray"][:3]
    unlabeled = [r for r in rows if r["image"].startswith("train/good/")][40:50]

    # given a project with ten unlabelled images waiting, and an MVTec zip imported through the API
    status, project = api.post("/api/v1/projects/", {"name": "Operator day"})
    assert status == 201, project
    pid = project["id"]
    settings = {"image_size": 64, "auto_retrain": True, "retrain_after_labels": 5}
    assert api.patch(f"/api/v1/projects/{pid}/", {"settings": settings})[0] == 200
    files = [("files", (Path(r["image"]).name, (DATA / r["image"]).read_bytes())) for r in unlabeled]
    status, waiting = api.post(f"/api/v1/projects/{pid}/images/", files=files)
    assert status == 201, waiting
    status, imported = api.post(
        f"/api/v1/projects/{pid}/imports/",
        files=[("archive", ("tiles.zip", _mvtec_zip(good_train + good_test + defects)))],
    )
    assert status == 202, imported
    done = wait_for(
        lambda: (j := api.get(f"/api/v1/imports/{imported['id']}/")[1])["status"] in ("succeeded", "failed") and j,
        TIMEOUT,
        "the import",
    )
    assert done["status"] == "succeeded" and done["created"] == 54, done

    # when the automatic first training starts by itself...
    first = wait_for(
        lambda: next((j for j in _jobs(api, pid) if j["status"] == "running"), None), TIMEOUT, "the automatic run"
    )
    assert first["trigger"] == "auto"
    images = _all_images(api, pid)
    by_name = {image["filename"]: image for image in images}
    masked = [image for image in images if image["has_mask"]][:3]
    good = [image for image in images if image["label"] == "good" and image["split"] == "train"]

    # ...the operators edit while it runs: three masks repainted, one image deleted, five relabelled,
    # ten new labels
    for image in masked:
        status, body = api.put(f"/api/v1/images/{image['id']}/mask/", _mask_for(image, (5, 5, 40, 40)))
        assert status == 200, body
    assert api.call("DELETE", f"/api/v1/images/{good[0]['id']}/")[0] == 204
    for image in good[1:6]:
        assert api.patch(f"/api/v1/images/{image['id']}/", {"label": "defective"})[0] == 200
    for row in unlabeled:
        image = by_name[Path(row["image"]).name]
        assert api.patch(f"/api/v1/images/{image['id']}/", {"label": "good"})[0] == 200
    still = api.get(f"/api/v1/training-jobs/{first['id']}/")[1]
    assert still["status"] == "running", ("the run ended before the edits were done", still)

    # then the run succeeds on its snapshot: what the project held when it started
    first = wait_for(
        lambda: (j := api.get(f"/api/v1/training-jobs/{first['id']}/")[1])["status"] in ("succeeded", "failed") and j,
        TIMEOUT,
        "the first run",
    )
    assert first["status"] == "succeeded", (first, stack.log_tail("worker"))
    assert first["snapshot"]["train"]["good"] == 40 and first["snapshot"]["test"]["defective"] == 6
    assert first["snapshot"]["changed"] is None

    # and the next automatic run starts by itself and learns the edits
    second = wait_for(
        lambda: next((j for j in _jobs(api, pid) if j["id"] != first["id"]), None), TIMEOUT, "the second run"
    )
    second = wait_for(
        lambda: (j := api.get(f"/api/v1/training-jobs/{second['id']}/")[1])["status"] in ("succeeded", "failed") and j,
        TIMEOUT,
        "the second run to finish",
    )
    assert second["status"] == "succeeded", (second, stack.log_tail("worker"))
    changed = second["snapshot"]["changed"]
    assert (changed["added"], changed["removed"], changed["relabelled"], changed["masks"]) == (10, 1, 5, 3), changed
    assert second["snapshot"]["previous_version"] == 1
    versions = {v["version"]: v for v in api.get(f"/api/v1/projects/{pid}/models/")[1]["results"]}
    v1, v2 = versions[1], versions[2]
    assert v2["mode"] == "supervised" and v1["mode"] == "unsupervised"
    assert v2["train_counts"]["defective"] == 5 and v1["train_counts"]["defective"] == 0
    new_in_train = second["snapshot"]["train"]["good"] - (40 - 1 - 5)
    assert new_in_train > 0, second["snapshot"]  # some of the ten new good labels reached the train split
    assert v2["train_counts"]["good"] == second["snapshot"]["train"]["good"]
    assert v2["snapshot"] == second["snapshot"] and v1["snapshot"] != v2["snapshot"]
    # heatmaps arrive for every image still in the project
    wait_for(
        lambda: all(image["prediction"] for image in _all_images(api, pid)), TIMEOUT, "predictions for every image"
    )
