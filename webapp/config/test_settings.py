"""Settings for the test suite: the normal settings with safe defaults for what tests do not configure.

Unit tests use an in-memory broker and a throw-away data folder; integration tests that start real
workers pass DATABASE_URL, CELERY_BROKER_URL and DATA_DIR explicitly.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="ssn-test-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory database: the browser tests' live server answers requests
    # on several threads, and each must have its own connection as in production.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["DATA_DIR"], "test-db.sqlite3")}  # noqa: F405

# One process-local cache: throttle counters and worker heartbeats of one test never reach another's
# (tests/conftest.py clears it around each test).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": INSTANCE_NAME}}  # noqa: F405
# Throttles stay on but out of reach of the suite (browser tests log in many times from 127.0.0.1); the
# throttle tests set the rates they exercise (tests/webapp/test_throttling.py).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "100000/minute", "user": "100000/minute", "login": "100000/minute"}  # noqa: F405
