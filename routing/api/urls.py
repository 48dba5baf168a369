"""API routes of the routing app: simulate, scenarios, and per-cluster analysis and rules."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from routing.api import drift, views
from routing.api.timeline import SavedTimelineViewSet, TimelineView

router = SimpleRouter(trailing_slash=False)
router.register("scenarios", views.ScenarioViewSet, basename="api-scenario")
router.register("timelines", SavedTimelineViewSet, basename="api-timeline-saved")

urlpatterns = [
    path("simulate", views.SimulateView.as_view(), name="api-simulate"),
    path("timeline", TimelineView.as_view(), name="api-timeline"),
    path(
        "clusters/<str:name>/analysis",
        views.ClusterAnalysisView.as_view(),
        name="api-cluster-analysis",
    ),
    path("clusters/<str:name>/rules", views.ClusterRulesView.as_view(), name="api-cluster-rules"),
    path("clusters/<str:name>/drift", drift.ClusterDriftView.as_view(), name="api-cluster-drift"),
    *router.urls,
]
