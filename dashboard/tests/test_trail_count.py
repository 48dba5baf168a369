"""The Why trail's "(and N more like it)" counts the other distinct lines of a code, those
``simulate`` left out of an answer included (issue 16: the count was wrong)."""

from __future__ import annotations

from typing import Any

from dashboard.flowviews import entry_view
from routing.engine.explain import Code, reason
from routing.engine.simulate import _dedupe
from routing.whatif.preview import Entry, PathAnswer, SourceGroup


def _answer(reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "endpoints": [],
        "dropped": 1.0,
        "effective_dropped": 1.0,
        "action": "drop",
        "outcome": "dropped",
        "drop_reason": None,
        "client_ip_preserved": False,
        "latency_ms": None,
        "locality": {},
        "cost": {},
        "reasons": reasons,
    }


def test_more_like_it_counts_every_other_distinct_line() -> None:
    lines = [reason(Code.NODE_NOT_READY, node=f"node-{i}") for i in range(6)]
    kept = _dedupe(lines)  # simulate keeps 3 lines of a code; the last says 3 more
    assert [r.more for r in kept] == [0, 0, 3]
    assert str(kept[-1]).endswith("(and 3 more like it)")
    first = [{"code": str(r.code), "message": r.message, "more": r.more} for r in kept]
    second = [{"code": str(lines[0].code), "message": lines[0].message}]
    entry = Entry(
        "pod",
        "Pods → ClusterIP",
        "clusterip",
        [
            PathAnswer(SourceGroup("a", ("a",)), "pod:a", _answer(first)),
            PathAnswer(SourceGroup("b", ("b",)), "pod:b", _answer(second)),
        ],
        "http",
    )
    trail = entry_view(entry).trail
    assert trail == [(str(Code.NODE_NOT_READY), lines[0].message, 5)]
