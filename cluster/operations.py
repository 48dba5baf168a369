"""What every change to a live cluster shares (Service applies and kube-proxy changes):
the operator permission and the one error a refused change raises."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from jobs.services import JobRefused

PERMISSION = "cluster.operate_cluster"


class ApplyError(JobRefused):
    """Input that cannot be applied: one line naming the change, the request ``field`` at
    fault (``changes``, ``confirm_restart``, ``cluster``, ``job``) and a ``code``."""

    def __init__(self, message: str, *, field: str = "changes", code: str = "invalid") -> None:
        super().__init__(message, field=field, code=code)


def check_operator(user) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may change live clusters."""
    if user is None or not user.has_perm(PERMISSION):
        raise PermissionDenied("changing a live cluster needs the 'operate_cluster' permission")
