"""A Redis cache that misses instead of failing while Redis is down.

The cache holds throttle counters and worker heartbeats: an outage of Redis must not turn every API request
into a 500 (the broker being down is already reported by /api/v1/health/ and answered 503 where it matters).
"""

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class ResilientRedisCache(RedisCache):
    def _forgiving(self, what: str, default, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (RedisError, OSError) as exc:
            logger.warning("Cache %s failed, going on without it: %s", what, exc)
            return default

    def get(self, key, default=None, version=None):
        return self._forgiving("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._forgiving("get_many", {}, super().get_many, keys, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._forgiving("set", None, super().set, key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._forgiving("add", False, super().add, key, value, timeout, version)

    def delete(self, key, version=None):
        return self._forgiving("delete", False, super().delete, key, version)
