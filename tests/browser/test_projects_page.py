"""Logging in, the project list and creating a project."""

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Project

from .helpers import add_textures, make_project

pytestmark = pytest.mark.browser


def test_it_logs_in_through_the_form_and_lists_only_my_projects(page, live_server, user, django_user_model):
    mine = make_project(user, "Magnetic tiles, line 3")
    add_textures(user, mine, 2)
    stranger = django_user_model.objects.create_user(username="stranger", password="stranger-password-1")
    make_project(stranger, "Somebody else's project")

    page.goto("/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "operator-password-1")
    page.click("button[type=submit]")

    page.wait_for_selector('[data-testid="project-item"]')
    items = page.locator('[data-testid="project-item"]')
    assert items.count() == 1
    assert "Magnetic tiles, line 3" in items.first.inner_text()
    assert "2 images" in items.first.inner_text()


def test_it_refuses_a_wrong_password_in_words(page, user):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("login-error")).to_contain_text("correct username and password")


def test_it_creates_a_project_and_opens_its_gallery(page, logged_in):
    make_project(logged_in, "Bearing rings")
    page.goto("/")
    page.wait_for_selector('[data-testid="project-item"]')

    # An empty name is refused next to the form, without a request.
    page.click("#create-project button[type=submit]")
    expect(page.locator('#create-project [data-role="error"]')).to_have_text("Give the project a name.")

    page.fill("#project-name", "Castings")
    page.click("#create-project button[type=submit]")
    page.wait_for_url("**/projects/*/")
    project = Project.objects.get(name="Castings")
    assert page.url.endswith(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("gallery-empty")).to_be_visible()
    # a new project says how to start, where the images will be, above the fold
    expect(page.get_by_test_id("gallery-empty-text")).to_have_text("No images yet.")
    choose = page.get_by_test_id("empty-choose-files")
    expect(choose).to_be_visible()
    with page.expect_file_chooser() as chooser:
        choose.click()
    assert chooser.value.is_multiple()
    # with a filter that matches nothing it says that instead
    page.get_by_test_id("filter-label").select_option("good")
    expect(page.get_by_test_id("gallery-empty-text")).to_have_text("No images match these filters.")
    expect(choose).to_be_hidden()


def test_it_logs_out_with_a_post(page, logged_in):
    page.goto("/")
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/")
    assert "/accounts/login/" in page.url


def test_a_project_of_someone_else_is_not_found(page, logged_in, django_user_model, allowed_console_errors):
    allowed_console_errors.append("404")
    other = django_user_model.objects.create_user(username="other", password="other-password-1")
    theirs = make_project(other, "Private")
    response = page.goto(f"/projects/{theirs.pk}/")
    assert response.status == 404
