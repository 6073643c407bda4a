"""Where one installation's broker and cache live, decided once from the environment at start.

One machine runs with nothing but a folder: no Redis answering means the embedded filesystem broker and a
file cache under DATA_DIR. Several machines share a Redis (broker and cache), each installation under its
own key prefix (webapp.config.instance), so workers only take tasks of the database they work on.
"""

import socket
from pathlib import Path
from urllib.parse import urlparse


def redis_answers(url: str, timeout: float = 0.3) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout):
            return True
    except OSError:
        return False


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def broker_url(configured: str, redis_url: str) -> str:
    """CELERY_BROKER_URL as set, else REDIS_URL when a Redis answers there, else the embedded broker."""
    if configured:
        return configured
    return redis_url if redis_answers(redis_url) else "filesystem://"


def broker_transport_options(url: str, broker_dir: Path, prefix: str) -> dict:
    if url.startswith("filesystem://"):
        for sub in ("in", "processed"):
            (broker_dir / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(broker_dir / "in"),
            "data_folder_out": str(broker_dir / "in"),
            "processed_folder": str(broker_dir / "processed"),
            "store_processed": False,
        }
    options = {"visibility_timeout": 6 * 3600}
    if is_redis(url):
        options["global_keyprefix"] = f"{prefix}:"
    return options


def default_cache(broker: str, data_dir: Path) -> dict:
    """The cache when CACHE_URL is not set: the broker's Redis, else files under DATA_DIR (one machine).

    It holds throttle counters and worker heartbeats, so web and workers must share it. A Redis that does
    not answer makes it miss, never fail, and gives up fast (throttles read it on every request).
    """
    if is_redis(broker):
        return {
            "BACKEND": "webapp.core.cache.ResilientRedisCache",
            "LOCATION": broker,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(data_dir / "cache"),
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
