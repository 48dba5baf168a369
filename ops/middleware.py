"""Answer probe and metrics paths before host validation, HTTPS redirect, sessions and
login: kubelets and Prometheus call pods by IP over plain HTTP."""

from __future__ import annotations


class ProbeMiddleware:
    """First in ``MIDDLEWARE``: ``/healthz``, ``/readyz`` and ``/metrics`` (GET only)."""

    def __init__(self, get_response):
        self.get_response = get_response
        from ops.health import healthz, readyz
        from ops.metrics import metrics

        self.views = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}

    def __call__(self, request):
        view = self.views.get(request.path_info.rstrip("/") or "/")
        if view is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        return view(request)
