"""The inspect page end to end: drop images (and a zip), score them with a chosen version through the
inference-batch API, read the results as a sortable table and a heatmap grid, download the CSV (it is
the API's), and add only the chosen files to the project."""

import csv
import io
import re
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect

from webapp.datasets.models import Image
from webapp.training import engine

from .helpers import add_textures, api_client, make_project, prepared_model, texture_png

pytestmark = pytest.mark.browser


class BrightnessPredictor:
    """Stands in for a loaded model: the score is the image's mean brightness, the map that value everywhere."""

    def predict(self, paths, batch_size=16):
        out = []
        for path in paths:
            a = np.asarray(PILImage.open(path).convert("L"), np.float32) / 255.0
            out.append(
                SimpleNamespace(score=float(a.mean()), anomaly_map=np.full(a.shape, float(a.mean()), np.float32))
            )
        return out


def flat_png(value: int, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(np.full(size[::-1], value, np.uint8), "L").save(buf, "PNG")
    return buf.getvalue()


def test_inspect_scores_dropped_files_and_the_csv_matches_the_api(page, logged_in, tmp_path, eager_celery, monkeypatch):
    project = make_project(logged_in, auto_retrain=False)
    [seed] = add_textures(logged_in, project, 1)
    prepared_model(project, scores={seed["id"]: 0.2}, threshold=0.5, version=1, active=True)
    v2 = prepared_model(project, scores={seed["id"]: 0.3}, threshold=0.3, version=2, active=False)
    used = []

    def predictor_for(version):
        used.append(version.pk)
        return BrightnessPredictor()

    monkeypatch.setattr(engine, "predictor_for", predictor_for)
    files = []
    for name, value in [("dark.png", 40), ("mid.png", 100), ("bright.png", 220)]:
        (tmp_path / name).write_bytes(flat_png(value))
        files.append(str(tmp_path / name))
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lot7/zipped.png", flat_png(180))

    page.goto(f"/projects/{project.pk}/inspect/")
    expect(page.get_by_test_id("inspect-model").locator("option")).to_have_count(2)
    page.get_by_test_id("inspect-model").select_option(str(v2.pk))  # a chosen, not the active, version
    page.get_by_test_id("inspect-input").set_input_files([*files, str(archive)])
    expect(page.get_by_test_id("inspect-job")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("inspect-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("inspect-progress-text")).to_contain_text("4 / 4 scored")
    # v2's threshold is 0.3: bright, zipped and mid are defective, dark is good
    expect(page.get_by_test_id("inspect-summary")).to_have_text("4 scored: 3 defective, 1 good")
    assert used and set(used) == {v2.pk}

    rows = page.get_by_test_id("inspect-row")
    expect(rows).to_have_count(4)
    names = rows.evaluate_all("rs => rs.map(r => r.dataset.filename)")
    assert names == ["bright.png", "lot7/zipped.png", "mid.png", "dark.png"]  # by score, highest first
    page.locator('th[data-sort="filename"]').click()
    expect(rows.first).to_have_attribute("data-filename", "bright.png")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.filename)") == sorted(names)
    # v2's threshold is 0.3: mid (100/255 = 0.39) is defective, dark (0.16) good.
    expect(page.locator('[data-testid="inspect-row"][data-filename="mid.png"]')).to_have_attribute(
        "data-defective", "true"
    )
    expect(page.locator('[data-testid="inspect-row"][data-filename="dark.png"]')).to_have_attribute(
        "data-defective", "false"
    )

    page.get_by_test_id("view-grid").click()
    tiles = page.get_by_test_id("inspect-tile")
    expect(tiles).to_have_count(4)
    expect(tiles.first).to_have_attribute("data-heatmap", "drawn")

    # The CSV behind the link is the API's, and says what the table says.
    href = page.get_by_test_id("inspect-csv").get_attribute("href")
    with page.expect_download() as info:
        page.get_by_test_id("inspect-csv").click()
    downloaded = tmp_path / "out.csv"
    info.value.save_as(downloaded)
    batch_id = int(href.split("/")[-3])
    api = api_client(logged_in)
    table = list(csv.DictReader(io.StringIO(downloaded.read_text())))
    from_api = list(csv.DictReader(io.StringIO(b"".join(api.get(href).streaming_content).decode())))
    strip_host = lambda r: {**r, "heatmap_url": r["heatmap_url"].split("/api/", 1)[-1]}  # noqa: E731
    assert [strip_host(r) for r in table] == [strip_host(r) for r in from_api]  # same rows; the host differs
    results = api.get(f"/api/v1/inference-batches/{batch_id}/results/").json()["results"]
    assert [r["filename"] for r in table] == [r["filename"] for r in results]
    for row, res in zip(table, results, strict=True):
        assert float(row["score"]) == pytest.approx(res["score"])
        assert row["is_defective"] == str(res["is_defective"])
        shown = page.locator(f'[data-testid="inspect-row"][data-filename="{res["filename"]}"]')
        expect(shown).to_have_attribute("data-defective", str(res["is_defective"]).lower())

    # Nothing joined the dataset; then only the chosen file does.
    assert Image.objects.filter(project=project).count() == 1
    page.get_by_test_id("view-table").click()
    zipped = page.locator('[data-testid="inspect-row"][data-filename="lot7/zipped.png"]').get_by_test_id("inspect-pick")
    expect(zipped).to_be_disabled()  # a zip entry has no file in the browser to upload
    assert "zip" in zipped.get_attribute("title")
    expect(page.get_by_test_id("inspect-add")).to_be_disabled()
    page.locator('[data-testid="inspect-row"][data-filename="mid.png"]').get_by_test_id("inspect-pick").check()
    page.get_by_test_id("inspect-add").click()
    expect(page.get_by_test_id("inspect-add-status")).to_have_attribute("data-added", "1")
    assert list(Image.objects.filter(project=project).values_list("filename", flat=True).order_by("id")) == [
        seed["filename"],
        "mid.png",
    ]


def test_inspect_without_a_model_says_so(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    page.goto(f"/projects/{project.pk}/inspect/")
    expect(page.get_by_test_id("inspect-model-note")).to_contain_text("No model yet")
    expect(page.get_by_test_id("inspect-input")).to_be_disabled()


def test_inference_batch_with_a_version_of_another_project_is_refused(logged_in):
    project = make_project(logged_in, auto_retrain=False)
    other = make_project(logged_in, name="Other", auto_retrain=False)
    [img] = add_textures(logged_in, other, 1)
    foreign = prepared_model(other, scores={img["id"]: 0.3})
    prepared_model(project, scores={}, version=1)
    f = io.BytesIO(texture_png(32, 32, seed=1))
    f.name = "a.png"
    response = api_client(logged_in).post(
        f"/api/v1/projects/{project.pk}/inference-batches/", {"files": [f], "model": foreign.pk}, format="multipart"
    )
    assert response.status_code == 400 and "model" in response.json()["detail"]


def test_results_of_a_zip_alone_say_why_they_cannot_be_added(page, logged_in, tmp_path, eager_celery, monkeypatch):
    project = make_project(logged_in, auto_retrain=False)
    [seed] = add_textures(logged_in, project, 1)
    prepared_model(project, scores={seed["id"]: 0.2}, threshold=0.5, version=1, active=True)
    monkeypatch.setattr(engine, "predictor_for", lambda version: BrightnessPredictor())
    archive = tmp_path / "lot.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", flat_png(180))
        zf.writestr("b.png", flat_png(40))

    page.goto(f"/projects/{project.pk}/inspect/")
    page.get_by_test_id("inspect-input").set_input_files([str(archive)])
    expect(page.get_by_test_id("inspect-job")).to_have_attribute("data-status", "succeeded")

    add = page.get_by_test_id("inspect-add")
    expect(add).to_be_disabled()
    expect(add).to_have_attribute("title", re.compile("these results came from a zip"))
