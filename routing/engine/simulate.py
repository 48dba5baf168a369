"""One question, one answer: where new connections from a source to a service port land.

``simulate(snapshot, question)`` walks the paths (one per node doing the NAT), asks
``candidates.path_for`` which endpoints each may reach and ``choice.choose`` how the
node's proxy mode spreads over them, then adds locality, latency, cost, imbalance and the
explanation trail. ``Answer.to_json()`` is the DESIGN.md simulate contract.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from routing.engine import decide
from routing.engine.candidates import (
    CLUSTERIP,
    DESTINATIONS,
    DROP,
    EXTERNALIP,
    FORWARD,
    LOADBALANCER,
    NODEPORT,
    REJECT,
    SOURCE_KINDS,
    Path,
    path_for,
)
from routing.engine.choice import Choice, Traffic, choose
from routing.engine.costmodel import (
    CROSS_ZONE,
    DEFAULT_COST_MODEL,
    LOCALITIES,
    CostModel,
    imbalance,
    locality,
)
from routing.engine.errors import INVALID, INVALID_CHOICE, NOT_APPLICABLE, UNKNOWN, QuestionError
from routing.engine.explain import Code, Reason, reason
from routing.engine.families import FAMILIES, families, family_of, node_address, snapshot_for_family
from routing.engine.lb import lb_nodes
from routing.engine.rounding import exact_float_sum, round_shares
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.snapshot import Snapshot
from routing.engine.sourceranges import (
    ClientAddressError,
    check_client_ip,
    filters,
    firewall_drops,
    verdict,
)
from routing.engine.types import Endpoint, Service, ServicePort
from routing.engine.unproxied import not_proxied

DEFAULT_TO = {"pod": CLUSTERIP, "external": NODEPORT, "lb": LOADBALANCER, "host": CLUSTERIP}


__all__ = ["Answer", "Question", "QuestionError", "simulate"]


@dataclass(frozen=True, slots=True)
class Question:
    """ "If a new connection leaves ``source`` for ``service``:``port`` via ``to``…"

    ``source``: ``pod:NODE``, ``external:NODE``, ``lb`` or (beyond DESIGN.md) ``host:NODE``,
    a host-network process. ``to``: clusterip, nodeport,
    loadbalancer or externalip (None: clusterip for pods, nodeport for external clients,
    loadbalancer for ``lb``). ``overrides``: Service field what-ifs for this service
    (internalTrafficPolicy, externalTrafficPolicy, trafficDistribution, sessionAffinity);
    ``proxy_mode`` / ``ipvs_scheduler``: cluster-wide what-ifs. ``seed`` feeds the IPVS
    request-level simulation.
    """

    service: str
    source: str
    to: str | None = None
    port: str | int | None = None
    overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    proxy_mode: str | None = None
    ipvs_scheduler: str | None = None
    seed: int = 0
    #: ``IPv4`` / ``IPv6``: which family's proxier answers (a dual-stack Service has one
    #: per family); None: the Service's primary family (``spec.clusterIPs[0]``).
    family: str | None = None
    #: The client's source address, checked against ``loadBalancerSourceRanges`` at the
    #: LB IP (``sourceranges``); None: a pod's from its node's podCIDR, a host process's
    #: its node IP, an external / LB client's unknown (taken as inside the ranges).
    client_ip: str | None = None
    #: ``via_node``: a pod or host process on its node calling the NodePort of *this* node
    #: (``--via-node``); None: its own node. Meaningful for ``to`` nodeport; externalIPs and
    #: LB IPs are captured on the source's own node (``VIA_NODE_CAPTURED_AT_SOURCE``).
    via_node: str | None = None

    def parse_source(self) -> tuple[str, str | None]:
        """(kind, node) of ``source``; raises ``QuestionError`` when malformed."""
        kind, _, node = self.source.partition(":")
        if kind not in SOURCE_KINDS or (kind == "lb") != (node == ""):
            raise QuestionError(
                f"source {self.source!r} is not pod:NODE, external:NODE, host:NODE or lb",
                field="source",
                code=INVALID,
            )
        return kind, node or None

    def scenario(self) -> Scenario:
        """The what-if this question carries (empty when it carries none)."""
        return Scenario(
            service_overrides={self.service: dict(self.overrides)} if self.overrides else {},
            proxy_mode=self.proxy_mode,
            ipvs_scheduler=self.ipvs_scheduler,
        )


#: ``outcome`` values: does the connection work (``action`` is kube-proxy's verdict)?
#: ok — forwarded and answered; partly_dropped — forwarded, but some share is dropped or
#: refused; replies_lost — forwarded (some or all of it) to endpoints whose replies never
#: reach the client; dropped / refused — kube-proxy's DROP / REJECT for all of it;
#: not_proxied — kube-proxy does not handle the Service (DNS answers).
OUTCOMES = ("ok", "partly_dropped", "replies_lost", "dropped", "refused", "not_proxied")


def outcome_of(action: str, dropped: float, replies_lost: float, *, proxied: bool = True) -> str:
    """The ``outcome`` of an answer with kube-proxy's ``action``, its ``dropped`` share and
    the forwarded share whose replies are lost (``decide.replies_lost``)."""
    if action == REJECT:
        return "refused"
    if action == DROP:
        return "dropped"
    if replies_lost > 1e-9:
        return "replies_lost"
    if dropped > 1e-9:
        return "partly_dropped"
    return "ok" if proxied else "not_proxied"


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one ``Question`` (raw shares; ``to_json`` rounds them)."""

    service: str
    port: str
    source_kind: str
    source_node: str | None
    to: str
    proxy_mode: str
    action: str
    #: endpoint key -> (Endpoint, share of all new connections).
    endpoint_shares: Mapping[str, tuple[Endpoint, float]]
    dropped: float
    rejected: float
    drop_reason: str | None
    #: True only if every forwarded path keeps the client IP (the DESIGN.md boolean).
    client_ip_preserved: bool
    locality: Mapping[str, float]
    expected_latency_ms: float | None
    scheduler_latency_ms: Mapping[str, float] | None
    cross_zone_bytes_per_s: float
    cost_usd_per_month: float
    imbalance: float | None
    reasons: tuple[Reason, ...]
    ingress_nodes: tuple[tuple[str, float], ...] = ()
    session_affinity_timeout: int | None = None
    zone_of: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: share of the forwarded connections that keep the client IP (mixed-mode LB answers).
    client_ip_preserved_share: float = 0.0
    #: the IP family of the proxier that answered ("" when no proxier did).
    family: str = ""
    #: False when kube-proxy does not handle the Service (headless, ExternalName, another
    #: service proxy's): ``action`` is then "forward" to what DNS returns (the endpoints
    #: of a headless Service, the CNAME target, the other proxy's ClusterIP) — "reject"
    #: when a headless Service has no address to return — and ``dns`` lists it.
    proxied: bool = True
    dns: tuple[str, ...] = ()
    #: forwarded share whose replies never reach the client (IPVS eTP=Local fallback to a
    #: remote endpoint without SNAT): kube-proxy forwards it, yet it does not work.
    replies_lost: float = 0.0
    #: the node whose NodePort the source called (``Question.via_node``), None: its own.
    via_node: str | None = None
    #: keys of the endpoints whose share is in ``replies_lost`` (not in the JSON).
    lost_endpoints: frozenset[str] = frozenset()

    @property
    def outcome(self) -> str:
        """Whether the connections work, beside kube-proxy's own ``action`` (``OUTCOMES``)."""
        return outcome_of(self.action, self.dropped, self.replies_lost, proxied=self.proxied)

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md simulate object, plus extra keys (nodes, zones, locality, …)."""
        keys = sorted(
            self.endpoint_shares,
            key=lambda k: (self.endpoint_shares[k][0].ip, self.endpoint_shares[k][0].port),
        )
        rounded = round_shares(
            [self.endpoint_shares[k][1] for k in keys]
            + [self.dropped - self.rejected, self.rejected]
        )
        endpoints: list[dict[str, Any]] = []
        for key, share in zip(keys, rounded, strict=False):
            ep = self.endpoint_shares[key][0]
            if share <= 0:
                continue
            zone = ep.zone or self.zone_of.get(ep.node or "", "") or None
            endpoints.append({"ip": ep.ip, "node": ep.node, "zone": zone, "share": share})
        dropped = round(rounded[-2] + rounded[-1], 6)
        exact = exact_float_sum([e["share"] for e in endpoints] + [dropped])
        for entry, share in zip(endpoints, exact, strict=False):
            entry["share"] = share
        dropped = exact[-1]
        nodes: defaultdict[str, float] = defaultdict(float)
        zones: defaultdict[str, float] = defaultdict(float)
        for entry in endpoints:
            nodes[entry["node"] or ""] += entry["share"]
            zones[entry["zone"] or ""] += entry["share"]
        return {
            "service": self.service,
            "port": self.port,
            "source": {"kind": self.source_kind, "node": self.source_node},
            "via_node": self.via_node,
            "to": self.to,
            "proxy_mode": self.proxy_mode,
            "action": self.action,
            "dropped": dropped,
            "outcome": self.outcome,
            "effective_dropped": round(min(1.0, dropped + self.replies_lost), 6),
            "drop_reason": self.drop_reason,
            "client_ip_preserved": self.client_ip_preserved,
            "endpoints": endpoints,
            "explain": [str(r) for r in self.reasons],
            "rejected": rounded[-1],
            "client_ip_preserved_share": round(self.client_ip_preserved_share, 6),
            "nodes": {k: round(v, 6) for k, v in sorted(nodes.items())},
            "zones": {k: round(v, 6) for k, v in sorted(zones.items())},
            "locality": {k: round(self.locality.get(k, 0.0), 6) for k in LOCALITIES},
            "latency_ms": {
                "expected": None
                if self.expected_latency_ms is None
                else round(self.expected_latency_ms, 4),
                "scheduler": dict(self.scheduler_latency_ms) if self.scheduler_latency_ms else None,
            },
            "cost": {
                "cross_zone_bytes_per_s": round(self.cross_zone_bytes_per_s, 3),
                "usd_per_month": round(self.cost_usd_per_month, 4),
            },
            "imbalance": None if self.imbalance is None else round(self.imbalance, 4),
            "ingress_nodes": [{"node": n, "share": round(s, 6)} for n, s in self.ingress_nodes],
            "session_affinity": None
            if self.session_affinity_timeout is None
            else {"timeout_seconds": self.session_affinity_timeout},
            "reasons": [
                {"code": str(r.code), "message": r.message, **({"more": r.more} if r.more else {})}
                for r in self.reasons
            ],
            "family": self.family or None,
            "proxied": self.proxied,
            **({"dns": list(self.dns)} if not self.proxied else {}),
        }


def _resolve(
    snapshot: Snapshot, question: Question
) -> tuple[Service, ServicePort, str, str | None, str]:
    service = snapshot.services.get(question.service)
    if service is None:
        raise QuestionError(f"unknown service {question.service!r}", field="service", code=UNKNOWN)
    port = service.port(question.port)
    if port is None:
        names = ", ".join(p.name or str(p.port) for p in service.ports) or "none"
        raise QuestionError(
            f"service {service.key} has no port {question.port!r} (ports: {names})"
            if question.port not in (None, "")
            else f"service {service.key} has several ports, pick one with --port ({names})",
            field="port",
            code=UNKNOWN if question.port not in (None, "") else INVALID,
        )
    kind, node = question.parse_source()
    if node is not None and not _known_node(snapshot, node):
        raise QuestionError(f"unknown node {node!r}", field="source", code=UNKNOWN)
    to = question.to or DEFAULT_TO[kind]
    if question.to is None and kind == "external" and not port.node_port:
        # No NodePort (e.g. a ClusterIP service with externalIPs): the default is whichever
        # external address the port does have.
        to = LOADBALANCER if service.lb_ips else EXTERNALIP if service.external_ips else NODEPORT
    if to not in DESTINATIONS:
        raise QuestionError(
            f"destination {to!r} is not one of {', '.join(DESTINATIONS)}",
            field="to",
            code=INVALID_CHOICE,
        )
    if kind == "lb":
        if service.type != "LoadBalancer":
            raise QuestionError(
                (
                    f"service {service.key} is type {service.type}, not LoadBalancer: no cloud "
                    "load balancer"
                ),
                field="source",
                code=NOT_APPLICABLE,
            )
        if to not in (LOADBALANCER, NODEPORT):
            raise QuestionError(
                (
                    "source lb reaches the service through its load balancer (--to loadbalancer "
                    "or nodeport)"
                ),
                field="to",
                code=NOT_APPLICABLE,
            )
    if to == NODEPORT and not port.node_port:
        raise QuestionError(
            f"service {service.key} port {port.name or port.port} has no nodePort",
            field="to",
            code=NOT_APPLICABLE,
        )
    if to == LOADBALANCER and kind != "lb" and not service.lb_ips:
        if kind == "pod" and service.lb_uncaptured and port.node_port:
            # Not captured on nodes: the packet really leaves for the LB, which sends it
            # back through a NodePort on the nodes it deems healthy.
            return service, port, "pod-via-lb", node, to
        raise QuestionError(
            f"service {service.key} has no load-balancer IP captured by kube-proxy"
            + _other_family(service, service.all_lb_ips, "load-balancer IPs"),
            field="to",
            code=NOT_APPLICABLE,
        )
    if to == EXTERNALIP and not service.external_ips:
        raise QuestionError(
            f"service {service.key} has no externalIPs"
            + _other_family(service, service.all_external_ips, "externalIPs"),
            field="to",
            code=NOT_APPLICABLE,
        )
    return service, port, kind, node, to


def _known_node(snapshot: Snapshot, name: str) -> bool:
    """A node of the dump (a dump without Node objects cannot say which names exist: any
    name is taken then, as is a name only endpoints carry)."""
    return (
        name in snapshot.nodes
        or not snapshot.nodes
        or any(
            ep.node == name
            for ports in snapshot.endpoint_index.values()
            for eps in ports.values()
            for ep in eps
        )
    )


def _via_node(
    snapshot: Snapshot, question: Question, kind: str, node: str | None, to: str
) -> str | None:
    """The other node whose NodePort the source calls (``Question.via_node``), or None when
    the source's own node answers; refuses what cannot be asked."""
    via = question.via_node or None
    if via is None:
        return None
    if not _known_node(snapshot, via):
        raise QuestionError(f"unknown node {via!r}", field="via_node", code=UNKNOWN)
    if kind not in ("pod", "host"):
        raise QuestionError(
            "via_node is for pod:NODE and host:NODE sources"
            + (
                " (the LB IP is not captured by kube-proxy: the load balancer picks the node)"
                if kind == "pod-via-lb"
                else " (an external:NODE source already names the node it arrives at)"
            ),
            field="via_node",
            code=NOT_APPLICABLE,
        )
    if via == node:
        return None
    if to == CLUSTERIP:
        raise QuestionError(
            "a ClusterIP is NATed on the source's own node: via_node applies to --to nodeport "
            "(externalIPs and LB IPs are captured on the source's node too)",
            field="via_node",
            code=NOT_APPLICABLE,
        )
    return via


def _via_path(
    snapshot: Snapshot,
    service: Service,
    port: ServicePort,
    kind: str,
    node: str,
    via: str,
) -> tuple[Path, list[Reason]]:
    """A pod or host process on ``node`` calling ``via``'s NodePort: the packet leaves
    ``node`` untouched (``via``'s address is not local there, so no KUBE-NODEPORTS /
    ``fib daddr type local`` match) and is NATed on ``via``, where its source is a pod of
    another node (local only to a ClusterCIDR detector: ``decide.pod_traffic_from_another_node``)
    or ``node``'s own address (never pod traffic). Kept client addresses make the endpoints
    answer ``node`` directly, bypassing ``via``'s conntrack, unless they run on ``via``."""
    who = "pod" if kind == "pod" else "host process"
    notes = [reason(Code.VIA_NODE, who=who, source=node, via=via)]
    config = snapshot.proxy_for(via)
    if kind == "pod":
        local, why = decide.pod_traffic_from_another_node(config)
    else:
        local, why = False, f"the source address is node {node}'s own, not a pod's"
    if local:
        mode = config.detect_local_mode or "ClusterCIDR"
        notes.append(reason(Code.VIA_NODE_POD_TRAFFIC, via=via, source=node, mode=mode, why=why))
    else:
        notes.append(reason(Code.VIA_NODE_NOT_POD_TRAFFIC, via=via, source=node, why=why))
    path = path_for(snapshot, service=service, port=port, node=via, pod_source=local, to=NODEPORT)
    if path.action == FORWARD and path.client_ip_preserved:
        bypass = [ep for ep in path.endpoints if ep.node != via]
        if bypass:
            path = replace(path, lost=path.lost | {ep.key for ep in bypass})
            shown = ", ".join(ep.key for ep in bypass[:3]) + (
                f" and {len(bypass) - 3} more" if len(bypass) > 3 else ""
            )
            notes.append(
                reason(Code.VIA_NODE_REPLY_BYPASSES, via=via, source=node, endpoints=shown)
            )
    return path, notes


def _other_family(service: Service, addresses: tuple[str, ...], what: str) -> str:
    """Why addresses the Service does have are not this family's proxier's (serviceport.go
    filters them by family), and whether another proxier programs them."""
    others = [a for a in addresses if family_of(a) != service.family]
    if not others or not service.family:
        return ""
    other = family_of(others[0])
    tail = (
        f"; ask for --family {other}"
        if other in families(service)
        else f", and the Service has no {other} ClusterIP, so no kube-proxy programs them"
    )
    return f" of its family {service.family}: its {what} {', '.join(others)} are {other}{tail}"


def _paths(
    snapshot: Snapshot,
    service: Service,
    port: ServicePort,
    kind: str,
    node: str | None,
    to: str,
    via: str | None = None,
) -> tuple[list[tuple[Path, float]], list[Reason], tuple[tuple[str, float], ...]]:
    """(path, weight) pairs. For ``lb``, nodes that must see the same answer (same zone and
    proxy config, no endpoint and no node hint of theirs) are decided once."""
    if via is not None and to == NODEPORT:
        assert node is not None  # _via_node: only pod and host sources
        path, notes = _via_path(snapshot, service, port, kind, node, via)
        return [(path, 1.0)], notes, ()
    if kind not in ("lb", "pod-via-lb"):
        assert node is not None  # parse_source: only an "lb" source comes without a node
        path = path_for(
            snapshot,
            service=service,
            port=port,
            node=node,
            pod_source=kind == "pod",
            to=to,
            host_source=kind == "host",
        )
        return [(path, 1.0)], [], ()
    chosen = lb_nodes(snapshot, service=service, port=port)
    special = set()
    for ep in snapshot.endpoints(service.key, port.name):
        special.add(ep.node)
        special.update(ep.node_hints)
    groups: dict[tuple[object, ...], list[tuple[str, float]]] = defaultdict(list)
    for name, share in chosen.nodes:
        config = snapshot.proxy_for(name)
        # dh/lblc/lblcr key on the virtual server's address: the node's own IP for a
        # NodePort, so every node may pin a different backend.
        own_vip = decide.vip_depends_on_node(config, service, to)
        key = (name,) if name in special or own_vip else (snapshot.zone_of(name), id(config))
        groups[key].append((name, share))
    paths = []
    proxying = lb_proxies(service)
    notes = list(chosen.reasons)
    if proxying:
        notes.append(
            reason(Code.LB_PROXY_REPLACES_SOURCE, address=", ".join(service.lb_uncaptured))
        )
    for members in groups.values():
        # A pod whose packet comes back from a pass-through LB (hostname ingress) still has
        # a pod source IP: the arriving node's short-circuit rule matches it. A proxying
        # LB (ipMode Proxy) opens its own connection: the node sees the LB's address.
        path = path_for(
            snapshot,
            service=service,
            port=port,
            node=members[0][0],
            pod_source=kind == "pod-via-lb" and not proxying,
            to=LOADBALANCER,
        )
        if proxying:
            path = replace(path, client_ip_preserved=False)
        paths.append((path, sum(share for _, share in members)))
    return paths, notes, chosen.nodes


def lb_proxies(service: Service) -> bool:
    """The LB's only ingress entries are ``ipMode: Proxy`` IPs (KEP-1860): it proxies, so
    the packet reaching a node carries the LB's source address, not the client's."""
    if service.lb_ips or not service.lb_uncaptured:
        return False
    return all(decide.is_ip(address) for address in service.lb_uncaptured)


def _context_notes(
    snapshot: Snapshot, service: Service, kind: str, node: str | None, to: str
) -> list[Reason]:
    """Facts around the answer: source ranges, release/mode mismatches, dual-stack."""
    notes = []
    if to == LOADBALANCER and service.lb_source_ranges:
        notes.append(reason(Code.LB_SOURCE_RANGES, ranges=", ".join(service.lb_source_ranges)))
    config = snapshot.proxy_for(node)
    ver = f"v{config.version[0]}.{config.version[1]}"
    why = {"userspace": "removed in 1.26", "nftables": "added in 1.29"}.get(config.mode)
    if (config.mode == "userspace" and config.version >= (1, 26)) or (
        config.mode == "nftables" and config.version < (1, 29)
    ):
        notes.append(reason(Code.MODE_NOT_IN_RELEASE, mode=config.mode, version=ver, why=why))
    found = snapshot.nodes.get(node) if node else None
    if found is not None and not found.zone and found.beta_zone:
        notes.append(reason(Code.NODE_ONLY_BETA_ZONE, node=node, zone=found.beta_zone))
    if len(service.cluster_ips) > 1:
        notes.append(
            reason(
                Code.DUAL_STACK_PRIMARY_FAMILY,
                family=service.family or ("IPv6" if ":" in service.cluster_ips[0] else "IPv4"),
            )
        )
    if kind == "pod-via-lb":
        notes.extend(reason(Code.LB_NOT_CAPTURED, address=a) for a in service.lb_uncaptured)
    return notes


@dataclass
class _Totals:
    """Running sums over the paths of one answer."""

    shares: dict[str, tuple[Endpoint, float]] = field(default_factory=dict)
    locality: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    drop_weights: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    dropped: float = 0.0
    rejected: float = 0.0
    #: forwarded share whose replies never reach the client (``decide.replies_lost``).
    replies_lost: float = 0.0
    lost: set[str] = field(default_factory=set)
    latency: Mapping[str, float] | None = None


def _node_address(snapshot: Snapshot, name: str, service: Service) -> str:
    """The node's address the NodePort virtual server of ``service``'s family is on."""
    node = snapshot.nodes.get(name)
    return node_address(node.addresses, service.family) if node is not None else ""


def _choice_notes(
    path: Path, choice: Choice, traffic: Traffic | None, scheduler: str
) -> list[Reason]:
    """What the IPVS / userspace outcome adds to the trail beyond the scheduler's own lines."""
    notes: list[Reason] = []
    if path.quiesced:
        notes.append(
            reason(
                Code.IPVS_GRACEFUL_WEIGHT_ZERO,
                node=path.node,
                endpoints=", ".join(ep.key for ep in path.quiesced),
            )
        )
    if path.mode == "ipvs" and traffic is not None and traffic.persistence_timeout_s:
        notes.append(
            reason(
                Code.IPVS_PERSISTENT,
                vip=traffic.destination_vip or "the VIP",
                timeout=traffic.persistence_timeout_s,
            )
        )
    if choice.pinned is not None and traffic is not None and traffic.destination_vip:
        notes.append(
            reason(
                Code.IPVS_PINNED,
                scheduler=scheduler,
                node=path.node,
                vip=traffic.destination_vip,
                endpoint=choice.pinned,
            )
        )
    if choice.refused > 0:
        percent = f"{choice.refused:.1%}"
        if path.mode == "ipvs":
            notes.append(
                reason(
                    Code.IPVS_SCHEDULER_REFUSED,
                    scheduler=scheduler,
                    node=path.node,
                    percent=percent,
                )
            )
        else:
            notes.append(reason(Code.USERSPACE_CONNECTION_CLOSED, node=path.node, percent=percent))
    return notes


def _accumulate(
    snapshot: Snapshot,
    paths: list[tuple[Path, float]],
    seed: int,
    notes: list[Reason],
    *,
    service: Service,
    port: ServicePort,
    to: str,
) -> _Totals:
    """Spread each path's weight over its endpoints with the node's proxy mode."""
    totals = _Totals()
    for path, weight in paths:
        notes.extend(path.reasons)
        if path.action != FORWARD:
            totals.dropped += weight
            totals.rejected += weight if path.action == REJECT else 0.0
            totals.drop_weights[str(path.drop_reason)] += weight
            continue
        config = snapshot.proxy_for(path.node)
        traffic = decide.traffic(
            path.mode, service, port, to, _node_address(snapshot, path.node, service), path.quiesced
        )
        choice = choose(
            path.endpoints,
            mode=path.mode,
            scheduler=config.ipvs_scheduler,
            seed=seed,
            traffic=traffic,
        )
        notes.extend(choice.reasons)
        notes.extend(_choice_notes(path, choice, traffic, config.ipvs_scheduler))
        totals.latency = totals.latency or choice.latency_ms
        if choice.refused > 0:
            # IPVS answers ICMP port unreachable; the userspace proxy closes the accepted
            # connection: either way the client is turned away at once.
            lost = weight * choice.refused
            totals.dropped += lost
            totals.rejected += lost
            code = (
                Code.IPVS_SCHEDULER_REFUSED
                if path.mode == "ipvs"
                else Code.USERSPACE_CONNECTION_CLOSED
            )
            totals.drop_weights[str(code)] += lost
            weight -= lost
        nat_zone = snapshot.zone_of(path.node)
        for ep in path.endpoints:
            share = weight * choice.shares.get(ep.key, 0.0)
            prev = totals.shares.get(ep.key)
            totals.shares[ep.key] = (ep, share + (prev[1] if prev else 0.0))
            if ep.key in path.lost:
                totals.replies_lost += share
                totals.lost.add(ep.key)
            totals.locality[
                locality(path.node, nat_zone, ep.node, ep.zone or snapshot.zone_of(ep.node))
            ] += share
    if not paths:
        # An LB without a single backend node, or no LB yet: nothing reaches any kube-proxy.
        totals.dropped = 1.0
        pending = not service.lb_ips and not service.lb_uncaptured
        code = Code.LB_NO_INGRESS if pending else Code.LB_NO_BACKEND_NODE
        totals.drop_weights[str(code)] = 1.0
    return totals


def simulate(
    snapshot: Snapshot, question: Question, *, model: CostModel = DEFAULT_COST_MODEL
) -> Answer:
    """Answer ``question`` on ``snapshot`` (after applying the question's own what-if)."""
    if question.family is not None:
        snapshot = _family_snapshot(snapshot, question)
    scenario = question.scenario()
    if not scenario.is_empty():
        snapshot = apply_scenario(snapshot, scenario)
    unhandled = _not_proxied(snapshot, question, model)
    if unhandled is not None:
        return unhandled
    service, port, kind, node, to = _resolve(snapshot, question)
    via = _via_node(snapshot, question, kind, node, to)
    paths, notes, ingress = _paths(snapshot, service, port, kind, node, to, via)
    if via is not None and to != NODEPORT:
        notes.insert(0, reason(Code.VIA_NODE_CAPTURED_AT_SOURCE, to=to, source=node, via=via))
    # The node doing the NAT: the source's own, or the one whose NodePort it called.
    nat_node = via if via is not None and to == NODEPORT else node
    notes.extend(_context_notes(snapshot, service, kind, nat_node, to))
    paths = _source_ranges(snapshot, service, paths, notes, kind, node, to, question.client_ip)
    kind = "pod" if kind == "pod-via-lb" else kind
    if nat_node is not None:
        config = snapshot.proxy_for(nat_node)
        notes.insert(
            0,
            reason(
                Code.NODE_PROXY_MODE,
                node=nat_node,
                mode=config.mode,
                version=f"v{config.version[0]}.{config.version[1]}",
            ),
        )
        if nat_node in snapshot.nodes and not snapshot.nodes[nat_node].ready:
            notes.append(reason(Code.NODE_NOT_READY, node=nat_node))
    totals = _accumulate(snapshot, paths, question.seed, notes, service=service, port=port, to=to)
    if service.session_affinity == "ClientIP":
        notes.append(reason(Code.SESSION_AFFINITY, timeout=service.affinity_timeout))
    # What the dump did not say and the adapter assumed, last: it qualifies the whole answer.
    notes.extend(reason(Code.SNAPSHOT_ASSUMPTION, note=note) for note in snapshot.notes)
    forwarded = 1.0 - totals.dropped
    action = (
        FORWARD
        if forwarded > 1e-12
        else (REJECT if totals.rejected >= totals.dropped - 1e-12 else DROP)
    )
    preserved = [p.client_ip_preserved for p, _ in paths if p.action == FORWARD] or [
        p.client_ip_preserved for p, _ in paths
    ]
    kept = sum(w for p, w in paths if p.action == FORWARD and p.client_ip_preserved)
    positive = [s for _, s in totals.shares.values() if s > 0]
    bytes_per_s, usd = model.cross_zone(
        service.key, kind, totals.locality.get(CROSS_ZONE, 0.0), len(service.ports)
    )
    drops = totals.drop_weights
    return Answer(
        service=service.key,
        port=port.name or str(port.port),
        source_kind=kind,
        source_node=node,
        to=to,
        proxy_mode=snapshot.proxy_for(nat_node).mode,
        action=action,
        endpoint_shares=totals.shares,
        dropped=totals.dropped,
        replies_lost=totals.replies_lost,
        rejected=totals.rejected,
        drop_reason=max(drops, key=drops.__getitem__) if drops else None,
        client_ip_preserved=all(preserved),
        locality=dict(totals.locality),
        client_ip_preserved_share=kept / forwarded if forwarded > 1e-12 else 0.0,
        expected_latency_ms=(
            sum(model.hop_ms(k) * v for k, v in totals.locality.items()) / forwarded
        )
        if forwarded > 1e-12
        else None,
        scheduler_latency_ms=totals.latency,
        cross_zone_bytes_per_s=bytes_per_s,
        cost_usd_per_month=usd,
        imbalance=imbalance(positive),
        reasons=_dedupe(notes),
        ingress_nodes=ingress,
        session_affinity_timeout=service.affinity_timeout
        if service.session_affinity == "ClientIP"
        else None,
        zone_of=MappingProxyType(
            {ep.node: snapshot.zone_of(ep.node) for ep, _ in totals.shares.values() if ep.node}
        ),
        family=service.family,
        via_node=via,
        lost_endpoints=frozenset(totals.lost),
    )


def _source_ranges(
    snapshot: Snapshot,
    service: Service,
    paths: list[tuple[Path, float]],
    notes: list[Reason],
    kind: str,
    node: str | None,
    to: str,
    client_ip: str | None,
) -> list[tuple[Path, float]]:
    """Paths whose kube-proxy drops the client at the LB IP (outside loadBalancerSourceRanges)
    become drops; the verdict joins the explanation either way."""
    if not filters(service, to) or kind == "pod-via-lb":
        if client_ip is not None:
            try:
                check_client_ip(client_ip)
            except ClientAddressError as exc:
                raise QuestionError(str(exc), field="client_ip", code=INVALID) from None
        return paths
    try:
        found = verdict(snapshot, service, kind, node, client_ip)
    except ClientAddressError as exc:
        raise QuestionError(str(exc), field="client_ip", code=INVALID) from None
    notes.append(found.reason)
    if found.allowed is not False:
        return paths
    out = []
    for path, weight in paths:
        no_endpoints = path.action == REJECT and path.drop_reason == Code.NO_ENDPOINTS_REJECT
        if firewall_drops(path.mode, not no_endpoints):
            path = Path(
                path.node,
                DROP,
                (),
                path.client_ip_preserved,
                Code.LB_SOURCE_RANGE_DROP,
                (),
                path.mode,
            )
        out.append((path, weight))
    return out


def _not_proxied(snapshot: Snapshot, question: Question, model: CostModel) -> Answer | None:
    """The answer for a Service kube-proxy leaves alone (``unproxied``), else None."""
    service = snapshot.services.get(question.service)
    if service is None:
        raise QuestionError(f"unknown service {question.service!r}", field="service", code=UNKNOWN)
    found = not_proxied(snapshot, service)
    if found is None:
        return None
    kind, node = question.parse_source()
    port = service.port(question.port)
    label = (port.name or str(port.port)) if port is not None else str(question.port or "")
    eps = found.endpoints
    if found.dns and (service.type == "ExternalName" or not service.headless):
        # ExternalName / another proxy: the client connects to what DNS returned (the CNAME
        # target, or the ClusterIP the other proxy owns), which kube-proxy passes untouched.
        eps = (Endpoint(ip=found.dns[0], port=port.port if port is not None else 0),)
    share = 1.0 / len(eps) if eps else 0.0
    # A headless Service with no address to return: the client's lookup fails at once.
    lost = 0.0 if eps else 1.0
    loc: dict[str, float] = defaultdict(float)
    for ep in eps:
        loc[
            locality(node, snapshot.zone_of(node), ep.node, ep.zone or snapshot.zone_of(ep.node))
        ] += share
    bytes_per_s, usd = model.cross_zone(
        service.key, kind, loc.get(CROSS_ZONE, 0.0), len(service.ports)
    )
    return Answer(
        service=service.key,
        port=label,
        source_kind=kind,
        source_node=node,
        to=question.to or DEFAULT_TO[kind],
        proxy_mode=snapshot.proxy_for(node).mode,
        action=REJECT if lost else FORWARD,
        endpoint_shares={ep.key: (ep, share) for ep in eps},
        dropped=lost,
        rejected=lost,
        drop_reason=str(found.reason.code) if lost else None,
        client_ip_preserved=True,
        locality=dict(loc),
        expected_latency_ms=sum(model.hop_ms(k) * v for k, v in loc.items()) if eps else None,
        scheduler_latency_ms=None,
        cross_zone_bytes_per_s=bytes_per_s,
        cost_usd_per_month=usd,
        imbalance=1.0 if eps else None,
        reasons=(found.reason,),
        proxied=False,
        dns=found.dns,
        zone_of=MappingProxyType({ep.node: snapshot.zone_of(ep.node) for ep in eps if ep.node}),
    )


def _family_snapshot(snapshot: Snapshot, question: Question) -> Snapshot:
    """The snapshot as the ``question.family`` proxier sees the question's Service."""
    if question.family not in FAMILIES:
        raise QuestionError(
            f"family {question.family!r} is not one of {', '.join(FAMILIES)}",
            field="family",
            code=INVALID_CHOICE,
        )
    service = snapshot.services.get(question.service)
    if service is None:
        raise QuestionError(f"unknown service {question.service!r}", field="service", code=UNKNOWN)
    if service.proxied and question.family not in families(service):
        raise QuestionError(
            f"service {service.key} has no {question.family} ClusterIP "
            f"(clusterIPs: {', '.join(service.cluster_ips)}): no {question.family} proxier "
            "programs it",
            field="family",
            code=NOT_APPLICABLE,
        )
    return snapshot_for_family(snapshot, question.service, question.family)


def _dedupe(notes: list[Reason], *, per_code: int = 3) -> tuple[Reason, ...]:
    """Keep each line once, and at most ``per_code`` lines per code (an LB answer over
    5,000 nodes would otherwise repeat one reason per node); the last kept line of a
    truncated code says how many were left out."""
    kept: list[Reason] = []
    seen: set[str] = set()
    counts: dict[str, int] = defaultdict(int)
    for note in notes:
        text = str(note)
        if text in seen:
            continue
        seen.add(text)
        counts[str(note.code)] += 1
        if counts[str(note.code)] <= per_code:
            kept.append(note)
    out = []
    for i, note in enumerate(kept):
        extra = counts[str(note.code)] - per_code
        last = all(str(later.code) != str(note.code) for later in kept[i + 1 :])
        out.append(Reason(note.code, note.message, more=extra) if extra > 0 and last else note)
    return tuple(out)
