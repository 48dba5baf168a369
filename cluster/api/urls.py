"""API routes of the cluster app (kebab-case plural resources, clusters by name).

This router also serves ``/api/v1/`` itself: a root listing every resource of the API,
including the routing and jobs apps' lists.
"""
from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework import routers

from cluster.api import views
from cluster.permissions import CanRead


class ApiRootView(routers.APIRootView):
    """Routescope API v1: every resource list. See /api/docs/ for the full reference."""

    permission_classes = [CanRead]


class _Router(routers.DefaultRouter):
    APIRootView = ApiRootView
    #: Lists served by the other apps' routers, shown in the root too.
    other_lists = {"scenarios": "api-scenario-list", "jobs": "api-job-list",
                   "sync-runs": "api-sync-run-list", "audit-entries": "api-audit-entry-list"}

    def get_api_root_view(self, api_urls: Any = None) -> Any:
        list_name = self.routes[0].name
        root = {prefix: list_name.format(basename=basename)
                for prefix, _viewset, basename in self.registry}
        return self.APIRootView.as_view(api_root_dict={**root, **self.other_lists})


router = _Router(trailing_slash=False)
router.register("clusters", views.ClusterViewSet, basename="api-cluster")
router.register("nodes", views.NodeViewSet, basename="api-node")
router.register("services", views.ServiceViewSet, basename="api-service")
router.register("endpoint-slices", views.EndpointSliceViewSet, basename="api-endpoint-slice")
router.register("endpoints", views.EndpointViewSet, basename="api-endpoint")
router.register("pods", views.PodViewSet, basename="api-pod")

urlpatterns = [
    path("me", views.MeView.as_view(), name="api-me"),
    *router.urls,
]
