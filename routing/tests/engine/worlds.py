"""Hypothesis pieces shared by the engine's property tests: one random endpoint (its node,
readiness conditions and topology hints) and the slice endpoints a drawn list becomes
(``test_properties`` and the packet tracer's ``test_tracer_vs_simulate_properties``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from routing.tests.engine.core_builders import endpoint_obj

#: A condition as a slice may carry it: true, false or left out.
CONDITION = st.sampled_from([True, False, None])


def endpoint_strategy(
    nodes: Sequence[str], *, hint_zones: Sequence[tuple[str, ...]] = ((), ("a",), ("b",))
) -> st.SearchStrategy[dict[str, Any]]:
    """One endpoint on one of ``nodes``: ready / serving / terminating each true, false or
    unset; zone hints from ``hint_zones``; a node hint for none, n1 or n2."""
    return st.fixed_dictionaries(
        {
            "node": st.sampled_from(list(nodes)),
            "ready": CONDITION,
            "serving": CONDITION,
            "terminating": CONDITION,
            "zones": st.sampled_from(list(hint_zones)),
            "nodes": st.sampled_from([(), ("n1",), ("n2",)]),
        }
    )


def endpoint_objects(drawn: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The slice endpoints of drawn endpoints, addressed 10.0.0.1, 10.0.0.2, ..."""
    return [
        endpoint_obj(
            f"10.0.0.{i + 1}",
            e["node"],
            ready=e["ready"],
            serving=e["serving"],
            terminating=e["terminating"],
            zones=e["zones"],
            nodes=e["nodes"],
        )
        for i, e in enumerate(drawn)
    ]
