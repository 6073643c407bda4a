"""API tokens that expire (TOKEN_TTL_HOURS after they were issued) and that their owner can rotate or revoke.

One token per user (DRF's `authtoken` table): logging in again returns the same token while it is valid,
a new one once it expired; `rotate` replaces it at once, `revoke` deletes it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, Throttled

EXPIRED = "Token expired; get a new one with POST /api/v1/auth/token/ (username and password)."


def expires_at(token: Token) -> datetime | None:
    """When the token stops working; None when tokens never expire (TOKEN_TTL_HOURS=0)."""
    if settings.TOKEN_TTL_HOURS <= 0:
        return None
    return token.created + timedelta(hours=settings.TOKEN_TTL_HOURS)


def is_expired(token: Token, *, now: datetime | None = None) -> bool:
    end = expires_at(token)
    return end is not None and (now or timezone.now()) >= end


@transaction.atomic
def token_for_login(*, user) -> Token:
    """The user's token for a successful login: the current one while valid, else a new one."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not is_expired(token):
        return token
    if token is not None:
        token.delete()
    return Token.objects.create(user=user)


@transaction.atomic
def token_rotate(*, user) -> Token:
    """A new token for the user; the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def token_revoke(*, user) -> bool:
    """Delete the user's token (logging in with the password issues a new one). False when there was none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; an expired key is 401 with a detail that says so. Refused keys count per
    address (`RefusedTokenThrottle`): past the anonymous rate the answer is 429, not another try."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            from .throttling import RefusedTokenThrottle

            throttle = RefusedTokenThrottle()
            if not throttle.allow_request(request, None):
                raise Throttled(wait=throttle.wait()) from None
            raise

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            raise AuthenticationFailed(EXPIRED)
        return user, token


def revoke_on_password_change(sender, instance, raw=False, **kwargs) -> None:
    """pre_save of the user model: a new password ends the user's API token (as it ends their other sessions),
    so a token taken with a leaked password stops working when the password is changed. In the same
    transaction as the save: a save that fails keeps the token."""
    if raw or instance.pk is None:
        return
    stored = type(instance).objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()
