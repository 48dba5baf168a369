"""/api/v1/: each app's api package contributes its own router."""
from django.urls import include, path, re_path

from config.api_errors import UnknownEndpointView

urlpatterns = [
    path("", include("cluster.api.urls")),
    path("", include("routing.api.urls")),
    path("", include("jobs.api.urls")),
    # Last: a JSON 404 (the API's error shape) for any other path under /api/v1/.
    re_path(r"^.+$", UnknownEndpointView.as_view(), name="api-unknown"),
]
