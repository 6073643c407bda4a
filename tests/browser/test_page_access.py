"""The server side of the pages (no browser): who may open which page, and what the page boots."""

import json

import pytest
from django.test import Client

from webapp.datasets import services

from .helpers import add_textures, make_project


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(username="owner", password="owner-password-1")


@pytest.fixture
def client_for():
    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


def _config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-config" type="application/json">') + len(
        '<script id="page-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.django_db
def test_pages_need_a_login(client):
    for path in ["/", "/projects/1/", "/projects/1/review/", "/projects/1/training/", "/projects/1/images/1/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_login_page_has_the_contract_fields(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in html and 'name="password"' in html


@pytest.mark.django_db
def test_logout_is_a_post(owner, client_for):
    client = client_for(owner)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_each_project_page_boots_its_module_with_the_project(owner, client_for):
    project = make_project(owner, "Tiles")
    [image] = add_textures(owner, project, 1)
    client = client_for(owner)
    pages = {
        f"/projects/{project.pk}/": "gallery",
        f"/projects/{project.pk}/images/{image['id']}/": "labeller",
        f"/projects/{project.pk}/review/": "review",
        f"/projects/{project.pk}/training/": "training",
        f"/projects/{project.pk}/members/": "members",
    }
    for path, page in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        config = _config(response)
        assert (config["page"], config["projectId"], config["role"]) == (page, project.pk, "owner")
        assert f"/static/frontend/js/{page}.js" in response.content.decode()
    assert _config(client.get(f"/projects/{project.pk}/images/{image['id']}/"))["imageId"] == image["id"]


@pytest.mark.django_db
def test_other_peoples_projects_and_images_are_not_found(owner, django_user_model, client_for):
    mine = make_project(owner, "Mine")
    stranger = django_user_model.objects.create_user(username="stranger", password="stranger-password-1")
    theirs = make_project(stranger, "Theirs")
    [their_image] = add_textures(stranger, theirs, 1)
    client = client_for(owner)
    response = client.get(f"/projects/{theirs.pk}/")
    assert response.status_code == 404
    assert "belongs to a project you are not a member of" in response.content.decode()
    assert client.get(f"/projects/{theirs.pk}/training/").status_code == 404
    # An image id of another project under my project's path is not found either.
    assert client.get(f"/projects/{mine.pk}/images/{their_image['id']}/").status_code == 404


@pytest.mark.django_db
def test_viewers_get_a_read_only_page(owner, django_user_model, client_for):
    project = make_project(owner, "Shared")
    viewer = django_user_model.objects.create_user(username="viewer", password="viewer-password-1")
    services.member_set(project=project, user=viewer, role="viewer")
    response = client_for(viewer).get(f"/projects/{project.pk}/")
    assert response.status_code == 200
    assert 'data-role="viewer"' in response.content.decode()
