"""API throttles whose rates are read at request time.

DRF's stock throttles copy ``DEFAULT_THROTTLE_RATES`` into a class attribute at import, so
a test cannot lower them with ``override_settings``; these read the live setting instead.
Rates live in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``THROTTLE_ANON`` /
``THROTTLE_USER`` in the environment).
"""
from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    """Per client IP, for requests without a user."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(UserRateThrottle):
    """Per user, for authenticated requests (session or token)."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
