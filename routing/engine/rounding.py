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


def exact_float_sum(values: list[float], *, tries: int = 64) -> list[float]:
    """Make ``sum(values) == 1.0`` hold in float arithmetic (left to right), not only in
    millionths, by moving single millionths between non-zero entries.

    Readers check ``sum(shares) + dropped == 1``; six-decimal floats summing to one
    million millionths miss that by an ulp about one time in six. Zero entries stay zero
    and no entry moves by more than 10^-6.
    """
    if not values or sum(values) == 1.0:
        return values
    units = [round(v * UNITS) for v in values]
    live = [i for i, u in enumerate(units) if u > 0]
    attempts = 0
    for i in live:
        for j in live:
            if i == j or units[i] < 2:
                continue
            trial = list(units)
            trial[i] -= 1
            trial[j] += 1
            floats = [u / UNITS for u in trial]
            if sum(floats) == 1.0:
                return floats
            attempts += 1
            if attempts >= tries:
                return values
    return values
