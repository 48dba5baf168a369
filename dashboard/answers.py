"""The pages' door to the engine: the answers a page shows, as data.

Pages never decide routing, nor pick their own questions: the questions (every source of
traffic for a Service, grouped so a 5,000-node cluster asks a few dozen of them), the
before | after of a what-if and its node-weighted figures come from the one preview,
``routing.whatif.preview``, that the API and the CLI use too. This module adds what only
pages need (the cluster report indexed for tables, a scenario's focus Service).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.models import Cluster
from routing.engine.analysis import Finding
from routing.engine.snapshot import Snapshot
from routing.reports import cluster_report
from routing.selectors import one_service_snapshot, whatif_for
from routing.snapshots import node_table_for_cluster, snapshot_for_cluster
from routing.stored_analysis import (
    AnalysisStatus,
    analysis_status,
    identity,
    stored_costs,
    stored_figures,
    stored_findings,
    stored_report,
)

# The questions, their grouping and the before | after comparison are the one preview's.
from routing.whatif.preview import (  # noqa: F401 - re-exported for the pages
    EACH_NODE_MAX,
    Entry,
    EntryDiff,
    PathAnswer,
    SourceGroup,
    compare,
    service_entries,
    source_groups,
    special_nodes,
)
from routing.whatif.preview import whatif_groups as preview_groups


def whatif_groups(
    before: Snapshot, after: Snapshot, key: str, changes: dict[str, Any]
) -> list[SourceGroup]:
    """The preview's groups for a stored scenario's ``changes`` (``routing.whatif.preview``)."""
    return preview_groups(before, after, key, whatif_for(changes).touched_nodes)


def cluster_snapshot(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` (cached per revision by ``routing.snapshots``)."""
    return snapshot_for_cluster(cluster=cluster)


def service_snapshot(
    *, cluster: Cluster, key: str, changes: dict[str, Any] | None = None
) -> Snapshot:
    """What the Service page and the what-if preview of Service ``key`` need: the node
    table and that Service's rows (plus the Services ``changes`` set fields of), not the
    whole cluster (``routing.snapshots.service_snapshot``)."""
    return one_service_snapshot(cluster=cluster, services=[key], changes=changes)


def node_names(*, cluster: Cluster) -> list[str]:
    """``cluster``'s node names, sorted, from its cached node table."""
    return sorted(node_table_for_cluster(cluster=cluster).nodes)


def workload_of(snapshot: Snapshot, key: str) -> str | None:
    """The controller ("ns/name" of a Deployment or StatefulSet…) behind Service ``key``'s
    pods, the thing a scale what-if resizes; None when its pods have no owner."""
    for eps in snapshot.endpoint_index.get(key, {}).values():
        for ep in eps:
            pod = snapshot.pods.get(ep.pod or "")
            if pod and pod.owner:
                return f"{pod.namespace}/{pod.owner.partition('/')[2]}"
    return None


def focus_of(snapshot: Snapshot, changes: dict[str, Any]) -> str:
    """The Service a stored scenario is best looked at through: the first it overrides,
    else one backed by the scaled workload, else one with endpoints on a changed node."""
    if changes.get("services"):
        return next(iter(changes["services"]))
    scaled = set(changes.get("scale") or {})
    nodes = (
        set(changes.get("nodes_down") or ())
        | set(changes.get("nodes_drained") or ())
        | set(changes.get("nodes_cordoned") or ())
    )
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
    """The stored cluster-wide analysis (``routing.stored_analysis``) indexed for pages,
    with its ``status``: which revision the results are of, and the progress of the
    analysis in flight (``analysed`` is False while none has finished yet)."""

    def __init__(self, status: AnalysisStatus) -> None:
        self.status = status
        shown = status.shown
        self.analysed = shown is not None
        body = stored_report(shown) if shown is not None else {}
        #: the first findings (the overview's), ranked, and how many there are in all.
        self.findings = [Finding.from_json(f) for f in body.get("top_findings", ())]
        self.findings_total = body.get("findings_total", 0)
        self._summary = body.get("summary")
        self._figures: dict[str, ServiceFigures] | None = None
        self._all_findings: list[Finding] | None = None
        self._costs: dict[str, float] | None = None

    @property
    def all_findings(self) -> list[Finding]:
        """Every finding, ranked (the findings page's), read on first use."""
        if self._all_findings is None:
            shown = self.status.shown
            stored = stored_findings(shown) if shown is not None else []
            self._all_findings = [Finding.from_json(f) for f in stored]
        return self._all_findings

    def findings_for(self, key: str) -> list[Finding]:
        """The findings about Service ``key`` (``ns/name``), ranked."""
        return [f for f in self.all_findings if f.service == key]

    def service_cost(self, key: str) -> float:
        """Service ``key``'s cross-zone bill, USD/month: the sum over its ports' stored rows
        (the figure the overview's total adds up, under the cluster's cost model)."""
        if self._costs is None:
            shown = self.status.shown
            self._costs = stored_costs(shown) if shown is not None else {}
        return self._costs.get(key, 0.0)

    @property
    def _rows(self) -> dict[str, ServiceFigures]:
        """The services table's figures, read on first use (the overview needs none)."""
        if self._figures is None:
            shown = self.status.shown
            figures = stored_figures(shown) if shown is not None else {}
            self._figures = {key: ServiceFigures(*values[:4]) for key, values in figures.items()}
        return self._figures

    @property
    def summary(self) -> list[tuple[str, str, str]]:
        """(label, value, tone) tiles for the overview (none before the first analysis)."""
        data = self._summary
        if data is None:
            return []
        findings = data["findings"]
        return [
            (
                "service ports dropping traffic",
                f"{data['ports_dropping']:,}",
                "bad" if data["ports_dropping"] else "",
            ),
            (
                "critical findings",
                f"{findings.get('critical', 0):,}",
                "bad" if findings.get("critical") else "",
            ),
            (
                "warnings",
                f"{findings.get('warning', 0):,}",
                "warn" if findings.get("warning") else "",
            ),
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
    """The cluster's stored analysis and its status (never analyses in the request with
    workers; see ``routing.stored_analysis.analysis_status``), indexed once per analysis."""
    status = analysis_status(cluster=cluster)
    if _page_report and status.shown is not None:
        cached = _page_report[0]
        if cached.status.shown and identity(cached.status.shown) == identity(status.shown):
            cached.status = status  # the progress moves; the results do not
            return cached
    _page_report[:] = [PageReport(status)]  # one index at a time keeps memory flat
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
    from routing.engine.errors import EngineError
    from routing.reports import scenario_report
    from routing.selectors import engine_scenario
    from routing.whatif.errors import CHANGES, request_error

    before = cluster_report(cluster=cluster)
    try:
        after = scenario_report(cluster=cluster, scenario=engine_scenario(changes))
    except EngineError as error:
        raise request_error(error, context=CHANGES) from None
    b, a = before.summary(), after.summary()

    def keyed(report: Any) -> dict[tuple[str, str, str], tuple[str, str, str]]:
        return {
            (f.code, f.service, f.port): (f.severity, f.service, f.message) for f in report.findings
        }

    old, new = keyed(before), keyed(after)
    return Impact(
        ports_dropping=(b["ports_dropping"], a["ports_dropping"]),
        findings={
            s: (b["findings"].get(s, 0), a["findings"].get(s, 0))
            for s in ("critical", "warning", "info")
        },
        cost=(b["cross_zone_usd_per_month"], a["cross_zone_usd_per_month"]),
        new=[new[k] for k in new if k not in old][:IMPACT_LISTED],
        gone=[old[k] for k in old if k not in new][:IMPACT_LISTED],
    )
