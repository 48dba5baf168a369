"""``-o json|yaml|table|markdown``: one output convention for every subcommand.

``json`` is the API's body, unchanged; ``yaml`` the same data; ``table`` a readable
rendering and ``markdown`` the same rows as a Markdown table (e.g. a pull-request comment).
Renderers read the JSON body only, so both modes render alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

FORMATS = ("json", "yaml", "table", "markdown")

#: (title, headers, rows, trailing lines) of one body.
Rows = tuple[str, list[str], list[list[str]], list[str]]


def pct(value: float | None) -> str:
    """A fraction as a percentage ("-" for none)."""
    return "-" if value is None else f"{value + 0.0:.1%}"  # no "-0.0%"


def summary_lines(answer: dict) -> list[str]:
    """A readable rendering of the simulate JSON (``manage.py simulate`` prints it too)."""
    src = answer["source"]
    source = f"{src['kind']}:{src['node']}" if src["node"] else src["kind"]
    through = f" of node {answer['via_node']}" if answer.get("via_node") else ""
    lines = [
        f"{answer['service']} port {answer['port']} from {source} via {answer['to']}{through} "
        f"({answer['proxy_mode']})",
        f"action: {answer['action']}   dropped: {answer['dropped']:.1%}"
        + (f" ({answer['drop_reason']})" if answer["drop_reason"] else "")
        + f"   client IP preserved: {'yes' if answer['client_ip_preserved'] else 'no'}",
    ]
    if "outcome" in answer:
        lines.append(
            f"outcome: {answer['outcome']}   not working (effective dropped): "
            f"{answer['effective_dropped']:.1%}"
        )
    if answer.get("ingress_nodes"):
        shown = ", ".join(f"{n['node']} {n['share']:.1%}" for n in answer["ingress_nodes"][:10])
        more = len(answer["ingress_nodes"]) - 10
        lines.append(f"load balancer sends to: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    if answer["endpoints"]:
        lines.append(f"{'endpoint':<40} {'node':<20} {'zone':<12} share")
        for ep in answer["endpoints"]:
            lines.append(
                f"{ep['ip']:<40} {ep['node'] or '-':<20} {ep['zone'] or '-':<12} "
                f"{ep['share']:.1%}"
            )
    loc = answer["locality"]
    lines.append(
        "locality: " + ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in loc.items() if v)
    )
    if answer["latency_ms"]["expected"] is not None:
        lines.append(
            f"expected hop latency: {answer['latency_ms']['expected']} ms   "
            f"cross-zone cost: {answer['cost']['usd_per_month']} USD/month   "
            f"imbalance: {answer['imbalance']}"
        )
    lines.append("why:")
    lines.extend(f"  - {line}" for line in answer["explain"])
    return lines


def simulate_rows(answer: dict) -> Rows:
    """The answer's endpoints; its outcome in the title."""
    src = answer["source"]
    source = f"{src['kind']}:{src['node']}" if src["node"] else src["kind"]
    title = (
        f"{answer['service']} port {answer['port']} from {source} via {answer['to']}: "
        f"{answer['action']}, dropped {pct(answer['dropped'])}, client IP "
        f"{'preserved' if answer['client_ip_preserved'] else 'lost'}"
    )
    rows = [
        [ep["ip"], ep["node"] or "-", ep["zone"] or "-", pct(ep["share"])]
        for ep in answer["endpoints"]
    ]
    return title, ["endpoint", "node", "zone", "share"], rows, list(answer["explain"])


def analysis_rows(body: dict) -> Rows:
    """One row per Service port and source class; the findings after."""
    rows = []
    for row in body["services"]:
        for src in row["sources"]:
            rows.append(
                [
                    row["service"],
                    str(row["port"]),
                    src["source"],
                    src["to"],
                    pct(src["dropped"]),
                    pct(src["client_ip_preserved"]),
                    "-" if src["imbalance"] is None else f"{src['imbalance']:g}",
                    f"{src['cost']['usd_per_month']:g}",
                ]
            )
    findings = [
        f"{f.get('severity', '')} {f.get('code', '')} {f.get('service', '')}: "
        f"{f.get('message', '')}".strip()
        for f in body["findings"]
    ]
    title = f"{body['count']} Service ports"
    headers = [
        "service",
        "port",
        "source",
        "to",
        "dropped",
        "client IP kept",
        "imbalance",
        "USD/month",
    ]
    return title, headers, rows, findings


def preview_rows(body: dict) -> Rows:
    """One row per Service, port and source: before -> after."""
    rows = []
    for service in body["services"]:
        if service["error"]:
            rows.append([service["service"], "-", "-", service["error"], "", "", ""])
        for q in service["questions"]:
            before, after, diff = q["before"], q["after"], q["diff"]
            rows.append(
                [
                    service["service"],
                    str(q["port"]),
                    q["source"],
                    f"{pct(before['dropped'])} -> {pct(after['dropped'])}",
                    pct(diff["newly_dropped"]),
                    pct(diff["stops_dropping"]),
                    _kept(before) + " -> " + _kept(after),
                ]
            )
    summary = body["summary"]
    title = (
        f"what-if {json.dumps(body['changes'], sort_keys=True)}: {summary['questions']} "
        f"questions, {summary['questions_newly_dropping']} newly dropping, "
        f"{summary['questions_stop_dropping']} stop dropping"
    )
    headers = [
        "service",
        "port",
        "source",
        "dropped",
        "newly dropped",
        "stops dropping",
        "client IP",
    ]
    return title, headers, rows, []


def _kept(answer: dict) -> str:
    return "kept" if answer["client_ip_preserved"] else "lost"


def timeline_lines(out: dict) -> list[str]:
    """A readable rendering of the timeline JSON (``manage.py timeline`` prints it too)."""
    lb = out["timing"]["lb"]
    lines = [
        f"{out['service']}: {out['event']['text']} (load balancer: {lb['preset'] or 'custom'}, "
        f"out after {lb['out_after_s']:g} s, back after {lb['in_after_s']:g} s)"
    ]
    if not out["windows"]:
        lines.append("no connection fails")
    for w in out["windows"]:
        span = f"t={w['start']:g}s" + (
            f"..{w['end']:g}s ({w['seconds']:g} s)"
            if w["seconds"]
            else ""
            if w["end"] is not None
            else " onwards"
        )
        lines.append(f"- {w['source']}: {span}, {w['share']:.1%} [{w['code']}] {w['cause']}")
    for rec in out["recommendations"]:
        left = len(rec["windows_after"])
        lines.append(f"recommendation: {rec['change']['text']} ({left} window(s) left)")
    return lines


def timeline_rows(out: dict) -> Rows:
    """One row per failure window; the recommendations after."""
    rows = [
        [
            w["source"],
            f"{w['start']:g}",
            "-" if w["end"] is None else f"{w['end']:g}",
            pct(w["share"]),
            w["code"],
            w["cause"],
        ]
        for w in out["windows"]
    ]
    notes = [
        f"recommendation: {r['change']['text']} ({len(r['windows_after'])} window(s) left)"
        for r in out["recommendations"]
    ]
    return (
        f"{out['service']}: {out['event']['text']}",
        ["source", "start s", "end s", "share", "code", "cause"],
        rows,
        notes,
    )


def rules_rows(body: dict) -> Rows:
    """One row per rule line with its reason."""
    rows = [[line["text"], line["service"] or "-", line["reason"] or "-"] for line in body["lines"]]
    return (
        f"{body['mode']} rules of node {body['node']}",
        ["rule", "service", "reason"],
        rows,
        list(body["notes"]),
    )


def render(
    body: Any, fmt: str, *, rows: Callable[[Any], Rows], table: Callable[[Any], str] | None = None
) -> str:
    """``body`` in format ``fmt`` (``table`` may have its own renderer)."""
    if fmt == "json":
        return json.dumps(body)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(body, sort_keys=False, allow_unicode=True).rstrip("\n")
    if fmt == "table" and table is not None:
        return table(body)
    title, headers, cells, notes = rows(body)
    return (text_table if fmt == "table" else markdown_table)(title, headers, cells, notes)


def text_table(title: str, headers: list[str], rows: list[list[str]], notes: list[str]) -> str:
    """Aligned columns under a title; notes as a bullet list."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def markdown_table(title: str, headers: list[str], rows: list[list[str]], notes: list[str]) -> str:
    """A Markdown section: title, pipe table, notes."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"### {cell(title)}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    if notes:
        lines += [""] + [f"- {cell(note)}" for note in notes]
    return "\n".join(lines)
