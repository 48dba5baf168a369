"""One service port, every source class, aggregated over node groups (never node by node).

For each source class the answer on node N is a function of N's endpoint sets, which
kube-proxy derives from (N's configuration, N's zone, N's own endpoints, N's node hints).
``node_index`` groups the first two cluster-wide; here the nodes hosting endpoints of
the port (Local sets) and the nodes named in node hints (PreferSameNode) are taken one by
one, and every other node of a group shares the group's answer, weighted by its count.

The per-node decision mirrors ``routing.engine.candidates.path_for`` (semantics §3-§4, §7.3
and §7.4) on a precomputed categorisation so that ``categorize_endpoints`` runs once per
group instead of once per node; the tests hold the two equal on random clusters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from routing.engine.analysis.decide import Answer, decide, uses_local_path
from routing.engine.analysis.nodes import NodeClass, NodeIndex
from routing.engine.candidates import DROP, FORWARD, REJECT
from routing.engine.choice import choose
from routing.engine.costmodel import LOCALITIES, SAME_NODE, locality
from routing.engine.explain import Code
from routing.engine.snapshot import Snapshot
from routing.engine.topology import Categorized, categorize_endpoints, external_policy_local
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort

#: Source class names. "pod-external" is a pod calling its own cluster's NodePort / LB IP /
#: externalIP (the eTP=Local short-circuit, semantics §3.3).
POD, EXTERNAL, POD_EXTERNAL, LB = "pod", "external", "pod-external", "lb"
SOURCES = (POD, EXTERNAL, POD_EXTERNAL, LB)
_LOC_INDEX = {name: i for i, name in enumerate(LOCALITIES)}


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


class _Port:
    """Working state for one service port (built once, read by every source)."""

    def __init__(self, ctx: PortContext, service: Service, port: ServicePort) -> None:
        self.ctx, self.service, self.port = ctx, service, port
        snap, idx = ctx.snapshot, ctx.index
        self.eps = eps = snap.endpoints(service.key, port.name)
        class_of, zone_of = idx.class_of, idx.zone_of
        # Comprehensions, not one explicit loop: this runs for every endpoint of the
        # cluster, and list comprehensions are several times faster per item.
        nodes = [ep.node for ep in eps]
        self.ep_class: list[int] = [class_of.get(n, -1) for n in nodes]
        self.ep_node: list[str | None] = [n if c >= 0 else None for n, c in zip(nodes, self.ep_class)]
        # simulate reads the zone as ``ep.zone or snapshot.zone_of(ep.node)``.
        self.ep_zone: list[str] = [ep.zone or zone_of.get(n, "") for ep, n in zip(eps, nodes)]
        self.hosting: dict[str, list[Endpoint]] = {}
        for ep, node in zip(eps, self.ep_node):
            if node is not None:
                self.hosting.setdefault(node, []).append(ep)
        self.hinted = any(ep.ready and (ep.zone_hints or ep.node_hints) for ep in eps)
        self._pos: dict[int, int] | None = None
        self._indices: dict[int, tuple[tuple[Endpoint, ...], list[int]]] = {}
        node_hinted: set[str] = set()
        if self.hinted:
            for ep in eps:
                if ep.ready:
                    node_hinted.update(ep.node_hints)
        self.node_hinted = {n for n in node_hinted if n in idx.class_of}
        self.hinted_by_class: dict[int, list[str]] = {}
        for n in self.node_hinted:
            self.hinted_by_class.setdefault(idx.class_of[n], []).append(n)
        self.hosting_by_class: dict[int, list[str]] = {}
        for n in self.hosting:
            if n not in self.node_hinted:
                self.hosting_by_class.setdefault(idx.class_of[n], []).append(n)
        self._cats: dict[tuple, Categorized] = {}
        self._node_cats: dict[str, Categorized] = {}
        self._answers: dict[tuple, Answer] = {}
        self.topology_reasons: dict[str, tuple[str, list[str]]] = {}
        self.topology_modes: dict[str, int] = {}

    # -- categorisation, once per group ------------------------------------------------
    def class_cat(self, cls: NodeClass) -> Categorized | None:
        """The categorisation every non-hinted node of ``cls`` shares (None: userspace)."""
        if cls.config.mode == "userspace":
            return None
        key = (cls.config_id, cls.zone if self.hinted else None)
        cat = self._cats.get(key)
        if cat is None:
            rep = next((n for n in cls.names if n not in self.node_hinted), None)
            cat = self._categorize(rep or cls.names[0], cls)
            self._cats[key] = cat
            self._note(cat, f"zone {cls.zone or '(none)'}")
        return cat

    def node_cat(self, node: str, cls: NodeClass) -> Categorized | None:
        """The categorisation on ``node`` (its own only when node hints name it)."""
        if node not in self.node_hinted or cls.config.mode == "userspace":
            return self.class_cat(cls)
        cat = self._node_cats.get(node)
        if cat is None:
            cat = self._node_cats[node] = self._categorize(node, cls)
            self._note(cat, f"node {node}")
        return cat

    def _categorize(self, node: str, cls: NodeClass) -> Categorized:
        return categorize_endpoints(self.eps, service=self.service, port=self.port, node_name=node, zone=cls.zone,
                                    gates=cls.config.gates, version=cls.config.version)

    def _note(self, cat: Categorized, where: str) -> None:
        for r in cat.reasons:
            self.topology_reasons.setdefault(str(r.code), (r.message, []))[1].append(where)

    def indices(self, cands: tuple[Endpoint, ...]) -> list[int]:
        """Positions of ``cands`` in the port's endpoint tuple (cached per candidate tuple)."""
        found = self._indices.get(id(cands))
        if found is None or found[0] is not cands:
            if len(cands) == len(self.eps):
                # Candidate sets are order-preserving filters of the endpoint tuple.
                positions = list(range(len(cands)))
            else:
                if self._pos is None:
                    self._pos = {id(ep): i for i, ep in enumerate(self.eps)}
                positions = [self._pos[id(ep)] for ep in cands]
            found = self._indices[id(cands)] = (cands, positions)
        return found[1]

    def group_answer(self, cls: NodeClass, local_path: bool, *, pod_source: bool, to_cluster_ip: bool) -> Answer:
        """The answer every non-special node of ``cls`` gets (no endpoint of its own, no
        node hint naming it). Classes sharing a configuration and a categorisation share it."""
        cat = self.class_cat(cls)
        key = (id(cat), cls.config_id, local_path, pod_source, to_cluster_ip)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = decide(self.eps, self.service, self.port, cls.config, cat,
                                                 () if local_path else None, pod_source=pod_source,
                                                 to_cluster_ip=to_cluster_ip)
        return answer

    def local_set(self, node: str, config: ProxyConfig) -> tuple[Endpoint, ...]:
        """kube-proxy's Local set on ``node``: its Ready endpoints, else its serving-terminating ones."""
        mine = self.hosting.get(node, ())
        ready = tuple(ep for ep in mine if ep.ready)
        if ready or not config.gates.proxy_terminating_endpoints:
            return ready
        return tuple(ep for ep in mine if ep.serving and ep.terminating)


@dataclass(slots=True)
class PortContext:
    """What every port of one snapshot shares: the snapshot, node groups and a choice cache."""

    snapshot: Snapshot
    index: NodeIndex
    _choices: dict[tuple, tuple[float, ...]] = field(default_factory=dict)

    def shares(self, cands: tuple[Endpoint, ...], config: ProxyConfig) -> tuple[float, ...]:
        """Each candidate's share under ``config``'s proxy mode (aligned with ``cands``)."""
        mode = config.mode
        if mode in ("iptables", "nftables"):
            return (1.0 / len(cands),) * len(cands)
        # rr/wrr/lc/wlc/sed/nq and userspace depend on positions only (all weights 1,
        # identical endpoints); the hashing schedulers depend on the addresses.
        positional = mode == "userspace" or config.ipvs_scheduler in ("rr", "wrr", "lc", "wlc", "sed", "nq")
        key = (mode, config.ipvs_scheduler, len(cands) if positional else tuple(ep.key for ep in cands))
        found = self._choices.get(key)
        if found is None:
            choice = choose(cands, mode=mode, scheduler=config.ipvs_scheduler)
            found = self._choices[key] = tuple(choice.shares[ep.key] for ep in cands)
        return found


def analyze_port(ctx: PortContext, service: Service, port: ServicePort) -> PortAnalysis:
    """Aggregate every applicable source class of one service port."""
    p = _Port(ctx, service, port)
    sources = [_pod_like(p, POD, "clusterip", pod_source=True)]
    external_to = _external_destination(service, port)
    if external_to:
        sources.append(_pod_like(p, EXTERNAL, external_to, pod_source=False))
        sources.append(_pod_like(p, POD_EXTERNAL, external_to, pod_source=True))
    if service.type == "LoadBalancer" and (service.lb_ips or service.lb_uncaptured):
        sources.append(_lb(p))
    for cls in ctx.index.classes:
        hinted = p.hinted_by_class.get(cls.index, [])
        groups = [(p.class_cat(cls), len(cls.names) - len(hinted))] + [(p.node_cat(n, cls), 1) for n in hinted]
        for cat, count in groups:
            mode = cat.topology_mode if cat is not None else ""
            p.topology_modes[mode] = p.topology_modes.get(mode, 0) + count
    return PortAnalysis(service, port, p.eps, tuple(sources), len(p.hosting), p.topology_reasons, p.topology_modes)


def _external_destination(service: Service, port: ServicePort) -> str | None:
    """The external address kind a client would use: NodePort, else LB IP, else externalIP."""
    if port.node_port:
        return "nodeport"
    if service.lb_ips:
        return "loadbalancer"
    if service.external_ips:
        return "externalip"
    return None


def _pod_like(p: _Port, source: str, to: str, *, pod_source: bool) -> SourceAggregate:
    """A source present on every node with equal weight (pods, or external arrivals)."""
    idx = p.ctx.index
    agg = SourceAggregate(source, to, nodes=idx.total, shares=[0.0] * len(p.eps))
    if not idx.total:
        return agg
    weight = 1.0 / idx.total
    to_cip = to == "clusterip"
    bulk: list[tuple[NodeClass, Answer, int, list[str]]] = []
    for cls in idx.classes:
        local_path = uses_local_path(p.service, p.port, cls.config, pod_source=pod_source, to_cluster_ip=to_cip)
        special = _special_nodes(p, cls, local_path)
        for node in special:
            _node_answer(p, agg, cls, node, weight, local_path, pod_source=pod_source, to_cluster_ip=to_cip)
        if len(cls.names) > len(special):
            answer = p.group_answer(cls, local_path, pod_source=pod_source, to_cluster_ip=to_cip)
            bulk.append((cls, answer, len(cls.names) - len(special), special))
    _add_bulk(p, agg, bulk, weight, member=None)
    return agg


def _special_nodes(p: _Port, cls: NodeClass, local_path: bool) -> list[str]:
    """Nodes of ``cls`` whose answer differs from the group's: hinted by name, or hosting
    endpoints when the answer comes from the Local set."""
    out = p.hinted_by_class.get(cls.index, [])
    if local_path:
        out = out + p.hosting_by_class.get(cls.index, [])
    return out


def _node_answer(p: _Port, agg: SourceAggregate, cls: NodeClass, node: str, weight: float, local_path: bool,
                 *, pod_source: bool, to_cluster_ip: bool) -> None:
    cat = p.node_cat(node, cls)
    local = p.local_set(node, cls.config) if local_path else None
    answer = decide(p.eps, p.service, p.port, cls.config, cat, local, pod_source=pod_source, to_cluster_ip=to_cluster_ip)
    _add_node(p, agg, cls, node, answer, weight)


def _add_node(p: _Port, agg: SourceAggregate, cls: NodeClass, node: str, answer: Answer, weight: float) -> None:
    """Add one node's answer with ``weight``."""
    if answer.action != FORWARD:
        _add_loss(agg, answer, 1, weight)
        return
    agg.actions[FORWARD] += 1
    agg.ipvs_fallback += answer.fallback
    zone = cls.zone
    for i, share in zip(p.indices(answer.cands), p.ctx.shares(answer.cands, cls.config)):
        mass = weight * share
        agg.shares[i] += mass
        agg.locality[_LOC_INDEX[locality(node, zone, p.ep_node[i], p.ep_zone[i])]] += mass
    if answer.preserved:
        agg.preserved += weight


def _add_bulk(p: _Port, agg: SourceAggregate, entries: list[tuple[NodeClass, Answer, int, list[str]]], weight: float,
              *, member: Callable[[str], bool] | None) -> None:
    """Add groups of interchangeable nodes: (class, its answer, node count, nodes of the class
    handled one by one). Classes whose answers share one candidate tuple and one choice are
    summed together, so each endpoint is visited once per distinct answer, not per class.
    An endpoint is same-node for exactly one node of a group when its node is in the group
    (in the class, not handled one by one, and ``member`` of the weighted set)."""
    merged: dict[tuple, list[tuple[NodeClass, Answer, int, list[str]]]] = {}
    for entry in entries:
        cls, answer, count, _ = entry
        if answer.action != FORWARD:
            _add_loss(agg, answer, count, weight)
            continue
        agg.actions[FORWARD] += count
        agg.ipvs_fallback += count if answer.fallback else 0
        if answer.preserved:
            agg.preserved += weight * count
        mode = cls.config.mode
        choice = "uniform" if mode in ("iptables", "nftables") else (mode, cls.config.ipvs_scheduler)
        merged.setdefault((id(answer.cands), choice), []).append(entry)
    loc, same_node = agg.locality, _LOC_INDEX[SAME_NODE]
    agg_shares, ep_zone, ep_class, ep_node = agg.shares, p.ep_zone, p.ep_class, p.ep_node
    for group in merged.values():
        cands, config = group[0][1].cands, group[0][0].config
        shares = p.ctx.shares(cands, config)
        total = weight * sum(entry[2] for entry in group)
        zone_mass: dict[str, float] = {}
        indices = p.indices(cands)
        for i, share in zip(indices, shares):
            agg_shares[i] += total * share
            zone = ep_zone[i]
            zone_mass[zone] = zone_mass.get(zone, 0.0) + share
        by_class = {}
        for cls, _, count, excluded in group:
            by_class[cls.index] = (cls, excluded)
            for zone, mass in zone_mass.items():
                loc[_LOC_INDEX[locality("", cls.zone, None, zone)]] += weight * count * mass
        for i, share in zip(indices, shares):
            hit = by_class.get(ep_class[i])
            if hit is None:
                continue
            node = ep_node[i]
            if node in hit[1] or (member is not None and not member(node)):
                continue
            # One node of the group is this endpoint's own: same node there, not same/cross zone.
            loc[_LOC_INDEX[locality("", hit[0].zone, None, ep_zone[i])]] -= weight * share
            loc[same_node] += weight * share


def _add_loss(agg: SourceAggregate, answer: Answer, count: int, weight: float) -> None:
    agg.actions[answer.action] += count
    agg.dropped += weight * count
    if answer.action == REJECT:
        agg.refused += weight * count
    agg.drop_reasons[answer.reason or ""] = agg.drop_reasons.get(answer.reason or "", 0) + count


def _lb(p: _Port) -> SourceAggregate:
    """Clients behind the cloud load balancer, spread over the nodes it deems healthy (``lb.lb_nodes``)."""
    idx, service, port = p.ctx.index, p.service, p.port
    agg = SourceAggregate(LB, "loadbalancer", shares=[0.0] * len(p.eps))
    local_lb = external_policy_local(service, port) and service.type == "LoadBalancer"
    if local_lb:
        # healthCheckNodePort answers 200 only on Ready backends with a Ready local endpoint.
        passing = [n for n, eps in p.hosting.items() if idx.backend[n] and idx.ready[n] and any(ep.ready for ep in eps)]
        if passing:
            agg.nodes = len(passing)
            for node in passing:
                cls = idx.classes[idx.class_of[node]]
                local_path = uses_local_path(service, port, cls.config, pod_source=False, to_cluster_ip=False)
                _node_answer(p, agg, cls, node, 1.0 / len(passing), local_path, pod_source=False, to_cluster_ip=False)
            return agg
    # No node passes: the load balancer fails open to every backend node.
    fail_open = local_lb or not idx.total_healthy
    agg.lb_fail_open = fail_open
    total = idx.total_backends if fail_open else idx.total_healthy
    agg.nodes = total
    if not total:
        agg.dropped = 1.0
        agg.drop_reasons[Code.LB_NO_BACKEND_NODE.value] = 0
        return agg
    weight = 1.0 / total

    def member(node: str) -> bool:
        return idx.backend[node] and (fail_open or idx.ready[node])

    bulk: list[tuple[NodeClass, Answer, int, list[str]]] = []
    for cls in idx.classes:
        count = cls.backends if fail_open else cls.healthy
        if not count:
            continue
        local_path = uses_local_path(service, port, cls.config, pod_source=False, to_cluster_ip=False)
        special = [n for n in _special_nodes(p, cls, local_path) if member(n)]
        for node in special:
            _node_answer(p, agg, cls, node, weight, local_path, pod_source=False, to_cluster_ip=False)
        if count > len(special):
            answer = p.group_answer(cls, local_path, pod_source=False, to_cluster_ip=False)
            bulk.append((cls, answer, count - len(special), special))
    _add_bulk(p, agg, bulk, weight, member=member)
    return agg
