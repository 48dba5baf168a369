"""Plain-text rendering of a ``Report`` for ``manage.py analyze``."""

from __future__ import annotations

from routing.engine.analysis.report import Report, ServiceRow
from routing.engine.costmodel import LOCALITIES, LOCALITY_LABELS

_HEADER = (
    "SERVICE:PORT",
    "TYPE",
    "iTP/eTP",
    "READY/EPS",
    "COVERED",
    "DROP",
    "IMBAL",
    "NODE/ZONE/CROSS/NO-ZONE",
    "SOURCES",
)


def _policies(row: ServiceRow) -> str:
    text = f"{row.internal_traffic_policy[0]}/{row.external_traffic_policy[0]}"
    return text + (
        "+" + row.traffic_distribution.replace("Prefer", "") if row.traffic_distribution else ""
    )


def _cells(row: ServiceRow) -> tuple[str, ...]:
    pod = row.source("pod")
    loc = pod.locality if pod else {}
    imbalance = row.worst_imbalance
    return (
        row.key,
        row.type,
        _policies(row),
        f"{row.endpoints_ready}/{row.endpoints_total}",
        f"{row.nodes_covered}/{row.nodes_total}",
        f"{row.worst_dropped:.0%}",
        "-" if imbalance is None else f"{imbalance:.2f}",
        "/".join(f"{loc.get(k, 0):.0%}" for k in LOCALITIES),
        ",".join(s.source for s in row.sources),
    )


def _detail(row: ServiceRow, max_endpoints: int = 10) -> list[str]:
    """Per source class of one service port: verdicts, locality, client IP, top endpoints."""
    lines = [
        f"{row.key} ({row.type}, internalTrafficPolicy={row.internal_traffic_policy}, "
        f"externalTrafficPolicy={row.external_traffic_policy}):"
    ]
    for s in row.sources:
        loc = ", ".join(f"{LOCALITY_LABELS[k]} {v:.0%}" for k, v in s.locality.items() if v)
        lines.append(
            f"  {s.source} -> {s.to}: {s.nodes} node(s): {s.forward_nodes} forward, "
            f"{s.drop_nodes} drop, "
            f"{s.reject_nodes} reject; dropped {s.dropped:.1%}"
            + (f" ({s.drop_reason})" if s.drop_reason else "")
        )
        extra = f"; imbalance {s.imbalance:.2f}" if s.imbalance is not None else ""
        latency = f"; hop latency {s.latency_ms:.3f} ms" if s.latency_ms is not None else ""
        lines.append(
            f"    locality: {loc or '-'}; client IP kept "
            f"{s.client_ip_preserved:.0%}{extra}{latency}; "
            f"cross-zone {s.cost_usd_per_month:,.2f} USD/month"
        )
        top = sorted(s.endpoints, key=lambda e: (-e.share, e.ip))
        for e in top[:max_endpoints]:
            lines.append(f"    {e.ip:<39} {e.node or '-':<20} {e.zone or '-':<12} {e.share:.1%}")
        if len(top) > max_endpoints:
            lines.append(f"    … {len(top) - max_endpoints} more endpoint(s)")
    return lines


def render_text(report: Report, *, max_findings: int | None = 50, detail: bool = False) -> str:
    """The report as a table of service ports followed by the ranked findings; ``detail``
    adds every source class of every row with its busiest endpoints."""
    summary = report.summary()
    modes = (
        ", ".join(f"{mode} {count}" for mode, count in sorted(report.proxy_modes.items())) or "none"
    )
    zones = ", ".join(z or "(unlabeled)" for z in report.zones) or "none"
    lines = [
        f"{report.nodes} nodes, zones: {zones}; kube-proxy: {modes}; "
        f"{report.services} services, {len(report.rows)} service port(s); "
        f"cross-zone bill {summary['cross_zone_usd_per_month']:,.2f} USD/month "
        f"at {report.model.request_rate:g} req/s from pods and "
        f"{report.model.external_request_rate:g} req/s from outside per service",
        "",
    ]
    table = [_HEADER, *(_cells(r) for r in report.rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADER))]
    for cells in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    if detail:
        for row in report.rows:
            lines += ["", *_detail(row)]
    findings = report.findings if max_findings is None else report.findings[:max_findings]
    lines += [
        "",
        f"Findings ({len(report.findings)}, ranked by impact"
        + (f", first {len(findings)}" if len(findings) < len(report.findings) else "")
        + "):",
    ]
    if not findings:
        lines.append("  none")
    for i, f in enumerate(findings, 1):
        where = (
            f"{f.service}:{f.port}" if f.port else f.service
        )  # whole-Service findings have no port
        lines.append(f"  {i:>3}. [{f.severity}] {f.code} {where} — {f.message}")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
