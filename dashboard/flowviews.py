"""Turn the engine's answers for one way into a Service into what the detail page draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.answers import Entry
from dashboard.flow import Flow, FlowSource, build_flow

BAR_WIDTH = 200


@dataclass
class LoadBar:
    """One endpoint's share of an entry's connections, as an SVG bar."""

    ip: str
    node: str
    zone: str
    share: float
    width: float
    heavy: bool

    @property
    def percent(self) -> str:
        """The share as a percentage."""
        return f"{self.share * 100:.1f}%"


@dataclass
class PathRow:
    """One source's answer in words and numbers."""

    label: str
    nodes: int
    action: str
    dropped: float
    drop_reason: str | None
    client_ip_preserved: bool
    latency_ms: float | None
    locality: dict[str, float]
    cost: float


@dataclass
class EntryView:
    """Everything the template shows for one entry."""

    key: str
    title: str
    dropped: float
    flow: Flow
    bars: list[LoadBar]
    paths: list[PathRow]
    #: (reason code, first message, how many other distinct lines of that code).
    trail: list[tuple[str, str, int]]
    preserved_everywhere: bool


def _target_label(ep: dict[str, Any]) -> str:
    return f"{ep['ip']} · {ep['node'] or 'no node'}"


def _by_zone(sources: list[FlowSource], zones: list[str]) -> list[FlowSource]:
    """Sources merged per zone: weights add up, shares and drops are weighted averages."""
    merged: dict[str, list[FlowSource]] = {}
    for source, zone in zip(sources, zones):
        merged.setdefault(zone or "(no zone label)", []).append(source)
    out = []
    for zone, members in sorted(merged.items()):
        weight = sum(m.weight for m in members)
        targets: dict[str, float] = {}
        for m in members:
            for target, share in m.targets.items():
                targets[target] = targets.get(target, 0.0) + share * m.weight / weight
        dropped = sum(m.dropped * m.weight for m in members) / weight
        rejecting = all(m.action == "reject" for m in members if m.dropped > 0)
        out.append(
            FlowSource(
                label=f"{zone} ({weight} node{'s' if weight != 1 else ''})",
                weight=weight,
                targets=targets,
                dropped=dropped,
                action="reject" if rejecting else "drop",
                cross=frozenset().union(*(m.cross for m in members)),
            )
        )
    return out


def entry_view(entry: Entry, *, by_zone: bool = False) -> EntryView:
    """Flow diagram, load bars, per-source rows and the de-duplicated explanation trail.

    ``by_zone`` draws one source per zone instead of one per node (group).
    """
    sources, rows = [], []
    by_code: dict[str, list[str]] = {}
    #: per code, the most lines one answer left out (simulate keeps a few per code).
    hidden: dict[str, int] = {}
    zone_of_target: dict[str, str] = {}
    for path in entry.paths:
        answer = path.answer
        targets = {}
        for ep in answer["endpoints"]:
            label = _target_label(ep)
            targets[label] = ep["share"]
            zone_of_target[label] = ep["zone"] or ""
        cross = frozenset(
            t
            for t in targets
            if path.group.zone and zone_of_target[t] and zone_of_target[t] != path.group.zone
        )
        sources.append(
            FlowSource(
                label=path.group.short or path.group.label,
                weight=path.group.weight,
                targets=targets,
                dropped=answer["dropped"],
                action=answer["action"],
                cross=cross,
            )
        )
        rows.append(
            PathRow(
                label=path.group.label,
                nodes=path.group.weight,
                action=answer["action"],
                dropped=answer["dropped"],
                drop_reason=answer["drop_reason"],
                client_ip_preserved=answer["client_ip_preserved"],
                latency_ms=(answer.get("latency_ms") or {}).get("expected"),
                locality=answer.get("locality") or {},
                cost=(answer.get("cost") or {}).get("usd_per_month", 0.0),
            )
        )
        for item in answer.get("reasons") or []:
            messages = by_code.setdefault(item["code"], [])
            if item["message"] not in messages:
                messages.append(item["message"])
            hidden[item["code"]] = max(hidden.get(item["code"], 0), item.get("more", 0))
    shares = entry.endpoint_shares
    node_of = {
        ep["ip"]: (ep["node"] or "", ep["zone"] or "")
        for p in entry.paths
        for ep in p.answer["endpoints"]
    }
    top = max(shares.values(), default=0.0)
    mean = (sum(shares.values()) / len(shares)) if shares else 0.0
    bars = [
        LoadBar(
            ip,
            *node_of[ip],
            share=share,
            width=round(BAR_WIDTH * share / top, 1) if top else 0,
            heavy=len(shares) > 1 and share > 1.5 * mean,
        )
        for ip, share in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    # One line per reason: per-node repeats ("node-a2 has no usable endpoint", "node-a3 …")
    # would bury the few distinct reasons a reader needs.
    # "more" = the other distinct lines of the code: those shown by any source, plus the
    # most one answer left out (lines left out by several answers may be the same line).
    trail = [
        (code, messages[0], len(messages) - 1 + hidden.get(code, 0))
        for code, messages in by_code.items()
    ]
    if by_zone and entry.key != "lb":
        sources = _by_zone(sources, [p.group.zone for p in entry.paths])
    return EntryView(
        entry.key,
        entry.title,
        entry.dropped,
        build_flow(sources),
        bars,
        rows,
        trail,
        all(r.client_ip_preserved for r in rows),
    )
