"""Every page fits a 390 px phone, a 760 px wide window (a tablet at the line, a half-screen browser) and a 1024 px
one: nothing is cut off at the right and the page never scrolls sideways; wide tables scroll inside their card
instead. On a phone the gallery shows its images first, and the labeller's image keeps most of the screen."""

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import add_textures, make_project, prepared_model

pytestmark = pytest.mark.browser


@pytest.fixture
def project_with_model(logged_in):
    project = make_project(logged_in, "Line 4 magnetic tiles, second shift", auto_retrain=False)
    images = add_textures(logged_in, project, 6)
    Image.objects.filter(pk__in=[i["id"] for i in images[:4]]).update(label="good", split="train")
    Image.objects.filter(pk__in=[i["id"] for i in images[4:]]).update(label="defective", split="test")
    prepared_model(project, scores={i["id"]: 0.1 * n for n, i in enumerate(images)}, threshold=0.35, active=True)
    return project, images


@pytest.mark.parametrize("width", [390, 760, 1024])
def test_no_page_scrolls_sideways_or_cuts_off_the_header(page, project_with_model, width):
    project, images = project_with_model
    page.set_viewport_size({"width": width, "height": 800})
    pages = {
        "projects": "/",
        "gallery": f"/projects/{project.pk}/",
        "labeller": f"/projects/{project.pk}/images/{images[0]['id']}/",
        "review": f"/projects/{project.pk}/review/",
        "training": f"/projects/{project.pk}/training/",
        "models": f"/projects/{project.pk}/models/",
        "inspect": f"/projects/{project.pk}/inspect/",
        "members": f"/projects/{project.pk}/members/",
    }
    overflowing = {}
    for name, url in pages.items():
        page.goto(url)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        page.wait_for_load_state("networkidle")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        logout = page.get_by_role("button", name="Log out").bounding_box()
        if scroll > width + 1 or logout["x"] + logout["width"] > width:
            overflowing[name] = scroll
        # no button or field runs out of the card (or side panel) it sits in
        cut = page.evaluate(
            """() => [...document.querySelectorAll('.card .btn, .panel .btn, .card input, .card select')]
                .filter((el) => el.offsetParent !== null && !el.closest('.table-wrap'))
                .filter((el) => {
                  const box = el.closest('.card, .panel').getBoundingClientRect();
                  return el.getBoundingClientRect().right > box.right + 1;
                })
                .map((el) => el.dataset.testid || el.textContent.trim() || el.name)"""
        )
        if cut:
            overflowing[f"{name} (cut off)"] = cut
        if name == "training":
            # the form's selects keep room for their text
            for select in ("train-mode", "train-preset"):
                assert page.get_by_test_id(select).bounding_box()["width"] > 80
    assert not overflowing, f"pages wider than {width} px: {overflowing}"


def test_on_a_phone_the_gallery_shows_images_first_and_the_labeller_leaves_room_to_paint(page, project_with_model):
    project, images = project_with_model
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("tile").first).to_be_visible()
    # (measured in one go: the gallery's polls may redraw the tiles between two calls)
    tile_top, filter_top = page.evaluate(
        """() => [document.querySelector('[data-testid="tile"]').getBoundingClientRect().top,
                  document.querySelector('[data-testid="filter-label"]').getBoundingClientRect().top]"""
    )
    assert tile_top < filter_top and tile_top < 844  # on the first screen, above the filters

    page.goto(f"/projects/{project.pk}/images/{images[0]['id']}/")
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-ready", "true")
    canvas = page.get_by_test_id("mask-canvas").bounding_box()
    assert canvas["width"] >= 370 and canvas["height"] >= 500
    expect(page.get_by_test_id("label-good")).to_be_visible()  # the panel follows below the image
