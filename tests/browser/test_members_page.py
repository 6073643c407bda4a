"""The project's Members page: an owner adds a colleague by user name or e-mail, changes roles, removes
people, renames the project and deletes it (the name typed to confirm); others read it, and may leave."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from webapp.datasets.models import Membership, Project

from .helpers import make_project

pytestmark = pytest.mark.browser


def test_an_owner_adds_a_colleague_changes_the_role_and_removes_them(
    page, logged_in, django_user_model, allowed_console_errors
):
    project = make_project(logged_in, "Line 4")
    bob = django_user_model.objects.create_user(username="bob", email="bob@example.com", password="bob-password-1")
    django_user_model.objects.create_user(username="carol", password="carol-password-1")
    page.goto(f"/projects/{project.pk}/members/")
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    me = page.get_by_test_id("member-row").first
    expect(me.get_by_test_id("member-role-select")).to_be_disabled()  # the creator stays an owner
    expect(me.get_by_test_id("member-remove")).to_be_disabled()

    # by e-mail address, as a viewer
    page.get_by_test_id("member-name").fill("Bob@Example.com")
    page.get_by_test_id("member-role").select_option("viewer")
    page.get_by_test_id("add-member-submit").click()
    row = page.locator('[data-testid="member-row"][data-username="bob"]')
    expect(row.get_by_test_id("member-role-select")).to_have_value("viewer")
    assert Membership.objects.get(project=project, user=bob).role == "viewer"

    # a name nobody has: the API's words, nothing added
    allowed_console_errors.append("400")
    page.get_by_test_id("member-name").fill("nobody")
    page.get_by_test_id("add-member-submit").click()
    expect(page.get_by_test_id("add-member-error")).to_have_text("No active user has this user name or e-mail address.")

    # promoted to labeller, then removed (after a confirmation)
    row.get_by_test_id("member-role-select").select_option("labeller")
    expect(page.locator(".toast").last).to_contain_text("bob is now a labeller")
    assert Membership.objects.get(project=project, user=bob).role == "labeller"
    page.once("dialog", lambda d: d.accept())
    row.get_by_test_id("member-remove").click()
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    assert not Membership.objects.filter(project=project, user=bob).exists()


def test_an_owner_renames_the_project_and_deletes_it_only_with_its_name_typed(page, logged_in):
    project = make_project(logged_in, "Line 4")
    page.goto(f"/projects/{project.pk}/members/")
    page.get_by_test_id("project-name-input").fill("Line 4, second shift")
    page.get_by_test_id("project-save").click()
    expect(page.get_by_test_id("project-name")).to_have_text("Line 4, second shift")  # the top bar too
    assert Project.objects.get(pk=project.pk).name == "Line 4, second shift"

    page.once("dialog", lambda d: d.accept("Line 4"))  # not quite its name
    page.get_by_test_id("delete-project").click()
    expect(page.get_by_test_id("delete-error")).to_have_text("The name did not match: nothing was deleted.")
    assert Project.objects.filter(pk=project.pk).exists()

    page.once("dialog", lambda d: d.accept("Line 4, second shift"))
    page.get_by_test_id("delete-project").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    assert not Project.objects.filter(pk=project.pk).exists()


def test_a_labeller_reads_the_members_and_may_leave(page, logged_in, django_user_model):
    lead = django_user_model.objects.create_user(username="lead", password="lead-password-1")
    project = make_project(lead, "Someone else's line")
    Membership.objects.create(project=project, user=logged_in, role="labeller")
    page.goto(f"/projects/{project.pk}/members/")

    expect(page.get_by_test_id("member-row")).to_have_count(2)
    expect(page.get_by_test_id("add-member")).to_be_hidden()
    expect(page.get_by_test_id("delete-project")).to_be_hidden()
    # labellers may rename and describe the project (its settings, docs/security.md), not manage members
    page.get_by_test_id("project-name-input").fill("Line 4, front covers")
    page.get_by_test_id("project-save").click()
    expect(page.locator(".toast").last).to_contain_text("Project saved.")
    project.refresh_from_db()
    assert project.name == "Line 4, front covers"
    lead_row = page.locator('[data-testid="member-row"][data-username="lead"]')
    expect(lead_row.get_by_test_id("member-role-select")).to_be_disabled()
    mine = page.locator(f'[data-testid="member-row"][data-username="{logged_in.username}"]')
    expect(mine.get_by_test_id("member-remove")).to_have_text("Leave")
    page.once("dialog", lambda d: d.accept())
    mine.get_by_test_id("member-remove").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    assert not Membership.objects.filter(project=project, user=logged_in).exists()


def test_a_viewer_reads_the_project_but_cannot_rename_it(page, logged_in, django_user_model):
    lead = django_user_model.objects.create_user(username="lead", password="lead-password-1")
    project = make_project(lead, "Someone else's line")
    Membership.objects.create(project=project, user=logged_in, role="viewer")
    page.goto(f"/projects/{project.pk}/members/")

    expect(page.get_by_test_id("project-name-input")).to_have_value("Someone else's line")
    expect(page.get_by_test_id("project-name-input")).to_be_disabled()
    expect(page.get_by_test_id("project-name-input")).to_have_attribute("title", re.compile("Viewers can look"))
    expect(page.get_by_test_id("project-save")).to_be_hidden()
