"""Chi-square goodness of fit, with its p-value from the regularized incomplete gamma
function (no SciPy on purpose: the lab must run wherever Routescope runs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    n = a
    for _ in range(10_000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    # Modified Lentz evaluation of the continued fraction for Q(a, x).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for a chi-square variable with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if statistic <= 0:
        return 1.0
    a, x = df / 2.0, statistic / 2.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return min(1.0, _gamma_q_fraction(a, x))


@dataclass(frozen=True)
class Fit:
    """Outcome of a goodness-of-fit test of observed counts against predicted shares."""

    statistic: float
    df: int
    p_value: float
    impossible: tuple[str, ...]
    ok: bool


def goodness_of_fit(
    observed: Mapping[str, int], expected_shares: Mapping[str, float], *, alpha: float
) -> Fit:
    """Pearson's chi-square test. An outcome with predicted share 0 that was observed is an
    outright disagreement (``impossible``); one category alone passes iff nothing fell outside."""
    n = sum(observed.values())
    cats = [k for k, share in expected_shares.items() if share > 0]
    impossible = tuple(
        sorted(k for k, count in observed.items() if count and expected_shares.get(k, 0.0) <= 0)
    )
    if n == 0:
        return Fit(0.0, 0, 0.0, impossible, False)
    if len(cats) <= 1:
        return Fit(0.0, 0, 1.0 if not impossible else 0.0, impossible, not impossible)
    total_share = sum(expected_shares[k] for k in cats)
    stat = 0.0
    for k in cats:
        exp = n * expected_shares[k] / total_share
        stat += (observed.get(k, 0) - exp) ** 2 / exp
    p = chi2_sf(stat, len(cats) - 1)
    return Fit(stat, len(cats) - 1, p, impossible, p >= alpha and not impossible)
