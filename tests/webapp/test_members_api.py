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
        {"user_id": user.pk, "username": "alice", "role": "owner", "is_creator": True},
        {"user_id": carol.pk, "username": "carol", "role": "viewer", "is_creator": False},
    ]


def test_owners_add_members_by_username_or_email_and_change_roles(api_client, project):
    carol, dave = UserFactory(username="carol"), UserFactory(username="dave", email="dave@example.com")

    added = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"username": "carol", "role": "labeller"}, format="json"
    )
    by_email = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"email": "Dave@Example.com", "role": "viewer"}, format="json"
    )
    changed = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"username": "carol", "role": "viewer"}, format="json"
    )
    # a current member may also be named by id (the member list shows it)
    by_id = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"user_id": dave.pk, "role": "labeller"}, format="json"
    )

    assert added.status_code == 201
    assert added.json() == {"user_id": carol.pk, "username": "carol", "role": "labeller", "is_creator": False}
    assert by_email.status_code == 201 and by_email.json()["username"] == "dave"
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    assert by_id.status_code == 200 and by_id.json()["role"] == "labeller"
    # The new member now sees the project.
    assert client_for(carol).get(f"/api/v1/projects/{project.pk}/").status_code == 200


def test_without_a_role_a_new_member_is_a_labeller_and_an_existing_one_keeps_their_role(api_client, project, user):
    carol = UserFactory(username="carol")
    url = f"/api/v1/projects/{project.pk}/members/"

    added = api_client.post(url, {"username": "carol"}, format="json")
    api_client.post(url, {"username": "carol", "role": "viewer"}, format="json")
    again = api_client.post(url, {"username": "carol"}, format="json")
    creator = api_client.post(url, {"username": "alice"}, format="json")

    assert added.status_code == 201 and added.json()["role"] == "labeller"
    assert again.status_code == 200 and again.json()["role"] == "viewer"  # not quietly made a labeller again
    assert Membership.objects.get(project=project, user=carol).role == Role.VIEWER
    assert creator.status_code == 200 and creator.json()["role"] == "owner"


def test_adding_a_member_reveals_nothing_about_other_accounts(api_client, project):
    # given an account that is not in the project, an inactive one, and two sharing an e-mail address
    stranger = UserFactory(username="stranger", email="stranger@example.com")
    UserFactory(username="gone", email="gone@example.com", is_active=False)
    UserFactory(username="twin1", email="twin@example.com")
    UserFactory(username="twin2", email="twin@example.com")
    url = f"/api/v1/projects/{project.pk}/members/"

    # when the owner probes by id (existing and not), by unknown names, the inactive one and the shared e-mail
    answers = [
        api_client.post(url, payload, format="json")
        for payload in [
            {"user_id": stranger.pk},
            {"user_id": stranger.pk + 1000},
            {"username": "nobody"},
            {"email": "nobody@example.com"},
            {"username": "gone"},
            {"email": "twin@example.com"},
        ]
    ]

    # then every answer is the same 400, and nobody was added
    assert {(r.status_code, r.content) for r in answers} == {(400, answers[0].content)}
    assert "stranger" not in answers[0].content.decode()
    assert not project.memberships.filter(user=stranger).exists()


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


def test_an_unknown_role_is_400_naming_the_roles(api_client, project):
    UserFactory(username="dana")

    response = api_client.post(
        f"/api/v1/projects/{project.pk}/members/", {"username": "dana", "role": "editor"}, format="json"
    )

    assert response.status_code == 400
    assert '"editor" is not a role; the roles are: owner, labeller, viewer.' in response.json()["detail"]
