"""The Content-Security-Policy holds on pages the other browser tests do not open: the login page, the API
docs (Swagger UI) and the admin. A refused script or style is a console error, which fails the test; a
`securitypolicyviolation` event is collected as well."""

import pytest

pytestmark = pytest.mark.browser

VIOLATIONS = """() => { window.__csp = []; document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


def visit(page, url: str):
    page.add_init_script(VIOLATIONS.join(["(", ")()"]))
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.evaluate("window.__csp") == []
    return response


def test_the_login_page_passes_the_policy(page, live_server, user):
    visit(page, "/accounts/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "operator-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert page.evaluate("window.__csp") == []


def test_the_api_docs_pass_the_policy(page):
    visit(page, "/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .information-container", timeout=15_000)
    assert page.evaluate("window.__csp") == []


# The admin's pages ask for /favicon.ico, which the project does not serve: a 404 that is not the policy's.
@pytest.mark.parametrize("allowed_console_errors", [[r"Failed to load resource: .* 404"]])
def test_the_admin_passes_the_policy(page, context, live_server, django_user_model):
    from django.conf import settings
    from django.test import Client

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-password-1")
    client = Client()
    client.force_login(admin)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])

    for path in ["/admin/", "/admin/datasets/project/", "/admin/datasets/project/add/"]:
        visit(page, path)
