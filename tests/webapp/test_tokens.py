"""API tokens expire after TOKEN_TTL_HOURS; their owner rotates or revokes them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def login(username="alice", password="alice-password-1"):
    return APIClient().post(TOKEN, {"username": username, "password": password}, format="json")


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def age(key: str, hours: float) -> None:
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=hours))


def test_a_login_returns_the_token_and_when_it_expires(user, settings):
    settings.TOKEN_TTL_HOURS = 24

    body = login().json()

    created = Token.objects.get(key=body["token"]).created
    assert body["expires_at"].startswith((created + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))
    assert login().json()["token"] == body["token"]  # the same token while it is valid


def test_an_expired_token_is_401_with_a_clear_detail(user, settings):
    settings.TOKEN_TTL_HOURS = 24
    key = login().json()["token"]
    age(key, 25)

    response = with_token(key).get("/api/v1/projects/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"].lower()
    assert response["WWW-Authenticate"] == "Token"


def test_logging_in_after_expiry_issues_a_new_token(user, settings):
    settings.TOKEN_TTL_HOURS = 24
    old = login().json()["token"]
    age(old, 25)

    new = login().json()["token"]

    assert new != old
    assert with_token(new).get("/api/v1/projects/").status_code == 200
    assert with_token(old).get("/api/v1/projects/").status_code == 401


def test_with_a_ttl_of_zero_tokens_never_expire(user, settings):
    settings.TOKEN_TTL_HOURS = 0
    body = login().json()
    age(body["token"], 24 * 3650)

    assert body["expires_at"] is None
    assert with_token(body["token"]).get("/api/v1/projects/").status_code == 200


def test_rotating_replaces_the_token_at_once(user):
    old = login().json()["token"]

    response = with_token(old).post("/api/v1/auth/token/rotate/")

    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old and "expires_at" in response.json()
    assert with_token(old).get("/api/v1/projects/").status_code == 401
    assert with_token(new).get("/api/v1/projects/").status_code == 200


def test_revoking_deletes_the_token(user):
    key = login().json()["token"]

    response = with_token(key).post("/api/v1/auth/token/revoke/")

    assert response.status_code == 204
    assert with_token(key).get("/api/v1/projects/").status_code == 401
    assert login().json()["token"] != key


def test_rotate_and_revoke_need_a_login(anon_client):
    assert anon_client.post("/api/v1/auth/token/rotate/").status_code == 401
    assert anon_client.post("/api/v1/auth/token/revoke/").status_code == 401


def test_over_long_credentials_are_400_not_hashed(anon_client):
    response = anon_client.post(TOKEN, {"username": "a", "password": "p" * 5000}, format="json")
    assert response.status_code == 400 and "password" in response.json()["detail"]


def test_the_schema_documents_the_token_endpoints(anon_client):
    paths = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]

    assert "429" in paths["/api/v1/auth/token/"]["post"]["responses"]
    assert "200" in paths["/api/v1/auth/token/rotate/"]["post"]["responses"]
    assert "204" in paths["/api/v1/auth/token/revoke/"]["post"]["responses"]
    assert "/api/v1/health/ready/" in paths


def test_a_new_password_ends_the_token_and_other_saves_keep_it(user):
    key = login().json()["token"]
    user.first_name = "Alice"
    user.save()
    assert with_token(key).get("/api/v1/projects/").status_code == 200  # a profile edit keeps the token

    user.set_password("a-new-password-2")
    user.save()

    refused = with_token(key).get("/api/v1/projects/")
    assert refused.status_code == 401 and not Token.objects.filter(user=user).exists()
    assert login(password="alice-password-1").status_code == 400  # the old password no longer works...
    assert with_token(login(password="a-new-password-2").json()["token"]).get("/api/v1/projects/").status_code == 200
