"""The analysis' per-port records: raw sums per source class, and what a port hands the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from routing.engine.costmodel import LOCALITIES
from routing.engine.decide import DROP, FORWARD, REJECT
from routing.engine.types import Endpoint, Service, ServicePort

#: Source class names. "pod-external" is a pod calling its own cluster's NodePort / LB IP /
#: externalIP (the eTP=Local short-circuit, semantics §3.3).
POD, EXTERNAL, POD_EXTERNAL, LB = "pod", "external", "pod-external", "lb"
SOURCES = (POD, EXTERNAL, POD_EXTERNAL, LB)


@dataclass(slots=True)
class SourceAggregate:
    """One source class of one service port, summed over the source nodes."""

    source: str
    #: the destination address kind (clusterip, nodeport, loadbalancer, externalip).
    to: str
    #: source nodes counted (lb: nodes the load balancer sends clients to).
    nodes: int = 0
    #: source nodes per action (forward / drop / reject).
    actions: dict[str, int] = field(default_factory=lambda: {FORWARD: 0, DROP: 0, REJECT: 0})
    #: fraction of connections silently dropped, and refused.
    dropped: float = 0.0
    refused: float = 0.0
    #: per endpoint (aligned with the port's endpoint tuple): share of all connections.
    shares: list[float] = field(default_factory=list)
    #: share of all connections by locality (same_node, same_zone, cross_zone, unknown).
    locality: list[float] = field(default_factory=lambda: [0.0] * len(LOCALITIES))
    #: share of all connections that keep the client source IP.
    preserved: float = 0.0
    #: drop/reject reason code -> source nodes.
    drop_reasons: dict[str, int] = field(default_factory=dict)
    #: the load balancer found no healthy node and fails open to every backend.
    lb_fail_open: bool = False
    #: source nodes whose IPVS replaced an empty Local set by the Cluster set.
    ipvs_fallback: int = 0
    #: share of all connections forwarded whose replies never reach the client
    #: (``decide.replies_lost``): counted in ``effective_dropped``.
    replies_lost: float = 0.0


@dataclass(frozen=True, slots=True)
class PortAnalysis:
    """Everything the report needs about one service port."""

    service: Service
    port: ServicePort
    endpoints: tuple[Endpoint, ...]
    sources: tuple[SourceAggregate, ...]
    #: distinct nodes hosting an endpoint of the port.
    hosting_nodes: int
    #: reason code -> (first message, node groups — "zone z" or "node n" — that gave it),
    #: from the categorisation of every node group.
    topology_reasons: dict[str, tuple[str, list[str]]]
    #: topology mode -> number of nodes using it for the Cluster set.
    topology_modes: dict[str, int]
