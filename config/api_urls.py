"""/api/v1/: each app's api package contributes its own router; the root lists them all."""

from django.urls import include, path, re_path

from cluster.api.urls import router as cluster_router
from core.api.errors import UnknownEndpointView
from core.api.root import api_root_urls
from jobs.api.urls import router as jobs_router
from routing.api.urls import router as routing_router

urlpatterns = [
    *api_root_urls(cluster_router, routing_router, jobs_router),
    path("", include("cluster.api.urls")),
    path("", include("routing.api.urls")),
    path("", include("jobs.api.urls")),
    # Last: a JSON 404 (the API's error shape) for any other path under /api/v1/.
    re_path(r"^.+$", UnknownEndpointView.as_view(), name="api-unknown"),
]
