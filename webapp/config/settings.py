"""Settings for SuperSimpleNet Studio, read from the environment (typed, documented in README.md).

Every piece of local state lives under DATA_DIR: the SQLite database, uploaded media and, when no
Redis answers, the embedded filesystem broker.
"""

from pathlib import Path

import environ

from . import backing
from .instance import instance_name

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-do-not-use-in-production")
else:
    # No default: a production deployment without a secret key must not start.
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "webapp.core",
    "webapp.datasets",
    "webapp.training",
    "webapp.ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.config.urls"
WSGI_APPLICATION = "webapp.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under DATA_DIR unless DATABASE_URL says otherwise (postgres://...).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the workers write to the same file; IMMEDIATE
    # transactions take the write lock up front, so two writers wait for each other instead of one failing
    # with "database is locked" when it upgrades from reading to writing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# `make run` collects into DATA_DIR/static, so two instances run from one checkout never serve each other's
# half-rewritten files; the Docker image collects into the image at build time (the default).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [("frontend", BASE_DIR / "frontend")]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))

# Object storage (several machines): S3-compatible bucket via django-storages.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    # A storage that hangs must not hold a web thread for minutes (botocore waits 60 s per try by default):
    # give up fast, and the request answers 503 (webapp.core.exceptions.is_storage_unreachable).
    from botocore.config import Config as _BotoConfig

    # read_timeout is per socket read (a large file streams for as long as bytes keep coming); total_max_attempts
    # counts the first try (botocore's max_attempts would count retries only).
    AWS_S3_CLIENT_CONFIG = _BotoConfig(
        connect_timeout=env.float("AWS_S3_CONNECT_TIMEOUT", default=3.0),
        read_timeout=env.float("AWS_S3_READ_TIMEOUT", default=10.0),
        retries={"total_max_attempts": env.int("AWS_S3_MAX_ATTEMPTS", default=2), "mode": "standard"},
    )
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Upload limits (bytes / pixels), enforced before an image is decoded.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=60_000_000)
# Decoding an image takes width x height x bytes per pixel of memory whatever its file size (a 400 KB PNG
# can decode to 240 MB): images whose decoded size, computed from the header, is over this are refused
# with 413 before decoding, and thumbnails are reduced without a second full-size copy.
MAX_DECODE_BYTES = env.int("MAX_DECODE_BYTES", default=256 * 1024 * 1024)
MAX_ARCHIVE_BYTES = env.int("MAX_ARCHIVE_BYTES", default=2 * 1024 * 1024 * 1024)
MAX_ARCHIVE_ENTRIES = env.int("MAX_ARCHIVE_ENTRIES", default=100_000)
MAX_ARCHIVE_UNCOMPRESSED_BYTES = env.int("MAX_ARCHIVE_UNCOMPRESSED_BYTES", default=20 * 1024 * 1024 * 1024)
# Uploaded files larger than this are streamed to a temp file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Bodies that are not files (JSON, forms, the text fields of a multipart form) are held in memory: capped.
# webapp.core.limits refuses a larger Content-Length with 413 before reading a byte (docs/security.md).
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# A multipart body (files stream to disk) may be as large as the largest archive plus its form fields.
MAX_MULTIPART_BYTES = env.int("MAX_MULTIPART_BYTES", default=MAX_ARCHIVE_BYTES + 16 * 1024 * 1024)
# Text fields people type; the project name is also bounded by its column (200).
MAX_PROJECT_NAME_CHARS = min(env.int("MAX_PROJECT_NAME_CHARS", default=200), 200)
MAX_DESCRIPTION_CHARS = env.int("MAX_DESCRIPTION_CHARS", default=10_000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("MAX_FILES_PER_REQUEST", default=1000)
FILE_UPLOAD_TEMP_DIR = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "webapp.core.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.core.exceptions.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON nested too deeply for Python's parser is a 400, not a RecursionError (500).
    "DEFAULT_PARSER_CLASSES": [
        "webapp.core.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SuperSimpleNet Studio API",
    "DESCRIPTION": "Upload, label and paint defect masks, train SuperSimpleNet, review heatmaps, run bulk inference.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # `<id:...>` path segments (webapp.core.converters): positive 64-bit integers.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
}


REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = backing.broker_url(env.str("CELERY_BROKER_URL", default=""), REDIS_URL)
# Everything this installation keeps in a shared Redis (queues, control messages, cache) is prefixed with
# INSTANCE_NAME, derived from the database it uses: two checkouts on one Redis never take each other's tasks,
# while every machine of one installation (same database) shares its queues.
INSTANCE_NAME = env.str("INSTANCE_NAME", default="") or instance_name(DATABASES["default"])
CELERY_BROKER_TRANSPORT_OPTIONS = backing.broker_transport_options(CELERY_BROKER_URL, BROKER_DIR, INSTANCE_NAME)
if backing.is_redis(CELERY_BROKER_URL):
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{INSTANCE_NAME}:"}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "infer"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Training / inference defaults (projects may override some in their settings).
DEFAULT_BACKBONE = env.str("DEFAULT_BACKBONE", default="efficientnet_lite0")
# Working resolution of new projects: "auto" (from the images' aspect ratio), "256" or "640x232" (height x width).
DEFAULT_IMAGE_SIZE = env.str("DEFAULT_IMAGE_SIZE", default="auto")
ML_DEVICE = env.str("ML_DEVICE", default="auto")
TORCH_HOME = env.str("TORCH_HOME", default=str(DATA_DIR / "torch"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Training and inference pipeline (webapp/training, docs/pipeline.md) -------------------------------
# Seconds between heartbeats of a running training job, and between progress writes to its row.
TRAINING_HEARTBEAT_SECONDS = env.float("TRAINING_HEARTBEAT_SECONDS", default=5.0)
TRAINING_PROGRESS_SECONDS = env.float("TRAINING_PROGRESS_SECONDS", default=2.0)
# A running job whose heartbeat is older than this is failed by the reaper ("worker lost").
TRAINING_STALE_AFTER_SECONDS = env.float("TRAINING_STALE_AFTER_SECONDS", default=60.0)
# Scratch folders under DATA_DIR/tmp that a killed worker left: removed by `training.dispatch_and_reap` (a
# training's once its job is not running, others once older than this; webapp/training/scratch.py).
SCRATCH_MAX_AGE_SECONDS = env.float("SCRATCH_MAX_AGE_SECONDS", default=6 * 3600.0)
# Every worker process cleans its own machine's DATA_DIR/tmp at start and then this often (scratch.ScratchCleaner).
SCRATCH_CLEAN_INTERVAL_SECONDS = env.float("SCRATCH_CLEAN_INTERVAL_SECONDS", default=600.0)
# How often celery beat runs `training.dispatch_and_reap`, and when a queued job is sent again.
TRAINING_DISPATCH_INTERVAL_SECONDS = env.float("TRAINING_DISPATCH_INTERVAL_SECONDS", default=15.0)
TRAINING_REDISPATCH_AFTER_SECONDS = env.float("TRAINING_REDISPATCH_AFTER_SECONDS", default=600.0)
# ... or already after this long when a worker of queue `train` sits idle (fewer trainings run than train
# workers beat): a free worker takes a job within seconds, so its message was lost.
TRAINING_IDLE_REDISPATCH_SECONDS = env.float("TRAINING_IDLE_REDISPATCH_SECONDS", default=60.0)
# Split policy: a newly labelled image goes to test while the test split holds fewer images of its
# label than this; after that to test with the project's test_fraction, chosen by the image's hash.
SPLIT_MIN_TEST_PER_LABEL = env.int("SPLIT_MIN_TEST_PER_LABEL", default=10)
# Stored files no row or training snapshot refers to are deleted by the collector (`manage.py
# collect_files`, and celery beat every FILES_COLLECT_INTERVAL_SECONDS) once they were already
# unreferenced at a pass at least FILES_COLLECT_GRACE_SECONDS earlier.
FILES_COLLECT_INTERVAL_SECONDS = env.float("FILES_COLLECT_INTERVAL_SECONDS", default=3600.0)
FILES_COLLECT_GRACE_SECONDS = env.float("FILES_COLLECT_GRACE_SECONDS", default=3600.0)
# Inference: images per task chunk, per forward batch, loaded models kept per worker, sync predict cap.
INFERENCE_CHUNK_SIZE = env.int("INFERENCE_CHUNK_SIZE", default=32)
INFERENCE_BATCH_SIZE = env.int("INFERENCE_BATCH_SIZE", default=16)
# A running inference batch with no item scored for this long has lost the worker of a chunk: sent again.
INFERENCE_STALL_SECONDS = env.float("INFERENCE_STALL_SECONDS", default=180.0)
# A batch whose model or files the storage cannot serve waits (running, saying so) this long, then fails.
INFERENCE_STORAGE_PATIENCE_SECONDS = env.float("INFERENCE_STORAGE_PATIENCE_SECONDS", default=1800.0)
PREDICTOR_CACHE_SIZE = env.int("PREDICTOR_CACHE_SIZE", default=2)
PREDICT_MAX_FILES = env.int("PREDICT_MAX_FILES", default=64)

# --- API docs: Swagger UI served from local static files, no internet needed.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "ENUM_NAME_OVERRIDES": {
            "ImportStatusEnum": "webapp.datasets.models.ImportStatus",
            "JobStatusEnum": "webapp.training.models.JobStatus",
        },
    }
)
# API.md: an error is never an HTML page, so no browsable-API HTML either (browsers get the docs page).
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
# ...and what Django itself answers under /api/ (debug 404 page, CSRF failure page) becomes JSON too.
MIDDLEWARE.insert(0, "webapp.core.middleware.ApiJsonErrorsMiddleware")
CSRF_FAILURE_VIEW = "webapp.core.views.csrf_failure"
# Outermost: a request refused before its body was read has it drained, so its connection stays usable.
MIDDLEWARE.insert(0, "webapp.core.middleware.DrainUnreadBodyMiddleware")
UNREAD_BODY_DRAIN_BYTES = env.int("UNREAD_BODY_DRAIN_BYTES", default=16 * 1024 * 1024)

# --- Hardening (docs/security.md): throttles, lockout, tokens, TLS, CSP ----------------
from datetime import timedelta  # noqa: E402

from csp.constants import NONE, SELF  # noqa: E402

# The cache holds throttle counters and worker heartbeats, so web and workers must share it: CACHE_URL, else
# the broker's Redis, else files under DATA_DIR (one machine) (webapp.config.backing).
CACHE_URL = env.str("CACHE_URL", default="")
CACHES = {"default": env.cache_url("CACHE_URL") if CACHE_URL else backing.default_cache(CELERY_BROKER_URL, DATA_DIR)}
CACHES["default"]["KEY_PREFIX"] = INSTANCE_NAME

# Workers write a heartbeat to the cache this often; /api/v1/health/ counts those heard within 3 periods.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)

# Throttles (429 with Retry-After). Clients are told apart by address: REMOTE_ADDR, or with NUM_PROXIES
# trusted reverse proxies in front, the address they forwarded (X-Forwarded-For).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK.update(
    {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "webapp.core.tokens.ExpiringTokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_THROTTLE_CLASSES": [
            "rest_framework.throttling.AnonRateThrottle",
            "rest_framework.throttling.UserRateThrottle",
        ],
        "DEFAULT_THROTTLE_RATES": {
            "anon": env.str("THROTTLE_ANON_RATE", default="60/minute"),
            "user": env.str("THROTTLE_USER_RATE", default="3000/minute"),
            "login": env.str("THROTTLE_LOGIN_RATE", default="20/minute"),
        },
        # 0, not None: with None DRF would trust any client's X-Forwarded-For.
        "NUM_PROXIES": NUM_PROXIES,
    }
)

# Failed logins (login page, token endpoint, admin): django-axes locks a user name from one address out
# after LOGIN_FAILURE_LIMIT failures for LOGIN_LOCKOUT_MINUTES.
INSTALLED_APPS += ["axes", "csp"]
AUTHENTICATION_BACKENDS = ["webapp.core.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "webapp.core.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "webapp.core.lockout.lockout_response"
AXES_VERBOSE = False

# API tokens expire this long after they were issued (0: never); POST /api/v1/auth/token/ then issues a new one.
TOKEN_TTL_HOURS = env.float("TOKEN_TTL_HOURS", default=720.0)

# Request bodies are refused by size before they are read (webapp.core.limits), first thing after the
# HTTPS redirect.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "webapp.core.limits.RequestBodyLimitMiddleware",
)

# TLS. HTTPS_ONLY=true behind TLS turns on the redirect, Secure cookies and HSTS; each can be set on its own.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Load balancers probe the health endpoints over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/"]
# The header a TLS-terminating proxy sets to "https" (e.g. X-Forwarded-Proto); only set it behind such a proxy.
_proxy_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp): the pages load only same-origin ES modules and styles, no inline
# script, style attribute or event handler; the mask painter and heatmaps use blob: and data: images.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF, "data:"],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
