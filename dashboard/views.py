"""Dashboard views."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """Landing page: the stored clusters (replaced by the cluster overview later)."""
    from cluster.models import Cluster

    return render(request, "dashboard/home.html", {"clusters": Cluster.objects.order_by("name")})
