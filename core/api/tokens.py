"""API tokens (``Authorization: Token <key>``): the one service that hands them out.

Used by ``manage.py create_api_token`` and by the dashboard's account page (show / rotate).
The key is shown to its owner only; it never goes into a log or another user's response.
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_issue(*, user: AbstractBaseUser, rotate: bool = False) -> str:
    """Return ``user``'s API token key, creating one if needed.

    With ``rotate`` the old key stops working at once and a fresh one is returned.
    """
    if rotate:
        Token.objects.filter(user=user).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def api_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete ``user``'s API token; True if there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
