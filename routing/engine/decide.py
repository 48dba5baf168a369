"""The per-node decision, written once (semantics §3.4, §4, §5, §7.3, §7.4).

What kube-proxy on one node does with one new connection to one service port, given that
node's endpoint sets (``topology.categorize_endpoints``): forward to which set, or drop,
or reject, and whether the client IP survives. ``simulate`` (through
``candidates.path_for``), the cluster-wide analysis and the rules renderer
(``rules.plan.port_plan``) all ask ``decide``; nothing else spells these rules.

Also here, because they are the same node's decision: which terminating endpoints an IPVS
virtual server keeps at weight 0 (``draining``), and the virtual server's facts the choice
among the candidates keys on (``traffic``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from routing.engine.choice import Traffic
from routing.engine.explain import Code
from routing.engine.topology import (
    available_for_topology,
    external_policy_local,
    internal_policy_local,
)
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort

FORWARD, DROP, REJECT = "forward", "drop", "reject"
CLUSTERIP, NODEPORT, LOADBALANCER, EXTERNALIP = (
    "clusterip",
    "nodeport",
    "loadbalancer",
    "externalip",
)
DESTINATIONS = (CLUSTERIP, NODEPORT, LOADBALANCER, EXTERNALIP)

#: Which of the node's endpoint sets answers: kube-proxy's Cluster set, its Local set, or
#: (userspace) every Ready endpoint.
CLUSTER, LOCAL, READY = "cluster", "local", "ready"

_ITP, _ETP = "internalTrafficPolicy", "externalTrafficPolicy"

#: One line of the decision's trail: a reason code and the policy word its message names
#: ("" when it names none). ``candidates.path_for`` turns them into ``Reason`` lines.
Note = tuple[Code, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One node's answer for one source class and destination."""

    #: forward, drop (silently discarded) or reject (refused at once).
    action: str
    #: the candidate endpoints (empty unless forwarding).
    endpoints: tuple[Endpoint, ...]
    #: the client source IP reaches the endpoint (no SNAT to the node IP).
    preserved: bool
    #: the reason code of a drop or reject.
    code: Code | None = None
    #: IPVS forwarded to the Cluster set because the Local set was empty (kubernetes#97081).
    fallback: bool = False
    #: the decision's trail (only when ``decide(..., explain=True)``).
    notes: tuple[Note, ...] = ()


def route(
    config: ProxyConfig,
    service: Service,
    port: ServicePort,
    *,
    to: str,
    pod_source: bool,
    host_source: bool = False,
    mode: str | None = None,
    notes: list[Note] | None = None,
) -> tuple[str, bool, str]:
    """(which set answers — CLUSTER, LOCAL or READY —, client IP preserved, the policy word
    a Local drop names) for one source class on a node running ``config`` (in ``mode``,
    default the configured one). ``notes`` collects the trail when given."""
    mode = mode or config.mode
    if mode == "userspace":
        if notes is not None:
            notes += [(Code.USERSPACE_NO_POLICIES, ""), (Code.MASQUERADE_USERSPACE, "")]
        return READY, False, ""
    if to == CLUSTERIP:
        preserved = not config.masquerade_all and (pod_source or not config.local_detector)
        local = internal_policy_local(service, config.gates)
        if notes is not None:
            if config.masquerade_all:
                notes.append((Code.MASQUERADE_ALL, ""))
            elif not preserved:
                notes.append(
                    (
                        Code.MASQUERADE_HOST_SOURCE
                        if host_source
                        else Code.MASQUERADE_OFF_CLUSTER_SOURCE,
                        "",
                    )
                )
            if (
                service.internal_traffic_policy == "Local"
                and not config.gates.service_internal_traffic_policy
            ):
                notes.append((Code.ITP_GATE_OFF, ""))
            notes.append((Code.INTERNAL_POLICY_LOCAL, "") if local else (Code.CLUSTER_POLICY, _ITP))
        return (LOCAL if local else CLUSTER), preserved, _ITP
    # NodePort, load-balancer IP or externalIP: the KUBE-EXT chain.
    if not external_policy_local(service, port):
        if notes is not None:
            if service.external_traffic_policy == "Local":
                notes.append((Code.ETP_IGNORED_NOT_EXTERNAL, ""))
            notes.append((Code.MASQUERADE_EXTERNAL_CLUSTER, ""))
        return CLUSTER, False, _ETP
    if mode != "ipvs":
        if host_source:
            # "masquerade LOCAL traffic" + "route LOCAL traffic": src-type LOCAL goes to the
            # Cluster set, masqueraded, whatever the Local set holds.
            if notes is not None:
                notes.append((Code.HOST_SOURCE_LOCAL_TRAFFIC, ""))
            return CLUSTER, False, _ETP
        if pod_source:
            if config.local_detector:
                # "pod traffic for <svc> external destinations": Cluster set, no masquerade.
                if notes is not None:
                    notes.append((Code.SHORT_CIRCUIT_POD_TRAFFIC, ""))
                return CLUSTER, True, _ETP
            if notes is not None:
                notes.append((Code.NO_LOCAL_TRAFFIC_DETECTOR, ""))
    if notes is not None:
        notes.append((Code.EXTERNAL_POLICY_LOCAL, ""))
        notes.append(
            (Code.LB_BALANCES_PER_NODE if to == LOADBALANCER else Code.CLIENT_IP_PRESERVED, "")
        )
    return LOCAL, not host_source, _ETP


def uses_local_set(
    config: ProxyConfig,
    service: Service,
    port: ServicePort,
    *,
    to: str,
    pod_source: bool,
    host_source: bool = False,
    mode: str | None = None,
) -> bool:
    """Whether the node's answer comes from its Local set (``route`` says LOCAL)."""
    return (
        route(
            config, service, port, to=to, pod_source=pod_source, host_source=host_source, mode=mode
        )[0]
        == LOCAL
    )


def decide(
    config: ProxyConfig,
    service: Service,
    port: ServicePort,
    *,
    to: str,
    pod_source: bool,
    cluster: tuple[Endpoint, ...] | None,
    local: tuple[Endpoint, ...] | None,
    has_any: bool,
    endpoints: tuple[Endpoint, ...] = (),
    host_source: bool = False,
    node: str | None = None,
    mode: str | None = None,
    explain: bool = False,
) -> Verdict:
    """The node's verdict from its Cluster set ``cluster``, Local set ``local`` (None: not
    used) and ``has_any`` (kube-proxy's hasEndpoints: REJECT versus DROP): ``route``, then
    ``settle``. ``endpoints``, the port's endpoints, matter only in userspace mode (every
    Ready one); ``node`` only to word the trail, which ``explain`` asks for."""
    mode = mode or config.mode
    notes: list[Note] | None = [] if explain else None
    which, preserved, policy = route(
        config,
        service,
        port,
        to=to,
        pod_source=pod_source,
        host_source=host_source,
        mode=mode,
        notes=notes,
    )
    if which == READY:
        usable = tuple(ep for ep in endpoints if ep.ready)
        action, chosen, code, fallback = (FORWARD, usable, None, False) if usable else _REJECTED
    else:
        action, chosen, code, fallback = settle(which, mode, cluster, local, has_any)
    if notes is not None:
        if fallback:
            notes.append((Code.IPVS_LOCAL_FALLBACK_TO_CLUSTER, ""))
            if any(
                replies_lost(
                    True,
                    preserved,
                    ep.node,
                    node=node,
                    to=to,
                    pod_source=pod_source,
                    host_source=host_source,
                )
                for ep in chosen
            ):
                notes.append((Code.IPVS_FALLBACK_REPLY_LOST, ""))
        elif code is not None:
            # A Cluster set found empty names externalTrafficPolicy (in practice it is only
            # ever empty when nothing is usable anywhere, a REJECT that names no policy).
            notes.append((code, policy if which == LOCAL else _ETP))
    return Verdict(action, chosen, preserved, code, fallback, () if notes is None else tuple(notes))


def replies_lost(
    fallback: bool,
    preserved: bool,
    endpoint_node: str | None,
    *,
    node: str | None,
    to: str,
    pod_source: bool,
    host_source: bool = False,
) -> bool:
    """Whether a connection kube-proxy on ``node`` forwards to an endpoint on
    ``endpoint_node`` never gets its replies back (reason ``IPVS_FALLBACK_REPLY_LOST``):
    forwarded, but not working, so ``simulate`` and the analysis count it in
    ``effective_dropped`` with outcome ``replies_lost``.

    Upstream ``pkg/proxy/ipvs/proxier.go`` (``syncService`` / ``writeIptablesRules``): with
    externalTrafficPolicy=Local the external traffic is not masqueraded (the client IP is
    kept), yet when the Local set is empty IPVS programs the Cluster set (``fallback``,
    kubernetes#97081). A remote pod then answers the external client straight from its own
    IP, not through the node that DNATed: the client discards the reply (asymmetric path).
    Only external clients at a node address (not the ClusterIP, not pods or host processes
    on the node) and only without SNAT (``preserved``)."""
    return (
        fallback
        and preserved
        and to != CLUSTERIP
        and not pod_source
        and not host_source
        and endpoint_node != node
    )


def pod_traffic_from_another_node(config: ProxyConfig) -> tuple[bool, str]:
    """Whether kube-proxy running ``config`` counts a packet from a pod on *another* node,
    arriving at this node's address, as pod traffic ("local" to its LocalTrafficDetector),
    and why.

    Upstream ``pkg/proxy/util/localdetector.go`` and ``cmd/kube-proxy/app/server_linux.go``
    (``getLocalDetectors``): ClusterCIDR matches ``-s <clusterCIDR>`` (``NewDetectLocalByCIDR``)
    — every pod of the cluster; NodeCIDR matches ``-s <this node's podCIDR>`` — only this
    node's pods; BridgeInterface (``NewDetectLocalByBridgeInterface``, ``-i <bridge>``) and
    InterfaceNamePrefix (``NewDetectLocalByInterfaceNamePrefix``, ``-i <prefix>+``) match the
    interface the packet came in on, and a packet from another node arrives on the uplink.
    Without a detector (``NewNoOpLocalDetector``) nothing is pod traffic."""
    if not config.local_detector:
        return False, "it has no local-traffic detector"
    mode = config.detect_local_mode or "ClusterCIDR"
    if mode == "ClusterCIDR":
        cidrs = ", ".join(config.cluster_cidrs) or "the cluster CIDR"
        return True, f"the pod's address is inside {cidrs}"
    if mode == "NodeCIDR":
        return False, "detectLocalMode NodeCIDR matches only its own podCIDR"
    return False, (
        f"detectLocalMode {mode} matches the interface the packet came in on, and it arrives "
        "from another node, not from a local pod interface"
    )


_REJECTED: tuple[str, tuple[()], Code | None, bool] = (
    REJECT,
    (),
    Code.NO_ENDPOINTS_REJECT,
    False,
)
_DROPPED: tuple[str, tuple[()], Code | None, bool] = (
    DROP,
    (),
    Code.LOCAL_NO_ENDPOINT_ON_NODE,
    False,
)


#: an endpoint as ``settle`` passes it through: engine ``Endpoint``s, or the rules' ``EpRef``s.
_E = TypeVar("_E")


def settle(
    which: str,
    mode: str,
    cluster: tuple[_E, ...] | None,
    local: tuple[_E, ...] | None,
    has_any: bool,
) -> tuple[str, tuple[_E, ...], Code | None, bool]:
    """(action, candidates, drop/reject code, IPVS fallback) once ``route`` has said which
    set answers (CLUSTER or LOCAL). The rules renderer asks this directly for the
    ClusterIP and the external-client verdicts of every port it writes (cheap: no trail).

    No candidate: REJECT when nothing is usable anywhere, else DROP (semantics §4). IPVS
    programs the Cluster set when the Local one is empty (kubernetes#97081); when that is
    unused or empty too the virtual server has no real server and IPVS answers ICMP
    port-unreachable: refused, not dropped. IPVS and iptables agree on an empty Cluster
    set: refused.
    """
    if which == LOCAL:
        if local:
            return FORWARD, local, None, False
        if mode == "ipvs":
            return (FORWARD, cluster, None, True) if cluster else _REJECTED
        return _DROPPED if has_any else _REJECTED
    if cluster:
        return FORWARD, cluster, None, False
    return _DROPPED if has_any else _REJECTED


def draining(
    endpoints: tuple[Endpoint, ...],
    candidates: tuple[Endpoint, ...],
    local: tuple[Endpoint, ...] | None,
    topology_mode: str,
    node: str,
    zone: str,
) -> tuple[Endpoint, ...]:
    """Terminating endpoints an IPVS virtual server held before and keeps at weight 0.

    kube-proxy's graceful termination (ipvs/graceful_termination.go) sets a removed TCP
    real server's weight to 0 and deletes it once its connections are gone. A terminating
    endpoint outside the ``candidates`` was in this set while Ready if it is local (the
    candidates are the node's Local set ``local``) or passes the topology filter (a Cluster
    set). Only for TCP ports on IPVS nodes (the caller checks).
    """
    chosen = {ep.key for ep in candidates}
    local_answer = local is not None and candidates == local
    return tuple(
        ep
        for ep in endpoints
        if ep.terminating
        and ep.key not in chosen
        and (
            ep.node == node
            if local_answer
            else available_for_topology(ep, topology_mode, node, zone)
        )
    )


#: IPVS schedulers whose choice depends on the virtual server's address.
VIP_SCHEDULERS = ("dh", "lblc", "lblcr")


def vip_depends_on_node(config: ProxyConfig, service: Service, to: str) -> bool:
    """Whether nodes can get different IPVS answers for ``to`` because each one's virtual
    server is its own address (dh/lblc/lblcr behind a NodePort)."""
    return (
        config.mode == "ipvs"
        and config.ipvs_scheduler in VIP_SCHEDULERS
        and node_address_vip(service, to)
    )


def node_address_vip(service: Service, to: str) -> bool:
    """Whether the virtual server for ``to`` is the node's own address (NodePort, or an LB
    ingress kube-proxy does not capture, which comes back through the NodePort)."""
    return to == NODEPORT or (to == LOADBALANCER and not service.lb_ips)


def virtual_server(service: Service, to: str, node_address: str) -> str:
    """The address of the IPVS virtual server ``to`` hits ("" when it is not an IP address):
    the ClusterIP, the node's own address ``node_address`` (NodePort), the LB IP or the
    externalIP."""
    if to == CLUSTERIP:
        vip = service.cluster_ips[0] if service.cluster_ips else ""
    elif node_address_vip(service, to):
        vip = node_address
    elif to == LOADBALANCER:
        vip = service.lb_ips[0]
    else:
        vip = service.external_ips[0] if service.external_ips else ""
    return vip if is_ip(vip) else ""


def persistence(service: Service) -> int:
    """The virtual server's persistence timeout (sessionAffinity ClientIP), else 0."""
    return service.affinity_timeout if service.session_affinity == "ClientIP" else 0


def traffic(
    mode: str,
    service: Service,
    port: ServicePort,
    to: str,
    node_address: str,
    quiesced: tuple[Endpoint, ...] = (),
) -> Traffic | None:
    """What ``choice.choose`` needs about the connection: the IPVS virtual server (address,
    protocol, persistence, weight-0 servers ``quiesced``), the userspace protocol; else None."""
    if mode != "ipvs":
        return Traffic(protocol=port.protocol) if mode == "userspace" else None
    return Traffic(
        destination_vip=virtual_server(service, to, node_address),
        protocol=port.protocol,
        persistence_timeout_s=persistence(service),
        quiesced=quiesced,
    )


@lru_cache(maxsize=65536)
def is_ip(text: str) -> bool:
    """Parsing addresses is slow and the same few thousand come back for every Service."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
