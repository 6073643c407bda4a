"""The labeller: label keys and navigation in the gallery's order, the mask painter (stored at image
resolution), undo/redo, eraser, and a mask made from the heatmap."""

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import make_project, prepared_model, stored_mask, texture_png, upload

pytestmark = pytest.mark.browser

W, H = 1600, 1200  # larger than the stage, so painting happens at a zoom below 1


def open_labeller(page, project, image_id, query=""):
    page.goto(f"/projects/{project.pk}/images/{image_id}/{query}")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")


def to_screen(page, x, y):
    """Screen position of image pixel (x, y) when the image is fitted to the stage (as the page does)."""
    box = page.get_by_test_id("mask-canvas").bounding_box()
    s = min(box["width"] / W, box["height"] / H) * 0.98
    return box["x"] + (box["width"] - W * s) / 2 + x * s, box["y"] + (box["height"] - H * s) / 2 + y * s


def stroke(page, points):
    page.mouse.move(*to_screen(page, *points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*to_screen(page, *p), steps=8)
    page.mouse.up()


def save(page, status="saved"):
    page.get_by_test_id("save-mask").click()
    expect(page.get_by_test_id("mask-status")).to_have_text(status)


@pytest.fixture
def big_image(logged_in):
    project = make_project(logged_in, auto_retrain=False)
    [image] = upload(logged_in, project, [("plate.png", texture_png(W, H, seed=7))])
    return project, image["id"]


def test_a_painted_stroke_is_stored_at_image_resolution_and_makes_the_image_defective(page, big_image):
    project, image_id = big_image
    open_labeller(page, project, image_id)
    page.get_by_test_id("brush-size").fill("40")
    stroke(page, [(300, 600), (1300, 600)])
    expect(page.get_by_test_id("mask-status")).to_have_text("unsaved changes")
    save(page)

    mask = stored_mask(image_id)
    assert mask.shape == (H, W)
    assert set(np.unique(mask)) == {0, 255}
    # The stroke is where it was painted, 40 image pixels wide, whatever the zoom on screen.
    assert mask[600, 400:1200].min() == 255
    column = mask[:, 800] > 0
    assert 34 <= column.sum() <= 46
    assert column[580:620].all()
    assert mask[:500].max() == 0 and mask[700:].max() == 0
    assert Image.objects.get(pk=image_id).label == "defective"
    expect(page.get_by_test_id("label-defective")).to_have_attribute("aria-pressed", "true")


def test_labelling_a_masked_image_good_clears_its_mask_and_type_on_the_page_too(page, big_image):
    """The server drops the mask and defect type of an image labelled good; if the page kept showing them, a
    touch-up stroke and Save would store the old mask again and make the image defective."""
    project, image_id = big_image
    open_labeller(page, project, image_id)
    page.get_by_test_id("brush-size").fill("40")
    stroke(page, [(300, 600), (1300, 600)])
    save(page)
    page.get_by_test_id("defect-type").fill("uneven")
    page.get_by_test_id("defect-type").press("Enter")
    expect(page.get_by_test_id("defect-type-status")).to_have_text("saved")

    page.get_by_test_id("label-good").click()

    expect(page.get_by_test_id("label-good")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("mask-status")).to_have_text("no mask")
    expect(page.get_by_test_id("defect-type")).to_have_value("")
    # a new stroke is all that a save stores now: the old mask does not come back with it
    stroke(page, [(300, 200), (500, 200)])
    save(page)
    mask = stored_mask(image_id)
    assert mask[200, 350:450].min() == 255
    assert mask[600, 400:1200].max() == 0
    image = Image.objects.get(pk=image_id)
    assert image.label == "defective" and image.defect_type is None


def test_undo_redo_and_eraser(page, big_image):
    project, image_id = big_image
    open_labeller(page, project, image_id)
    page.get_by_test_id("brush-size").fill("60")
    stroke(page, [(200, 300), (1400, 300)])  # first stroke: a horizontal bar
    stroke(page, [(800, 500), (800, 1100)])  # second stroke: a vertical bar
    page.keyboard.press("Control+z")  # undo the vertical bar
    save(page)
    mask = stored_mask(image_id)
    assert mask[300, 300:1300].min() == 255
    assert mask[700:1100, 800].max() == 0

    page.keyboard.press("Control+Shift+z")  # redo brings it back
    save(page)
    assert stored_mask(image_id)[700:1100, 800].min() == 255

    page.keyboard.press("e")  # eraser across the horizontal bar
    expect(page.get_by_test_id("tool-eraser")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("brush-size").fill("120")
    stroke(page, [(500, 150), (500, 450)])
    save(page)
    mask = stored_mask(image_id)
    assert mask[300, 470:530].max() == 0  # erased where the eraser crossed
    assert mask[300, 300:420].min() == 255 and mask[300, 600:1300].min() == 255  # the rest stays

    # Clearing and saving removes the mask (an all-zero mask is not a mask).
    page.get_by_test_id("clear-mask").click()
    save(page, "no mask")
    assert stored_mask(image_id) is None


def test_brush_keys_and_zoom(page, big_image):
    project, image_id = big_image
    open_labeller(page, project, image_id)
    size = page.get_by_test_id("brush-size")
    size.fill("40")
    page.get_by_test_id("mask-canvas").focus()
    page.keyboard.press("]")
    assert int(size.input_value()) == 50
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(size.input_value()) == 32
    before = page.get_by_test_id("zoom").inner_text()
    page.mouse.move(*to_screen(page, 800, 600))
    page.mouse.wheel(0, -400)
    expect(page.get_by_test_id("zoom")).not_to_have_text(before)
    page.keyboard.press("f")
    expect(page.get_by_test_id("zoom")).to_have_text(before)
    # The cursor circle shows the real brush size: 32 image pixels at the fitted zoom.
    box = page.get_by_test_id("mask-canvas").bounding_box()
    scale = min(box["width"] / W, box["height"] / H) * 0.98
    width = page.get_by_test_id("brush-cursor").evaluate("el => parseFloat(el.style.width)")
    assert abs(width - 32 * scale) < 1


def test_label_keys_and_arrows_follow_the_gallery_order(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = upload(logged_in, project, [(f"p{i}.png", texture_png(120, 90, seed=40 + i)) for i in range(4)])
    newest_first = [img["id"] for img in reversed(images)]

    page.goto(f"/projects/{project.pk}/?label=unlabeled")
    expect(page.get_by_test_id("tile")).to_have_count(4)
    page.get_by_test_id("tile").first.locator("a").click()
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    assert f"/images/{newest_first[0]}/" in page.url and "label=unlabeled" in page.url
    expect(page.get_by_test_id("position")).to_have_text("1 / 4")

    page.keyboard.press("g")
    expect(page.get_by_test_id("label-good")).to_have_attribute("aria-pressed", "true")
    assert Image.objects.get(pk=newest_first[0]).label == "good"

    # The labelled image left the "unlabeled" filter: the next one is the one that moved into its place.
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/images/{newest_first[1]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    page.keyboard.press("d")
    expect(page.get_by_test_id("label-defective")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/images/{newest_first[2]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    page.keyboard.press("u")
    expect(page.get_by_test_id("label-unlabeled")).to_have_attribute("aria-pressed", "true")
    # Within "unlabeled", the labelled images are gone and this one is now first: left goes back to the
    # image just labelled (it came from there), not nowhere.
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/images/{newest_first[1]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("label-defective")).to_have_attribute("aria-pressed", "true")
    # Without a filter, left goes back through every image in the gallery's order.
    open_labeller(page, project, newest_first[1], "?pos=2")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/images/{newest_first[0]}/**")
    labels = dict(Image.objects.filter(project=project).values_list("id", "label"))
    assert [labels[i] for i in newest_first] == ["good", "defective", "unlabeled", "unlabeled"]


def test_unsaved_mask_is_saved_before_moving_on(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = upload(logged_in, project, [(f"q{i}.png", texture_png(W, H, seed=60 + i)) for i in range(2)])
    first, second = images[1]["id"], images[0]["id"]  # newest first
    open_labeller(page, project, first, "?pos=1")
    page.get_by_test_id("brush-size").fill("50")
    stroke(page, [(400, 400), (900, 400)])
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/images/{second}/**")
    assert stored_mask(first)[400, 500:800].min() == 255
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    page.keyboard.press("ArrowRight")  # the last image: nowhere to go, said in words
    expect(page.locator(".toast", has_text="This is the last image.")).to_be_visible()


def test_mask_from_heatmap_thresholds_the_map_into_an_editable_mask(page, big_image):
    project, image_id = big_image
    heat = np.full((H, W), 30, np.uint8)
    heat[300:600, 400:800] = 220  # a hot region
    heat[900:950, 1200:1250] = 110  # a lukewarm one, under a 0.5 threshold
    prepared_model(project, scores={image_id: 0.83}, heatmaps={image_id: heat}, threshold=0.61)

    open_labeller(page, project, image_id)
    expect(page.get_by_test_id("prediction")).to_contain_text("0.830")
    expect(page.get_by_test_id("prediction")).to_contain_text("threshold 0.610")
    expect(page.get_by_test_id("prediction")).to_contain_text("predicted defective")
    expect(page.get_by_test_id("mask-from-heatmap")).to_be_enabled()
    page.get_by_test_id("heatmap-threshold").fill("0.5")
    expect(page.get_by_test_id("heatmap-threshold-value")).to_have_text("0.500")
    page.get_by_test_id("mask-from-heatmap").click()
    expect(page.get_by_test_id("mask-status")).to_have_text("unsaved changes")

    # The mask is editable like a painted one: erase a corner of it before saving.
    page.keyboard.press("e")
    page.get_by_test_id("brush-size").fill("80")
    stroke(page, [(400, 300), (420, 320)])
    save(page)
    mask = stored_mask(image_id)
    assert mask[350:600, 500:800].min() == 255
    assert mask[:300].max() == 0 and mask[600:].max() == 0 and mask[:, :400].max() == 0
    assert mask[300:330, 400:430].max() == 0  # erased
    assert Image.objects.get(pk=image_id).label == "defective"

    page.keyboard.press("Control+z")  # undo the eraser, then undo the heatmap mask
    page.keyboard.press("Control+z")
    save(page, "no mask")
    assert stored_mask(image_id) is None


def test_a_refused_label_is_explained_next_to_the_buttons(page, logged_in, django_user_model, allowed_console_errors):
    from webapp.datasets import services

    owner = django_user_model.objects.create_user(username="lead", password="lead-password-1")
    project = make_project(owner, auto_retrain=False)
    [image] = upload(owner, project, [("v.png", texture_png(64, 48, seed=5))])
    services.member_set(project=project, user=logged_in, role="viewer")
    allowed_console_errors.append("status of 403")
    open_labeller(page, project, image["id"])
    expect(page.get_by_test_id("save-mask")).to_be_hidden()  # viewers get no painter
    # the label buttons are disabled and say why; the keys say it too, before any request
    why = "Viewers can look but not label: an owner can give you the labeller role."
    for name in ("good", "defective", "unlabeled"):
        expect(page.get_by_test_id(f"label-{name}")).to_be_disabled()
        expect(page.get_by_test_id(f"label-{name}")).to_have_attribute("title", why)
    expect(page.get_by_test_id("defect-type")).to_have_attribute("title", re.compile("Viewers cannot"))
    page.keyboard.press("g")
    expect(page.get_by_test_id("label-error")).to_have_text(why)
    assert Image.objects.get(pk=image["id"]).label == "unlabeled"


def test_a_16_bit_tiff_is_shown_at_full_resolution_and_painted_at_full_size(page, logged_in):
    import io

    from PIL import Image as PILImage

    project = make_project(logged_in, auto_retrain=False)
    values = np.full((300, 400), 1500, np.uint16)  # a 12-bit camera image in a 16-bit TIFF
    values[150:152, 120:280] = 4095  # a 2-pixel scratch, lost in a 256-px thumbnail
    buf = io.BytesIO()
    PILImage.fromarray(values).save(buf, "TIFF")
    [image] = upload(logged_in, project, [("scan.tif", buf.getvalue())])
    with page.expect_response(lambda r: r.url.endswith(f"/images/{image['id']}/view/")) as shown:
        page.goto(f"/projects/{project.pk}/images/{image['id']}/")
    assert shown.value.status == 200 and shown.value.header_value("content-type") == "image/png"
    view = np.asarray(PILImage.open(io.BytesIO(shown.value.body())))
    assert view.shape == (300, 400) and view[151, 200] == 255 and view[10, 10] < 100
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("stage-msg")).to_be_hidden()
    box = page.get_by_test_id("mask-canvas").bounding_box()
    s = min(box["width"] / 400, box["height"] / 300) * 0.98
    x0, y0 = box["x"] + (box["width"] - 400 * s) / 2, box["y"] + (box["height"] - 300 * s) / 2
    page.get_by_test_id("brush-size").fill("10")
    page.mouse.move(x0 + 100 * s, y0 + 150 * s)
    page.mouse.down()
    page.mouse.move(x0 + 300 * s, y0 + 150 * s, steps=5)
    page.mouse.up()
    save(page)
    mask = stored_mask(image["id"])
    assert mask.shape == (300, 400) and mask[150, 120:280].min() == 255


def test_labelling_can_move_on_by_itself(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = upload(logged_in, project, [(f"a{i}.png", texture_png(64, 48, seed=80 + i)) for i in range(3)])
    newest_first = [img["id"] for img in reversed(images)]
    open_labeller(page, project, newest_first[0], "?pos=1")
    page.get_by_test_id("advance-after-label").check()
    page.keyboard.press("g")
    page.wait_for_url(f"**/images/{newest_first[1]}/**")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("advance-after-label")).to_be_checked()  # remembered
    page.keyboard.press("d")
    page.wait_for_url(f"**/images/{newest_first[2]}/**")
    labels = dict(Image.objects.filter(project=project).values_list("id", "label"))
    assert [labels[i] for i in newest_first] == ["good", "defective", "unlabeled"]


def test_signed_out_in_another_tab_the_page_says_so_and_keeps_the_painting(
    page, big_image, context, live_server, allowed_console_errors
):
    """The session ends while a mask is being painted: the page says how to sign in again (in a new tab, so the
    painting stays), and once signed in the same Save stores it."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.test import Client

    project, image_id = big_image
    open_labeller(page, project, image_id)
    page.get_by_test_id("brush-size").fill("40")
    stroke(page, [(300, 600), (1300, 600)])
    Session.objects.all().delete()  # logged out elsewhere
    allowed_console_errors.append("401")

    page.get_by_test_id("save-mask").click()

    banner = page.get_by_test_id("signed-out")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("You are signed out")
    link = banner.get_by_role("link", name="Sign in again in a new tab")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("href", re.compile(r"^/accounts/login/\?next=%2Fprojects%2F"))
    expect(page.get_by_test_id("mask-status")).to_have_text("not saved")  # the painting is still there
    expect(page.get_by_test_id("mask-error")).to_contain_text("You are signed out: sign in again")

    client = Client()  # signed in again (in that other tab)
    client.force_login(project.owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])
    save(page)
    expect(banner).to_be_hidden()
    assert stored_mask(image_id)[600, 400:1200].min() == 255
