"""Pytest fixtures for the API tests: users (anonymous, reader, operator) and a small cluster.

Test modules load it with ``pytest_plugins = ["cluster.api.testing"]``. Each client starts
with an empty throttle history, so the order tests run in never makes one of them hit a
rate limit.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from core.api.throttling import throttle_reset
from core.api.tokens import api_token_issue

HOST = "127.0.0.1"


def _node(name: str, zone: str, *, ready: bool = True, cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": name},
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "addresses": [{"type": "InternalIP", "address": f"192.168.0.{cidr.split('.')[2]}"}],
            "nodeInfo": {"kubeletVersion": "v1.33.2", "kubeProxyVersion": "v1.33.2"},
        },
    }


def _service(
    name: str,
    *,
    ip: str,
    type_: str = "ClusterIP",
    itp: str | None = None,
    etp: str | None = None,
    node_port: int | None = None,
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
    spec: dict[str, Any] = {
        "type": type_,
        "clusterIP": ip,
        "clusterIPs": [ip],
        "selector": {"app": name},
        "ports": [port],
    }
    if node_port:
        port["nodePort"] = node_port
    if itp:
        spec["internalTrafficPolicy"] = itp
    if etp:
        spec["externalTrafficPolicy"] = etp
    if type_ == "LoadBalancer" and etp == "Local":
        spec["healthCheckNodePort"] = 32000
    status = (
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}} if type_ == "LoadBalancer" else {}
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "100"},
        "spec": spec,
        "status": status,
    }


def _slice(service: str, endpoints: list[tuple[str, str, str, dict[str, bool]]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-abc",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "nodeName": node,
                "zone": zone,
                "conditions": conditions,
                "targetRef": {"kind": "Pod", "namespace": "shop", "name": f"{service}-{i}"},
            }
            for i, (ip, node, zone, conditions) in enumerate(endpoints)
        ],
    }


def _pod(name: str, node: str, ip: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


READY = {"ready": True, "serving": True, "terminating": False}


def small_cluster_objects() -> list[dict[str, Any]]:
    """Three nodes in two zones and three Services with stories the tests check.

    ::

        zone-a: n1 [web-0, cache-0, checkout-0]   n2 [web-1]
        zone-b: n3 (NotReady)  [web-2]

    - ``shop/web``: ClusterIP, iTP/eTP omitted, endpoints on n1, n2, n3.
    - ``shop/cache``: ClusterIP, ``internalTrafficPolicy: Local``, one endpoint on n1
      (calls from n2 and n3 are dropped).
    - ``shop/checkout``: LoadBalancer, ``externalTrafficPolicy: Local``, one endpoint on n1.
    """
    objects = [
        _node("n1", "zone-a", cidr="10.244.1.0/24"),
        _node("n2", "zone-a", cidr="10.244.2.0/24"),
        _node("n3", "zone-b", ready=False, cidr="10.244.3.0/24"),
        _service("web", ip="10.96.0.10"),
        _service("cache", ip="10.96.0.11", itp="Local"),
        _service("checkout", ip="10.96.0.12", type_="LoadBalancer", etp="Local", node_port=30080),
        _slice(
            "web",
            [
                ("10.244.1.5", "n1", "zone-a", READY),
                ("10.244.2.5", "n2", "zone-a", READY),
                ("10.244.3.5", "n3", "zone-b", READY),
            ],
        ),
        _slice("cache", [("10.244.1.6", "n1", "zone-a", READY)]),
        _slice("checkout", [("10.244.1.7", "n1", "zone-a", READY)]),
        _pod("web-0", "n1", "10.244.1.5", "web"),
        _pod("web-1", "n2", "10.244.2.5", "web"),
        _pod("web-2", "n3", "10.244.3.5", "web"),
        _pod("cache-0", "n1", "10.244.1.6", "cache"),
        _pod("checkout-0", "n1", "10.244.1.7", "checkout"),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {
                "config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                "kind: KubeProxyConfiguration\nmode: iptables\n"
                "clusterCIDR: 10.244.0.0/16\n"
            },
        },
    ]
    return copy.deepcopy(objects)


def small_cluster_dump() -> dict[str, Any]:
    """:func:`small_cluster_objects` as the ``kind: List`` kubectl prints."""
    return {"apiVersion": "v1", "kind": "List", "items": small_cluster_objects()}


def _client(user: Any = None, *, token: bool = False) -> APIClient:
    client = APIClient(HTTP_HOST=HOST)
    if user is not None and token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")
    elif user is not None:
        client.force_login(user)
    if user is not None:
        throttle_reset(scope="user", ident=str(user.pk))
    else:
        throttle_reset(scope="anon", ident=HOST)
    return client


@pytest.fixture
def reader(db: Any) -> Any:
    """A logged-in user without change rights."""
    return get_user_model().objects.create_user("reader", password="reader-pass-1")


@pytest.fixture
def operator(db: Any) -> Any:
    """A user with ``cluster.operate_cluster``."""
    user = get_user_model().objects.create_user("operator", password="operator-pass-1")
    user.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no stale permission cache


@pytest.fixture
def anon_client(db: Any) -> APIClient:
    """No credentials at all."""
    return _client()


@pytest.fixture
def reader_client(reader: Any) -> APIClient:
    """The reader, authenticated with a token (``Authorization: Token ...``)."""
    return _client(reader, token=True)


@pytest.fixture
def operator_client(operator: Any) -> APIClient:
    """The operator, authenticated with a token."""
    return _client(operator, token=True)


@pytest.fixture
def small_objects() -> list[dict[str, Any]]:
    """A fresh copy of :func:`small_cluster_objects`."""
    return small_cluster_objects()


@pytest.fixture
def small_dump() -> dict[str, Any]:
    """A fresh copy of :func:`small_cluster_dump`."""
    return small_cluster_dump()


@pytest.fixture
def small_cluster(db: Any) -> Any:
    """:func:`small_cluster_objects` imported as cluster ``small``."""
    from cluster.models import Cluster
    from cluster.services import cluster_import

    # No cache to clear: caches key on the cluster's state key (pk, revision and creation
    # time), which a rolled-back test database never hands to the next test's cluster.
    cluster_import(name="small", objects=small_cluster_objects())
    return Cluster.objects.get(name="small")
