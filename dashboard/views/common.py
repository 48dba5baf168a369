"""What every dashboard page shares: access rules, the cluster lookup, the nav context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from cluster.models import Cluster
from core.permissions import user_can_operate, user_can_read

View = Callable[..., HttpResponse]


def read_required(view: View) -> View:
    """Let readers in: logged-in users, or anyone while anonymous reading is on."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_can_read(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def is_htmx(request: HttpRequest) -> bool:
    """True for a request htmx sent (it wants the fragment, not the whole page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def cluster_or_404(name: str) -> Cluster:
    """The stored cluster called ``name``."""
    return get_object_or_404(Cluster, name=name)


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    cluster: Cluster | None,
    section: str,
    status: int = 200,
) -> HttpResponse:
    """Render a full page with the top bar's context (cluster switcher, section, role)."""
    context = {
        **context,
        "nav_cluster": cluster,
        "nav_clusters": list(Cluster.objects.order_by("name").values_list("name", flat=True)),
        "nav_section": section,
        "can_operate": user_can_operate(request.user),
        # A cluster synced from an API server changes under the page: it polls the revision.
        "nav_live": bool(cluster and (cluster.kubeconfig_path or cluster.in_cluster)),
        "nav_live_every": settings.ROUTESCOPE_LIVE_POLL_SECONDS,
    }
    return render(request, template, context, status=status)
