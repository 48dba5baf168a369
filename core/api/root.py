"""``/api/v1/`` itself: a root listing every resource list of the API.

Each app's ``api.urls`` keeps its own router; the project URLconf (``config.api_urls``) hands
them all to :func:`api_root_urls`, so no app needs to know another app's routes.
"""

from __future__ import annotations

from typing import Any

from django.urls import re_path
from rest_framework import routers
from rest_framework.urlpatterns import format_suffix_patterns

from core.permissions import CanRead


class ApiRootView(routers.APIRootView):
    """Routescope API v1: every resource list. See /api/docs/ for the full reference."""

    permission_classes = [CanRead]


def api_root_urls(*app_routers: routers.SimpleRouter) -> list[Any]:
    """The ``api-root`` URL pattern, listing every list route of ``app_routers`` in order."""
    lists: dict[str, str] = {}
    for router in app_routers:
        list_name = router.routes[0].name
        for prefix, _viewset, basename in router.registry:
            lists[prefix] = list_name.format(basename=basename)
    view = ApiRootView.as_view(api_root_dict=lists)
    return format_suffix_patterns([re_path(r"^$", view, name="api-root")])
