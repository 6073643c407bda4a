"""Token and session authentication; anonymous requests get 401 JSON."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_it_issues_a_token_for_valid_credentials(user, anon_client):
    response = anon_client.post("/api/v1/auth/token/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 200
    token = response.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/projects/").status_code == 200


def test_it_refuses_bad_credentials_with_a_detail(user, anon_client):
    response = anon_client.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]


def test_it_needs_username_and_password(anon_client):
    response = anon_client.post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid input. username")


@pytest.mark.parametrize("path", ["/api/v1/projects/", "/api/v1/images/1/", "/api/v1/imports/1/"])
def test_anonymous_requests_get_401_json(anon_client, path):
    response = anon_client.get(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_a_bad_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert anon_client.get("/api/v1/projects/").status_code == 401


def test_session_auth_works_and_enforces_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password="alice-password-1")
    assert client.get("/api/v1/projects/").status_code == 200

    refused = client.post("/api/v1/projects/", {"name": "No token"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]

    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/projects/", {"name": "With token"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
