"""The one preview: a what-if's before | after for the API, the pages, the CLI and apply.

Every door asks through here, so the same what-if gives the same numbers everywhere:

- ``ask`` answers one question under a what-if (``POST /api/v1/simulate``, ``manage.py
  simulate --set``);
- ``preview`` answers every way into the Services a what-if touches, before and after
  (``POST /api/v1/scenarios/{id}/preview``, the what-if page and its apply dialog).

**Node grouping** (one rule for all): every node is a source — after the what-if, except
a node it takes down (``scenario.sends_traffic``: its pods and NodePorts send nothing).
In a cluster of up to ``EACH_NODE_MAX`` nodes each node is asked on its own; beyond,
nodes that must see the same answer — same zone and kube-proxy configuration, hosting no
endpoint of the Service and named in none of its node hints, before or after the what-if,
and not taken down or drained by it — are asked once as a group. Each answer counts for
as many nodes as its group holds: an entry's figures (dropped, endpoint shares, latency,
cost) are averages weighted by node count, so a 5,000-node cluster costs a few dozen
questions and still reports what every node sees. Nodes hosting endpoints are asked alone,
unless more than ``EACH_NODE_MAX`` do and they answer alike (``whatif_groups``: bundles).
``tests`` check grouped == every node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routing.engine.costmodel import DEFAULT_COST_MODEL, CostModel
from routing.engine.errors import UNKNOWN, QuestionError
from routing.engine.scenario import AnswerDiff, Scenario, apply_scenario, sends_traffic
from routing.engine.simulate import Question, simulate
from routing.engine.snapshot import Snapshot
from routing.engine.types import Service
from routing.engine.unproxied import not_proxied
from routing.whatif.value import WhatIf

if TYPE_CHECKING:
    from routing.engine.analysis.nodes import NodeIndex

#: Up to this many nodes every node is its own source; beyond, equivalent nodes are grouped.
EACH_NODE_MAX = 24


def ask(
    snapshot: Snapshot,
    whatif: WhatIf | None,
    *,
    service: str,
    source: str,
    to: str | None = None,
    port: str | int | None = None,
    seed: int = 0,
    family: str | None = None,
    client_ip: str | None = None,
    via_node: str | None = None,
    model: CostModel = DEFAULT_COST_MODEL,
) -> dict[str, Any]:
    """The simulate answer (DESIGN.md JSON) to one question on ``snapshot`` after ``whatif``,
    priced under ``model``.

    Raises the engine's ``ScenarioError`` / ``QuestionError`` (``routing.whatif.errors``
    names the request field)."""
    after = apply_scenario(snapshot, whatif.scenario()) if whatif is not None else snapshot
    question = Question(
        service=service,
        source=source,
        to=to,
        port=port,
        seed=seed,
        family=family,
        client_ip=client_ip,
        via_node=via_node,
    )
    return simulate(after, question, model=model).to_json()


@dataclass(frozen=True)
class SourceGroup:
    """One or more nodes asked as one source."""

    label: str
    nodes: tuple[str, ...]
    #: the members' zone ("" when unlabeled, or for the cloud LB).
    zone: str = ""
    #: a label short enough for the flow diagram ("" means ``label``).
    short: str = ""

    @property
    def weight(self) -> int:
        """How many nodes this source stands for."""
        return len(self.nodes)


@dataclass
class PathAnswer:
    """The answer for one source group: ``answer`` is ``Answer.to_json()``."""

    group: SourceGroup
    source: str
    answer: dict[str, Any]


@dataclass
class Entry:
    """One way into a Service port (pods → ClusterIP, external → NodePort, the cloud LB)."""

    key: str
    title: str
    to: str
    paths: list[PathAnswer] = field(default_factory=list)
    port: str = ""

    @property
    def dropped(self) -> float:
        """The node-weighted share of new connections dropped or rejected over all sources."""
        total = sum(p.group.weight for p in self.paths) or 1
        return float(sum(p.answer["dropped"] * p.group.weight for p in self.paths)) / total

    @property
    def effective_dropped(self) -> float:
        """The node-weighted share that does not work: dropped, refused, or forwarded with
        the replies lost (the answers' ``effective_dropped``)."""
        total = sum(p.group.weight for p in self.paths) or 1
        return (
            float(
                sum(
                    p.answer.get("effective_dropped", p.answer["dropped"]) * p.group.weight
                    for p in self.paths
                )
            )
            / total
        )

    @property
    def latency_ms(self) -> float | None:
        """Expected latency of a forwarded connection, weighted by forwarded traffic."""
        pairs = [
            (
                (p.answer.get("latency_ms") or {}).get("expected"),
                p.group.weight * (1 - p.answer["dropped"]),
            )
            for p in self.paths
        ]
        pairs = [(ms, w) for ms, w in pairs if ms is not None and w > 0]
        total = sum(w for _, w in pairs)
        return sum(ms * w for ms, w in pairs) / total if total else None

    @property
    def cost_usd_per_month(self) -> float:
        """Cross-zone cost of the entry: the Service's rate is spread evenly over the source
        nodes (``costmodel``), so the node-weighted mean of the answers' costs — the
        analysis' figure for this way in."""
        total = sum(p.group.weight for p in self.paths) or 1
        return float(
            sum(
                (p.answer.get("cost") or {}).get("usd_per_month", 0.0) * p.group.weight
                for p in self.paths
            )
            / total
        )

    @property
    def nodes_reaching(self) -> int:
        """Source nodes from which at least part of the traffic reaches an endpoint."""
        return sum(p.group.weight for p in self.paths if p.answer["dropped"] < 1.0)

    @property
    def nodes_total(self) -> int:
        """Source nodes counted in this entry."""
        return sum(p.group.weight for p in self.paths)

    @property
    def client_ip_lost(self) -> int:
        """Source nodes whose forwarded connections are SNATed (client IP lost)."""
        return sum(
            p.group.weight
            for p in self.paths
            if p.answer["action"] == "forward" and not p.answer["client_ip_preserved"]
        )

    @property
    def endpoint_shares(self) -> dict[str, float]:
        """endpoint IP -> node-weighted share of all new connections of this entry."""
        total = sum(p.group.weight for p in self.paths) or 1
        out: dict[str, float] = {}
        for path in self.paths:
            for ep in path.answer["endpoints"]:
                out[ep["ip"]] = out.get(ep["ip"], 0.0) + ep["share"] * path.group.weight / total
        return out


def special_nodes(snapshot: Snapshot, key: str) -> set[str]:
    """Nodes whose answer for Service ``key`` may differ from their zone's: the nodes
    hosting its endpoints and the nodes named in its node hints."""
    special: set[str] = set()
    for eps in snapshot.endpoint_index.get(key, {}).values():
        for ep in eps:
            if ep.node:
                special.add(ep.node)
            special.update(ep.node_hints)
    return special


def source_groups(
    snapshot: Snapshot,
    key: str,
    *,
    special: set[str] | None = None,
    nodes: NodeIndex | None = None,
    bundles: Sequence[SourceGroup] = (),
) -> list[SourceGroup]:
    """The nodes to ask about Service ``key``: each node in a small cluster, else groups.

    ``special`` adds nodes to ask one by one (a what-if compares two snapshots on the same
    groups, so it passes the special nodes of both). ``nodes``: ``node_index(snapshot)``,
    when the caller asks about many Services of one snapshot. ``bundles``: groups of
    special nodes that answer alike (``whatif_groups``: nodes hosting endpoints alike),
    asked once each instead of node by node.
    """
    names = list(snapshot.nodes)
    if len(names) <= EACH_NODE_MAX:
        return [SourceGroup(name, (name,), snapshot.zone_of(name)) for name in names]
    bundled = {name for group in bundles for name in group.nodes}
    special = special_nodes(snapshot, key) | (special or set()) | bundled
    groups = [
        SourceGroup(name, (name,), snapshot.zone_of(name))
        for name in names
        if name in special and name not in bundled
    ]
    groups += bundles
    # Imported here: the analysis package loads numpy, which ``ask`` (one simulate
    # question, ``routescope simulate``'s hot path) never needs.
    from routing.engine.analysis.nodes import node_index

    for cls in (nodes or node_index(snapshot)).classes:
        rest = tuple(n for n in cls.names if n not in special)
        if rest:
            label = (
                f"{len(rest)} other node{'s' if len(rest) != 1 else ''} "
                f"in {cls.zone or 'no zone'} ({cls.config.mode})"
            )
            groups.append(
                SourceGroup(label, rest, cls.zone, f"{cls.zone or 'no zone'} ×{len(rest)}")
            )
    return groups


def whatif_groups(
    before: Snapshot,
    after: Snapshot,
    key: str,
    touched: Iterable[str] = (),
    *,
    nodes: NodeIndex | None = None,
    kind: str | None = None,
) -> list[SourceGroup]:
    """Groups valid on both sides of a what-if: nodes special before or after, and the
    ``touched`` nodes (taken down or drained), are asked one by one. ``nodes``:
    ``node_index(before)``, as for ``source_groups``.

    Beyond ``EACH_NODE_MAX`` nodes hosting endpoints (a DaemonSet's Service), hosting
    nodes that answer alike are asked once per bundle rather than one by one (which made
    such a Service cost nodes × endpoints): where the traffic policy of the source
    ``kind`` ("pod": internalTrafficPolicy, "external": externalTrafficPolicy, None: both)
    is Cluster on both sides and the Service has no topology (no traffic distribution,
    hints or topology annotation), kube-proxy on any node picks among every endpoint of
    the cluster; a node's own endpoints then count only through its locality (same node,
    same zone), which the bundle key holds: the node's zone and kube-proxy configuration
    (iptables or nftables: IPVS may weigh endpoints per node) on both sides, and its local
    endpoints' port, conditions and zone before and after (a Service with any hint is
    never bundled). ``touched`` nodes stay alone. ``tests``: bundled answers equal asking
    every node.
    """
    touched = set(touched)
    special = special_nodes(before, key) | special_nodes(after, key) | touched
    bundles: list[SourceGroup] = []
    if len(before.nodes) > EACH_NODE_MAX:
        hosts = (_local_endpoints(before, key), _local_endpoints(after, key))
        hosting = (hosts[0].keys() | hosts[1].keys()) - touched
        if len(hosting) > EACH_NODE_MAX and all(
            _hosts_alike(snapshot, key, kind) for snapshot in (before, after)
        ):
            bundles = _bundles(before, after, hosting, hosts)
    return source_groups(before, key, special=special, nodes=nodes, bundles=bundles)


#: Proxy modes where a node's choice among every endpoint does not depend on the node.
_BUNDLED_MODES = ("iptables", "nftables")


def _local_endpoints(snapshot: Snapshot, key: str) -> dict[str, tuple[Any, ...]]:
    """node -> its endpoints of Service ``key`` as a node's answer sees them (port,
    conditions, zone, hints), sorted; not which ones they are."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for port, eps in snapshot.endpoint_index.get(key, {}).items():
        for ep in eps:
            if ep.node:
                out.setdefault(ep.node, []).append(
                    (
                        port,
                        ep.ready,
                        ep.serving,
                        ep.terminating,
                        ep.zone or "",
                        tuple(sorted(ep.zone_hints)),
                        tuple(sorted(ep.node_hints)),
                    )
                )
    return {node: tuple(sorted(found)) for node, found in out.items()}


def _hosts_alike(snapshot: Snapshot, key: str, kind: str | None) -> bool:
    """Does kube-proxy pick among every endpoint of ``key`` from any node, for ``kind``?"""
    service = snapshot.services.get(key)
    if service is None:
        return False
    policies = {
        "pod": (service.internal_traffic_policy,),
        "external": (service.external_traffic_policy,),
    }.get(kind or "", (service.internal_traffic_policy, service.external_traffic_policy))
    return (
        all(policy == "Cluster" for policy in policies)
        and service.traffic_distribution is None
        and not service.topology_annotation
        and not service.hints_annotation
        and not any(
            ep.zone_hints or ep.node_hints
            for eps in snapshot.endpoint_index.get(key, {}).values()
            for ep in eps
        )
    )


def _bundles(
    before: Snapshot,
    after: Snapshot,
    hosting: set[str],
    hosts: tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]],
) -> list[SourceGroup]:
    """The hosting nodes bundled by what their answers depend on (in snapshot order)."""
    found: dict[tuple[Any, ...], list[str]] = {}
    for name in before.nodes:
        if name not in hosting or name not in after.nodes:
            continue
        configs = (before.proxy_for(name), after.proxy_for(name))
        if any(config.mode not in _BUNDLED_MODES for config in configs):
            continue
        zones = (before.zone_of(name), after.zone_of(name))
        found.setdefault(
            (configs, zones, hosts[0].get(name, ()), hosts[1].get(name, ())), []
        ).append(name)
    out = []
    labels: set[str] = set()
    for (configs, zones, local, _), names in found.items():
        if len(names) < 2:
            continue  # asked alone, as before
        zone, count = zones[0], len(local)
        label = (
            f"{len(names)} nodes hosting {count} endpoint{'s' if count != 1 else ''} "
            f"in {zone or 'no zone'} ({configs[0].mode})"
        )
        while label in labels:
            label += "'"
        labels.add(label)
        out.append(SourceGroup(label, tuple(names), zone, f"{zone or 'no zone'} ×{len(names)}"))
    return out


def _ask_groups(
    snapshot: Snapshot,
    service: Service,
    groups: Sequence[SourceGroup],
    kind: str,
    to: str,
    port: str,
    model: CostModel,
) -> list[PathAnswer]:
    paths = []
    for group in groups:
        source = f"{kind}:{group.nodes[0]}"
        answer = simulate(
            snapshot, Question(service=service.key, source=source, to=to, port=port), model=model
        ).to_json()
        paths.append(PathAnswer(group, source, answer))
    return paths


def routed_service(snapshot: Snapshot, key: str) -> Service:
    """Service ``key`` if kube-proxy routes it; ``QuestionError`` on ``service`` if not
    (headless, ExternalName, another proxy's: the reason says what DNS returns instead)."""
    service = snapshot.services.get(key)
    if service is None:
        raise QuestionError(f"unknown service {key!r}", field="service", code=UNKNOWN)
    unhandled = not_proxied(snapshot, service)
    if unhandled is not None:
        raise QuestionError(unhandled.reason.message, field="service", code="not_applicable")
    return service


def service_entries(
    snapshot: Snapshot,
    key: str,
    *,
    port: str | None = None,
    groups: list[SourceGroup] | None = None,
    model: CostModel = DEFAULT_COST_MODEL,
    external_groups: list[SourceGroup] | None = None,
) -> list[Entry]:
    """Every way into Service ``key`` (``port``, else its first) on ``snapshot``.
    ``groups`` ask the pod sources, and the external ones unless ``external_groups``.

    Raises ``QuestionError`` for an unknown service or port, or one kube-proxy ignores.
    """
    service = routed_service(snapshot, key)
    chosen = service.port(port) if port else service.ports[0] if service.ports else None
    if chosen is None:
        raise QuestionError(f"service {key} has no port {port!r}", field="port", code=UNKNOWN)
    port_name = chosen.name or str(chosen.port)
    groups = source_groups(snapshot, key) if groups is None else groups
    entries = [
        Entry(
            "pod",
            "Pods → ClusterIP",
            "clusterip",
            _ask_groups(snapshot, service, groups, "pod", "clusterip", port_name, model),
            port_name,
        )
    ]
    if chosen.node_port:
        entries.append(
            Entry(
                "nodeport",
                "External clients → NodePort",
                "nodeport",
                _ask_groups(
                    snapshot,
                    service,
                    groups if external_groups is None else external_groups,
                    "external",
                    "nodeport",
                    port_name,
                    model,
                ),
                port_name,
            )
        )
    if service.type == "LoadBalancer":
        answer = simulate(
            snapshot, Question(service=key, source="lb", port=port_name), model=model
        ).to_json()
        entries.append(
            Entry(
                "lb",
                "Cloud load balancer",
                "loadbalancer",
                [PathAnswer(SourceGroup("cloud LB", ("lb",)), "lb", answer)],
                port_name,
            )
        )
    return entries


#: Source kind -> (entry key, title, destination) for explicitly named sources.
_ENTRY_OF = {
    "pod": ("pod", "Pods → ClusterIP", "clusterip"),
    "external": ("nodeport", "External clients → NodePort", "nodeport"),
    "lb": ("lb", "Cloud load balancer", "loadbalancer"),
}


def source_entries(
    snapshot: Snapshot,
    key: str,
    port: str,
    sources: Sequence[str],
    model: CostModel = DEFAULT_COST_MODEL,
) -> list[Entry]:
    """Entries for explicitly named sources (each one node, or the LB); a source with no
    way into this port (e.g. external:NODE without a nodePort) is left out."""
    entries: dict[str, Entry] = {}
    for source in sources:
        kind, _, node = source.partition(":")
        if kind not in _ENTRY_OF:
            raise QuestionError(f"{source!r} is not pod:NODE, external:NODE or lb", field="sources")
        entry_key, title, to = _ENTRY_OF[kind]
        try:
            answer = simulate(
                snapshot, Question(service=key, source=source, to=to, port=port), model=model
            ).to_json()
        except QuestionError as error:
            if error.field == "source" and error.code == UNKNOWN:
                raise QuestionError(error.message, field="sources", code=UNKNOWN) from None
            continue
        group = SourceGroup(
            node or "cloud LB", (node or "lb",), snapshot.zone_of(node) if node else ""
        )
        entries.setdefault(entry_key, Entry(entry_key, title, to, [], port)).paths.append(
            PathAnswer(group, source, answer)
        )
    return list(entries.values())


def service_cost(entries: Iterable[Entry]) -> float:
    """The cross-zone bill (USD/month) of the ports ``entries`` cover: per port, pod calls
    plus outside clients (the load balancer, else the NodePort) — the analysis' rule
    (``ServiceRow.cost_usd_per_month``), so pages and findings show one number."""
    by_port: dict[str, dict[str, Entry]] = {}
    for entry in entries:
        by_port.setdefault(entry.port, {})[entry.key] = entry
    return sum(
        way.cost_usd_per_month
        for ways in by_port.values()
        for way in (ways.get("pod"), ways.get("lb") or ways.get("nodeport"))
        if way is not None
    )


@dataclass
class EntryDiff:
    """One entry before and after, with the engine's diff of every source's answers."""

    before: Entry
    after: Entry
    diffs: list[tuple[str, dict[str, Any]]]

    @property
    def newly_dropped(self) -> float:
        """Node-weighted share of the entry's connections failing after but not before
        (dropped, refused or replies lost: ``effective_dropped``)."""
        return max(self.after.effective_dropped - self.before.effective_dropped, 0.0)

    @property
    def stops_dropping(self) -> float:
        """Node-weighted share failing before and working after: a share kube-proxy now
        forwards but whose replies are lost does not count (``effective_dropped``)."""
        return max(self.before.effective_dropped - self.after.effective_dropped, 0.0)

    @property
    def moved(self) -> list[tuple[str, float, float]]:
        """(endpoint IP, share before, share after) where the entry's share changed."""
        old, new = self.before.endpoint_shares, self.after.endpoint_shares
        return [
            (ip, old.get(ip, 0.0), new.get(ip, 0.0))
            for ip in sorted(old.keys() | new.keys())
            if abs(old.get(ip, 0.0) - new.get(ip, 0.0)) > 1e-6
        ]

    @property
    def changed(self) -> bool:
        """Anything moved, or an action or client-IP outcome changed."""
        return bool(self.moved) or any(
            d["action"]["before"] != d["action"]["after"]
            or d["client_ip_preserved"]["before"] != d["client_ip_preserved"]["after"]
            for _, d in self.diffs
        )

    def to_json(self) -> dict[str, Any]:
        """The entry's node-weighted figures before and after (what the page shows)."""
        return {
            "entry": self.before.key,
            "port": self.before.port,
            "to": self.before.to,
            "nodes": self.before.nodes_total,
            "dropped": {
                "before": round(self.before.dropped, 6),
                "after": round(self.after.dropped, 6),
            },
            "effective_dropped": {
                "before": round(self.before.effective_dropped, 6),
                "after": round(self.after.effective_dropped, 6),
            },
            "newly_dropped": round(self.newly_dropped, 6),
            "stops_dropping": round(self.stops_dropping, 6),
            "moved": [
                {"ip": ip, "before": round(b, 6), "after": round(a, 6), "change": round(a - b, 6)}
                for ip, b, a in self.moved
            ],
            "changed": self.changed,
        }


def compare(before: list[Entry], after: list[Entry]) -> list[EntryDiff]:
    """Pair the entries of two snapshots and diff each source's answers with the engine."""
    after_by_key = {e.key: e for e in after}
    out = []
    for entry in before:
        other = after_by_key.get(entry.key)
        if other is None:
            continue
        other_paths = {p.group.label: p for p in other.paths}
        diffs = [
            (p.group.label, AnswerDiff(p.answer, other_paths[p.group.label].answer).to_json())
            for p in entry.paths
            if p.group.label in other_paths
        ]
        out.append(EntryDiff(entry, other, diffs))
    return out


@dataclass
class ServicePreview:
    """One Service before and after: its entries per port (``error`` when not routed)."""

    service: str
    type: str
    compared: list[EntryDiff] = field(default_factory=list)
    error: str | None = None


@dataclass
class Preview:
    """A what-if's before | after over the Services it touches."""

    whatif: WhatIf
    before: Snapshot
    after: Snapshot
    services: list[ServicePreview]

    def questions(self, row: ServicePreview) -> list[dict[str, Any]]:
        """Every source group's question of ``row``: before, after and the engine's diff."""
        out = []
        for diff in row.compared:
            after = {p.group.label: p for p in diff.after.paths}
            for path in diff.before.paths:
                new = after.get(path.group.label)
                if new is None:
                    continue
                out.append(
                    {
                        "source": path.source,
                        "port": diff.before.port,
                        "to": path.answer["to"],
                        "nodes": [n for n in path.group.nodes if n != "lb"],
                        "weight": path.group.weight,
                        "before": brief(path.answer),
                        "after": brief(new.answer),
                        "diff": AnswerDiff(path.answer, new.answer).to_json(),
                    }
                )
        return out

    def to_json(self) -> dict[str, Any]:
        """The API's preview body (without the cluster's name and revision)."""
        rows: list[dict[str, Any]] = [
            {
                "service": row.service,
                "type": row.type,
                "questions": self.questions(row),
                "entries": [d.to_json() for d in row.compared],
                "error": row.error,
            }
            for row in self.services
        ]
        questions = [q for row in rows for q in row["questions"]]
        entries = [e for row in rows for e in row["entries"]]
        return {
            "changes": self.whatif.changes(),
            "services": rows,
            "summary": {
                "services": len(rows),
                "questions": len(questions),
                "questions_newly_dropping": sum(
                    1 for q in questions if q["diff"]["newly_dropped"] > 0
                ),
                "worst_newly_dropped": max(
                    (q["diff"]["newly_dropped"] for q in questions), default=0.0
                ),
                "questions_stop_dropping": sum(
                    1 for q in questions if q["diff"]["stops_dropping"] > 0
                ),
                "changed": sum(1 for q in questions if _changed(q["diff"])),
                "entries_newly_dropping": sum(1 for e in entries if e["newly_dropped"] > 0),
                "worst_entry_newly_dropped": max(
                    (e["newly_dropped"] for e in entries), default=0.0
                ),
            },
        }


def preview(
    before: Snapshot,
    whatif: WhatIf,
    *,
    services: Sequence[str],
    ports: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    model: CostModel = DEFAULT_COST_MODEL,
) -> Preview:
    """Before | after of ``whatif`` for ``services`` (each port, or only ``ports``), from
    every node grouped by the module's rule, or from the named ``sources`` only.

    Raises the engine's ``ScenarioError`` for a what-if that cannot apply."""
    after = apply_scenario(before, whatif.scenario())
    rows = []
    for key in services:
        try:
            service = routed_service(before, key)
        except QuestionError as error:
            found = before.services.get(key)
            rows.append(ServicePreview(key, found.type if found else "", error=error.message))
            continue
        names = [p.name or str(p.port) for p in service.ports]
        compared: list[EntryDiff] = []
        scenario = whatif.scenario()
        for port in names if ports is None else [p for p in names if p in ports]:
            if sources:
                compared += compare(
                    source_entries(before, key, port, sources, model),
                    source_entries(after, key, port, _senders(scenario, sources), model),
                )
            else:
                groups = whatif_groups(before, after, key, whatif.touched_nodes, kind="pod")
                external = whatif_groups(before, after, key, whatif.touched_nodes, kind="external")
                compared += compare(
                    service_entries(
                        before,
                        key,
                        port=port,
                        groups=groups,
                        external_groups=external,
                        model=model,
                    ),
                    service_entries(
                        after,
                        key,
                        port=port,
                        groups=_sending_groups(scenario, groups),
                        external_groups=_sending_groups(scenario, external),
                        model=model,
                    ),
                )
        rows.append(ServicePreview(key, service.type, compared))
    return Preview(whatif, before, after, rows)


def _sending_groups(scenario: Scenario, groups: list[SourceGroup]) -> list[SourceGroup]:
    """The groups still sending after ``scenario``: a downed node is no source (its
    group is its own, ``whatif_groups`` asks touched nodes one by one)."""
    return [g for g in groups if all(sends_traffic(scenario, n) for n in g.nodes)]


def _senders(scenario: Scenario, sources: Sequence[str]) -> list[str]:
    """The named sources still sending after ``scenario`` (``lb`` always does)."""
    return [s for s in sources if sends_traffic(scenario, s.partition(":")[2])]


def brief(answer: dict[str, Any]) -> dict[str, Any]:
    """The part of an answer a preview shows beside the diff."""
    return {
        key: answer[key]
        for key in (
            "action",
            "outcome",
            "dropped",
            "effective_dropped",
            "drop_reason",
            "client_ip_preserved",
            "endpoints",
            "explain",
            "proxy_mode",
        )
    }


def _changed(diff: dict[str, Any]) -> bool:
    return bool(
        diff["moved"]
        or diff["newly_dropped"]
        or diff["stops_dropping"]
        or diff["action"]["before"] != diff["action"]["after"]
        or diff["client_ip_preserved"]["before"] != diff["client_ip_preserved"]["after"]
    )
