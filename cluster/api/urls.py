"""API routes of the cluster app (kebab-case plural resources, clusters by name).

``/api/v1/`` itself (the root listing every app's lists) is wired in ``config.api_urls``.
"""

from __future__ import annotations

from django.urls import path
from rest_framework import routers

from cluster.api import views


class _Router(routers.DefaultRouter):
    include_root_view = False  # the root is ``config.api_urls``'s (it lists every app)


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
