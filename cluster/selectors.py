"""Reads of cluster state. Views, commands and the engine adapter read through these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from cluster.models import Cluster, EndpointSlice, KubeProxyConfig, Node, Pod, Service

#: The order kinds are exported in: what ``kubectl get nodes,services,endpointslices,pods``
#: prints, then the kube-proxy ConfigMap and any other kube-system ConfigMap its Pods mount.
EXPORT_ORDER = (Node, Service, EndpointSlice, Pod)


def cluster_list() -> QuerySet[Cluster]:
    """Every cluster, by name."""
    return Cluster.objects.order_by("name")


def cluster_get(*, name: str) -> Cluster:
    """The cluster called ``name``; raises ``Cluster.DoesNotExist``."""
    return Cluster.objects.get(name=name)


def cluster_iter_objects(*, cluster: Cluster, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Yield the stored raw objects in export order without loading all rows at once."""
    for model in EXPORT_ORDER:
        rows = model.objects.filter(cluster=cluster).order_by("pk").values_list("raw", flat=True)
        yield from rows.iterator(chunk_size=chunk_size)
    proxy = (
        KubeProxyConfig.objects.filter(cluster=cluster)
        .values_list("raw", "extra_config_maps")
        .first()
    )
    if proxy is not None:
        raw, extra = proxy
        if raw is not None:
            yield raw
        yield from extra


def cluster_objects(*, cluster: Cluster) -> list[dict[str, Any]]:
    """The cluster's stored objects as kubectl prints them (raw, in import order per kind).

    What ``export_cluster`` prints and what the engine adapter reads.
    """
    return list(cluster_iter_objects(cluster=cluster))


def written_counts(*, cluster: Cluster) -> dict[str, int] | None:
    """Rows per kind at ``cluster``'s current revision without a COUNT over the big tables:
    as the import or sync that wrote them counted them, moved on by every watch batch since
    (``Cluster.row_counts``, written in the same transaction as the revision); None when
    they are of another revision (a cluster stored before the counts were kept, or any
    write that does not keep them)."""
    kept = cluster.row_counts or {}
    counts = kept.get("counts")
    if kept.get("revision") != cluster.revision or not isinstance(counts, dict):
        return None
    return {str(kind): int(n) for kind, n in counts.items()}


def cluster_counts(*, cluster: Cluster) -> dict[str, int]:
    """Rows per kind, for summaries and pages."""
    return {
        "Node": cluster.nodes.count(),
        "Service": cluster.services.count(),
        "EndpointSlice": cluster.endpoint_slices.count(),
        "Endpoint": cluster.endpoints.count(),
        "Pod": cluster.pods.count(),
    }
