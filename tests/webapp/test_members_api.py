"""Members: owners manage them; roles decide writes (403), outsiders see nothing (404)."""

import pytest

from webapp.datasets.models import Membership, Role

from .conftest import client_for
from .factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_lists_members_with_roles(api_client, project, user):
    carol = UserFactory(username="carol")
    Membership.objects.create(project=project, user=carol, role=Role.VIEWER)

    response = api_client.get(f"/api/v1/projects/{project.pk}/members/")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"user_id": user.pk, "username": "alice", "role": "owner"},
        {"user_id": carol.pk, "username": "carol", "role": "viewer"},
    ]


def test_owners_add_members_by_username_or_id_and_change_roles(api_client, project):
    carol, dave = UserFactory(username="carol"), UserFactory(username="dave")

    added = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"username": "carol", "role": "labeller"}, format="json"
    )
    by_id = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"user_id": dave.pk, "role": "viewer"}, format="json"
    )
    changed = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"username": "carol", "role": "viewer"}, format="json"
    )

    assert added.status_code == 201 and added.json() == {"user_id": carol.pk, "username": "carol", "role": "labeller"}
    assert by_id.status_code == 201
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    # The new member now sees the project.
    assert client_for(carol).get(f"/api/v1/projects/{project.pk}/").status_code == 200


@pytest.mark.parametrize("payload", [{"username": "nobody"}, {"role": "viewer"}, {"username": "alice", "role": "boss"}])
def test_bad_member_requests_are_400(api_client, project, payload):
    response = api_client.post(f"/api/v1/projects/{project.pk}/members/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_the_creator_cannot_be_demoted_or_removed(api_client, project, user):
    demote = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"user_id": user.pk, "role": "viewer"}, format="json"
    )
    remove = api_client.delete(f"/api/v1/projects/{project.pk}/members/{user.pk}/")

    assert demote.status_code == 409 and remove.status_code == 409


def test_owners_remove_members(api_client, project):
    carol = UserFactory(username="carol")
    Membership.objects.create(project=project, user=carol, role=Role.LABELLER)

    assert api_client.delete(f"/api/v1/projects/{project.pk}/members/{carol.pk}/").status_code == 204
    assert client_for(carol).get(f"/api/v1/projects/{project.pk}/").status_code == 404
    assert api_client.delete(f"/api/v1/projects/{project.pk}/members/{carol.pk}/").status_code == 404


@pytest.mark.parametrize("role", [Role.LABELLER, Role.VIEWER])
def test_non_owners_cannot_manage_members(project, member_client, role):
    client = member_client(role)
    other = UserFactory()

    assert client.get(f"/api/v1/projects/{project.pk}/members/").status_code == 200
    assert (
        client.post(f"/api/v1/projects/{project.pk}/members/", {"user_id": other.pk}, format="json").status_code == 403
    )
    assert client.delete(f"/api/v1/projects/{project.pk}/members/{project.owner_id}/").status_code == 403


def test_members_may_leave(project):
    carol = UserFactory(username="carol")
    Membership.objects.create(project=project, user=carol, role=Role.VIEWER)

    assert client_for(carol).delete(f"/api/v1/projects/{project.pk}/members/{carol.pk}/").status_code == 204


def test_outsiders_get_404_on_members(outsider_client, project):
    assert outsider_client.get(f"/api/v1/projects/{project.pk}/members/").status_code == 404
    assert (
        outsider_client.post(f"/api/v1/projects/{project.pk}/members/", {"username": "bob"}, format="json").status_code
        == 404
    )
