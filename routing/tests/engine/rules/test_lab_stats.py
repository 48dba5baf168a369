"""The lab's chi-square test (routing.lab.stats is pure Python, so it is tested here).

Reference values: chi-square survival function tables (e.g. NIST/SEMATECH e-Handbook,
"Critical values of the chi-square distribution").
"""

from __future__ import annotations

import pytest

from routing.lab.stats import chi2_sf, goodness_of_fit


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [
        (3.841, 1, 0.05),
        (6.635, 1, 0.01),
        (5.991, 2, 0.05),
        (9.210, 2, 0.01),
        (11.070, 5, 0.05),
        (23.209, 10, 0.01),
        (10.828, 1, 0.001),
    ],
)
def test_critical_values(x: float, df: int, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, rel=2e-3)


def test_fair_split_passes_and_lopsided_split_fails() -> None:
    shares = {"a": 0.5, "b": 0.5}
    assert goodness_of_fit({"a": 104, "b": 96}, shares, alpha=0.001).ok
    assert not goodness_of_fit({"a": 160, "b": 40}, shares, alpha=0.001).ok


def test_outcome_predicted_impossible_is_a_disagreement() -> None:
    fit = goodness_of_fit({"a": 99, "drop": 1}, {"a": 1.0}, alpha=0.001)
    assert not fit.ok and fit.impossible == ("drop",)


def test_single_predicted_outcome_passes_when_all_land_there() -> None:
    assert goodness_of_fit({"reject": 50}, {"reject": 1.0}, alpha=0.001).ok
