"""The timeline page's time chart: coordinates for a server-rendered SVG (no script, no
inline style: the template only places shapes and classes)."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 140, 44, 12, 10, 26
SOURCE_TITLES = {
    "pod": "Pods → ClusterIP",
    "external": "External → NodePort",
    "lb": "Load balancer",
}


@dataclass
class Panel:
    """One source's chart: the lost share over time, its windows shaded."""

    source: str
    title: str
    points: str = ""
    windows: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    marks: list[dict] = field(default_factory=list)
    peak: float = 0.0


def horizon(out: dict) -> float:
    """Seconds shown: past the last change and the last window, with some margin."""
    ends = [s["t"] for s in out["steps"]] + [w["end"] or w["start"] for w in out["windows"]]
    last = max(ends, default=0.0)
    return max(10.0, last * 1.15 + 5)


def _x(t: float, span: float) -> float:
    return round(LEFT + (WIDTH - LEFT - RIGHT) * min(t, span) / span, 1)


def _y(share: float) -> float:
    return round(TOP + (HEIGHT - TOP - BOTTOM) * (1 - share), 1)


def _ticks(span: float) -> list[dict]:
    step = next(
        s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if span / s <= 8
    )
    out, t = [], 0.0
    while t <= span:
        out.append({"x": _x(t, span), "label": f"{t:g}s"})
        t += step
    return out


def panels(out: dict) -> list[Panel]:
    """One panel per source class in the timeline, in the order pod, external, lb."""
    span = horizon(out)
    baseline = out["event"].get("baseline", {})
    result = []
    for source in ("pod", "external", "lb"):
        steps = [s for s in out["steps"] if s["source"] == source]
        if not steps:
            continue
        base = baseline.get(source, {})
        floor = base.get("dropped", 0.0) + base.get("failing", 0.0)
        panel = Panel(source=source, title=SOURCE_TITLES[source], ticks=_ticks(span))
        coords: list[tuple[float, float]] = [(LEFT, _y(0.0))]
        for step in steps:
            lost = max(0.0, step["dropped"] + step["failing"] - floor)
            panel.peak = max(panel.peak, lost)
            coords.append((_x(step["t"], span), coords[-1][1]))
            coords.append((_x(step["t"], span), _y(lost)))
        coords.append((_x(span, span), coords[-1][1]))
        panel.points = " ".join(f"{x},{y}" for x, y in coords)
        for w in out["windows"]:
            if w["source"] != source:
                continue
            x0, x1 = _x(w["start"], span), _x(w["end"] if w["end"] is not None else span, span)
            panel.windows.append(
                {
                    "x": x0,
                    "width": max(1.0, round(x1 - x0, 1)),
                    "y": TOP,
                    "height": HEIGHT - TOP - BOTTOM,
                    "code": w["code"],
                    "title": w["cause"],
                }
            )
        panel.marks = [
            {"x": _x(0.0, span), "label": f"t=0 s: {out['event']['text']}", "start": True}
        ]
        panel.marks += [
            {"x": _x(m["t"], span), "label": f"t={m['t']:g} s: {m['text']}", "start": False}
            for m in out["event"].get("marks", [])
            if m["t"] > 0
        ]
        result.append(panel)
    return result


GEOMETRY = {
    "width": WIDTH,
    "height": HEIGHT,
    "left": LEFT,
    "top": TOP,
    "plot_bottom": HEIGHT - BOTTOM,
    "plot_right": WIDTH - RIGHT,
    "y_full": _y(1.0),
    "y_half": _y(0.5),
    "label_y": HEIGHT - 8,
}
