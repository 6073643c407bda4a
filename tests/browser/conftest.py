"""Real headless Chromium (Debian's package) driven by Playwright against pytest-django's live server.

Every page fixture collects console messages of type "error" and uncaught page errors; a test fails
if any appear, unless the test lists the expected ones in `allowed_console_errors` (for example the
"Failed to load resource" line Chromium prints for a deliberately refused request).
"""

import os
import re
import shutil

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a thread
# with a running loop unless told that this is intended (it is: the test thread owns no async code).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest  # noqa: E402

from .helpers import IMG_DIR  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        reason = "Debian's chromium is not installed: apt-get install -y chromium"
        # `make test` (and so CI) installs it and sets this: there a missing browser is a failure, not a skip.
        if os.environ.get("STUDIO_REQUIRE_SERVICES"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def eager_celery():
    """Run Celery tasks in the web request (the zip import) instead of on a worker."""
    from webapp.config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def allowed_console_errors() -> list[str]:
    """Regular expressions of console errors a test expects (each test starts with none allowed)."""
    return []


@pytest.fixture
def context(browser, transactional_db, live_server):
    # Depends on the database fixture so that it closes (ending in-flight requests) before the flush.
    ctx = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, allowed_console_errors):
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.console_errors = errors
    yield pg
    unexpected = [e for e in errors if not any(re.search(p, e) for p in allowed_console_errors)]
    assert not unexpected, f"console errors: {unexpected}"


@pytest.fixture
def user(django_user_model, transactional_db):
    return django_user_model.objects.create_user(username="operator", password="operator-password-1")


@pytest.fixture
def logged_in(context, live_server, user):
    """Sign the browser context in as `user` through a real session cookie (the login form has its own test)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])
    return user


@pytest.fixture(scope="session")
def screenshots():
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    return IMG_DIR
