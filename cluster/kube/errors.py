"""One error type for everything that goes wrong talking to a Kubernetes API server.

The client raises ``ApiException`` (with the HTTP headers in its ``str``) or urllib3 errors;
callers here get a ``KubeError`` with a one-line message built from the API's ``Status``
body, the HTTP code, and whether retrying may help (``transient``).
"""

from __future__ import annotations

import json

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

TRANSIENT_CODES = frozenset({429, 500, 502, 503, 504})


class KubeError(Exception):
    """A failed Kubernetes API call; ``code`` is the HTTP status (0: no answer at all)."""

    def __init__(
        self, message: str, *, code: int = 0, reason: str = "", transient: bool = False
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.reason, self.transient = message, code, reason, transient


class KubeConfigError(KubeError):
    """A kubeconfig that cannot be used (missing file, unknown context, no in-cluster env)."""


class KubeConflict(KubeError):
    """409: the object changed since the resourceVersion we hold."""


class KubeGone(KubeError):
    """410: the resourceVersion (watch) or continue token (list) is too old."""


def translate(error: BaseException, *, what: str) -> KubeError:
    """Turn a client/transport error into a ``KubeError`` naming ``what`` was attempted."""
    if isinstance(error, KubeError):
        return error
    if isinstance(error, ApiException):
        code = int(error.status or 0)
        message, reason = _status_message(error)
        text = f"{what}: HTTP {code} {reason}: {message}".rstrip(": ")
        cls = {409: KubeConflict, 410: KubeGone}.get(code, KubeError)
        return cls(text, code=code, reason=reason, transient=code in TRANSIENT_CODES)
    if isinstance(error, ConfigException):
        return KubeConfigError(f"{what}: {error}")
    if isinstance(error, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)):
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return KubeError(
            f"{what}: API server unreachable or connection lost "
            f"({type(error).__name__}: {detail})",
            transient=True,
        )
    raise error


def _status_message(error: ApiException) -> tuple[str, str]:
    # The body is a metav1.Status for API errors; fall back to the HTTP reason phrase.
    try:
        body = json.loads(error.body or b"{}")
    except (TypeError, ValueError):
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return str(body.get("message", "")), str(body.get("reason", error.reason or ""))
    return "", str(error.reason or "")
