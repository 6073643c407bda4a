"""Two people on the same image: the labeller never overwrites a colleague's newer label or mask in silence.
It says what the image is now and keeps the painting; pressing again is the decision to replace it."""

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import api_client, make_project, stored_mask, texture_png, upload

pytestmark = pytest.mark.browser


@pytest.fixture
def shared(logged_in, django_user_model):
    from webapp.datasets import services

    project = make_project(logged_in, auto_retrain=False)
    [image] = upload(logged_in, project, [("part.png", texture_png(320, 240, seed=3))])
    colleague = django_user_model.objects.create_user(username="carol", password="carol-password-1")
    services.member_set(project=project, user=colleague, role="labeller")
    return project, image["id"], api_client(colleague)


def open_labeller(page, project, image_id):
    page.goto(f"/projects/{project.pk}/images/{image_id}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")


def paint(page):
    box = page.get_by_test_id("mask-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 30, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy, steps=6)
    page.mouse.up()


def test_a_label_a_colleague_changed_meanwhile_is_not_overwritten_until_asked(page, shared, allowed_console_errors):
    project, image_id, carol = shared
    allowed_console_errors.append("status of 412")
    open_labeller(page, project, image_id)

    assert carol.patch(f"/api/v1/images/{image_id}/", {"label": "defective"}, format="json").status_code == 200
    page.get_by_test_id("label-good").click()

    error = page.get_by_test_id("label-error")
    expect(error).to_contain_text("Someone else changed this image since you opened it (it is now defective")
    expect(error).to_contain_text("press good again to set it anyway")
    assert Image.objects.get(pk=image_id).label == "defective"

    page.get_by_test_id("label-good").click()  # the person's decision
    expect(page.get_by_test_id("current-label")).to_have_text("label good")
    assert Image.objects.get(pk=image_id).label == "good"


def test_a_mask_a_colleague_saved_meanwhile_is_kept_and_the_painting_too(page, shared, allowed_console_errors):
    from tests.webapp.conftest import mask_png

    project, image_id, carol = shared
    allowed_console_errors.append("status of 412")
    open_labeller(page, project, image_id)
    theirs = mask_png(320, 240, box=(0, 0, 40, 40), value=255)
    put = carol.put(f"/api/v1/images/{image_id}/mask/", theirs, content_type="image/png")
    assert put.status_code == 200

    paint(page)
    page.get_by_test_id("save-mask").click()

    expect(page.get_by_test_id("mask-status")).to_have_text("not saved: changed elsewhere")
    expect(page.get_by_test_id("mask-error")).to_contain_text("press Save mask again to replace it with yours")
    assert stored_mask(image_id)[:40, :40].all()  # theirs is untouched

    page.get_by_test_id("save-mask").click()  # replace it, knowingly
    expect(page.get_by_test_id("mask-status")).to_have_text("saved")
    mine = stored_mask(image_id)
    assert not mine[:40, :40].any() and mine[120].any()


def test_two_reviewers_on_the_same_queue_do_not_overwrite_each_other(page, shared, allowed_console_errors):
    project, image_id, carol = shared
    allowed_console_errors.append("status of 412")
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.get_by_test_id("review-filename")).to_have_text("part.png")  # the queue is loaded

    assert carol.patch(f"/api/v1/images/{image_id}/", {"label": "defective"}, format="json").status_code == 200
    page.keyboard.press("g")

    expect(page.get_by_test_id("review-error")).to_contain_text("Someone else changed this image")
    assert Image.objects.get(pk=image_id).label == "defective"


def test_a_viewer_reads_why_the_review_buttons_are_off_and_the_queue_stays_put(page, logged_in, django_user_model):
    from webapp.datasets import services

    owner = django_user_model.objects.create_user(username="lead", password="lead-password-1")
    project = make_project(owner, auto_retrain=False)
    upload(owner, project, [(f"p{i}.png", texture_png(64, 48, seed=i)) for i in range(2)])
    services.member_set(project=project, user=logged_in, role="viewer")
    page.goto(f"/projects/{project.pk}/review/")
    expect(page.get_by_test_id("review-filename")).not_to_have_text("")  # the queue is loaded

    why = "Viewers can look but not label: an owner can give you the labeller role."
    for button in ("accept-good", "accept-defective"):
        expect(page.get_by_test_id(button)).to_be_disabled()
        expect(page.get_by_test_id(button)).to_have_attribute("title", why)
    shown = page.get_by_test_id("review-filename").inner_text()
    page.keyboard.press("g")
    expect(page.get_by_test_id("review-error")).to_have_text(why)
    expect(page.get_by_test_id("review-filename")).to_have_text(shown)  # no decision, no move
    assert not Image.objects.filter(project=project).exclude(label="unlabeled").exists()
