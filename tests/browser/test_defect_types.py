"""Defect types on the pages: the gallery's filter, the labeller's field, and a re-import's report."""

import zipfile

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import api_client, make_project, texture_png, upload

pytestmark = pytest.mark.browser


def set_type(user, image_id, defect_type):
    response = api_client(user).patch(f"/api/v1/images/{image_id}/", {"defect_type": defect_type}, format="json")
    assert response.status_code == 200, response.content


def test_the_gallery_filters_by_defect_type(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = upload(logged_in, project, [(f"part_{i}.png", texture_png(64, 48, seed=i)) for i in range(5)])
    for image, defect_type in zip(images, ["crack", "crack", "broken_large", None, None], strict=True):
        if defect_type:
            set_type(logged_in, image["id"], defect_type)

    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("tile")).to_have_count(5)
    select = page.get_by_test_id("filter-defect-type")
    expect(select.locator("option")).to_have_text(["Any", "broken_large (1)", "crack (2)"])

    select.select_option("crack")
    expect(page.get_by_test_id("tile")).to_have_count(2)
    shown = {int(tile.get_attribute("data-id")) for tile in page.get_by_test_id("tile").all()}
    assert shown == {images[0]["id"], images[1]["id"]}
    expect(page.get_by_test_id("defect-type-badge")).to_have_text(["crack", "crack"])
    assert "defect_type=crack" in page.url

    # The filter lives in the URL: a reload shows the same view, and the labeller's links carry it.
    page.reload()
    expect(page.get_by_test_id("tile")).to_have_count(2)
    expect(select).to_have_value("crack")
    assert "defect_type=crack" in page.locator(".tile-link").first.get_attribute("href")

    select.select_option("")
    expect(page.get_by_test_id("tile")).to_have_count(5)


def test_the_labeller_shows_suggests_and_sets_a_defect_type(page, logged_in, allowed_console_errors):
    project = make_project(logged_in, auto_retrain=False)
    first, second = upload(logged_in, project, [(f"p{i}.png", texture_png(64, 48, seed=20 + i)) for i in range(2)])
    set_type(logged_in, first["id"], "broken_large")

    page.goto(f"/projects/{project.pk}/images/{first['id']}/")
    field = page.get_by_test_id("defect-type")
    expect(field).to_have_value("broken_large")

    page.goto(f"/projects/{project.pk}/images/{second['id']}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(field).to_have_value("")
    expect(page.locator("#defect-type-options option")).to_have_count(1)
    assert page.locator("#defect-type-options option").first.get_attribute("value") == "broken_large"

    field.fill("dented groove")
    field.press("Enter")
    expect(page.get_by_test_id("defect-type-status")).to_have_text("saved")
    assert Image.objects.get(pk=second["id"]).defect_type == "dented groove"
    assert Image.objects.get(pk=second["id"]).label == "unlabeled"  # typing "d" and "g" did not label it

    # A refused value is explained next to the field and nothing changes.
    allowed_console_errors.append("status of 400")
    field.fill("dent, deep")
    field.press("Enter")
    expect(page.get_by_test_id("defect-type-error")).to_contain_text("commas")
    assert Image.objects.get(pk=second["id"]).defect_type == "dented groove"

    field.fill("")
    field.press("Enter")
    expect(page.get_by_test_id("defect-type-status")).to_have_text("cleared")
    assert Image.objects.get(pk=second["id"]).defect_type is None


def test_a_reimport_reports_updated_and_kept_images(page, logged_in, tmp_path, eager_celery):
    project = make_project(logged_in, auto_retrain=False)
    tiles = [texture_png(64, 48, seed=40 + i) for i in range(3)]
    known = upload(logged_in, project, [(f"known_{i}.png", data) for i, data in enumerate(tiles)])
    person = api_client(logged_in).patch(
        f"/api/v1/images/{known[2]['id']}/", {"label": "good", "split": "train"}, format="json"
    )
    assert person.status_code == 200
    archive = tmp_path / "tiles.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tiles/train/good/000.png", tiles[0])
        zf.writestr("tiles/test/broken_large/001.png", tiles[1])
        zf.writestr("tiles/test/broken_large/002.png", tiles[2])  # a person said good: kept
        zf.writestr("tiles/test/good/003.png", texture_png(64, 48, seed=99))

    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("upload-input").set_input_files(str(archive))
    row = page.locator('[data-testid="upload-row"][data-name="tiles.zip"]')
    expect(row).to_have_attribute("data-state", "ok")
    expect(row).to_contain_text("imported 1 image(s)")
    expect(row).to_contain_text("3 already in the project: 2 updated from the archive, 1 kept as a person set them")
    expect(row).to_have_attribute("data-updated", "2")
    expect(row).to_have_attribute("data-kept", "1")

    # The archive's defect type arrived and the filter offers it.
    expect(page.get_by_test_id("filter-defect-type").locator("option")).to_have_text(["Any", "broken_large (1)"])
    assert Image.objects.get(pk=known[2]["id"]).label == "good"
