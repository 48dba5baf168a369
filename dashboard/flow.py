"""Geometry of the flow diagram: sources on the left, endpoints on the right, bands ∝ share.

Pure presentation: the shares come from the engine's answers; this module only lays out
boxes and bands so a template can draw them as SVG (sized by attributes, never by inline
styles, which the Content-Security-Policy forbids).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Sankey layout: narrow bars, labels outside them (sources right-aligned on the left,
# endpoints on the right), so text stays legible when the picture is scaled down.
WIDTH = 600
LABEL_W = 165
BOX_W = 12
LEFT_X = LABEL_W
RIGHT_X = WIDTH - LABEL_W - BOX_W
GAP = 8
MIN_BOX = 18
#: Sinks for connections that never work, in drawing order: failing on a node the
#: Service's load balancer avoids by design (eTP=Local: dropped, or under IPVS forwarded
#: with the replies lost), dropped, refused, replies lost (the engine's ``outcome``). The
#: first two are drawn calm: no client of the load balancer meets them.
EXPECTED = "dropped by design"
EXPECTED_LOST = "lost, LB avoids"  # replies lost; short enough for the label column
REPLIES_LOST = "replies lost"
DROP_TARGETS = (EXPECTED, EXPECTED_LOST, "dropped", "rejected", REPLIES_LOST)


@dataclass(frozen=True)
class FlowSource:
    """One source of traffic: a node, a group of nodes, a zone, or the external LB.

    ``weight`` is the source's part of all traffic drawn (e.g. its node count); ``targets``
    maps an endpoint label to the share of this source's connections it receives;
    ``dropped`` is the share dropped (``action`` "reject" draws it as rejected, ``expected``
    as dropped by design); ``lost`` the share forwarded whose replies never come back.
    """

    label: str
    weight: float
    targets: dict[str, float]
    dropped: float = 0.0
    action: str = "forward"
    detail: str = ""
    cross: frozenset[str] = field(default_factory=frozenset)
    lost: float = 0.0
    expected: bool = False

    @property
    def failing(self) -> list[tuple[str, float]]:
        """(sink, share) of this source's connections that do not work."""
        if self.expected:
            return [(EXPECTED, self.dropped), (EXPECTED_LOST, self.lost)]
        sink = "rejected" if self.action == "reject" else "dropped"
        return [(sink, self.dropped), (REPLIES_LOST, self.lost)]


@dataclass(frozen=True)
class Box:
    """One bar of the diagram (a source or an endpoint/sink) and its label."""

    label: str
    x: float
    y: float
    h: float
    value: float
    kind: str = ""
    detail: str = ""

    @property
    def label_y(self) -> float:
        """Baseline of the label, centred on the bar."""
        return self.y + self.h / 2 + 4

    @property
    def text_x(self) -> float:
        """Labels sit outside the bars: left of sources, right of targets."""
        return self.x - 6 if self.kind == "src" else self.x + BOX_W + 6

    @property
    def anchor(self) -> str:
        """SVG text-anchor matching ``text_x``."""
        return "end" if self.kind == "src" else "start"

    @property
    def short_label(self) -> str:
        """The endpoint IP (the node is in the tooltip) or the sink's name."""
        return self.label.split(" · ")[0]

    @property
    def percent(self) -> str:
        """The bar's share of all drawn traffic."""
        return f"{self.value * 100:.1f}%"


@dataclass(frozen=True)
class Link:
    """One band from a source to a target: an SVG path and its stroke width."""

    path: str
    width: float
    kind: str
    title: str


@dataclass(frozen=True)
class Flow:
    """Everything the template draws; ``height`` is the SVG viewBox height."""

    width: int
    height: float
    sources: list[Box]
    targets: list[Box]
    links: list[Link]
    box_w: int = BOX_W


def _stack(items: list[tuple[str, float, str, str]], x: float, scale: float) -> list[Box]:
    boxes: list[Box] = []
    y: float = GAP
    for label, value, kind, detail in items:
        h = max(MIN_BOX, value * scale)
        boxes.append(Box(label=label, x=x, y=y, h=h, value=value, kind=kind, detail=detail))
        y += h + GAP
    return boxes


def build_flow(sources: list[FlowSource], *, scale: float = 320.0) -> Flow:
    """Lay out ``sources`` and the endpoints they reach; band width ∝ weight × share."""
    total = sum(s.weight for s in sources) or 1.0
    inflow: dict[str, float] = {}
    for source in sources:
        for target, share in source.targets.items():
            inflow[target] = inflow.get(target, 0.0) + share * source.weight / total
        for sink, share in source.failing:
            if share > 0:
                inflow[sink] = inflow.get(sink, 0.0) + share * source.weight / total
    order = sorted(t for t in inflow if t not in DROP_TARGETS) + [
        t for t in DROP_TARGETS if t in inflow
    ]
    left = _stack([(s.label, s.weight / total, "src", s.detail) for s in sources], LEFT_X, scale)
    right = _stack([(t, inflow[t], _sink_kind(t), "") for t in order], RIGHT_X, scale)
    by_label = {box.label: box for box in right}
    # Bands leave each source box top to bottom and enter each target box top to bottom.
    out_offset = {box.label: 0.0 for box in left}
    in_offset = {box.label: 0.0 for box in right}
    links: list[Link] = []
    for source, box in zip(sources, left):
        flows = [(t, sh) for t, sh in sorted(source.targets.items()) if sh > 0]
        flows += [(sink, share) for sink, share in source.failing if share > 0]
        for target, share in flows:
            value = share * source.weight / total
            width = max(1.0, value * scale)
            dst = by_label[target]
            y0 = box.y + min(out_offset[box.label] + width / 2, box.h)
            y1 = dst.y + min(in_offset[target] + width / 2, dst.h)
            out_offset[box.label] += width
            in_offset[target] += width
            x0, x1 = box.x + BOX_W, dst.x
            mid = (x0 + x1) / 2
            if target in DROP_TARGETS:
                kind = _sink_kind(target)
            else:
                kind = "cross" if target in source.cross else ""
            links.append(
                Link(
                    path=(
                        f"M{x0:.1f},{y0:.1f} "
                        f"C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
                    ),
                    width=round(width, 1),
                    kind=kind,
                    title=f"{source.label} → {target}: {share * 100:.1f}% of its connections",
                )
            )
    height = max((b.y + b.h for b in left + right), default=MIN_BOX) + GAP
    return Flow(width=WIDTH, height=round(height, 1), sources=left, targets=right, links=links)


def _sink_kind(target: str) -> str:
    """CSS kind of a target box or band: an endpoint, a failing sink, or the calm one."""
    if target in (EXPECTED, EXPECTED_LOST):
        return "expected"
    return "drop" if target in DROP_TARGETS else "dst"
