"""The pages' door to the engine: which questions a page asks, and the answers as data.

Pages never decide routing. This module only picks the questions (every source of
traffic for a Service, grouped so a 5,000-node cluster asks a few dozen of them), sends
them to ``routing.engine.simulate`` on the snapshot from ``routing.snapshots`` (with the
what-if from ``routing.engine.scenario`` applied), and hands the JSON answers to the
templates and to ``dashboard.flow`` for drawing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.models import Cluster
from routing.engine.analysis.nodes import node_index
from routing.engine.scenario import AnswerDiff
from routing.engine.simulate import Question, QuestionError, simulate
from routing.engine.snapshot import Snapshot
from routing.engine.types import Service
from routing.engine.unproxied import not_proxied
from routing.reports import cluster_report
from routing.snapshots import snapshot_for_cluster

#: Up to this many nodes every node is its own source; beyond, nodes that must see the
#: same answer (same zone and kube-proxy configuration, no endpoint or hint of the
#: Service) are asked once as a group.
EACH_NODE_MAX = 24


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
    """One way into the Service (pods → ClusterIP, external → NodePort, the cloud LB)."""

    key: str
    title: str
    to: str
    paths: list[PathAnswer] = field(default_factory=list)

    @property
    def dropped(self) -> float:
        """The weighted share of new connections dropped or rejected over all sources."""
        total = sum(p.group.weight for p in self.paths) or 1
        return sum(p.answer["dropped"] * p.group.weight for p in self.paths) / total

    @property
    def latency_ms(self) -> float | None:
        """Expected latency of a forwarded connection, weighted by forwarded traffic."""
        pairs = [((p.answer.get("latency_ms") or {}).get("expected"), p.group.weight * (1 - p.answer["dropped"]))
                 for p in self.paths]
        pairs = [(ms, w) for ms, w in pairs if ms is not None and w > 0]
        total = sum(w for _, w in pairs)
        return sum(ms * w for ms, w in pairs) / total if total else None

    @property
    def cost_usd_per_month(self) -> float:
        """Cross-zone cost of the entry: every source node sends the cost model's rate."""
        return sum((p.answer.get("cost") or {}).get("usd_per_month", 0.0) * p.group.weight for p in self.paths)

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
        return sum(p.group.weight for p in self.paths
                   if p.answer["action"] == "forward" and not p.answer["client_ip_preserved"])

    @property
    def endpoint_shares(self) -> dict[str, float]:
        """endpoint IP -> weighted share of all new connections of this entry."""
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


def source_groups(snapshot: Snapshot, key: str, *, special: set[str] | None = None) -> list[SourceGroup]:
    """The nodes to ask about Service ``key``: each node in a small cluster, else groups.

    ``special`` adds nodes to ask one by one (a what-if compares two snapshots on the same
    groups, so it passes the special nodes of both).
    """
    names = list(snapshot.nodes)
    if len(names) <= EACH_NODE_MAX:
        return [SourceGroup(name, (name,), snapshot.zone_of(name)) for name in names]
    special = special_nodes(snapshot, key) | (special or set())
    groups = [SourceGroup(name, (name,), snapshot.zone_of(name)) for name in names if name in special]
    for cls in node_index(snapshot).classes:
        rest = tuple(n for n in cls.names if n not in special)
        if rest:
            label = f"{len(rest)} other node{'s' if len(rest) != 1 else ''} in {cls.zone or 'no zone'} ({cls.config.mode})"
            groups.append(SourceGroup(label, rest, cls.zone, f"{cls.zone or 'no zone'} ×{len(rest)}"))
    return groups


def whatif_groups(before: Snapshot, after: Snapshot, key: str, changes: dict[str, Any]) -> list[SourceGroup]:
    """Groups valid on both sides of a what-if: nodes special before or after, and the
    nodes the what-if takes down or drains, are asked one by one."""
    special = special_nodes(before, key) | special_nodes(after, key)
    special |= set(changes.get("nodes_down") or ()) | set(changes.get("nodes_drained") or ())
    return source_groups(before, key, special=special)


def _ask(snapshot: Snapshot, service: Service, groups: list[SourceGroup], kind: str, to: str,
         port: str) -> list[PathAnswer]:
    paths = []
    for group in groups:
        source = f"{kind}:{group.nodes[0]}"
        answer = simulate(snapshot, Question(service=service.key, source=source, to=to, port=port)).to_json()
        paths.append(PathAnswer(group, source, answer))
    return paths


def service_entries(snapshot: Snapshot, key: str, *, port: str | None = None,
                    groups: list[SourceGroup] | None = None) -> list[Entry]:
    """Every way into Service ``key`` on ``snapshot``, each source answered by the engine.

    Raises ``QuestionError`` for an unknown service or port, or one kube-proxy ignores.
    """
    service = snapshot.services.get(key)
    if service is None:
        raise QuestionError(f"unknown service {key!r}")
    unhandled = not_proxied(snapshot, service)
    if unhandled is not None:
        # Headless, ExternalName, another proxy's: the page says what DNS returns instead.
        raise QuestionError(unhandled.reason.message)
    chosen = service.port(port) if port else service.ports[0] if service.ports else None
    if chosen is None:
        raise QuestionError(f"service {key} has no port {port!r}")
    port_name = chosen.name or str(chosen.port)
    groups = groups or source_groups(snapshot, key)
    entries = [Entry("pod", "Pods → ClusterIP", "clusterip", _ask(snapshot, service, groups, "pod", "clusterip", port_name))]
    if chosen.node_port:
        entries.append(Entry("nodeport", "External clients → NodePort", "nodeport",
                             _ask(snapshot, service, groups, "external", "nodeport", port_name)))
    if service.type == "LoadBalancer":
        answer = simulate(snapshot, Question(service=key, source="lb", port=port_name)).to_json()
        entries.append(Entry("lb", "Cloud load balancer", "loadbalancer",
                             [PathAnswer(SourceGroup("cloud LB", ("lb",)), "lb", answer)]))
    return entries


def cluster_snapshot(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` (cached per revision by ``routing.snapshots``)."""
    return snapshot_for_cluster(cluster=cluster)


def workload_of(snapshot: Snapshot, key: str) -> str | None:
    """The controller ("ns/name" of a Deployment or StatefulSet…) behind Service ``key``'s
    pods, the thing a scale what-if resizes; None when its pods have no owner."""
    for eps in snapshot.endpoint_index.get(key, {}).values():
        for ep in eps:
            pod = snapshot.pods.get(ep.pod or "")
            if pod and pod.owner:
                return f"{pod.namespace}/{pod.owner.partition('/')[2]}"
    return None


@dataclass
class EntryDiff:
    """One entry before and after, with the engine's diff of every source's answers."""

    before: Entry
    after: Entry
    diffs: list[tuple[str, dict[str, Any]]]

    @property
    def newly_dropped(self) -> float:
        """Share of the entry's connections dropped after but not before."""
        return max(self.after.dropped - self.before.dropped, 0.0)

    @property
    def stops_dropping(self) -> float:
        """Share dropped before and delivered after."""
        return max(self.before.dropped - self.after.dropped, 0.0)

    @property
    def moved(self) -> list[tuple[str, float, float]]:
        """(endpoint IP, share before, share after) where the entry's share changed."""
        old, new = self.before.endpoint_shares, self.after.endpoint_shares
        return [(ip, old.get(ip, 0.0), new.get(ip, 0.0)) for ip in sorted(old.keys() | new.keys())
                if abs(old.get(ip, 0.0) - new.get(ip, 0.0)) > 1e-6]

    @property
    def changed(self) -> bool:
        """Anything moved, or an action or client-IP outcome changed."""
        return bool(self.moved) or any(
            d["action"]["before"] != d["action"]["after"]
            or d["client_ip_preserved"]["before"] != d["client_ip_preserved"]["after"] for _, d in self.diffs)


def compare(before: list[Entry], after: list[Entry]) -> list[EntryDiff]:
    """Pair the entries of two snapshots and diff each source's answers with the engine."""
    after_by_key = {e.key: e for e in after}
    out = []
    for entry in before:
        other = after_by_key.get(entry.key)
        if other is None:
            continue
        other_paths = {p.group.label: p for p in other.paths}
        diffs = [(p.group.label, AnswerDiff(p.answer, other_paths[p.group.label].answer).to_json())
                 for p in entry.paths if p.group.label in other_paths]
        out.append(EntryDiff(entry, other, diffs))
    return out


def focus_of(snapshot: Snapshot, changes: dict[str, Any]) -> str:
    """The Service a stored scenario is best looked at through: the first it overrides,
    else one backed by the scaled workload, else one with endpoints on a changed node."""
    if changes.get("services"):
        return next(iter(changes["services"]))
    scaled = set(changes.get("scale") or {})
    nodes = set(changes.get("nodes_down") or ()) | set(changes.get("nodes_drained") or ()) | set(
        changes.get("nodes_cordoned") or ())
    for key in sorted(snapshot.services):
        if scaled and workload_of(snapshot, key) in scaled:
            return key
        if nodes and special_nodes(snapshot, key) & nodes:
            return key
    return next(iter(sorted(snapshot.services)), "")


@dataclass
class ServiceFigures:
    """The services table's figures for one Service (its worst port)."""

    dropped: float
    imbalance: float | None
    nodes_covered: int
    nodes_total: int


class PageReport:
    """The cluster-wide analysis (``routing.reports.cluster_report``) indexed for pages."""

    def __init__(self, report: Any) -> None:
        self.report = report
        self.findings = list(report.findings)
        self._summary = report.summary()  # walks every row: once per report, not per request
        self._rows: dict[str, ServiceFigures] = {}
        for row in report.rows:
            figures = ServiceFigures(row.worst_dropped, row.worst_imbalance, row.nodes_covered, row.nodes_total)
            seen = self._rows.get(row.service)
            # A multi-port Service shows its worst port.
            if seen is None or figures.dropped > seen.dropped:
                self._rows[row.service] = figures

    @property
    def summary(self) -> list[tuple[str, str, str]]:
        """(label, value, tone) tiles for the overview."""
        data = self._summary
        findings = data["findings"]
        return [
            ("service ports dropping traffic", f"{data['ports_dropping']:,}", "bad" if data["ports_dropping"] else ""),
            ("critical findings", f"{findings.get('critical', 0):,}", "bad" if findings.get("critical") else ""),
            ("warnings", f"{findings.get('warning', 0):,}", "warn" if findings.get("warning") else ""),
            ("cross-zone $/month", f"{data['cross_zone_usd_per_month']:,.0f}", ""),
        ]

    def service(self, key: str) -> ServiceFigures | None:
        """Figures of Service ``key`` (None when kube-proxy does not route it)."""
        return self._rows.get(key)

    def figure(self, name: str) -> Callable[[str], float]:
        """A sort key: Service key -> the named figure (missing sorts first)."""
        def get(key: str) -> float:
            row = self._rows.get(key)
            value = getattr(row, name, None) if row else None
            return -1.0 if value is None else float(value)
        return get


_page_report: list[PageReport] = []


def report(*, cluster: Cluster) -> PageReport:
    """The cluster's analysis (cached per revision by ``routing.reports``), indexed once."""
    raw = cluster_report(cluster=cluster)
    if not _page_report or _page_report[0].report is not raw:
        _page_report[:] = [PageReport(raw)]  # one index at a time keeps memory flat
    return _page_report[0]


@dataclass
class Impact:
    """A what-if's effect on the cluster-wide analysis."""

    ports_dropping: tuple[int, int]
    findings: dict[str, tuple[int, int]]
    cost: tuple[float, float]
    #: findings present only after / only before: (severity, service, message).
    new: list[tuple[str, str, str]]
    gone: list[tuple[str, str, str]]


IMPACT_LISTED = 10


def cluster_impact(*, cluster: Cluster, changes: dict[str, Any]) -> Impact:
    """Compare the cluster's analysis before and after ``changes`` (Scenario JSON)."""
    from routing.reports import scenario_report  # noqa: PLC0415 — same module as cluster_report
    from routing.selectors import engine_scenario  # noqa: PLC0415

    before = cluster_report(cluster=cluster)
    after = scenario_report(cluster=cluster, scenario=engine_scenario(changes))
    b, a = before.summary(), after.summary()

    def keyed(report: Any) -> dict[tuple[str, str, str], tuple[str, str, str]]:
        return {(f.code, f.service, f.port): (f.severity, f.service, f.message) for f in report.findings}

    old, new = keyed(before), keyed(after)
    return Impact(
        ports_dropping=(b["ports_dropping"], a["ports_dropping"]),
        findings={s: (b["findings"].get(s, 0), a["findings"].get(s, 0)) for s in ("critical", "warning", "info")},
        cost=(b["cross_zone_usd_per_month"], a["cross_zone_usd_per_month"]),
        new=[new[k] for k in new if k not in old][:IMPACT_LISTED],
        gone=[old[k] for k in old if k not in new][:IMPACT_LISTED],
    )
