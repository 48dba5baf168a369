"""API throttles: fixed-window counters, with rates read at request time.

DRF's stock throttles keep a list of every request time in the last period and pickle it
through the cache on each call: at the rates a CI fleet reaches (thousands per minute)
that list costs more than the answer. These count per window with one atomic
``cache.incr`` instead (a client may burst up to twice the rate across a window edge).
Rates live in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``THROTTLE_ANON`` /
``THROTTLE_USER`` in the environment) and are read on every request, so tests can lower
them with ``override_settings``. A 429 says when to retry (``Retry-After``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


class _FixedWindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def ident(self, request: Request) -> str | None:
        """Who is counted; None = this throttle does not apply to the request."""
        return None

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return True
        limit, period = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        assert limit is not None and period is not None  # a set rate parses to both
        now = time.time()
        key = window_key(self.scope, ident, period, now)
        cache.add(key, 0, period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, period + 1)
            count = 1
        if count <= limit:
            return True
        self.retry_after = period - (now % period)
        return False

    def wait(self) -> float | None:
        return self.retry_after


def window_key(scope: str, ident: str, period: int, now: float) -> str:
    """The cache key counting ``ident``'s requests in the current window."""
    return f"throttle:{scope}:{ident}:{period}:{int(now // period)}"


class AnonThrottle(_FixedWindowThrottle):
    """Per client IP, for requests without a user."""

    scope = "anon"

    def ident(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class UserThrottle(_FixedWindowThrottle):
    """Per user, for authenticated requests (session or token)."""

    scope = "user"

    def ident(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None


def throttle_reset(*, scope: str, ident: str) -> None:
    """Forget ``ident``'s count in the current window (tests start every client fresh)."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    if rate:
        _limit, period = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
        assert period is not None  # a set rate parses to both
        cache.delete(window_key(scope, ident, period, time.time()))
