"""Compare stored cluster state independent of primary keys (for round-trip tests)."""

from __future__ import annotations

from typing import Any

from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service

_DROP = {
    "id",
    "cluster",
    "cluster_id",
    "node",
    "node_id",
    "service",
    "service_id",
    "slice",
    "slice_id",
}


def _rows(queryset) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k not in _DROP} for row in queryset.order_by("pk").values()
    ]


def cluster_state(cluster: Cluster) -> dict[str, Any]:
    """Every stored row of ``cluster`` as plain values, with links spelled by name."""
    return {
        "nodes": _rows(Node.objects.filter(cluster=cluster)),
        "services": _rows(Service.objects.filter(cluster=cluster)),
        "slices": _rows(EndpointSlice.objects.filter(cluster=cluster)),
        "slice_services": list(
            EndpointSlice.objects.filter(cluster=cluster)
            .order_by("pk")
            .values_list("service__name", flat=True)
        ),
        "endpoints": _rows(Endpoint.objects.filter(cluster=cluster)),
        "endpoint_links": list(
            Endpoint.objects.filter(cluster=cluster)
            .order_by("pk")
            .values_list("slice__name", "service__name")
        ),
        "pods": _rows(Pod.objects.filter(cluster=cluster)),
        "pod_nodes": list(
            Pod.objects.filter(cluster=cluster).order_by("pk").values_list("node__name", flat=True)
        ),
        "proxy": _rows(KubeProxyConfig.objects.filter(cluster=cluster)),
    }


def database_state() -> dict[str, Any]:
    """Every cluster's state, keyed by name, plus revisions (for 'nothing changed' checks)."""
    return {
        c.name: (c.revision, c.source, cluster_state(c)) for c in Cluster.objects.order_by("name")
    }
