"""Findings: what an operator should look at first, with stable codes.

Each rule reads one service port's row (and its categorisation notes) and returns zero or
one ``Finding``. Impact = fraction of the source class's connections concerned × the
severity weight, so a critical drop of 60% outranks a warning about 90% imbalance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from routing.engine.analysis.model import PortAnalysis
from routing.engine.analysis.report import EndpointShare, Finding, ServiceRow, SourceStats
from routing.engine.costmodel import CROSS_ZONE
from routing.engine.explain import Code

WEIGHT = {"critical": 1.0, "warning": 0.5, "info": 0.1}
#: max/mean above which an uneven spread is reported.
IMBALANCE_THRESHOLD = 1.5
#: cross-zone share (of delivered ClusterIP calls) above which the bill is reported.
CROSS_ZONE_THRESHOLD = 0.5
MAX_NODES = 20

_HINT_CODES = (
    Code.HINTS_IGNORED_ENDPOINT_WITHOUT_HINT,
    Code.HINTS_IGNORED_NODE_WITHOUT_ZONE,
    Code.HINTS_IGNORED_NO_HINT_FOR_ZONE,
    Code.HINTS_IGNORED_NO_ANNOTATION,
    Code.HINTS_IGNORED_GATE_OFF,
    Code.NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT,
    Code.NODE_HINTS_IGNORED_NO_HINT_FOR_NODE,
    Code.NODE_HINTS_IGNORED_GATE_OFF,
    Code.TRAFFIC_DISTRIBUTION_WITHOUT_HINTS,
)
_SOURCE_WORDS = {
    "pod": "calls from pods",
    "external": "external connections",
    "pod-external": "pod calls to the external address",
    "lb": "load-balancer clients",
}


def _finding(
    row: ServiceRow,
    code: str,
    severity: str,
    share: float,
    message: str,
    *,
    nodes: Iterable[str | None] = (),  # None (no node) is skipped
    source: str | None = None,
) -> Finding:
    return Finding(
        code,
        severity,
        WEIGHT[severity] * max(0.0, min(1.0, share)),
        row.service,
        row.port,
        message,
        tuple(sorted(n for n in nodes if n))[:MAX_NODES],
        source,
    )


def _hosting(pa: PortAnalysis) -> list[str]:
    return sorted({ep.node for ep in pa.endpoints if ep.node and ep.ready})


def no_endpoints(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Nothing usable anywhere: every connection is refused (REJECT)."""
    pod = row.source("pod")
    if pod is None or pod.reject_nodes < pod.nodes or not pod.nodes:
        return None
    if row.endpoints_total == 0:
        message = "no endpoints: connections are refused"
    else:
        message = (
            f"no ready endpoints ({row.endpoints_total} endpoint(s), none ready or "
            "serving-terminating): connections are refused"
        )
    return _finding(row, "NO_READY_ENDPOINTS", "critical", 1.0, message, source="pod")


def terminating_fallback(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Served only by terminating endpoints (ProxyTerminatingEndpoints fallback)."""
    if Code.TERMINATING_FALLBACK.value not in pa.topology_reasons:
        return None
    message = (
        f"only terminating endpoints: serving via the terminating fallback "
        f"({row.endpoints_terminating} serving-terminating endpoint(s), none ready)"
    )
    return _finding(
        row,
        "ONLY_TERMINATING_ENDPOINTS",
        "warning",
        1.0,
        message,
        nodes=(ep.node for ep in pa.endpoints if ep.terminating),
    )


def _drops(
    row: ServiceRow, pa: PortAnalysis, source: str, code: str, severity: str, policy: str
) -> Finding | None:
    stats = row.source(source)
    lost = stats.drop_nodes + stats.reject_nodes if stats else 0
    if stats is None or not lost or stats.reject_nodes == stats.nodes:
        return None
    hosts = _hosting(pa)
    where = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
    # IPVS answers an empty virtual server with a refusal rather than a silent drop.
    verb = "dropped" if stats.drop_nodes >= stats.reject_nodes else "refused"
    message = (
        f"{policy}=Local: {_SOURCE_WORDS[source]} on {lost} of {stats.nodes} nodes are {verb}"
        f" (ready endpoints only on {where or 'no node'})"
    )
    return _finding(row, code, severity, stats.dropped, message, nodes=hosts, source=source)


def itp_local_drops(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """iTP=Local and a node without a local endpoint: its pods' calls time out."""
    return _drops(row, pa, "pod", "ITP_LOCAL_DROPS", "critical", "internalTrafficPolicy")


def etp_local_drops(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """eTP=Local and a node without a local endpoint: NodePort clients there time out.

    Behind a load balancer whose health check (``healthCheckNodePort``) keeps every client
    off those nodes this is the policy working as designed: info, not a warning."""
    found = _drops(row, pa, "external", "ETP_LOCAL_DROPS", "warning", "externalTrafficPolicy")
    lb = row.source("lb")
    if found is None or lb is None or lb.effective_dropped > 0 or not lb.forward_nodes:
        return found
    message = (
        found.message + "; expected: the load balancer's health check sends its clients only "
        "to nodes with a local endpoint, so only clients dialling a node's NodePort directly "
        "are affected"
    )
    return _finding(
        row,
        found.code,
        "info",
        found.impact / WEIGHT["warning"],
        message,
        nodes=found.nodes,
        source="external",
    )


def lb_fail_open(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """No node passes the LB health check: it sprays every node, and Local ones drop."""
    lb = row.source("lb")
    if lb is None or not (lb.lb_fail_open or not lb.nodes):
        return None
    if not lb.nodes:
        return _finding(
            row,
            "LB_NO_BACKEND_NODE",
            "critical",
            1.0,
            (
                "the load balancer has no backend node (none in the snapshot, or all "
                "excluded/deleting): clients get no answer"
            ),
            source="lb",
        )
    message = (
        f"no node passes the load balancer health check: it fails open to all {lb.nodes} nodes"
        f" and {lb.dropped:.0%} of its connections are not delivered"
    )
    return _finding(
        row, "LB_NO_HEALTHY_NODE", "critical", max(lb.dropped, 0.5), message, source="lb"
    )


def _describe(e: EndpointShare) -> str:
    name = e.pod.split("/", 1)[-1] if e.pod else f"{e.ip}:{e.port}"
    return f"pod {name} on {e.node}" if e.node else f"pod {name}"


def _imbalance(
    row: ServiceRow, stats: SourceStats | None, code: str, prefix: str
) -> Finding | None:
    if stats is None or stats.imbalance is None or stats.imbalance < IMBALANCE_THRESHOLD:
        return None
    eps = stats.endpoints
    top = max(eps, key=lambda e: (e.share, e.ip))
    low = min(eps, key=lambda e: (e.share, e.ip))
    # The one imbalance figure (costmodel.imbalance: busiest / mean), as the tables show it.
    message = (
        f"{prefix}imbalance {stats.imbalance:.2f}× ({_SOURCE_WORDS[stats.source]}): "
        f"{_describe(top)} takes {top.share:.0%}, {_describe(low)} {low.share:.0%}"
    )
    return _finding(
        row,
        code,
        "warning",
        1.0 - low.share / top.share,
        message,
        nodes=(top.node or "", low.node or ""),
        source=stats.source,
    )


def etp_local_imbalance(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """eTP=Local: the load balancer splits per node, so pods on crowded nodes get less."""
    if row.external_traffic_policy != "Local":
        return None
    return _imbalance(
        row,
        row.source("lb") or row.source("external"),
        "ETP_LOCAL_IMBALANCE",
        "externalTrafficPolicy=Local: ",
    )


def internal_imbalance(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Uneven spread of pod calls (iTP=Local, topology hints, IPVS schedulers)."""
    prefix = "internalTrafficPolicy=Local: " if row.internal_traffic_policy == "Local" else ""
    return _imbalance(row, row.source("pod"), "LOAD_IMBALANCE", prefix)


def hints_ignored(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Topology hints (or trafficDistribution) that kube-proxy does not act on."""
    for code in _HINT_CODES:
        found = pa.topology_reasons.get(code.value)
        if not found:
            continue
        message, where = found
        intended = bool(row.traffic_distribution) or any(
            ep.zone_hints or ep.node_hints for ep in pa.endpoints
        )
        nodes_affected = row.topology.get("", 0)
        share = nodes_affected / row.nodes_total if row.nodes_total else 1.0
        text = (
            message.replace("hints ignored: ", "hints ignored because ", 1)
            if message.startswith(("hints", "node hints"))
            else message
        )
        if not text.startswith(("hints", "node hints")):
            text = f"hints ignored because {text}"
        text += f" (on {', '.join(sorted(set(where))[:3])}{'…' if len(set(where)) > 3 else ''})"
        return _finding(
            row, code.value, "warning" if intended else "info", share, text, source="pod"
        )
    return None


def client_ip_lost(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Every external path masquerades: the endpoints never see the client address."""
    external = [s for s in row.sources if s.source in ("external", "lb") and s.forward_nodes]
    if not external or any(s.client_ip_preserved > 0 for s in external):
        return None
    return _finding(
        row,
        "CLIENT_IP_LOST",
        "info",
        1.0,
        "client IP lost on every external path: externalTrafficPolicy=Cluster SNATs to the node IP",
        source=external[0].source,
    )


def ipvs_local_fallback(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """IPVS nodes forward Local-policy traffic off-node without SNAT (replies usually lost)."""
    hit = [s for s in row.sources if s.ipvs_fallback_nodes]
    if not hit:
        return None
    s = max(hit, key=lambda x: x.ipvs_fallback_nodes)
    message = (
        f"IPVS: {s.ipvs_fallback_nodes} of {s.nodes} nodes have no local endpoint and forward "
        f"{_SOURCE_WORDS[s.source]} to remote endpoints instead of dropping (kubernetes#97081)"
    )
    if s.replies_lost > 0:
        # No SNAT on that path: the endpoint answers the client directly, from the wrong
        # address (decide.replies_lost) — simulate's outcome "replies_lost", counted in
        # effective_dropped like a drop.
        message += (
            f"; without SNAT the replies bypass the node and never reach the client "
            f"({s.replies_lost:.0%} of connections forwarded but not working: replies_lost)"
        )
    return _finding(
        row,
        "IPVS_LOCAL_FALLBACK",
        "warning",
        s.replies_lost or s.ipvs_fallback_nodes / max(s.nodes, 1),
        message,
        source=s.source,
    )


def cross_zone_cost(row: ServiceRow, pa: PortAnalysis) -> Finding | None:
    """Most pod calls cross a zone boundary: the bill of the inter-zone bytes."""
    pod = row.source("pod")
    if pod is None or pod.locality.get(CROSS_ZONE, 0.0) < CROSS_ZONE_THRESHOLD:
        return None
    share = pod.locality[CROSS_ZONE]
    # The port's whole bill (pods and outside clients), the figure every page shows.
    message = (
        f"{share:.0%} of pod calls cross a zone: this port's cross-zone bill is "
        f"${row.cost_usd_per_month:,.2f}/month under the cluster's cost model"
    )
    return _finding(row, "CROSS_ZONE_COST", "info", share, message, source="pod")


RULES: tuple[Callable[[ServiceRow, PortAnalysis], Finding | None], ...] = (
    no_endpoints,
    terminating_fallback,
    itp_local_drops,
    etp_local_drops,
    lb_fail_open,
    etp_local_imbalance,
    internal_imbalance,
    hints_ignored,
    ipvs_local_fallback,
    client_ip_lost,
    cross_zone_cost,
)


def fix_for(finding: Finding, row: ServiceRow) -> tuple[str, str] | None:
    """The one-field what-if that removes ``finding`` (the findings page's "try the fix"),
    or None when no Service field does (e.g. no endpoints at all, hints ignored)."""
    itp, etp = row.internal_traffic_policy, row.external_traffic_policy
    code = finding.code
    if code == "ITP_LOCAL_DROPS" or (code == "LOAD_IMBALANCE" and itp == "Local"):
        return ("internalTrafficPolicy", "Cluster")
    if code in ("ETP_LOCAL_DROPS", "ETP_LOCAL_IMBALANCE", "LB_NO_HEALTHY_NODE") and etp == "Local":
        return ("externalTrafficPolicy", "Cluster")
    if code == "IPVS_LOCAL_FALLBACK":
        if finding.source == "pod" and itp == "Local":
            return ("internalTrafficPolicy", "Cluster")
        return ("externalTrafficPolicy", "Cluster") if etp == "Local" else None
    if code == "CLIENT_IP_LOST" and etp == "Cluster":
        return ("externalTrafficPolicy", "Local")
    # CROSS_ZONE_COST has none: trafficDistribution keeps calls in their zone only where
    # every zone has endpoints, which a Service field cannot promise.
    return None


def findings_for(row: ServiceRow, pa: PortAnalysis) -> list[Finding]:
    """Every finding about one service port, each with the what-if that removes it."""
    found = [f for rule in RULES if (f := rule(row, pa)) is not None]
    return [replace(f, fix=fix_for(f, row)) for f in found]


def rank(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Highest impact first; ties by severity, then service, port and code (stable output)."""
    order = {"critical": 0, "warning": 1, "info": 2}
    return tuple(
        sorted(findings, key=lambda f: (-f.impact, order[f.severity], f.service, f.port, f.code))
    )
