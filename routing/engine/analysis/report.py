"""The cluster-wide report: per service port rows, per source class stats, findings.

Everything here is plain frozen data with ``to_json`` for the API and pages, and
``render_text`` for ``manage.py analyze``. Shares are fractions of the source class's new
connections (each source node weighted equally; ``lb``: as the load balancer spreads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routing.engine.costmodel import LOCALITIES, CostModel
from routing.engine.decide import DROP, FORWARD, REJECT
from routing.engine.simulate import outcome_of
from routing.engine.types import Endpoint

#: Severity of a finding, most severe first.
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True, slots=True)
class EndpointShare:
    """One endpoint's share of a source class's connections."""

    ip: str
    port: int
    node: str | None
    zone: str | None
    pod: str | None
    share: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "ip": self.ip,
            "port": self.port,
            "node": self.node,
            "zone": self.zone,
            "pod": self.pod,
            "share": round(self.share, 6),
        }


@dataclass(frozen=True, slots=True)
class SourceStats:
    """One source class of one service port (``pod``: pods on every node to the ClusterIP;
    ``external``: clients arriving at every node; ``pod-external``: pods to their own
    cluster's external address; ``lb``: clients behind the cloud load balancer)."""

    source: str
    to: str
    #: source nodes weighed (lb: the nodes the load balancer sends to).
    nodes: int
    forward_nodes: int
    drop_nodes: int
    reject_nodes: int
    #: fraction of new connections not delivered (dropped or refused), and refused only.
    dropped: float
    refused: float
    drop_reason: str | None
    #: fraction of delivered connections by locality (same_node, same_zone, cross_zone, unknown).
    locality: dict[str, float]
    #: fraction of delivered connections that keep the client source IP.
    client_ip_preserved: float
    #: max/mean share over endpoints receiving traffic (1.0 = perfectly even).
    imbalance: float | None
    #: expected hop latency of a delivered connection under the cost model (ms).
    latency_ms: float | None
    cross_zone_bytes_per_s: float
    cost_usd_per_month: float
    #: the port's endpoints and their shares (aligned; ``endpoints`` builds the list).
    port_endpoints: tuple[Endpoint, ...] = ()
    shares: tuple[float, ...] = ()
    lb_fail_open: bool = False
    #: nodes whose IPVS forwards Local-policy traffic to remote endpoints (kubernetes#97081).
    ipvs_fallback_nodes: int = 0
    #: share of all connections forwarded whose replies never reach the client.
    replies_lost: float = 0.0

    @property
    def effective_dropped(self) -> float:
        """Share that does not work: dropped, refused, or forwarded with replies lost
        (``simulate``'s ``effective_dropped``)."""
        return min(1.0, self.dropped + self.replies_lost)

    @property
    def outcome(self) -> str:
        """``simulate``'s ``outcome`` for the class as a whole: ``ok``, ``partly_dropped`` or
        ``replies_lost`` when some node forwards, else ``refused`` / ``dropped``."""
        if self.forward_nodes or self.effective_dropped <= 1e-9:
            action = FORWARD
        else:
            action = REJECT if self.reject_nodes and not self.drop_nodes else DROP
        return outcome_of(action, self.dropped, self.replies_lost)

    @property
    def endpoints(self) -> tuple[EndpointShare, ...]:
        """Endpoints with a share above zero, sorted by IP then port."""
        out = [
            EndpointShare(ep.ip, ep.port, ep.node, ep.zone, ep.pod, share)
            for ep, share in zip(self.port_endpoints, self.shares)
            if share > 0
        ]
        return tuple(sorted(out, key=lambda e: (e.ip, e.port)))

    def to_json(self, *, endpoints: bool = True) -> dict[str, Any]:
        """JSON-ready dict (``endpoints=False`` leaves the per-endpoint list out)."""
        out = {
            "source": self.source,
            "to": self.to,
            "nodes": self.nodes,
            "actions": {
                "forward": self.forward_nodes,
                "drop": self.drop_nodes,
                "reject": self.reject_nodes,
            },
            "dropped": round(self.dropped, 6),
            "refused": round(self.refused, 6),
            "replies_lost": round(self.replies_lost, 6),
            "effective_dropped": round(self.effective_dropped, 6),
            "outcome": self.outcome,
            "drop_reason": self.drop_reason,
            "locality": {k: round(self.locality.get(k, 0.0), 6) for k in LOCALITIES},
            "client_ip_preserved": round(self.client_ip_preserved, 6),
            "imbalance": None if self.imbalance is None else round(self.imbalance, 4),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 4),
            "cost": {
                "cross_zone_bytes_per_s": round(self.cross_zone_bytes_per_s, 3),
                "usd_per_month": round(self.cost_usd_per_month, 4),
            },
            "lb_fail_open": self.lb_fail_open,
        }
        if endpoints:
            out["endpoints"] = [e.to_json() for e in self.endpoints]
        return out


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One service port: its settings, endpoint counts and every applicable source class."""

    service: str
    port: str
    port_number: int
    protocol: str
    type: str
    internal_traffic_policy: str
    external_traffic_policy: str
    traffic_distribution: str | None
    session_affinity: str
    endpoints_total: int
    endpoints_ready: int
    #: serving and terminating (usable only through a fallback).
    endpoints_terminating: int
    #: distinct nodes running an endpoint.
    nodes_hosting: int
    #: nodes whose pods reach an endpoint through the ClusterIP.
    nodes_covered: int
    nodes_total: int
    #: topology mode ("", PreferSameZone, PreferSameNode) -> nodes using it.
    topology: dict[str, int]
    sources: tuple[SourceStats, ...]

    @property
    def key(self) -> str:
        """``namespace/name:port``."""
        return f"{self.service}:{self.port}"

    def source(self, name: str) -> SourceStats | None:
        """The stats of source class ``name`` (None when it does not apply)."""
        return next((s for s in self.sources if s.source == name), None)

    @property
    def worst_dropped(self) -> float:
        """The highest dropped fraction over the source classes."""
        return max((s.dropped for s in self.sources), default=0.0)

    @property
    def worst_effective_dropped(self) -> float:
        """The highest share not working (dropped, refused, replies lost) over the classes."""
        return max((s.effective_dropped for s in self.sources), default=0.0)

    @property
    def external_way(self) -> SourceStats | None:
        """The way outside clients come in, priced at the external rate: the load balancer,
        else the NodePort (None for a Service with neither)."""
        lb = self.source("lb")
        if lb is not None:
            return lb
        external = self.source("external")
        return external if external is not None and external.to == "nodeport" else None

    @property
    def cost_usd_per_month(self) -> float:
        """This port's cross-zone bill: pod calls plus outside clients (``costmodel``)."""
        pod, external = self.source("pod"), self.external_way
        return (pod.cost_usd_per_month if pod else 0.0) + (
            external.cost_usd_per_month if external else 0.0
        )

    @property
    def worst_imbalance(self) -> float | None:
        """The highest imbalance over the source classes."""
        values = [s.imbalance for s in self.sources if s.imbalance is not None]
        return max(values) if values else None

    def to_json(self, *, endpoints: bool = False) -> dict[str, Any]:
        """JSON-ready dict."""
        sources = [s.to_json(endpoints=endpoints) for s in self.sources]
        pod = next((s for s in sources if s["source"] == "pod"), None)
        return {
            "service": self.service,
            "port": self.port,
            "port_number": self.port_number,
            "protocol": self.protocol,
            "type": self.type,
            "policies": {
                "internalTrafficPolicy": self.internal_traffic_policy,
                "externalTrafficPolicy": self.external_traffic_policy,
                "trafficDistribution": self.traffic_distribution,
                "sessionAffinity": self.session_affinity,
            },
            "endpoints": {
                "total": self.endpoints_total,
                "ready": self.endpoints_ready,
                "terminating": self.endpoints_terminating,
            },
            "nodes": {
                "hosting": self.nodes_hosting,
                "covered": self.nodes_covered,
                "total": self.nodes_total,
            },
            "topology": dict(self.topology),
            "dropped": round(self.worst_dropped, 6),
            "effective_dropped": round(self.worst_effective_dropped, 6),
            "imbalance": None if self.worst_imbalance is None else round(self.worst_imbalance, 4),
            "locality": pod["locality"] if pod else None,
            "cost_usd_per_month": round(self.cost_usd_per_month, 4),
            "sources": sources,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One ranked problem or notable fact, with a stable ``code``.

    ``impact`` (0..1) ranks findings: the fraction of the affected source class's
    connections concerned, times 1 (critical), 0.5 (warning) or 0.1 (info).
    """

    code: str
    severity: str
    impact: float
    service: str
    port: str
    message: str
    #: nodes named by the finding (capped at 20).
    nodes: tuple[str, ...] = ()
    source: str | None = None
    #: the what-if that removes it: (field of ``whatif_fields.FIELDS``, value), or None.
    fix: tuple[str, str] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The finding ``to_json`` wrote (a stored analysis' findings, read by the pages)."""
        fix = data.get("fix")
        return cls(
            code=data["code"],
            severity=data["severity"],
            impact=data["impact"],
            service=data["service"],
            port=data["port"],
            message=data["message"],
            nodes=tuple(data.get("nodes") or ()),
            source=data.get("source"),
            fix=None if fix is None else (fix["field"], fix["value"]),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "code": self.code,
            "severity": self.severity,
            "impact": round(self.impact, 6),
            "service": self.service,
            "port": self.port,
            "source": self.source,
            "message": self.message,
            "nodes": list(self.nodes),
            "fix": None if self.fix is None else {"field": self.fix[0], "value": self.fix[1]},
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The cluster-wide analysis of one snapshot."""

    rows: tuple[ServiceRow, ...]
    findings: tuple[Finding, ...]
    nodes: int
    zones: tuple[str, ...]
    services: int
    #: proxy mode -> nodes running it.
    proxy_modes: dict[str, int]
    model: CostModel
    notes: tuple[str, ...] = ()
    #: rows' JSON (without endpoints), built on first use: a report is cached per cluster
    #: revision and its 10,000 rows cost about a second to render.
    #: (init=False: ``dataclasses.replace`` gives a narrowed copy its own, empty cache.)
    _rows_json: list[Any] = field(default_factory=list, init=False, compare=False, repr=False)

    def row(self, service: str, port: str | None = None) -> ServiceRow | None:
        """The row of ``service`` (``ns/name``) and ``port`` (the only/first port if None)."""
        return next(
            (r for r in self.rows if r.service == service and (port is None or r.port == port)),
            None,
        )

    def findings_for(self, service: str) -> tuple[Finding, ...]:
        """Findings about ``service`` (``ns/name``), ranked."""
        return tuple(f for f in self.findings if f.service == service)

    def service_cost(self, service: str) -> float:
        """Service ``service``'s cross-zone bill, USD/month: the sum over its ports."""
        return sum(r.cost_usd_per_month for r in self.rows if r.service == service)

    def summary(self) -> dict[str, Any]:
        """Cluster totals: counts by severity and code, and the cross-zone bill."""
        by_severity = {s: 0 for s in SEVERITIES}
        by_code: dict[str, int] = {}
        for f in self.findings:
            by_severity[f.severity] += 1
            by_code[f.code] = by_code.get(f.code, 0) + 1
        cost = sum(r.cost_usd_per_month for r in self.rows)
        return {
            "nodes": self.nodes,
            "zones": list(self.zones),
            "services": self.services,
            "service_ports": len(self.rows),
            "proxy_modes": dict(self.proxy_modes),
            "findings": by_severity,
            "finding_codes": dict(sorted(by_code.items())),
            "ports_dropping": sum(1 for r in self.rows if r.worst_dropped > 0),
            "cross_zone_usd_per_month": round(cost, 2),
        }

    def to_json(
        self, *, endpoints: bool = False, max_findings: int | None = None
    ) -> dict[str, Any]:
        """JSON-ready dict; ``endpoints`` adds per-endpoint shares to every source."""
        findings = self.findings if max_findings is None else self.findings[:max_findings]
        if endpoints:
            services = [r.to_json(endpoints=True) for r in self.rows]
        else:
            if not self._rows_json and self.rows:
                self._rows_json.extend(r.to_json() for r in self.rows)
            services = list(self._rows_json)
        head = self.head_json()
        return {
            "summary": head["summary"],
            "cost_model": head["cost_model"],
            "services": services,
            "findings": [f.to_json() for f in findings],
            "notes": head["notes"],
        }

    def head_json(self) -> dict[str, Any]:
        """``to_json``'s ``summary``, ``cost_model`` and ``notes`` (no row rendered)."""
        return {
            "summary": self.summary(),
            "cost_model": {
                "request_rate": self.model.request_rate,
                "external_request_rate": self.model.external_request_rate,
                "request_bytes": self.model.request_bytes,
                "response_bytes": self.model.response_bytes,
                "price_per_gb": self.model.price_per_gb,
            },
            "notes": list(self.notes),
        }
