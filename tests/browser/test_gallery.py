"""The gallery: upload with per-file progress and errors, zip import, filters, paging and bulk curation."""

import zipfile

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Image

from .helpers import add_textures, api_client, bulk_copies, make_project, prepared_model, texture_png

pytestmark = pytest.mark.browser


def test_it_uploads_many_files_with_a_result_per_file(page, logged_in, tmp_path):
    project = make_project(logged_in, auto_retrain=False)
    files = []
    for i in range(5):
        path = tmp_path / f"tile_{i}.png"
        path.write_bytes(texture_png(80, 60, seed=i))
        files.append(str(path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image decoder wants")
    again = tmp_path / "tile_0_again.png"
    again.write_bytes((tmp_path / "tile_0.png").read_bytes())

    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("upload-input").set_input_files([*files, str(broken)])

    rows = page.get_by_test_id("upload-row")
    expect(rows).to_have_count(6)
    for name in [f"tile_{i}.png" for i in range(5)]:
        expect(page.locator(f'[data-testid="upload-row"][data-name="{name}"]')).to_have_attribute("data-state", "ok")
    bad = page.locator('[data-testid="upload-row"][data-name="broken.png"]')
    expect(bad).to_have_attribute("data-state", "error")
    assert len(bad.locator(".upload-status").inner_text()) > 5  # the server's reason, in words

    page.get_by_test_id("upload-input").set_input_files(str(again))
    expect(page.locator('[data-testid="upload-row"][data-name="tile_0_again.png"]')).to_have_attribute(
        "data-state", "dup"
    )

    expect(page.get_by_test_id("tile")).to_have_count(5)
    expect(page.locator('[data-count="images"]')).to_have_text("5")
    assert Image.objects.filter(project=project).count() == 5


def test_it_imports_a_zip_and_shows_the_import_progress(
    page, logged_in, tmp_path, eager_celery, allowed_console_errors
):
    project = make_project(logged_in, auto_retrain=False)
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"batch/part_{i}.png", texture_png(64, 64, seed=100 + i))
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("upload-input").set_input_files(str(archive))
    row = page.locator('[data-testid="upload-row"][data-name="batch.zip"]')
    expect(row).to_have_attribute("data-state", "ok")
    expect(row).to_contain_text("imported 3")
    expect(page.get_by_test_id("tile")).to_have_count(3)

    # A file named .zip that is not a zip is refused, and the row says why.
    allowed_console_errors.append("status of 4")
    fake = tmp_path / "not-really.zip"
    fake.write_bytes(b"this is not a zip archive at all")
    page.get_by_test_id("upload-input").set_input_files(str(fake))
    bad = page.locator('[data-testid="upload-row"][data-name="not-really.zip"]')
    expect(bad).to_have_attribute("data-state", "error")
    assert len(bad.locator(".upload-status").inner_text()) > 5

    # A real zip with nothing importable in it is a warning that says why, not a green success.
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as zf:
        zf.writestr("readme.txt", "line 4 parts")
        zf.writestr("docs/notes.md", "# notes")
    page.get_by_test_id("upload-input").set_input_files(str(notes))
    empty = page.locator('[data-testid="upload-row"][data-name="notes.zip"]')
    expect(empty).to_have_attribute("data-state", "warn")
    status = empty.locator(".upload-status")
    expect(status).to_contain_text("nothing imported: 2 skipped, e.g. readme.txt: not an image file")
    expect(status).to_contain_text("The archive holds no PNG, JPEG, BMP or TIFF image")
    expect(status).to_have_class("upload-status warn")
    assert "docs/notes.md: not an image file" in status.get_attribute("title")  # every reason, on hover
    expect(page.get_by_test_id("tile")).to_have_count(3)


def test_the_training_line_counts_the_good_labels_the_first_model_needs(page, logged_in):
    """The split policy sends the first good labels to test: the line says how many labels it really takes."""
    project = make_project(logged_in, auto_retrain=True, min_good_for_first_model=10)
    images = add_textures(logged_in, project, 3)
    page.goto(f"/projects/{project.pk}/")
    line = page.get_by_test_id("labels-until")
    expect(line).to_have_text("10 good train images until the first model (about 23 good labels)")

    # two good labels: both go to the test split (it wants 10 good images first)
    for image in images[:2]:
        api_client(logged_in).patch(f"/api/v1/images/{image['id']}/", {"label": "good"}, format="json")
    page.reload()
    expect(line).to_have_text("10 good train images until the first model (about 21 good labels)")


def test_filters_paging_and_bulk_curation(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = add_textures(logged_in, project, 14)
    ids = [img["id"] for img in images]
    # A model scored them: the first three are predicted defective.
    prepared_model(project, scores={i: (0.9 - 0.05 * n if n < 3 else 0.1 + 0.01 * n) for n, i in enumerate(ids)})

    page.goto(f"/projects/{project.pk}/?page_size=60")
    expect(page.get_by_test_id("tile")).to_have_count(14)
    expect(page.get_by_test_id("score-badge")).to_have_count(14)
    expect(page.locator('[data-testid="active-model"]')).to_contain_text("v1")
    expect(page.get_by_test_id("running-job")).to_contain_text("No training running")
    expect(page.get_by_test_id("labels-until")).to_have_text("automatic retraining off")

    page.get_by_test_id("filter-predicted").select_option("defective")
    expect(page.get_by_test_id("tile")).to_have_count(3)
    expect(page.get_by_test_id("result-count")).to_have_text("3 matching")
    page.get_by_test_id("filter-predicted").select_option("")

    page.get_by_test_id("sort").select_option("-score")
    expect(page.get_by_test_id("tile")).to_have_count(14)
    # The count is 14 before and after the re-render: wait for the new order itself.
    expect(page.get_by_test_id("tile").first).to_have_attribute("data-id", str(ids[0]))
    first_three = [int(page.get_by_test_id("tile").nth(i).get_attribute("data-id")) for i in range(3)]
    assert first_three == ids[:3]

    # Click one, shift-click another: a range of four, labelled defective in one action.
    checks = page.get_by_test_id("tile-check")
    checks.nth(0).click()
    checks.nth(3).click(modifiers=["Shift"])
    expect(page.get_by_test_id("selection-count")).to_have_text("4 selected")
    page.get_by_test_id("bulk-label").select_option("defective")
    expect(page.get_by_test_id("selection-count")).to_have_text("Nothing selected")
    expect(page.locator('[data-count="defective"]')).to_have_text("4")
    assert Image.objects.filter(project=project, label="defective").count() == 4

    # Every unlabeled image, across pages, to the test split; then delete the good-scoring ones.
    page.get_by_test_id("sort").select_option("")
    page.get_by_test_id("filter-label").select_option("unlabeled")
    page.get_by_test_id("page-size").select_option("60")
    expect(page.get_by_test_id("tile")).to_have_count(10)
    page.get_by_test_id("select-all-matching").click()
    expect(page.get_by_test_id("selection-count")).to_contain_text("10 selected")
    page.get_by_test_id("bulk-split").select_option("test")
    expect(page.get_by_test_id("selection-count")).to_have_text("Nothing selected")
    assert Image.objects.filter(project=project, label="unlabeled", split="test").count() == 10

    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("select-all-matching").click()
    page.get_by_test_id("bulk-delete").click()
    expect(page.get_by_test_id("gallery-empty")).to_be_visible()
    assert Image.objects.filter(project=project).count() == 4


def test_back_and_forward_step_through_the_filters(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    ids = [i["id"] for i in add_textures(logged_in, project, 6)]
    Image.objects.filter(pk__in=ids[:2]).update(label="good")
    Image.objects.filter(pk=ids[0]).update(split="test")
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("tile")).to_have_count(6)

    page.get_by_test_id("filter-label").select_option("good")
    expect(page.get_by_test_id("tile")).to_have_count(2)
    page.get_by_test_id("filter-split").select_option("test")
    expect(page.get_by_test_id("tile")).to_have_count(1)

    page.go_back()  # the previous filter, not the previous page
    expect(page.get_by_test_id("tile")).to_have_count(2)
    expect(page.get_by_test_id("filter-split")).to_have_value("")
    expect(page.get_by_test_id("filter-label")).to_have_value("good")
    page.go_back()
    expect(page.get_by_test_id("tile")).to_have_count(6)
    expect(page.get_by_test_id("filter-label")).to_have_value("")
    assert page.url.endswith(f"/projects/{project.pk}/")
    page.go_forward()
    expect(page.get_by_test_id("tile")).to_have_count(2)


def test_a_threshold_moved_elsewhere_reaches_an_open_gallery_without_a_reload(page, logged_in):
    from webapp.training.models import ModelVersion

    project = make_project(logged_in, auto_retrain=False)
    ids = [i["id"] for i in add_textures(logged_in, project, 3)]
    version = prepared_model(project, scores={i: 0.2 + 0.2 * n for n, i in enumerate(ids)}, threshold=0.5)
    page.goto(f"/projects/{project.pk}/")
    hot = page.locator('[data-testid="score-badge"][data-defective="true"]')
    expect(hot).to_have_count(1)  # 0.6 only

    ModelVersion.objects.filter(pk=version.pk).update(threshold=0.3)  # set in another tab, or by a colleague

    # the next status poll (every 10 s) sees it: verdicts and the header follow
    expect(hot).to_have_count(2, timeout=25_000)  # (a loaded CI machine may be slow to answer)
    expect(page.get_by_test_id("active-model")).to_contain_text("threshold 0.300")
    ModelVersion.objects.filter(pk=version.pk).update(threshold=0.7)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # back to this tab: at once
    expect(hot).to_have_count(0)


def test_it_pages_through_a_large_project(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    add_textures(logged_in, project, 65, size=(32, 32))
    page.goto(f"/projects/{project.pk}/")
    page.get_by_test_id("page-size").select_option("60")
    expect(page.get_by_test_id("tile")).to_have_count(60)
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 of 2")
    page.get_by_test_id("next-page").click()
    expect(page.get_by_test_id("tile")).to_have_count(5)
    expect(page.get_by_test_id("page-info")).to_have_text("Page 2 of 2")
    assert "page=2" in page.url
    # Deleting everything on the last page lands on the last page that still exists.
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("select-page").click()
    page.get_by_test_id("bulk-delete").click()
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 of 1")
    expect(page.get_by_test_id("tile")).to_have_count(60)
    # Thumbnails load lazily: the browser fetches them only near the viewport.
    assert page.get_by_test_id("tile").first.locator("img").get_attribute("loading") == "lazy"


def test_it_stays_usable_at_ten_thousand_images(page, logged_in):
    """10,000 rows (sharing one stored file): the gallery asks for one page at a time, and "select all
    matching" curates all of them in one request without listing ids."""
    project = make_project(logged_in, auto_retrain=False)
    [seed] = add_textures(logged_in, project, 1, size=(48, 48))
    template = Image.objects.get(pk=seed["id"])
    bulk_copies(project, template, 9_999)
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("result-count")).to_have_text("10,000 matching")
    expect(page.get_by_test_id("tile")).to_have_count(120)
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 of 84")
    page.goto(f"/projects/{project.pk}/?page=84")
    expect(page.get_by_test_id("tile")).to_have_count(40)

    page.get_by_test_id("select-all-matching").click()
    expect(page.get_by_test_id("selection-count")).to_have_text("10,000 selected (all matching the filter)")
    page.get_by_test_id("bulk-split").select_option("test")
    expect(page.get_by_test_id("selection-count")).to_have_text("Nothing selected", timeout=30_000)
    assert Image.objects.filter(project=project, split="test").count() == 10_000


def test_files_dropped_on_the_page_are_uploaded(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    page.goto(f"/projects/{project.pk}/")
    png = list(texture_png(40, 30, seed=901))
    page.evaluate(
        """(bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
            const zone = document.querySelector('[data-testid="dropzone"]');
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        png,
    )
    expect(page.locator('[data-testid="upload-row"][data-name="dropped.png"]')).to_have_attribute("data-state", "ok")
    expect(page.get_by_test_id("tile")).to_have_count(1)


def test_the_gallery_works_from_the_keyboard(page, logged_in):
    project = make_project(logged_in, auto_retrain=False)
    images = add_textures(logged_in, project, 3)
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("tile")).to_have_count(3)
    page.get_by_test_id("tile-check").nth(1).focus()
    page.keyboard.press("Space")
    expect(page.get_by_test_id("selection-count")).to_have_text("1 selected")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("selection-count")).to_have_text("Nothing selected")
    page.keyboard.press("Tab")  # from the checkbox to its image link
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/images/{images[1]['id']}/?pos=2")
