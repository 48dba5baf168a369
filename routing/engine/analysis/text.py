"""Plain-text rendering of a ``Report`` for ``manage.py analyze``."""
from __future__ import annotations

from routing.engine.analysis.report import Report, ServiceRow

_HEADER = ("SERVICE:PORT", "TYPE", "iTP/eTP", "READY/EPS", "COVERED", "DROP", "IMBAL", "NODE/ZONE/CROSS", "SOURCES")


def _policies(row: ServiceRow) -> str:
    text = f"{row.internal_traffic_policy[0]}/{row.external_traffic_policy[0]}"
    return text + ("+" + row.traffic_distribution.replace("Prefer", "") if row.traffic_distribution else "")


def _cells(row: ServiceRow) -> tuple[str, ...]:
    pod = row.source("pod")
    loc = pod.locality if pod else {}
    imbalance = row.worst_imbalance
    return (
        row.key, row.type, _policies(row), f"{row.endpoints_ready}/{row.endpoints_total}",
        f"{row.nodes_covered}/{row.nodes_total}", f"{row.worst_dropped:.0%}",
        "-" if imbalance is None else f"{imbalance:.2f}",
        f"{loc.get('same_node', 0):.0%}/{loc.get('same_zone', 0):.0%}/{loc.get('cross_zone', 0):.0%}",
        ",".join(s.source for s in row.sources),
    )


def render_text(report: Report, *, max_findings: int | None = 50) -> str:
    """The report as a table of service ports followed by the ranked findings."""
    summary = report.summary()
    modes = ", ".join(f"{mode} {count}" for mode, count in sorted(report.proxy_modes.items())) or "none"
    zones = ", ".join(z or "(unlabeled)" for z in report.zones) or "none"
    lines = [f"{report.nodes} nodes, zones: {zones}; kube-proxy: {modes}; "
             f"{report.services} services, {len(report.rows)} service ports; "
             f"cross-zone bill {summary['cross_zone_usd_per_month']:,.2f} USD/month "
             f"at {report.model.request_rate:g} req/s per service", ""]
    table = [_HEADER, *(_cells(r) for r in report.rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADER))]
    for cells in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    findings = report.findings if max_findings is None else report.findings[:max_findings]
    lines += ["", f"Findings ({len(report.findings)}, ranked by impact"
                  + (f", first {len(findings)}" if len(findings) < len(report.findings) else "") + "):"]
    if not findings:
        lines.append("  none")
    for i, f in enumerate(findings, 1):
        lines.append(f"  {i:>3}. [{f.severity}] {f.code} {f.service}:{f.port} — {f.message}")
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
