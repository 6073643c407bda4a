"""Review counters that follow each decision, Prev in a filtered list back to the image just labelled,
mask from heatmap in add (union) mode with an exact undo, the ? overlay and reasons on disabled buttons."""

import numpy as np
import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import add_textures, make_project, prepared_model, stored_mask, texture_png, upload
from .test_labeller import H, W, open_labeller, save, stroke

pytestmark = pytest.mark.browser


def test_review_counters_update_right_after_each_decision(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    ids = [i["id"] for i in add_textures(logged_in, project, 7)]
    prepared_model(project, scores={i: 0.1 + 0.1 * n for n, i in enumerate(ids)}, threshold=0.5)
    page.goto(f"/projects/{project.pk}/review/")
    status = page.get_by_test_id("review-status")
    progress = page.get_by_test_id("review-progress")
    expect(status).to_contain_text("7 unlabeled images")
    for n in range(1, 6):
        page.keyboard.press("g" if n % 2 else "d")
        expect(progress).to_contain_text(f"{n} decided this session")
        expect(status).to_contain_text(f"{7 - n} unlabeled image")
    page.keyboard.press("ArrowLeft")  # back, and decide the same image again: a new label, not a new count
    again = page.get_by_test_id("review-filename").inner_text()
    page.keyboard.press("d")  # it was labelled good a moment ago (the 5th decision), maybe still in flight
    expect(progress).to_contain_text("5 decided this session")
    expect(progress).to_have_attribute("data-pending", "0")
    assert Image.objects.filter(project=project, label="unlabeled").count() == 2
    # the second decision is written after the first, on the revision it made: it is the label, no 412
    assert Image.objects.get(project=project, filename=again).label == "defective"


def test_prev_in_a_filtered_list_goes_back_to_the_image_just_labelled(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    ids = [i["id"] for i in add_textures(logged_in, project, 4)]
    first = ids[-1]  # newest first: the gallery's default order
    page.goto(f"/projects/{project.pk}/images/{first}/?label=unlabeled&pos=1")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("advance-after-label").check()
    page.keyboard.press("g")  # labelled good: it leaves the "unlabeled" list, and the next one opens
    page.wait_for_url(f"**/images/{ids[-2]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("position")).to_have_text("1 / 3")
    page.get_by_test_id("prev-image").click()
    page.wait_for_url(f"**/images/{first}/**")  # back to what was just labelled, though it left the filter
    expect(page.get_by_test_id("current-label")).to_have_text("label good")
    page.get_by_test_id("advance-after-label").uncheck()
    page.keyboard.press("ArrowRight")  # and forward again to the image that took its place
    page.wait_for_url(f"**/images/{ids[-2]}/**")


def test_mask_from_heatmap_adds_to_the_painted_mask_and_undo_restores_the_saved_state(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    [image] = upload(logged_in, project, [("plate.png", texture_png(W, H, seed=7))])
    image_id = image["id"]
    heat = np.full((H, W), 30, np.uint8)
    heat[300:600, 400:800] = 220
    prepared_model(project, scores={image_id: 0.83}, heatmaps={image_id: heat}, threshold=0.61)

    open_labeller(page, project, image_id)
    page.get_by_test_id("brush-size").fill("60")
    stroke(page, [(1200, 900), (1300, 900)])  # a painted region away from the hot one
    save(page)
    saved = stored_mask(image_id)
    assert saved[900, 1250] == 255

    page.get_by_test_id("heat-mode-add").check()
    page.get_by_test_id("mask-from-heatmap").click()
    expect(page.get_by_test_id("mask-status")).to_have_text("unsaved changes")
    page.keyboard.press("Control+z")  # back to exactly what is saved: the status says so
    expect(page.get_by_test_id("mask-status")).to_have_text("saved")
    page.keyboard.press("Control+Shift+z")
    expect(page.get_by_test_id("mask-status")).to_have_text("unsaved changes")
    save(page)
    union = stored_mask(image_id)
    assert union[900, 1250] == 255  # the painted stroke is kept
    assert union[350:600, 450:800].min() == 255  # and the map's region is added
    assert union[100, 100] == 0

    page.get_by_test_id("heat-mode-replace").check()
    page.get_by_test_id("mask-from-heatmap").click()
    save(page)
    replaced = stored_mask(image_id)
    assert replaced[900, 1250] == 0 and replaced[400, 500] == 255


def test_question_mark_opens_the_keyboard_help_on_every_page(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    [image] = add_textures(logged_in, project, 1)
    pages = {
        "/": "?",
        f"/projects/{project.pk}/": "Shift+click",
        f"/projects/{project.pk}/images/{image['id']}/": "brush / eraser / pan",
        f"/projects/{project.pk}/review/": "open in the labeller",
        f"/projects/{project.pk}/training/": "threshold",
        f"/projects/{project.pk}/models/": "compare",
        f"/projects/{project.pk}/inspect/": "score",
    }
    for path, text in pages.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        page.locator("body").press("?")
        dialog = page.get_by_test_id("keyhelp")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(text)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()


SELECT_FIRST = "Select images first (click a tile's checkbox, or Select page)."


def test_disabled_buttons_say_why(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    add_textures(logged_in, project, 3)
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("tile")).to_have_count(3)
    expect(page.get_by_test_id("bulk-delete")).to_be_disabled()
    expect(page.get_by_test_id("bulk-delete")).to_have_attribute("title", SELECT_FIRST)
    expect(page.get_by_test_id("prev-page")).to_have_attribute("title", "This is the first page.")
    page.get_by_test_id("tile-check").first.click()
    expect(page.get_by_test_id("bulk-delete")).to_be_enabled()
    expect(page.get_by_test_id("bulk-delete")).not_to_have_attribute("title", SELECT_FIRST)
