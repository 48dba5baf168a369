"""Stored cluster state: one row per Kubernetes object, raw JSON beside indexed fields.

Rows are written only by ``cluster.services`` (import, replace, sync) and read through
``cluster.selectors``; every change to a cluster's objects bumps ``Cluster.revision``.
"""

from cluster.models.cluster import Cluster, ClusterSource, KubeProxyConfig, ProxyMode
from cluster.models.endpoints import Endpoint, EndpointSlice
from cluster.models.objects import Node, Pod, Service, ServiceType, TrafficPolicy

__all__ = [
    "Cluster",
    "ClusterSource",
    "Endpoint",
    "EndpointSlice",
    "KubeProxyConfig",
    "Node",
    "Pod",
    "ProxyMode",
    "Service",
    "ServiceType",
    "TrafficPolicy",
]
