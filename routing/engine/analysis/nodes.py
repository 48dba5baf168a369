"""Node classes: the cluster-wide grouping that keeps the analysis off nodes × services.

For one service port, what kube-proxy on node N does depends on N only through N's
kube-proxy configuration (mode, release, gates), N's zone, whether N hosts endpoints of
that port (the Local set) and whether N is named in node hints (PreferSameNode). The
first two are properties of the node alone, so nodes are grouped once per snapshot by
(configuration, zone); per service only the few nodes hosting or hinted by its endpoints
are looked at one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.lb import backend_excluded, healthz, proxy_alive
from routing.engine.snapshot import Snapshot
from routing.engine.types import ProxyConfig


@dataclass(frozen=True, slots=True)
class NodeClass:
    """Nodes sharing one kube-proxy configuration and one zone."""

    index: int
    config: ProxyConfig
    #: index of ``config`` among the snapshot's distinct configurations (a cheap cache key).
    config_id: int
    zone: str
    #: member node names, in snapshot order.
    names: tuple[str, ...]
    #: members the cloud LB registers as backends (not excluded, not being deleted).
    backends: int
    #: backends whose kube-proxy answers the LB health check (the node is Ready).
    healthy: int


@dataclass(frozen=True, slots=True)
class NodeIndex:
    """Per-snapshot node facts the per-service aggregation reads in O(1)."""

    classes: tuple[NodeClass, ...]
    #: node name -> index into ``classes``.
    class_of: dict[str, int]
    #: node name -> zone ("" when unlabeled).
    zone_of: dict[str, str]
    #: node name -> registered as an LB backend.
    backend: dict[str, bool]
    #: node name -> kube-proxy's /healthz answers 200 there (``lb.healthz``: eTP=Cluster).
    ready: dict[str, bool]
    #: node name -> kube-proxy there is alive (``lb.proxy_alive``: the healthCheckNodePort's
    #: half of the answer besides local endpoints).
    alive: dict[str, bool]
    total: int
    total_backends: int
    total_healthy: int


def node_index(snapshot: Snapshot) -> NodeIndex:
    """Group ``snapshot``'s nodes by (kube-proxy configuration, zone)."""
    groups: dict[tuple[ProxyConfig, str], list[str]] = {}
    zone_of: dict[str, str] = {}
    backend: dict[str, bool] = {}
    ready: dict[str, bool] = {}
    alive: dict[str, bool] = {}
    version = snapshot.proxy.version  # the control plane's service controller
    for name, node in snapshot.nodes.items():
        groups.setdefault((snapshot.proxy_for(name), node.zone), []).append(name)
        zone_of[name] = node.zone
        backend[name] = backend_excluded(node, version) is None
        ready[name] = healthz(node)[0]
        alive[name] = proxy_alive(node)[0]
    classes = []
    class_of: dict[str, int] = {}
    config_ids: dict[ProxyConfig, int] = {}
    for i, ((config, zone), names) in enumerate(groups.items()):
        config_id = config_ids.setdefault(config, len(config_ids))
        classes.append(
            NodeClass(
                i,
                config,
                config_id,
                zone,
                tuple(names),
                sum(backend[n] for n in names),
                sum(backend[n] and ready[n] for n in names),
            )
        )
        class_of.update(dict.fromkeys(names, i))
    return NodeIndex(
        tuple(classes),
        class_of,
        zone_of,
        backend,
        ready,
        alive,
        len(zone_of),
        sum(c.backends for c in classes),
        sum(c.healthy for c in classes),
    )
