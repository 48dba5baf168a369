"""One service port, every source class, aggregated over node groups (never node by node).

For each source class the answer on node N is a function of N's endpoint sets, which
kube-proxy derives from (N's configuration, N's zone, N's own endpoints, N's node hints).
``node_index`` groups the first two cluster-wide; here the nodes hosting endpoints of
the port (Local sets) and the nodes named in node hints (PreferSameNode) are taken one by
one, and every other node of a group shares the group's answer, weighted by its count.

The per-node decision is ``routing.engine.decide.decide``, the one ``simulate`` asks, fed a
precomputed categorisation so that ``categorize_endpoints`` runs once per group instead of
once per node; the spread over the candidates is ``simulate``'s (``choices``); the tests
hold the result equal to ``simulate`` from every node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from routing.engine.analysis.choices import ChoiceCache, Spread, address_bucket, dh_by_address
from routing.engine.analysis.model import (
    EXTERNAL,
    LB,
    POD,
    POD_EXTERNAL,
    PortAnalysis,
    SourceAggregate,
)
from routing.engine.analysis.nodes import NodeClass, NodeIndex
from routing.engine.costmodel import LOCALITIES, SAME_NODE, locality
from routing.engine.decide import (
    DROP,
    FORWARD,
    REJECT,
    Verdict,
    decide,
    draining,
    node_address_vip,
    replies_lost,
    uses_local_set,
    vip_depends_on_node,
)
from routing.engine.explain import Code
from routing.engine.families import node_address
from routing.engine.lb import local_ready_ips
from routing.engine.snapshot import Snapshot
from routing.engine.sourceranges import filters, firewall_drops, verdict
from routing.engine.topology import (
    Categorized,
    categorize_endpoints,
    external_policy_local,
    externally_accessible,
    local_endpoints,
)
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort

_LOC_INDEX = {name: i for i, name in enumerate(LOCALITIES)}


class _Port:
    """Working state for one service port (built once, read by every source)."""

    def __init__(self, ctx: PortContext, service: Service, port: ServicePort) -> None:
        self.ctx, self.service, self.port = ctx, service, port
        snap, idx = ctx.snapshot, ctx.index
        self.eps = eps = snap.endpoints(service.key, port.name)
        # Typed for the lookups below: an endpoint without a node (None) simply misses.
        class_of = cast("dict[str | None, int]", idx.class_of)
        zone_of = cast("dict[str | None, str]", idx.zone_of)
        # Comprehensions, not one explicit loop: this runs for every endpoint of the
        # cluster, and list comprehensions are several times faster per item.
        nodes = [ep.node for ep in eps]
        self.ep_class: list[int] = [class_of.get(n, -1) for n in nodes]
        self.ep_node: list[str | None] = [
            n if c >= 0 else None for n, c in zip(nodes, self.ep_class)
        ]
        # simulate reads the zone as ``ep.zone or snapshot.zone_of(ep.node)``.
        self.ep_zone: list[str] = [ep.zone or zone_of.get(n, "") for ep, n in zip(eps, nodes)]
        self.hosting: dict[str, list[Endpoint]] = {}
        for ep, node in zip(eps, self.ep_node):
            if node is not None:
                self.hosting.setdefault(node, []).append(ep)
        self.hinted = any(ep.ready and (ep.zone_hints or ep.node_hints) for ep in eps)
        self.terminating = any(ep.terminating for ep in eps)
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
        self._cats: dict[tuple[object, ...], Categorized] = {}
        self._node_cats: dict[str, Categorized] = {}
        self._answers: dict[tuple[object, ...], Verdict] = {}
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
        return categorize_endpoints(
            self.eps,
            service=self.service,
            port=self.port,
            node_name=node,
            zone=cls.zone,
            gates=cls.config.gates,
            version=cls.config.version,
        )

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

    def decide(
        self,
        cls: NodeClass,
        cat: Categorized | None,
        local: tuple[Endpoint, ...] | None,
        *,
        pod_source: bool,
        to: str,
    ) -> Verdict:
        """The engine's verdict on a node of ``cls`` with categorisation ``cat`` and Local
        set ``local``."""
        return decide(
            cls.config,
            self.service,
            self.port,
            to=to,
            pod_source=pod_source,
            cluster=None if cat is None else cat.cluster,
            local=local,
            has_any=cat is not None and cat.has_any_endpoints,
            endpoints=self.eps,
        )

    def group_answer(self, cls: NodeClass, *, pod_source: bool, to: str) -> Verdict:
        """The answer every non-special node of ``cls`` gets (no endpoint of its own, so an
        empty Local set; no node hint naming it). Classes sharing a configuration and a
        categorisation share it."""
        cat = self.class_cat(cls)
        key = (id(cat), cls.config_id, pod_source, to)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = self.decide(cls, cat, (), pod_source=pod_source, to=to)
        return answer

    def spread(
        self, answer: Verdict, cls: NodeClass, cat: Categorized | None, node: str | None, to: str
    ) -> Spread:
        """How ``node`` (None: any non-special node of ``cls``) spreads ``answer``'s connections."""
        config, port = cls.config, self.port
        weight_zero: tuple[Endpoint, ...] = ()
        if (
            config.mode == "ipvs"
            and self.terminating
            and cat is not None
            and port.protocol == "TCP"
        ):
            local = (
                self.local_set(node, config) if node is not None and cat.local is not None else None
            )
            weight_zero = draining(
                self.eps, answer.endpoints, local, cat.topology_mode, node or "", cls.zone
            )
        address = ""
        if node is not None and node_address_vip(self.service, to):
            found = self.ctx.snapshot.nodes.get(node)
            address = (
                node_address(found.addresses, self.service.family) if found is not None else ""
            )
        return self.ctx.choices.spread(
            answer.endpoints,
            config,
            service=self.service,
            port=port,
            to=to,
            address=address,
            draining=weight_zero,
        )

    def sole_host(self, cls: NodeClass) -> list[str]:
        """The node of ``cls`` hosting every endpoint of the class's Cluster set, if any: on
        it that set equals its Local set, which ``path_for`` then treats as a Local answer
        when picking IPVS's weight-0 draining servers."""
        cat = self.class_cat(cls)
        if cat is None or not cat.cluster or cat.local is None:
            return []
        nodes = {ep.node for ep in cat.cluster}
        node = next(iter(nodes)) if len(nodes) == 1 else None
        hosts = self.hosting_by_class.get(cls.index, [])
        return [node] if node in hosts and cat.cluster == self.local_set(node, cls.config) else []

    def local_set(self, node: str, config: ProxyConfig) -> tuple[Endpoint, ...]:
        """kube-proxy's Local set on ``node`` (``topology.local_endpoints`` of its own
        endpoints)."""
        return local_endpoints(self.hosting.get(node, ()), node, config.gates)


@dataclass(slots=True)
class PortContext:
    """What every port of one snapshot shares: the snapshot, node groups and a choice cache."""

    snapshot: Snapshot
    index: NodeIndex
    choices: ChoiceCache = field(default_factory=ChoiceCache)
    _dh_groups: dict[tuple[int, str], list[list[str]]] = field(default_factory=dict)

    def dh_groups(self, cls: NodeClass, family: str = "") -> list[list[str]]:
        """``cls``'s nodes grouped by the dh bucket of their NodePort address for ``family``
        (``families.node_address``)."""
        found = self._dh_groups.get((cls.index, family))
        if found is None:
            groups: dict[int | None, list[str]] = {}
            for name in cls.names:
                node = self.snapshot.nodes[name]
                groups.setdefault(
                    address_bucket(node_address(node.addresses, family))
                    if node.addresses
                    else None,
                    [],
                ).append(name)
            found = self._dh_groups[(cls.index, family)] = list(groups.values())
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
        # Without an ingress address yet no load balancer exists: no lb source to report
        # (simulate answers it with LB_NO_INGRESS).
        sources.append(_lb(p))
    for cls in ctx.index.classes:
        hinted = p.hinted_by_class.get(cls.index, [])
        groups = [(p.class_cat(cls), len(cls.names) - len(hinted))] + [
            (p.node_cat(n, cls), 1) for n in hinted
        ]
        for cat, count in groups:
            mode = cat.topology_mode if cat is not None else ""
            p.topology_modes[mode] = p.topology_modes.get(mode, 0) + count
    return PortAnalysis(
        service, port, p.eps, tuple(sources), len(p.hosting), p.topology_reasons, p.topology_modes
    )


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
    # Pods whose node's podCIDR lies outside loadBalancerSourceRanges: dropped at the LB IP.
    blocked = blocked_pod_nodes(p.ctx.snapshot, p.service, to) if pod_source else frozenset()
    bulk: list[_Bulk] = []
    for cls in idx.classes:
        local_path = uses_local_set(cls.config, p.service, p.port, to=to, pod_source=pod_source)
        special = _special_nodes(p, cls, local_path, to)
        if blocked:
            special = special + [n for n in cls.names if n in blocked and n not in special]
        for node in special:
            if node in blocked and _firewalled(p, agg, cls, node, weight):
                continue
            _node_answer(p, agg, cls, node, weight, local_path, to, pod_source=pod_source)
        if len(cls.names) > len(special):
            answer = p.group_answer(cls, pod_source=pod_source, to=to)
            bulk += _class_bulk(p, cls, answer, len(cls.names) - len(special), special, to, None)
    _add_bulk(p, agg, bulk, weight, member=None)
    return agg


def blocked_pod_nodes(snapshot: Snapshot, service: Service, to: str) -> frozenset[str]:
    """Nodes whose pods ``simulate`` finds outside the Service's loadBalancerSourceRanges
    (``sourceranges.verdict`` for ``pod:NODE``, no client IP given)."""
    if not filters(service, to):
        return frozenset()
    return frozenset(
        n for n in snapshot.nodes if verdict(snapshot, service, "pod", n, None).allowed is False
    )


def _firewalled(p: _Port, agg: SourceAggregate, cls: NodeClass, node: str, weight: float) -> bool:
    """Count ``node``'s pods as dropped at the LB IP when its mode's firewall is in place
    (``sourceranges.firewall_drops``); False when it is not (the usual answer applies)."""
    cat = p.node_cat(node, cls)
    if not firewall_drops(cls.config.mode, cat is not None and cat.has_any_endpoints):
        return False
    _add_loss(agg, Verdict(DROP, (), False, Code.LB_SOURCE_RANGE_DROP), 1, weight)
    return True


class _Outside:
    """``node in excluded`` for a group given by its members (dh buckets)."""

    __slots__ = ("inside",)

    def __init__(self, inside: set[str]) -> None:
        self.inside = inside

    def __contains__(self, node: object) -> bool:
        return node not in self.inside


def _class_bulk(
    p: _Port,
    cls: NodeClass,
    answer: Verdict,
    count: int,
    special: list[str],
    to: str,
    member: Callable[[str], bool] | None,
) -> list[_Bulk]:
    """The non-special nodes of ``cls`` as one group, or one group per dh bucket."""
    if not dh_by_address(cls.config, p.service, to):
        return [_bulk(p, cls, answer, count, special, to)]
    out: list[_Bulk] = []
    skip = set(special)
    for names in p.ctx.dh_groups(cls, p.service.family):
        inside = {n for n in names if n not in skip and (member is None or member(n))}
        if inside:
            rep = min(inside)
            spread = (
                p.spread(answer, cls, p.class_cat(cls), rep, to)
                if answer.action == FORWARD
                else None
            )
            out.append((cls, answer, len(inside), _Outside(inside), spread))  # type: ignore[arg-type]
    return out


#: (class, answer, node count, nodes of the class handled one by one, spread or None).
_Bulk = tuple[NodeClass, Verdict, int, list[str], "Spread | None"]


def _bulk(
    p: _Port, cls: NodeClass, answer: Verdict, count: int, special: list[str], to: str
) -> _Bulk:
    spread = p.spread(answer, cls, p.class_cat(cls), None, to) if answer.action == FORWARD else None
    return (cls, answer, count, special, spread)


def _special_nodes(p: _Port, cls: NodeClass, local_path: bool, to: str) -> list[str]:
    """Nodes of ``cls`` whose answer may differ from the group's: hinted by name; hosting
    endpoints when the answer comes from the Local set, or when IPVS keeps terminating
    endpoints at weight 0 (which ones depends on the node); every node when IPVS keys its
    choice on the node's own address (dh/lblc/lblcr behind a NodePort)."""
    if vip_depends_on_node(cls.config, p.service, to) and not dh_by_address(
        cls.config, p.service, to
    ):
        return list(cls.names)
    out = p.hinted_by_class.get(cls.index, [])
    if local_path:
        out = out + p.hosting_by_class.get(cls.index, [])
    elif cls.config.mode == "ipvs" and p.terminating:
        out = out + p.sole_host(cls)
    return out


def _node_answer(
    p: _Port,
    agg: SourceAggregate,
    cls: NodeClass,
    node: str,
    weight: float,
    local_path: bool,
    to: str,
    *,
    pod_source: bool,
) -> None:
    cat = p.node_cat(node, cls)
    local = p.local_set(node, cls.config) if local_path else None
    answer = p.decide(cls, cat, local, pod_source=pod_source, to=to)
    if answer.action != FORWARD:
        _add_loss(agg, answer, 1, weight)
        return
    spread = p.spread(answer, cls, cat, node, to)
    # A node whose scheduler refuses everything answers like REJECT (simulate's action).
    agg.actions[FORWARD if spread.refused < 1.0 - 1e-12 else REJECT] += 1
    agg.ipvs_fallback += answer.fallback
    delivered = _add_refused(agg, spread, 1, weight)
    zone = cls.zone
    for i, share in zip(p.indices(answer.endpoints), spread.shares):
        if not share:
            continue  # dh/lblc pin one backend: most shares are zero
        mass = delivered * share
        agg.shares[i] += mass
        if answer.fallback and _lost(agg, answer, p.ep_node[i], node):
            agg.replies_lost += mass
        agg.locality[_LOC_INDEX[locality(node, zone, p.ep_node[i], p.ep_zone[i])]] += mass
    if answer.preserved:
        agg.preserved += delivered


def _add_refused(agg: SourceAggregate, spread: Spread, count: int, weight: float) -> float:
    """Count the part the scheduler refuses (IPVS weight-0 server, userspace close); the
    rest of ``count`` nodes' ``weight`` is delivered and returned (per node)."""
    if spread.refused > 0:
        lost = weight * spread.refused
        agg.dropped += lost * count
        agg.refused += lost * count
        agg.drop_reasons[spread.code or ""] = agg.drop_reasons.get(spread.code or "", 0) + count
    return weight * (1.0 - spread.refused)


def _add_bulk(
    p: _Port,
    agg: SourceAggregate,
    entries: list[_Bulk],
    weight: float,
    *,
    member: Callable[[str], bool] | None,
) -> None:
    """Add groups of interchangeable nodes (see ``_Bulk``). Classes whose answers share one
    candidate tuple and one spread are summed together, so each endpoint is visited once
    per distinct answer, not per class. An endpoint is same-node for exactly one node of a
    group when its node is in the group (in the class, not handled one by one, and
    ``member`` of the weighted set)."""
    merged: dict[tuple[object, ...], list[_Bulk]] = {}
    for entry in entries:
        cls, answer, count, _, spread = entry
        if answer.action != FORWARD or spread is None:
            _add_loss(agg, answer, count, weight)
            continue
        agg.actions[FORWARD if spread.refused < 1.0 - 1e-12 else REJECT] += count
        agg.ipvs_fallback += count if answer.fallback else 0
        delivered = _add_refused(agg, spread, count, weight)
        if answer.preserved:
            agg.preserved += delivered * count
        merged.setdefault((id(answer.endpoints), id(spread)), []).append(entry)
    loc, same_node = agg.locality, _LOC_INDEX[SAME_NODE]
    agg_shares, ep_zone, ep_class, ep_node = agg.shares, p.ep_zone, p.ep_class, p.ep_node
    for group in merged.values():
        cands, spread = group[0][1].endpoints, group[0][4]
        assert spread is not None
        unit = weight * (1.0 - spread.refused)
        total = unit * sum(entry[2] for entry in group)
        zone_mass: dict[str, float] = {}
        indices = p.indices(cands)
        for i, share in zip(indices, spread.shares):
            if not share:
                continue
            agg_shares[i] += total * share
            # The group's nodes have no endpoint of their own: every endpoint is remote.
            if group[0][1].fallback and _lost(agg, group[0][1], ep_node[i], None):
                agg.replies_lost += total * share
            zone = ep_zone[i]
            zone_mass[zone] = zone_mass.get(zone, 0.0) + share
        by_class = {}
        for cls, _, count, excluded, _ in group:
            by_class[cls.index] = (cls, excluded)
            for zone, mass in zone_mass.items():
                loc[_LOC_INDEX[locality("", cls.zone, None, zone)]] += unit * count * mass
        for i, share in zip(indices, spread.shares):
            hit = by_class.get(ep_class[i]) if share else None
            if hit is None:
                continue
            node = ep_node[i]
            assert node is not None  # a known class (hit) means a known node
            if node in hit[1] or (member is not None and not member(node)):
                continue
            # One node of the group is this endpoint's own: same node there, not same/cross zone.
            loc[_LOC_INDEX[locality("", hit[0].zone, None, ep_zone[i])]] -= unit * share
            loc[same_node] += unit * share


def _lost(
    agg: SourceAggregate, answer: Verdict, endpoint_node: str | None, node: str | None
) -> bool:
    """``decide.replies_lost`` for ``agg``'s source class (``node`` None: a node other
    than ``endpoint_node``)."""
    return replies_lost(
        answer.fallback,
        answer.preserved,
        endpoint_node,
        node=node if node is not None else f"\0not {endpoint_node}",
        to=agg.to,
        pod_source=agg.source in (POD, POD_EXTERNAL),
    )


def _add_loss(agg: SourceAggregate, answer: Verdict, count: int, weight: float) -> None:
    agg.actions[answer.action] += count
    agg.dropped += weight * count
    if answer.action == REJECT:
        agg.refused += weight * count
    code = answer.code.value if answer.code is not None else ""
    agg.drop_reasons[code] = agg.drop_reasons.get(code, 0) + count


def _lb(p: _Port) -> SourceAggregate:
    """Clients behind the cloud load balancer, spread over the nodes it deems healthy
    (``lb.lb_nodes``)."""
    idx, service, port = p.ctx.index, p.service, p.port
    agg = SourceAggregate(LB, "loadbalancer", shares=[0.0] * len(p.eps))
    local_lb = external_policy_local(service, port) and service.type == "LoadBalancer"
    if local_lb:
        # healthCheckNodePort answers 200 on backends whose kube-proxy is alive and that
        # have a Ready local endpoint of the Service (any slice port).
        counts = local_ready_ips(p.ctx.snapshot, service)
        passing = [n for n in counts if idx.backend.get(n) and idx.alive[n]]
        if passing:
            agg.nodes = len(passing)
            for node in passing:
                cls = idx.classes[idx.class_of[node]]
                local_path = uses_local_set(
                    cls.config, service, port, to="loadbalancer", pod_source=False
                )
                _node_answer(
                    p,
                    agg,
                    cls,
                    node,
                    1.0 / len(passing),
                    local_path,
                    "loadbalancer",
                    pod_source=False,
                )
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

    bulk: list[_Bulk] = []
    for cls in idx.classes:
        count = cls.backends if fail_open else cls.healthy
        if not count:
            continue
        local_path = uses_local_set(cls.config, service, port, to="loadbalancer", pod_source=False)
        special = [n for n in _special_nodes(p, cls, local_path, "loadbalancer") if member(n)]
        for node in special:
            _node_answer(p, agg, cls, node, weight, local_path, "loadbalancer", pod_source=False)
        if count > len(special):
            answer = p.group_answer(cls, pod_source=False, to="loadbalancer")
            bulk += _class_bulk(
                p, cls, answer, count - len(special), special, "loadbalancer", member
            )
    _add_bulk(p, agg, bulk, weight, member=member)
    return agg


def single_config(index: NodeIndex) -> ProxyConfig | None:
    """The one iptables/nftables configuration every node runs, else None."""
    configs = {cls.config_id: cls.config for cls in index.classes}
    if len(configs) != 1:
        return None
    (config,) = configs.values()
    return config if config.mode in ("iptables", "nftables") else None


def simple_port(
    snapshot: Snapshot,
    index: NodeIndex,
    config: ProxyConfig | None,
    service: Service,
    port: ServicePort,
) -> PortAnalysis | None:
    """The common case in closed form, or None when it does not apply.

    A ClusterIP-only port (pods are its only source) whose pods get the Cluster set, with
    no hints, on a cluster where every node runs one iptables/nftables configuration:
    every node then gets the same verdict over the same Cluster set, uniform over its
    endpoints, so the pod source class is one categorisation, one ``decide`` and
    arithmetic: each endpoint gets 1/k of everything, and the locality split follows from
    the node count per zone. ``analyze`` uses this when it applies and ``analyze_port``
    otherwise; the property tests hold both equal (and equal to ``simulate`` from every node).
    """
    if (
        config is None
        or not index.total
        or service.type != "ClusterIP"
        or externally_accessible(service, port)
        or uses_local_set(config, service, port, to="clusterip", pod_source=True)
    ):
        return None
    eps = snapshot.endpoints(service.key, port.name)
    if any(ep.ready and (ep.zone_hints or ep.node_hints) for ep in eps):
        return None
    first = index.classes[0]
    cat = categorize_endpoints(
        eps,
        service=service,
        port=port,
        node_name=first.names[0],
        zone=first.zone,
        gates=config.gates,
        version=config.version,
    )
    answer = decide(
        config,
        service,
        port,
        to="clusterip",
        pod_source=True,
        cluster=cat.cluster,
        local=cat.local,
        has_any=cat.has_any_endpoints,
        endpoints=eps,
    )
    agg = SourceAggregate(POD, "clusterip", nodes=index.total, shares=[0.0] * len(eps))
    reasons = {str(r.code): (r.message, [f"zone {first.zone or '(none)'}"]) for r in cat.reasons}
    class_of = index.class_of
    hosting = {ep.node for ep in eps if ep.node in class_of}
    if answer.action != FORWARD:
        # The same loss on every node (with Cluster policy: nothing usable anywhere, refused).
        agg.actions[answer.action] = index.total
        agg.dropped = 1.0
        agg.refused = 1.0 if answer.action == REJECT else 0.0
        agg.drop_reasons[answer.code.value if answer.code is not None else ""] = index.total
        return PortAnalysis(service, port, eps, (agg,), len(hosting), reasons, {"": index.total})
    agg.actions[FORWARD] = index.total
    agg.preserved = 1.0 if answer.preserved else 0.0
    cands = answer.endpoints
    share = 1.0 / len(cands)
    positions = range(len(eps)) if len(cands) == len(eps) else _positions(eps, cands)
    # Typed for the lookup below: an endpoint without a node (None) simply misses.
    zone_of = cast("dict[str | None, str]", index.zone_of)
    classes, loc = index.classes, agg.locality
    zone_mass: dict[str, float] = {}
    same_node = _LOC_INDEX[SAME_NODE]
    per_node = share / index.total
    for i in positions:
        ep = eps[i]
        agg.shares[i] = share
        zone = ep.zone or zone_of.get(ep.node, "")
        zone_mass[zone] = zone_mass.get(zone, 0.0) + share
        if ep.node in class_of:
            # One node (the endpoint's own) sees it as same-node instead of its zone relation.
            loc[_LOC_INDEX[locality("", classes[class_of[ep.node]].zone, None, zone)]] -= per_node
            loc[same_node] += per_node
    for cls in classes:
        weight = len(cls.names) / index.total
        for zone, mass in zone_mass.items():
            loc[_LOC_INDEX[locality("", cls.zone, None, zone)]] += weight * mass
    return PortAnalysis(service, port, eps, (agg,), len(hosting), reasons, {"": index.total})


def _positions(eps: tuple[Endpoint, ...], cands: tuple[Endpoint, ...]) -> list[int]:
    where = {id(ep): i for i, ep in enumerate(eps)}
    return [where[id(ep)] for ep in cands]
