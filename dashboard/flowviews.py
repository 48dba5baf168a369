"""Turn the engine's answers for one way into a Service into what the detail page draws.

Truth first: every figure leads with the engine's ``outcome`` (does the connection work?),
not kube-proxy's ``action``; a forwarded connection whose replies are lost fails. A failure
no client of the load balancer meets — ``externalTrafficPolicy: Local`` on a node without
a local endpoint, which the Service's load balancer avoids (its health check fails there):
dropped, or under IPVS forwarded with the replies lost — is told apart as "by design":
only a client sending to that node's NodePort directly meets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboard.answers import Entry, PathAnswer
from dashboard.flow import Flow, FlowSource, build_flow

BAR_WIDTH = 200
#: The engine's reason for an eTP=Local drop on a node without a usable local endpoint.
LOCAL_DROP = "LOCAL_NO_ENDPOINT_ON_NODE"
#: Outcomes (``routing.engine.simulate.OUTCOMES``) where nothing reaches an endpoint.
NOTHING_ARRIVES = ("dropped", "refused")
#: The engine's ``outcome`` -> (words, badge tone).
OUTCOME_WORDS = {
    "ok": ("works", "ok"),
    "partly_dropped": ("partly dropped", "warn"),
    "replies_lost": ("replies lost", "bad"),
    "dropped": ("dropped", "bad"),
    "refused": ("refused", "bad"),
    "not_proxied": ("not proxied", "info"),
}


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
    outcome: str = "ok"
    effective_dropped: float = 0.0
    #: the drop is by design: the Service's load balancer never sends to these nodes.
    expected: bool = False

    @property
    def verdict(self) -> tuple[str, str]:
        """(words, tone) of the outcome: what the source's clients meet."""
        if self.expected:
            if self.outcome == "replies_lost":
                return "replies lost (LB avoids this node)", "info"
            return "dropped by design (LB avoids this node)", "info"
        return OUTCOME_WORDS.get(self.outcome, (self.outcome, "bad"))

    @property
    def client_ip(self) -> tuple[str, str]:
        """(words, tone) of the client IP column: only a connection that arrives keeps or
        loses it; kept with the replies lost is why they are lost (no SNAT back)."""
        if self.outcome in NOTHING_ARRIVES:
            return "—", ""
        if self.outcome == "replies_lost":
            return "kept, replies lost", "bad"
        return ("kept", "ok") if self.client_ip_preserved else ("SNAT", "warn")


@dataclass
class Outcome:
    """An entry's new connections by outcome, node-weighted (shares of all of them)."""

    dropped: float = 0.0
    refused: float = 0.0
    replies_lost: float = 0.0
    #: failing on nodes the load balancer avoids (eTP=Local): dropped, or replies lost.
    avoided_dropped: float = 0.0
    avoided_lost: float = 0.0

    @property
    def by_design(self) -> float:
        """The share failing only on nodes the Service's load balancer avoids."""
        return self.avoided_dropped + self.avoided_lost

    @property
    def failing(self) -> float:
        """The share a real client meets failing (by-design drops left out)."""
        return self.dropped + self.refused + self.replies_lost

    @property
    def tone(self) -> str:
        """ok (all works), expected (only by-design drops), bad (a client meets a failure)."""
        if self.failing > 1e-9:
            return "bad"
        return "expected" if self.by_design > 1e-9 else "ok"

    @property
    def parts(self) -> list[tuple[str, float]]:
        """(words, share) of each failing kind present, worst first."""
        named = (
            ("replies lost", self.replies_lost),
            ("dropped", self.dropped),
            ("refused", self.refused),
            ("dropped by design on nodes the load balancer avoids", self.avoided_dropped),
            ("replies lost on nodes the load balancer avoids", self.avoided_lost),
        )
        return [(words, share) for words, share in named if share > 1e-9]


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
    outcome: Outcome = field(default_factory=Outcome)

    @property
    def working(self) -> float:
        """The share of new connections that work."""
        o = self.outcome
        return max(1.0 - o.failing - o.by_design, 0.0)


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
        lost = sum(m.lost * m.weight for m in members) / weight
        rejecting = all(m.action == "reject" for m in members if m.dropped > 0)
        # A zone's drop is by design only when every dropping member's is.
        designed = any(m.dropped > 0 for m in members) and all(
            m.expected for m in members if m.dropped > 0
        )
        out.append(
            FlowSource(
                label=f"{zone} ({weight} node{'s' if weight != 1 else ''})",
                weight=weight,
                targets=targets,
                dropped=dropped,
                action="reject" if rejecting else "drop",
                cross=frozenset().union(*(m.cross for m in members)),
                lost=lost,
                expected=designed,
            )
        )
    return out


def lb_nodes(entries: list[Entry]) -> dict[str, frozenset[str]]:
    """Port -> the nodes the Service's cloud load balancer sends to (its ``lb`` entries)."""
    return {
        e.port: frozenset(i["node"] for p in e.paths for i in p.answer.get("ingress_nodes") or ())
        for e in entries
        if e.key == "lb"
    }


def by_design(entry: Entry, path: PathAnswer, lb_served: frozenset[str] | None) -> bool:
    """Whether ``path`` fails only because of eTP=Local on nodes without a local endpoint
    that the load balancer never sends to (``lb_served`` lacks them): dropped there, or
    forwarded under IPVS with the replies lost (``decide.replies_lost``)."""
    answer = path.answer
    local_failure = (answer["outcome"] == "dropped" and answer["drop_reason"] == LOCAL_DROP) or (
        answer["outcome"] == "replies_lost"
    )
    return (
        entry.key == "nodeport"
        and lb_served is not None
        and local_failure
        and not set(path.group.nodes) & lb_served
    )


def _outcome(entry: Entry, expected: list[bool]) -> Outcome:
    """The entry's node-weighted outcome shares (summed per node, divided once, rounded
    as the answers are, so ten nodes refusing all make exactly 100 %)."""
    sums = dict.fromkeys(
        ("dropped", "refused", "replies_lost", "avoided_dropped", "avoided_lost"), 0.0
    )
    for path, designed in zip(entry.paths, expected):
        a, w = path.answer, path.group.weight
        lost = a.get("effective_dropped", a["dropped"]) - a["dropped"]
        rejected = a.get("rejected", a["dropped"] if a["action"] == "reject" else 0.0)
        if designed:
            sums["avoided_dropped"] += a["dropped"] * w
            sums["avoided_lost"] += lost * w
        else:
            sums["dropped"] += (a["dropped"] - rejected) * w
            sums["refused"] += rejected * w
            sums["replies_lost"] += lost * w
    total = entry.nodes_total or 1
    return Outcome(**{name: round(value / total, 6) for name, value in sums.items()})


def entry_views(entries: list[Entry], *, by_zone: bool = False) -> list[EntryView]:
    """``entry_view`` of each of one side's entries, told which nodes its LB uses."""
    served = lb_nodes(entries)
    return [entry_view(e, by_zone=by_zone, lb_served=served.get(e.port)) for e in entries]


def entry_view(
    entry: Entry, *, by_zone: bool = False, lb_served: frozenset[str] | None = None
) -> EntryView:
    """Flow diagram, load bars, per-source rows, outcome and the de-duplicated trail.

    ``by_zone`` draws one source per zone instead of one per node (group). ``lb_served``:
    the nodes the Service's load balancer sends to (None without one), which tells an
    eTP=Local drop by design from one a client meets.
    """
    sources, rows = [], []
    expected = [by_design(entry, path, lb_served) for path in entry.paths]
    by_code: dict[str, list[str]] = {}
    #: per code, the most lines one answer left out (simulate keeps a few per code).
    hidden: dict[str, int] = {}
    zone_of_target: dict[str, str] = {}
    for path, designed in zip(entry.paths, expected):
        answer = path.answer
        lost = answer.get("effective_dropped", answer["dropped"]) - answer["dropped"]
        forwarded = 1.0 - answer["dropped"]
        # The share whose replies are lost is drawn into its own sink, not to endpoints.
        keep = max(1.0 - lost / forwarded, 0.0) if forwarded > 0 else 0.0
        targets = {}
        for ep in answer["endpoints"]:
            label = _target_label(ep)
            targets[label] = ep["share"] * keep
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
                lost=lost,
                expected=designed,
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
                outcome=answer.get("outcome", "ok"),
                effective_dropped=answer.get("effective_dropped", answer["dropped"]),
                expected=designed,
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
        all(r.client_ip_preserved for r in rows if r.outcome not in NOTHING_ARRIVES),
        _outcome(entry, expected),
    )
