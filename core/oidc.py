"""OpenID Connect single sign-on (mozilla-django-oidc), with IdP groups -> reader / operator.

Off unless ``OIDC_RP_CLIENT_ID`` and ``OIDC_ISSUER`` (or the ``OIDC_OP_*_ENDPOINT``
settings) are set. The provider's endpoints come from its discovery document
(``OIDC_ISSUER/.well-known/openid-configuration``, fetched once per process); an endpoint
setting, when given, wins. On every SSO login the user's groups (the ``OIDC_GROUPS_CLAIM``
claim of the userinfo answer, else of the id_token) decide their role afresh:

- in one of ``OIDC_OPERATOR_GROUPS``: operator (``cluster.operate_cluster`` granted);
- else in one of ``OIDC_READER_GROUPS``, or that list is empty: reader (permission removed);
- else: refused.

An SSO session lasts ``OIDC_SESSION_SECONDS`` (8 hours by default), so a role taken away at
the provider is gone here within that time.

The id_token's signature (JWKS), nonce, expiry, audience (our client id) and issuer are
checked; PKCE is on. An SSO login never takes over a local account that has a password.
Nothing of the provider's tokens is stored or logged.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from core.permissions import OPERATE_PERMISSION

logger = logging.getLogger(__name__)

#: Endpoint setting -> key of the discovery document.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_discovery_documents: dict[str, dict[str, Any]] = {}


def oidc_enabled() -> bool:
    """True when single sign-on is configured (read at request time)."""
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", "")) and bool(
        getattr(settings, "OIDC_ISSUER", "")
        or getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", "")
    )


def discovery_document(issuer: str) -> dict[str, Any]:
    """The provider's ``/.well-known/openid-configuration``, fetched once per process."""
    if issuer not in _discovery_documents:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer") != issuer:
            raise SuspiciousOperation(
                f"discovery at {url} names issuer " f"{document.get('issuer')!r}, not {issuer!r}"
            )
        _discovery_documents[issuer] = document
    return _discovery_documents[issuer]


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; unset endpoints come from the discovery document."""
    if attr in DISCOVERED and not getattr(settings, attr, "") and settings.OIDC_ISSUER:
        return discovery_document(settings.OIDC_ISSUER)[DISCOVERED[attr]]
    return import_from_settings(attr, *default)


def _groups(claims: dict[str, Any]) -> set[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    return {value} if isinstance(value, str) else {str(group) for group in value}


def role_for_groups(groups: set[str]) -> str | None:
    """``operator``, ``reader`` or None (not allowed in) for a user's IdP groups."""
    if groups & set(settings.OIDC_OPERATOR_GROUPS):
        return "operator"
    if not settings.OIDC_READER_GROUPS or groups & set(settings.OIDC_READER_GROUPS):
        return "reader"
    return None


def _operate_permission() -> Permission:
    app_label, codename = OPERATE_PERMISSION.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


class GroupMappingOIDCBackend(OIDCAuthenticationBackend):
    """The OIDC code flow backend: username from a claim, role from the groups claim."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django makes a backend for every authenticate() and for every request of a user who
        # logged in through it: read nothing (and fetch nothing) until a code arrives.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if request is None or not oidc_enabled() or "code" not in request.GET:
            return None
        try:
            super().__init__()
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException) as error:
            # The message names what failed, never a token (requests' says only the URL).
            logger.warning("SSO login refused: %s", error)
            return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the id_token was issued to another client")
        if settings.OIDC_ISSUER and payload.get("iss") != settings.OIDC_ISSUER:
            raise SuspiciousOperation("the id_token comes from another issuer")
        return payload

    def get_userinfo(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        claims = super().get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo is about another subject than the id_token")
        if settings.OIDC_GROUPS_CLAIM not in claims and settings.OIDC_GROUPS_CLAIM in payload:
            claims = {**claims, settings.OIDC_GROUPS_CLAIM: payload[settings.OIDC_GROUPS_CLAIM]}
        return claims

    def get_username(self, claims: dict[str, Any]) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or "")[:150]

    def describe_user_by_claims(self, claims: dict[str, Any]) -> str:
        return f"username {self.get_username(claims)!r}"

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        username = self.get_username(claims)
        if not username:
            logger.warning("SSO login refused: no %s or sub claim", settings.OIDC_USERNAME_CLAIM)
            return False
        if role_for_groups(_groups(claims)) is None:
            logger.warning(
                "SSO login refused for %s: in none of the reader or operator groups", username
            )
            return False
        local = self.UserModel.objects.filter(username=username).first()
        if local is not None and local.has_usable_password():
            logger.warning(
                "SSO login refused for %s: a local account with a password has " "that name",
                username,
            )
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username=self.get_username(claims))

    def create_user(self, claims: dict[str, Any]) -> Any:
        user = self.UserModel.objects.create_user(
            self.get_username(claims), email=claims.get("email") or ""
        )
        return self.update_user(user, claims)

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        email = claims.get("email") or ""
        if email and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        permission = _operate_permission()
        if role_for_groups(_groups(claims)) == "operator":
            user.user_permissions.add(permission)
        else:
            user.user_permissions.remove(permission)
        return self.UserModel.objects.get(pk=user.pk)  # fresh: no stale permission cache


class _SsoOnly:
    """404 while single sign-on is not configured."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class SsoStartView(_SsoOnly, OIDCAuthenticationRequestView):
    """``/oidc/authenticate/``: off to the provider's login page (state, nonce, PKCE)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = oidc_setting("OIDC_RP_CLIENT_ID")
        return super().get(request)


class SsoCallbackView(_SsoOnly, OIDCAuthenticationCallbackView):
    """``/oidc/callback/``: the provider sends the browser back here with a code.

    An SSO session lasts ``OIDC_SESSION_SECONDS``: then the user signs in again and their
    role is read afresh from their groups.
    """

    get_settings = staticmethod(oidc_setting)

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        self.request.session.set_expiry(settings.OIDC_SESSION_SECONDS)
        return response


def sso_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether the login page offers single sign-on, and its label."""
    return {"sso_enabled": oidc_enabled(), "sso_label": settings.OIDC_LOGIN_LABEL}
