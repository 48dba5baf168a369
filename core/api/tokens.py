"""API tokens (``Authorization: Token <key>``): the one service that hands them out.

Used by ``manage.py create_api_token`` and by the dashboard's account page. A key is
returned once, to be shown to its owner once; only its SHA-256 digest is stored
(:class:`core.models.ApiToken`), so no table, log or later page can show it again.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import ApiToken
from core.permissions import user_can_operate

PREFIX_CHARS = 8


def token_digest(key: str) -> str:
    """What the table stores for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_issue(
    *, user: Any, scope: str | None = None, expires_in_days: int | None = None, rotate: bool = False
) -> str:
    """Create an API token for ``user`` and return its raw key (the only time it exists).

    ``scope`` defaults to the user's role now: ``operate`` for an operator, else ``read``.
    ``expires_in_days`` defaults to ``ROUTESCOPE_TOKEN_EXPIRY_DAYS``; 0 means never. With
    ``rotate`` every other token of the user stops working at once.
    """
    if scope is None:
        scope = ApiToken.Scope.OPERATE if user_can_operate(user) else ApiToken.Scope.READ
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    if expires_in_days is None:
        expires_in_days = settings.ROUTESCOPE_TOKEN_EXPIRY_DAYS
    if expires_in_days < 0:
        raise ValueError("expires_in_days must be 0 (never) or more")
    if rotate:
        ApiToken.objects.filter(user=user).delete()
    key = secrets.token_hex(20)
    now = timezone.now()
    ApiToken.objects.create(
        user=user,
        digest=token_digest(key),
        prefix=key[:PREFIX_CHARS],
        scope=scope,
        created=now,
        expires=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return key


def api_token_revoke(*, user: Any) -> bool:
    """Delete every API token of ``user``; True if there was one."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return bool(deleted)
