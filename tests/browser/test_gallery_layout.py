"""The gallery grid keeps readable, square tiles at every page size and scrolls instead of squeezing;
selection and shift-click ranges still work on a long page; upload results show in the dock over the grid."""

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import add_textures, make_project, texture_png

pytestmark = pytest.mark.browser


def many(user, n=600):
    project = make_project(user, auto_retrain=False)
    [seed] = add_textures(user, project, 1, size=(96, 72))
    t = Image.objects.get(pk=seed["id"])
    Image.objects.bulk_create(
        [
            Image(
                project=project,
                file=t.file.name,
                thumbnail=t.thumbnail.name,
                filename=f"bulk_{i:04d}.png",
                sha256=f"{i:064x}",
                width=96,
                height=72,
            )
            for i in range(n - 1)
        ]
    )
    return project


@pytest.mark.parametrize("size", [60, 120, 500])
def test_tiles_keep_their_size_and_the_grid_scrolls(page, logged_in, size):
    project = many(logged_in)
    page.goto(f"/projects/{project.pk}/?page_size={size}")
    tiles = page.get_by_test_id("tile")
    expect(tiles).to_have_count(size)
    boxes = tiles.evaluate_all(
        """ts => ts.slice(0, 12).map(t => { const a = t.querySelector('.tile-link').getBoundingClientRect();
        const r = t.getBoundingClientRect(); return [r.width, r.height, a.width, a.height]; })"""
    )
    for width, height, link_w, link_h in boxes:
        assert width >= 150 and height >= width  # readable: a square thumbnail plus the file name
        assert abs(link_w - link_h) <= 1  # the thumbnail keeps its (square) aspect
    name = tiles.first.locator(".tile-name")
    assert name.bounding_box()["height"] >= 14
    grid = page.get_by_test_id("gallery-grid")
    scroll = grid.evaluate("g => [g.scrollHeight, g.clientHeight]")
    assert scroll[0] > scroll[1]  # the page of tiles is taller than the grid: it scrolls
    # Selection and a shift-click range still work after scrolling.
    tiles.nth(1).get_by_test_id("tile-check").click()
    tiles.nth(13).scroll_into_view_if_needed()
    tiles.nth(13).get_by_test_id("tile-check").click(modifiers=["Shift"])
    expect(page.get_by_test_id("selection-count")).to_have_text("13 selected")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("selection-count")).to_have_text("Nothing selected")


def test_upload_results_show_in_the_dock_over_the_grid(page, logged_in, tmp_path):
    project = make_project(logged_in, auto_retrain=False)
    path = tmp_path / "part.png"
    path.write_bytes(texture_png(80, 60, seed=3))
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("upload-input").set_input_files(str(path))
    dock = page.get_by_test_id("upload-dock")
    expect(dock).to_be_visible()
    expect(dock.get_by_test_id("upload-row")).to_have_attribute("data-state", "ok")
    box, grid = dock.bounding_box(), page.get_by_test_id("gallery-grid").bounding_box()
    assert box["y"] + box["height"] <= 800 and box["x"] >= grid["x"]  # in view, over the grid
    page.get_by_test_id("upload-dock-close").click()
    expect(dock).to_be_hidden()
