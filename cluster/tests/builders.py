"""Small builders of Kubernetes object dicts for the cluster tests (overrides by keyword)."""

from __future__ import annotations

from typing import Any


def node(
    name: str = "n1",
    *,
    zone: str | None = "z-a",
    ready: bool = True,
    ip: str = "10.0.0.1",
    **extra: Any,
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"kubeletVersion": "v1.33.2", "kubeProxyVersion": "v1.33.2"},
        },
    }
    obj.update(extra)
    return obj


def service(name: str = "web", namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    base = {
        "type": "ClusterIP",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": name},
    }
    base.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": base,
    }


def endpoint(
    ip: str = "10.244.1.5", *, node_name: str = "n1", zone: str = "z-a", **extra: Any
) -> dict[str, Any]:
    entry = {"addresses": [ip], "nodeName": node_name, "zone": zone}
    entry.update(extra)
    return entry


def endpoint_slice(
    name: str = "web-abc",
    namespace: str = "shop",
    *,
    service_name: str = "web",
    endpoints: list[dict[str, Any]] | None = None,
    address_type: str = "IPv4",
    **extra: Any,
) -> dict[str, Any]:
    obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": address_type,
        "endpoints": endpoints if endpoints is not None else [endpoint()],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    obj.update(extra)
    return obj


def pod(
    name: str = "web-1",
    namespace: str = "shop",
    *,
    node_name: str = "n1",
    ip: str = "10.244.1.5",
    ready: bool = True,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"nodeName": node_name},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def kube_proxy_configmap(config: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": config},
    }


def small_cluster() -> list[dict[str, Any]]:
    """Two nodes, one Service with one slice of two endpoints, two pods."""
    return [
        node("n1", zone="z-a", ip="10.0.0.1"),
        node("n2", zone="z-b", ip="10.0.0.2"),
        service("web"),
        endpoint_slice(
            endpoints=[endpoint("10.244.1.5"), endpoint("10.244.2.5", node_name="n2", zone="z-b")]
        ),
        pod("web-1", node_name="n1", ip="10.244.1.5"),
        pod("web-2", node_name="n2", ip="10.244.2.5"),
    ]
