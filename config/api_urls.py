"""/api/v1/: each app's api package contributes its own router."""
from django.urls import include, path

urlpatterns = [
    path("", include("cluster.api.urls")),
    path("", include("routing.api.urls")),
    path("", include("jobs.api.urls")),
]
