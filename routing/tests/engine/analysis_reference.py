"""Brute force for the analysis tests: ``simulate`` asked from every node, one by one.

This is what ``routing.engine.analysis`` must equal without doing it: per source class,
the mean over all source nodes (``lb``: one ``simulate`` with source ``lb``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from routing.engine.costmodel import LOCALITIES
from routing.engine.simulate import Question, simulate
from routing.engine.snapshot import Snapshot


@dataclass
class Expected:
    """Mean answer of one source class over its source nodes."""

    shares: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    dropped: float = 0.0
    refused: float = 0.0
    #: simulate's ``effective_dropped`` (dropped + forwarded with replies lost), averaged.
    effective_dropped: float = 0.0
    locality: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: share of all connections forwarded with the client IP preserved.
    preserved: float = 0.0
    #: False when simulate's figure cannot be compared (see ``brute_force``).
    preserved_exact: bool = True
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def brute_force(
    snapshot: Snapshot, service: str, port: str | int, source: str, to: str
) -> Expected:
    """Average ``simulate`` over every node for source ``pod``/``external``/``pod-external``,
    or ask it once for ``lb``."""
    out = Expected()
    if source == "lb":
        answers = [
            (simulate(snapshot, Question(service=service, source="lb", to=to, port=port)), 1.0)
        ]
    else:
        kind = "external" if source == "external" else "pod"
        names = list(snapshot.nodes)
        answers = [
            (
                simulate(
                    snapshot, Question(service=service, source=f"{kind}:{n}", to=to, port=port)
                ),
                1.0 / len(names),
            )
            for n in names
        ]
    for answer, weight in answers:
        out.actions[answer.action] += 1
        out.dropped += weight * answer.dropped
        out.refused += weight * answer.rejected
        out.effective_dropped += weight * min(1.0, answer.dropped + answer.replies_lost)
        for key, (_, share) in answer.endpoint_shares.items():
            out.shares[key] += weight * share
        for name in LOCALITIES:
            out.locality[name] += weight * answer.locality.get(name, 0.0)
        if source == "lb":
            out.preserved += weight * answer.client_ip_preserved_share * (1.0 - answer.dropped)
            # simulate counts a partly refused path's whole weight as kept: not comparable.
            out.preserved_exact = answer.rejected == 0.0 or answer.dropped >= 1.0
        elif answer.client_ip_preserved:
            out.preserved += weight * (1.0 - answer.dropped)
    return out
