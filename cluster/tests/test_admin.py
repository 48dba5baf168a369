"""Admin pages for every cluster model render, with the raw object read-only."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service

pytestmark = pytest.mark.django_db

MODELS = [Cluster, Node, Service, EndpointSlice, Endpoint, Pod, KubeProxyConfig]


@pytest.fixture
def admin_client_with_demo(admin_client):
    call_command("load_demo", stdout=io.StringIO())
    return admin_client


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_changelist_and_change_page(admin_client_with_demo, model):
    opts = model._meta
    listing = admin_client_with_demo.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    )
    assert listing.status_code == 200
    obj = model.objects.order_by("pk").last()
    page = admin_client_with_demo.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    if model is not Cluster:
        assert 'name="raw"' not in html  # shown, never editable
        assert "&quot;" in html or "(no kube-proxy ConfigMap" in html


def test_rows_cannot_be_added_by_hand(admin_client_with_demo):
    response = admin_client_with_demo.get(reverse("admin:cluster_pod_add"))
    assert response.status_code == 403


def test_deleting_a_cluster_in_the_admin(admin_client_with_demo):
    demo = Cluster.objects.get(name="demo")
    url = reverse("admin:cluster_cluster_delete", args=[demo.pk])
    response = admin_client_with_demo.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert (
        not Cluster.objects.exists() and not Pod.objects.exists() and not Endpoint.objects.exists()
    )
