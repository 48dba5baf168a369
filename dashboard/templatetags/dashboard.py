"""Small presentation filters for the dashboard templates."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` or None (templates cannot index by a variable)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.3333 -> "33.3%"; None -> "—". A share that is neither none nor all never rounds
    to "0.0%" or "100.0%": it gets the decimals it needs (0.9998 -> "99.98%")."""
    if value is None or value == "":
        return "—"
    value, digits = float(value), int(digits)
    text = f"{value * 100:.{digits}f}"
    while 0 < value < 1 and float(text) in (0.0, 100.0) and digits < 4:
        digits += 1
        text = f"{value * 100:.{digits}f}"
    return f"{text}%"


@register.filter
def signed_percent(value: Any) -> str:
    """0.25 -> "+25.0 pp" (a change of a share, in percentage points)."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+.1f} pp"


@register.filter
def subtract(value: Any, other: Any) -> float:
    """``value - other`` for numbers."""
    return float(value) - float(other)


@register.filter
def pod_dots(pods: list[tuple[str, str, str]], critical: Container[str] = ()) -> str:
    """The overview's pod dots for one node: (pod, Service keys, colour class) each; a pod
    backing a Service in ``critical`` (with a critical finding) is ringed.

    Built as one escaped string because a 5,000-node overview draws
    thousands of them and per-dot template tags would dominate the page's render time.
    """

    def classes(services: str, colour: str) -> str:
        crit = critical and any(key in critical for key in services.split())
        return f"{colour} crit" if crit else colour

    return mark_safe(
        "".join(
            f'<span class="pod {escape(classes(services, colour))}" data-svc="{escape(services)}" '
            f'title="{escape(pod)}{escape(" → " + services) if services else ""}"></span>'
            for pod, services, colour in pods
        )
    )


@register.filter
def thousands(value: Any) -> str:
    """12345 -> "12,345"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
