"""Rate limits: DRF's anonymous and per-user throttles everywhere in the API (settings), and a strict
`login` scope per client address for the token endpoint and the login page. A refusal is 429 with
`Retry-After` and a JSON `detail` (API) or the login page with a readable message."""

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind NUM_PROXIES trusted proxies the one they forwarded.

    The one rule for throttles and the failed-login lockout (AXES_CLIENT_IP_CALLABLE)."""
    return BaseThrottle().get_ident(request)


class LoginRateThrottle(SimpleRateThrottle):
    """Login attempts per client address, signed in or not (rate THROTTLE_LOGIN_RATE)."""

    scope = "login"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class RefusedTokenThrottle(SimpleRateThrottle):
    """Requests with a token that does not work (unknown, revoked, expired), per client address, at the anonymous
    rate (THROTTLE_ANON_RATE): guessing tokens is throttled like anything else anonymous. DRF checks throttles
    only after permissions, so the token check itself counts (webapp.core.tokens)."""

    scope = "anon"
    cache_format = "throttle_refused_token_%(ident)s"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"ident": client_ip(request)}
