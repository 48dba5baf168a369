"""Who may read and who may change: the permission classes every API view uses.

Reading (lists, details, simulate, previews, rules) needs a logged-in user, or nobody at all
when ``settings.ROUTESCOPE_ANONYMOUS_READ`` is true (the embedded loopback default).
Changing a live cluster (sync, apply, rollback) needs ``cluster.operate_cluster`` and, for a
request authenticated with an API token, a token of scope ``operate``: a ``read`` token can
never change a cluster, even when its user is an operator.
Saving a scenario only stores a user's question, so any authenticated user may do it; only
its author or an operator may edit or delete it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

OPERATE_PERMISSION = "cluster.operate_cluster"


def user_can_read(user: Any) -> bool:
    """True when ``user`` (possibly anonymous) may read cluster state and answers."""
    return bool(user and user.is_authenticated) or bool(
        getattr(settings, "ROUTESCOPE_ANONYMOUS_READ", False)
    )


def user_can_operate(user: Any) -> bool:
    """True when ``user`` may sync clusters and apply changes to them."""
    return bool(user and user.is_authenticated and user.has_perm(OPERATE_PERMISSION))


def request_can_operate(request: Any) -> bool:
    """True when this request may sync and apply: an operator, through no read-only token."""
    token = getattr(request, "auth", None)
    if token is not None and not getattr(token, "can_operate", False):
        return False
    return user_can_operate(request.user)


class CanRead(BasePermission):
    """Read access: authenticated, or anyone when anonymous reading is on."""

    message = "Log in or send 'Authorization: Token <key>' to read this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_can_read(request.user)


class CanOperate(BasePermission):
    """Change access to a live cluster: the ``cluster.operate_cluster`` permission."""

    message = (
        "This needs the 'operate cluster' permission (ask an admin for operator rights) "
        "and, with an API token, a token of scope 'operate'."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_can_operate(request)


class CanReadOrWriteOwn(BasePermission):
    """Scenarios: read as :class:`CanRead`; create when logged in; edit/delete own (or operator)."""

    message = "Only the scenario's author or an operator may change it; log in to save one."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return user_can_read(request.user)
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return obj.created_by_id == request.user.pk or request_can_operate(request)
