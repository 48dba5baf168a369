"""Which endpoints a new connection may reach, per source kind (semantics §3, §4, §5, §7).

One ``Path`` is one node doing the NAT. A pod's packet is NATed on the pod's node; an
external client's packet on the node it arrives at; clients behind a cloud load balancer
arrive spread over the nodes the load balancer deems healthy (``lb_paths``).

The decision itself is ``routing.engine.decide.decide`` (shared with the analysis and the
rules renderer); here it gets the node's categorisation and its trail in words.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.decide import (
    CLUSTERIP,
    DESTINATIONS,
    DROP,
    EXTERNALIP,
    FORWARD,
    LOADBALANCER,
    NODEPORT,
    REJECT,
    decide,
    draining,
    replies_lost,
)
from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot
from routing.engine.topology import categorize_endpoints
from routing.engine.types import Endpoint, Service, ServicePort

__all__ = [
    "CLUSTERIP",
    "DESTINATIONS",
    "DROP",
    "EXTERNALIP",
    "FORWARD",
    "LOADBALANCER",
    "NODEPORT",
    "REJECT",
    "SOURCE_KINDS",
    "Path",
    "path_for",
]

#: pod:NODE, external:NODE, lb (DESIGN.md) and host:NODE (a host-network process on NODE).
SOURCE_KINDS = ("pod", "external", "lb", "host")


@dataclass(frozen=True, slots=True)
class Path:
    """What kube-proxy on ``node`` does with one new connection."""

    #: the node doing the NAT.
    node: str
    #: forward, drop (silently discarded) or reject (refused at once).
    action: str
    #: the candidate endpoints (empty unless forwarding).
    endpoints: tuple[Endpoint, ...]
    #: the client source IP reaches the endpoint (no SNAT to the node IP).
    client_ip_preserved: bool
    #: the reason code of a drop or reject.
    drop_reason: Code | None = None
    reasons: tuple[Reason, ...] = ()
    #: the proxy mode of ``node`` (decides the choice among ``endpoints``).
    mode: str = "iptables"
    #: IPVS only: terminating endpoints that left this virtual server and stay as weight-0
    #: real servers while their TCP connections drain (graceful termination).
    quiesced: tuple[Endpoint, ...] = ()
    #: keys of the ``endpoints`` whose replies never reach the client although kube-proxy
    #: forwards to them (``decide.replies_lost``): counted in ``effective_dropped``.
    lost: frozenset[str] = frozenset()


def path_for(
    snapshot: Snapshot,
    *,
    service: Service,
    port: ServicePort,
    node: str,
    pod_source: bool,
    to: str,
    host_source: bool = False,
) -> Path:
    """Decide candidates for one connection NATed on ``node``.

    ``pod_source`` — the client is a pod on ``node`` (else an external client arriving at
    ``node``); ``host_source`` — a host-network process on ``node`` (semantics §3.3
    "related paths"); ``to`` — the destination address kind (clusterip, nodeport, loadbalancer,
    externalip). Follows the matrix of semantics §3.4 for iptables/nftables, with IPVS's
    Local fallback (§7.3) and userspace's policy-free choice (§7.4).
    """
    config = snapshot.proxy_for(node)
    eps = snapshot.endpoints(service.key, port.name)
    mode, ver = config.mode, f"v{config.version[0]}.{config.version[1]}"
    if mode == "userspace":
        cat, cluster, local, has_any = None, None, None, False
    else:
        cat = categorize_endpoints(
            eps,
            service=service,
            port=port,
            node_name=node,
            zone=snapshot.zone_of(node),
            gates=config.gates,
            version=config.version,
        )
        cluster, local, has_any = cat.cluster, cat.local, cat.has_any_endpoints
    verdict = decide(
        config,
        service,
        port,
        to=to,
        pod_source=pod_source,
        host_source=host_source,
        cluster=cluster,
        local=local,
        has_any=has_any,
        endpoints=eps,
        node=node,
        explain=True,
    )
    trail = (cat.reasons if cat is not None else ()) + tuple(
        reason(code, node=node, policy=policy, version=ver) for code, policy in verdict.notes
    )
    quiesced: tuple[Endpoint, ...] = ()
    if mode == "ipvs" and verdict.action == FORWARD and cat is not None and port.protocol == "TCP":
        quiesced = draining(
            eps, verdict.endpoints, cat.local, cat.topology_mode, node, snapshot.zone_of(node)
        )
    lost = frozenset(
        ep.key
        for ep in verdict.endpoints
        if replies_lost(
            verdict.fallback,
            verdict.preserved,
            ep.node,
            node=node,
            to=to,
            pod_source=pod_source,
            host_source=host_source,
        )
    )
    return Path(
        node,
        verdict.action,
        verdict.endpoints,
        verdict.preserved,
        verdict.code,
        trail,
        mode,
        quiesced,
        lost,
    )
