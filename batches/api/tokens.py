"""API tokens that expire, are revoked by a password change, and can be revoked by their owner.

DRF's authtoken keeps one key per user and never forgets it; here a key older than
API_TOKEN_TTL_S is refused (and deleted), and saving a new password deletes the user's key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def expires_at(token: Token) -> Any:
    """Return when `token` stops being accepted."""
    return token.created + timedelta(seconds=settings.API_TOKEN_TTL_S)


def is_expired(token: Token) -> bool:
    return timezone.now() >= expires_at(token)


def issue(user: AbstractBaseUser) -> Token:
    """Return the user's live token, replacing one that has expired."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and is_expired(token):
        # Conditional delete: of two racing requests, one replaces the key, the other
        # creates nothing and reads the new one.
        Token.objects.filter(pk=token.pk).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token


def revoke(user: AbstractBaseUser) -> int:
    """Delete the user's token; return how many were deleted (0 or 1)."""
    return Token.objects.filter(user=user).delete()[0]


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused once the key is API_TOKEN_TTL_S old."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            Token.objects.filter(pk=token.pk).delete()
            raise AuthenticationFailed("Token has expired; request a new one.")
        return user, token


def revoke_on_password_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_save of the user model: a new password hash revokes the user's API token."""
    if instance.pk is None or kwargs.get("raw"):
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "password" not in update_fields:
        return
    stored = type(instance).objects.filter(pk=instance.pk).values_list("password", flat=True)
    if stored.first() not in (None, instance.password):
        revoke(instance)
