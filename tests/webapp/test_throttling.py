"""Rate limits (DRF throttles) and the failed-login lockout (django-axes): 429 with Retry-After and a reason.

The suite's settings put the rates out of reach; these tests set the rates they exercise."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from .factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def rates(monkeypatch):
    """Set DRF throttle rates for one test (DRF reads them once, into the throttle class)."""

    def set_rates(**scopes):
        relaxed = {"anon": "1000/minute", "user": "1000/minute", "login": "1000/minute"}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**relaxed, **scopes})

    return set_rates


def assert_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_the_token_endpoint_allows_few_attempts_per_address(rates, user):
    rates(login="3/minute")
    client = APIClient()
    wrong = {"username": "alice", "password": "wrong"}

    answers = [client.post(TOKEN, wrong, format="json").status_code for _ in range(3)]
    refused = client.post(TOKEN, {"username": "alice", "password": "alice-password-1"}, format="json")

    assert answers == [400, 400, 400]
    assert_throttled(refused)


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(rates, user):
    rates(login="2/minute")
    client = APIClient()

    answers = [
        client.post(TOKEN, {"username": "a", "password": "b"}, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        for n in range(3)
    ]

    assert [r.status_code for r in answers[:2]] == [400, 400]
    assert_throttled(answers[2])


def test_behind_a_trusted_proxy_clients_are_told_apart_by_the_forwarded_address(rates, user, monkeypatch):
    from rest_framework.settings import api_settings

    rates(login="1/minute")
    monkeypatch.setattr(api_settings, "NUM_PROXIES", 1)
    client = APIClient()

    first = client.post(TOKEN, {"username": "a", "password": "b"}, format="json", HTTP_X_FORWARDED_FOR="10.0.0.1")
    other = client.post(TOKEN, {"username": "a", "password": "b"}, format="json", HTTP_X_FORWARDED_FOR="10.0.0.2")
    again = client.post(TOKEN, {"username": "a", "password": "b"}, format="json", HTTP_X_FORWARDED_FOR="10.0.0.1")

    assert (first.status_code, other.status_code) == (400, 400)
    assert_throttled(again)


def test_anonymous_requests_are_throttled(rates):
    rates(anon="2/minute")
    client = APIClient()

    answers = [client.get("/api/v1/schema/") for _ in range(3)]

    assert [r.status_code for r in answers[:2]] == [200, 200]
    assert_throttled(answers[2])


def test_each_user_is_throttled_on_their_own(rates, api_client, other_user):
    rates(user="2/minute")
    other = APIClient()
    other.force_authenticate(other_user)

    answers = [api_client.get("/api/v1/projects/") for _ in range(3)]

    assert [r.status_code for r in answers[:2]] == [200, 200]
    assert_throttled(answers[2])
    assert other.get("/api/v1/projects/").status_code == 200


def test_the_login_page_is_rate_limited_with_a_readable_message(rates, client, user):
    rates(login="2/minute")

    for _ in range(2):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    refused = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many login attempts" in refused.content.decode()
    assert 'name="password"' in refused.content.decode()  # the form is still there


# ---------------------------------------------------------------- failed-login lockout (django-axes)


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_failed_logins_lock_the_token_endpoint_even_for_the_right_password(lockout, user):
    client = APIClient()
    for _ in range(2):
        assert client.post(TOKEN, {"username": "alice", "password": "wrong"}, format="json").status_code == 400

    third = client.post(TOKEN, {"username": "alice", "password": "wrong"}, format="json")
    right = client.post(TOKEN, {"username": "alice", "password": "alice-password-1"}, format="json")

    assert_throttled(third)
    assert_throttled(right)
    assert "Too many failed logins" in right.json()["detail"]


def test_a_lockout_is_per_user_name_and_address(lockout, user, other_user):
    client = APIClient()
    for _ in range(3):
        client.post(TOKEN, {"username": "alice", "password": "wrong"}, format="json")

    bob = client.post(TOKEN, {"username": "bob", "password": "bob-password-1"}, format="json")
    alice_elsewhere = client.post(
        TOKEN, {"username": "alice", "password": "alice-password-1"}, format="json", REMOTE_ADDR="192.0.2.7"
    )

    assert bob.status_code == 200
    assert alice_elsewhere.status_code == 200


def test_a_success_before_the_limit_resets_the_count(lockout, user):
    client = APIClient()
    for _ in range(2):
        client.post(TOKEN, {"username": "alice", "password": "wrong"}, format="json")
    assert client.post(TOKEN, {"username": "alice", "password": "alice-password-1"}, format="json").status_code == 200

    for _ in range(2):
        assert client.post(TOKEN, {"username": "alice", "password": "wrong"}, format="json").status_code == 400


def test_failed_logins_lock_the_login_page_with_a_readable_message(lockout, client, user):
    for _ in range(3):
        last = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    right = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    assert last.status_code == 429
    assert right.status_code == 429 and int(right["Retry-After"]) >= 60
    page = right.content.decode()
    assert "Too many failed logins" in page and 'data-testid="login-error"' in page
    assert "_auth_user_id" not in client.session


def test_failed_logins_lock_the_admin(lockout, client):
    UserFactory(username="root", is_staff=True, is_superuser=True, password="root-password-1")
    for _ in range(3):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})

    right = client.post("/admin/login/", {"username": "root", "password": "root-password-1"})

    assert right.status_code == 429
    assert "Too many failed logins" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_logins_without_a_request_are_not_web_logins(lockout, user):
    from django.contrib.auth import authenticate

    assert authenticate(username="alice", password="alice-password-1") == user


def test_guessing_tokens_is_throttled_per_address_even_on_protected_endpoints(rates, user):
    rates(anon="3/minute")
    client = APIClient()
    guesses = [client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {n:040x}").status_code for n in range(3)]
    refused = client.get("/api/v1/projects/", HTTP_AUTHORIZATION="Token " + "f" * 40)

    assert guesses == [401, 401, 401]
    assert_throttled(refused)
    # A working token from the same address is not held back by the guesses.
    from webapp.core.tokens import token_for_login

    good = APIClient().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {token_for_login(user=user).key}")
    assert good.status_code == 200
