"""Token authentication (``Authorization: Token <key>``) against hashed, expiring tokens.

The key is looked up by its SHA-256 digest (one query, token joined to its user), so a
deleted or rotated token stops working at once, in every process. Unknown key, expired
token or inactive user -> 401 with a message saying which. ``request.auth`` is the
:class:`core.models.ApiToken`, whose scope :mod:`core.permissions` checks.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.api.tokens import token_digest
from core.models import ApiToken


class FastTokenAuthentication(TokenAuthentication):
    """``TokenAuthentication`` over :class:`ApiToken` (digest lookup, expiry, scope)."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.is_expired:
            assert token.expires is not None
            raise exceptions.AuthenticationFailed(
                f"Token expired on {token.expires:%Y-%m-%d %H:%M} UTC; create a new one on "
                "the account page or with 'manage.py create_api_token USER --rotate'."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
