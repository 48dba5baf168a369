"""Which endpoints a new connection may reach, per source kind (semantics §3, §4, §5, §7).

One ``Path`` is one node doing the NAT. A pod's packet is NATed on the pod's node; an
external client's packet on the node it arrives at; clients behind a cloud load balancer
arrive spread over the nodes the load balancer deems healthy (``lb_paths``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot
from routing.engine.topology import Categorized, available_for_topology, categorize_endpoints, external_policy_local, internal_policy_local
from routing.engine.types import Endpoint, Service, ServicePort

FORWARD, DROP, REJECT = "forward", "drop", "reject"
CLUSTERIP, NODEPORT, LOADBALANCER, EXTERNALIP = "clusterip", "nodeport", "loadbalancer", "externalip"
DESTINATIONS = (CLUSTERIP, NODEPORT, LOADBALANCER, EXTERNALIP)
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


def _verdict_empty(node: str, mode: str, categorized: Categorized, policy: str, notes: list[Reason], preserved: bool) -> Path:
    """No candidate: REJECT when nothing is usable anywhere, else DROP (semantics §4)."""
    if not categorized.has_any_endpoints:
        notes.append(reason(Code.NO_ENDPOINTS_REJECT))
        return Path(node, REJECT, (), preserved, Code.NO_ENDPOINTS_REJECT, tuple(notes), mode)
    notes.append(reason(Code.LOCAL_NO_ENDPOINT_ON_NODE, policy=policy, node=node))
    return Path(node, DROP, (), preserved, Code.LOCAL_NO_ENDPOINT_ON_NODE, tuple(notes), mode)


def path_for(snapshot: Snapshot, *, service: Service, port: ServicePort, node: str, pod_source: bool, to: str,
             host_source: bool = False) -> Path:
    """Decide candidates for one connection NATed on ``node``.

    ``pod_source`` — the client is a pod on ``node`` (else an external client arriving at
    ``node``); ``host_source`` — a host-network process on ``node`` (semantics §3.3
    "related paths"); ``to`` — the destination address kind (clusterip, nodeport, loadbalancer,
    externalip). Follows the matrix of semantics §3.4 for iptables/nftables, with IPVS's
    Local fallback (§7.3) and userspace's policy-free choice (§7.4).
    """
    config = snapshot.proxy_for(node)
    eps = snapshot.endpoints(service.key, port.name)
    path, cat = _decide(snapshot, config, eps, service=service, port=port, node=node, pod_source=pod_source, to=to,
                        host_source=host_source)
    if path.mode == "ipvs" and path.action == FORWARD and cat is not None and port.protocol == "TCP":
        quiesced = _draining(eps, path, cat, node, snapshot.zone_of(node))
        if quiesced:
            path = replace(path, quiesced=quiesced)
    return path


def _draining(eps: tuple[Endpoint, ...], path: Path, cat: Categorized, node: str, zone: str) -> tuple[Endpoint, ...]:
    """Terminating endpoints this virtual server held before and keeps at weight 0.

    kube-proxy's graceful termination (ipvs/graceful_termination.go) sets a removed TCP
    real server's weight to 0 and deletes it once its connections are gone. A terminating
    endpoint outside the candidates was in this set while Ready if it is local (Local set)
    or passes the topology filter (Cluster set).
    """
    chosen = {ep.key for ep in path.endpoints}
    local_set = cat.local is not None and path.endpoints == cat.local
    out = []
    for ep in eps:
        if not ep.terminating or ep.key in chosen:
            continue
        if local_set and ep.node != node:
            continue
        if not local_set and not available_for_topology(ep, cat.topology_mode, node, zone):
            continue
        out.append(ep)
    return tuple(out)


def _decide(snapshot: Snapshot, config, eps: tuple[Endpoint, ...], *, service: Service, port: ServicePort, node: str,
            pod_source: bool, to: str, host_source: bool) -> tuple[Path, Categorized | None]:
    mode, gates = config.mode, config.gates
    notes: list[Reason] = []
    if mode == "userspace":
        usable = tuple(ep for ep in eps if ep.ready)
        notes += [reason(Code.USERSPACE_NO_POLICIES), reason(Code.MASQUERADE_USERSPACE)]
        if not usable:
            notes.append(reason(Code.NO_ENDPOINTS_REJECT))
            return Path(node, REJECT, (), False, Code.NO_ENDPOINTS_REJECT, tuple(notes), mode), None
        return Path(node, FORWARD, usable, False, None, tuple(notes), mode), None
    cat = categorize_endpoints(eps, service=service, port=port, node_name=node, zone=snapshot.zone_of(node),
                               gates=gates, version=config.version)
    notes.extend(cat.reasons)
    if to == CLUSTERIP:
        preserved = not config.masquerade_all and (pod_source or not config.local_detector)
        if config.masquerade_all:
            notes.append(reason(Code.MASQUERADE_ALL))
        elif not preserved:
            notes.append(reason(Code.MASQUERADE_HOST_SOURCE if host_source else Code.MASQUERADE_OFF_CLUSTER_SOURCE))
        if service.internal_traffic_policy == "Local" and not gates.service_internal_traffic_policy:
            notes.append(reason(Code.ITP_GATE_OFF, version=f"v{config.version[0]}.{config.version[1]}"))
        if internal_policy_local(service, gates):
            notes.append(reason(Code.INTERNAL_POLICY_LOCAL, node=node))
            return _local_path(node, mode, cat, "internalTrafficPolicy", notes, preserved), cat
        notes.append(reason(Code.CLUSTER_POLICY, policy="internalTrafficPolicy"))
        return _cluster_path(node, mode, cat, notes, preserved), cat
    # NodePort, load-balancer IP or externalIP: the KUBE-EXT chain.
    if service.external_traffic_policy == "Local" and not external_policy_local(service, port):
        notes.append(reason(Code.ETP_IGNORED_NOT_EXTERNAL))
    if not external_policy_local(service, port):
        notes.append(reason(Code.MASQUERADE_EXTERNAL_CLUSTER))
        return _cluster_path(node, mode, cat, notes, False), cat
    if host_source and mode != "ipvs":
        # "masquerade LOCAL traffic" + "route LOCAL traffic": src-type LOCAL goes to the
        # Cluster set, masqueraded, whatever the Local set holds.
        notes.append(reason(Code.HOST_SOURCE_LOCAL_TRAFFIC, node=node))
        return _cluster_path(node, mode, cat, notes, False), cat
    if pod_source and mode != "ipvs":
        if config.local_detector:
            # "pod traffic for <svc> external destinations": Cluster set, no masquerade.
            notes.append(reason(Code.SHORT_CIRCUIT_POD_TRAFFIC))
            return _cluster_path(node, mode, cat, notes, True), cat
        notes.append(reason(Code.NO_LOCAL_TRAFFIC_DETECTOR, node=node))
    notes.append(reason(Code.EXTERNAL_POLICY_LOCAL, node=node))
    notes.append(reason(Code.LB_BALANCES_PER_NODE) if to == LOADBALANCER else reason(Code.CLIENT_IP_PRESERVED))
    return _local_path(node, mode, cat, "externalTrafficPolicy", notes, not host_source,
                       external_client=not (pod_source or host_source)), cat


def _cluster_path(node: str, mode: str, cat: Categorized, notes: list[Reason], preserved: bool) -> Path:
    if cat.cluster:
        return Path(node, FORWARD, cat.cluster, preserved, None, tuple(notes), mode)
    # IPVS and iptables agree here: nothing usable anywhere -> refused (IPVS answers an
    # empty virtual server with ICMP port-unreachable, like iptables' REJECT).
    return _verdict_empty(node, mode, cat, "externalTrafficPolicy", notes, preserved)


def _local_path(node: str, mode: str, cat: Categorized, policy: str, notes: list[Reason], preserved: bool,
                external_client: bool = False) -> Path:
    if cat.local:
        return Path(node, FORWARD, cat.local, preserved, None, tuple(notes), mode)
    if mode == "ipvs":
        # IPVS programs the Cluster set when the Local one is empty (kubernetes#97081); when
        # that is unused or empty too the virtual server has no real server and IPVS answers
        # ICMP port-unreachable: refused, not dropped.
        if cat.cluster:
            notes.append(reason(Code.IPVS_LOCAL_FALLBACK_TO_CLUSTER, node=node))
            if external_client and any(ep.node != node for ep in cat.cluster):
                notes.append(reason(Code.IPVS_FALLBACK_REPLY_LOST))
            return Path(node, FORWARD, cat.cluster, preserved, None, tuple(notes), mode)
        notes.append(reason(Code.NO_ENDPOINTS_REJECT))
        return Path(node, REJECT, (), preserved, Code.NO_ENDPOINTS_REJECT, tuple(notes), mode)
    return _verdict_empty(node, mode, cat, policy, notes, preserved)
