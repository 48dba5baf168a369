"""Rounding shares for output so that they still sum to exactly one million millionths."""
from __future__ import annotations

from collections.abc import Sequence

UNITS = 1_000_000


def round_shares(values: Sequence[float]) -> list[float]:
    """Round ``values`` (summing to ~1) to 6 decimals with the largest-remainder method.

    The rounded values sum to 1 (as integers of 10^-6); zero stays zero. If the inputs
    sum to 0, zeros come back.
    """
    total = sum(values)
    if total <= 0:
        return [0.0] * len(values)
    exact = [v / total * UNITS for v in values]
    floors = [int(x) for x in exact]
    missing = UNITS - sum(floors)
    order = sorted(range(len(values)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[:missing]:
        floors[i] += 1
    return [f / UNITS for f in floors]
