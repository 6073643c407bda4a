"""A form sent from a page opened before its sender signed in or out (two tabs on the login page) is refused by
the CSRF check with the studio's own page, which says why and links back to the form; nothing is done."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_stale_login_form_gets_the_studios_page_with_a_way_back(user):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/")  # the first tab: a CSRF cookie and a form

    response = browser.post(
        "/accounts/login/",
        {"username": user.username, "password": "whatever", "csrfmiddlewaretoken": "stale" * 8},
        HTTP_REFERER="http://testserver/accounts/login/?next=/projects/3/",
    )

    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and "CSRF verification failed" not in page
    assert 'href="/accounts/login/?next=/projects/3/"' in page
    assert "_auth_user_id" not in browser.session  # not signed in


def test_the_way_back_never_leads_off_the_site(user):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post("/accounts/login/", {"username": "x"}, HTTP_REFERER="https://elsewhere.example/phish")

    assert response.status_code == 403
    assert "elsewhere.example" not in response.content.decode()
    assert 'href="/accounts/login/"' in response.content.decode()
