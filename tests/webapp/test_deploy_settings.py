"""Production settings: TLS settings from the environment, `check --deploy` clean, a CSP the pages pass, and
one installation's name (the Redis key prefix) derived from its database."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.config.instance import instance_name

ROOT = Path(__file__).resolve().parents[2]
# The production environment docs/security.md gives ("Deploying behind TLS").
PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "studio.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://studio.example.com",
    "HTTPS_ONLY": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def run(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "SECURE_"))}
    defaults = {"CELERY_BROKER_URL": "memory://", "SECRET_KEY": secrets.token_urlsafe(50)}
    clean.update({**defaults, "DJANGO_SETTINGS_MODULE": "webapp.config.settings", "DATA_DIR": str(tmp_path), **env})
    return subprocess.run(args, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300)


def settings_of(expression: str, tmp_path, **env) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(repr({expression}))"
    result = run([sys.executable, "-c", code], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_check_deploy_finds_nothing_under_production_settings(tmp_path):
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_tls_settings_check_deploy_names_what_is_missing(tmp_path):
    result = run([sys.executable, "manage.py", "check", "--deploy"], tmp_path, DEBUG="false")

    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= found


def test_https_only_turns_on_redirect_secure_cookies_and_hsts(tmp_path):
    values = settings_of(
        "(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SECURE_HSTS_SECONDS, settings.SECURE_PROXY_SSL_HEADER)",
        tmp_path,
        HTTPS_ONLY="true",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert values == "(True, True, True, 31536000, ('HTTP_X_FORWARDED_PROTO', 'https'))"


def test_each_tls_setting_can_be_set_on_its_own(tmp_path):
    values = settings_of(
        "(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS, "
        "settings.SECURE_PROXY_SSL_HEADER)",
        tmp_path,
        HTTPS_ONLY="true",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
    )
    assert values == "(False, True, 600, None)"


@pytest.mark.django_db
def test_https_redirect_spares_the_health_endpoints_for_load_balancers(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/api/v1/health/").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


# ---------------------------------------------------------------- Content-Security-Policy


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/docs/"])
def test_pages_carry_a_content_security_policy_without_inline_script(client, path):
    response = client.get(path)

    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "blob:" in directives["img-src"] and "data:" in directives["img-src"]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_templates_and_modules_have_nothing_the_policy_refuses():
    offenders = []
    sources = [*(ROOT / "webapp").rglob("templates/**/*.html"), *(ROOT / "frontend/js").rglob("*.js")]
    for path in sources:
        text = path.read_text()
        if path.suffix == ".js":
            # DOM properties (el.style.width = ...) are allowed; markup strings with attributes are not.
            text = "\n".join(re.findall(r"`[^`]*`|\"[^\"]*\"|'[^']*'", text))
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                offenders.append(f"{path.relative_to(ROOT)}: {what}: {match.group(0)!r}")
    assert offenders == []


# ---------------------------------------------------------------- one installation, one key prefix


def test_the_instance_name_follows_the_database():
    sqlite_a = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/a/db.sqlite3"}
    sqlite_b = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/b/db.sqlite3"}
    pg = {"ENGINE": "django.db.backends.postgresql", "HOST": "db", "PORT": 5432, "NAME": "studio", "PASSWORD": "x"}

    assert instance_name(sqlite_a) == instance_name(dict(sqlite_a))
    assert instance_name(sqlite_a) != instance_name(sqlite_b)
    assert instance_name(pg) != instance_name({**pg, "NAME": "studio2"})
    assert instance_name(pg) == instance_name({**pg, "PASSWORD": "rotated"})
    assert re.fullmatch(r"ssn-[0-9a-f]{12}", instance_name(pg))


def test_one_database_written_two_ways_is_one_installation():
    """A worker whose DATABASE_URL leaves out the default port, or says 127.0.0.1 where the web says localhost,
    must take the web's tasks (before, it idled under another key prefix and no job ever started)."""
    local = {"ENGINE": "django.db.backends.postgresql", "HOST": "localhost", "PORT": 5432, "NAME": "studio"}

    assert instance_name({**local, "HOST": "127.0.0.1"}) == instance_name(local)
    assert instance_name({**local, "PORT": ""}) == instance_name(local) == instance_name({**local, "HOST": ""})
    assert instance_name({**local, "HOST": "db.internal"}) != instance_name(local)  # INSTANCE_NAME settles that
    assert instance_name({**local, "PORT": 5433}) != instance_name(local)


def test_a_redis_broker_and_cache_get_the_instance_prefix(tmp_path):
    values = settings_of(
        "(settings.INSTANCE_NAME, settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'], "
        "settings.CACHES['default']['KEY_PREFIX'])",
        tmp_path,
        CELERY_BROKER_URL="redis://127.0.0.1:6379/12",
        INSTANCE_NAME="line-3",
    )
    assert values == "('line-3', 'line-3:', 'line-3')"


def test_two_data_folders_get_two_instance_names(tmp_path):
    first = settings_of("settings.INSTANCE_NAME", tmp_path / "a", DEBUG="true")
    second = settings_of("settings.INSTANCE_NAME", tmp_path / "b", DEBUG="true")
    assert first != second


def test_a_worker_says_at_start_which_installation_it_takes_tasks_of(settings, caplog):
    import logging

    from webapp.config import celery as celery_config

    with caplog.at_level(logging.INFO, logger="webapp.worker"):
        celery_config._say_which_installation()

    assert f"Instance {settings.INSTANCE_NAME}:" in caplog.text
