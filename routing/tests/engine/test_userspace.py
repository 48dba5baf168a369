"""The removed userspace proxier: round robin with retry on dial failure.

Sources (removed in K/K PR #112133, read at their last versions):
pkg/proxy/userspace/roundrobin.go — LoadBalancerRR.NextEndpoint returns
endpoints[index] and advances index for every call; the list is ShuffleStrings'ed and the
index reset on each endpoints update. pkg/proxy/userspace/proxysocket.go — tryConnect
loops over endpointDialTimeout = [250ms, 500ms, 1s, 2s], calling NextEndpoint before each
dial and giving up after the fourth; UDP "dials" cannot fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.ipvs import REASONS
from routing.engine.userspace import DIAL_TIMEOUTS_MS, userspace_connections, userspace_shares

A, B, C, D, E, F = (f"10.2.0.{i}:9000" for i in range(1, 7))


def test_dial_timeouts_are_kube_proxys():
    assert DIAL_TIMEOUTS_MS == (250.0, 500.0, 1000.0, 2000.0)


def test_a_failing_endpoints_turn_moves_to_the_next_one():
    """Connection 2's turn is B (down): its retry dials C. Connection 3 then starts after C."""
    trace = userspace_connections(endpoints=(A, B, C, D), failing=frozenset({B}), count=6)
    assert trace == [(A, 0), (C, 1), (D, 0), (A, 0), (C, 1), (D, 0)]


@dataclass(frozen=True)
class Case:
    name: str
    endpoints: tuple[str, ...]
    failing: frozenset[str]
    shares: dict[str, float]
    dropped: float
    delay_mean_ms: float
    arrivals: str = "sequential"
    protocol: str = "TCP"
    note: str | None = None


# Worked by hand from tryConnect/NextEndpoint (sequential connections, index from 0):
CASES = (
    Case(
        "all healthy: plain round robin",
        (A, B, C, D),
        frozenset(),
        {A: 0.25, B: 0.25, C: 0.25, D: 0.25},
        0.0,
        0.0,
    ),
    # Cycle of start indices 0,1,3: A; B fails then C (250 ms); D. Mean delay 250/3.
    Case(
        "one failing: working endpoints still share evenly, a third of connections wait 250 ms",
        (A, B, C, D),
        frozenset({B}),
        {A: 1 / 3, B: 0.0, C: 1 / 3, D: 1 / 3},
        0.0,
        250 / 3,
        note="USERSPACE_RETRY_NEXT_ENDPOINT",
    ),
    # Cycle 0,1: A; B fails, C fails (250 + 500), D.
    Case(
        "two adjacent failing: the next working endpoint catches both turns",
        (A, B, C, D),
        frozenset({B, C}),
        {A: 0.5, B: 0.0, C: 0.0, D: 0.5},
        0.0,
        750 / 2,
    ),
    # Two endpoints, B down: from index 1 a connection dials B, fails, dials A, and leaves
    # the index on B again — every connection in the steady state pays 250 ms.
    Case(
        "two endpoints, one down: every connection first dials the dead one",
        (A, B),
        frozenset({B}),
        {A: 1.0, B: 0.0},
        0.0,
        250.0,
    ),
    # Six endpoints, four consecutive down: cycle 0,1,5 -> A; four failures (3750 ms, closed); F.
    Case(
        "four consecutive failing exhaust the retries: a third of connections fail",
        (A, B, C, D, E, F),
        frozenset({B, C, D, E}),
        {A: 0.5, B: 0.0, C: 0.0, D: 0.0, E: 0.0, F: 0.5},
        1 / 3,
        3750 / 3,
        note="USERSPACE_ALL_TRIES_FAILED",
    ),
    Case(
        "all failing: every connection is closed after 3.75 s",
        (A, B),
        frozenset({A, B}),
        {A: 0.0, B: 0.0},
        1.0,
        3750.0,
    ),
    # Concurrent: every dial hits a random position; P(fail) = 1/4 per dial, four dials.
    # Mean delay = sum_k P(k failures, then success) * delay(k) + P(4 failures) * 3750
    #            = 0.75*(0.25*250 + 0.0625*750 + 0.015625*1750) + 0.00390625*3750.
    Case(
        "concurrent arrivals: retries land anywhere, (1/4)^4 of connections fail",
        (A, B, C, D),
        frozenset({B}),
        {A: 1 / 3, B: 0.0, C: 1 / 3, D: 1 / 3},
        0.25**4,
        0.75 * (0.25 * 250 + 0.0625 * 750 + 0.015625 * 1750) + 0.25**4 * 3750,
        arrivals="concurrent",
    ),
    # UDP: the dial to B "succeeds", so B keeps its turn and its flows are lost.
    Case(
        "UDP never retries: the dead endpoint's flows are lost",
        (A, B, C, D),
        frozenset({B}),
        {A: 1 / 3, B: 0.0, C: 1 / 3, D: 1 / 3},
        0.25,
        0.0,
        protocol="UDP",
        note="USERSPACE_UDP_NO_RETRY",
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_userspace_steady_state(case):
    result = userspace_shares(
        endpoints=case.endpoints,
        failing=case.failing,
        arrivals=case.arrivals,
        protocol=case.protocol,
    )
    assert result.scheduler == "userspace" and result.method == "analytic"
    assert result.shares == pytest.approx(case.shares)
    assert result.dropped == pytest.approx(case.dropped)
    assert result.connect_delay_ms["mean"] == pytest.approx(case.delay_mean_ms, abs=1e-3)
    if case.note:
        assert case.note in result.notes
    assert all(code in REASONS for code in result.notes)


def test_refused_dials_cost_no_delay_but_move_the_same_way():
    timeout = userspace_shares(endpoints=(A, B, C, D), failing=frozenset({B}))
    refused = userspace_shares(endpoints=(A, B, C, D), failing=frozenset({B}), failure="refused")
    assert refused.shares == timeout.shares
    assert refused.connect_delay_ms["p99"] == 0.0 and timeout.connect_delay_ms["p99"] == 250.0


def test_source_ip_is_always_lost_and_mode_is_flagged_removed():
    result = userspace_shares(endpoints=(A,))
    assert {"USERSPACE_SOURCE_IP_LOST", "USERSPACE_REMOVED_1_26"} <= set(result.notes)
    assert result.shares == {A: 1.0}


def test_no_endpoints_closes_every_connection():
    result = userspace_shares(endpoints=())
    assert result.dropped == 1.0 and "USERSPACE_NO_ENDPOINTS" in result.notes


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"endpoints": (A,), "failing": frozenset({B})},
            "failing endpoint '10.2.0.2:9000' is not among the endpoints",
        ),
        ({"endpoints": (A,), "protocol": "icmp"}, "protocol must be TCP, UDP or SCTP"),
        (
            {"endpoints": (A,), "arrivals": "bursty"},
            "arrivals must be 'sequential' or 'concurrent'",
        ),
        ({"endpoints": (A, A)}, "duplicate endpoint"),
        ({"endpoints": ("10.2.0.1",)}, "is not ip:port"),
    ],
    ids=[
        "unknown failing endpoint",
        "bad protocol",
        "bad arrivals",
        "duplicate",
        "malformed endpoint",
    ],
)
def test_bad_input_raises_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        userspace_shares(**kwargs)
    assert "\n" not in str(info.value)
