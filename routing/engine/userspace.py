"""The removed userspace proxier's choice: round robin with retry on a failed dial.

kube-proxy's userspace mode (deprecated 1.23, removed 1.26) accepted every connection to a
service port itself and dialled a backend. Read from the removed
``pkg/proxy/userspace/roundrobin.go`` and ``proxysocket.go``:

* ``LoadBalancerRR`` keeps, per service port, the endpoint list (shuffled on every
  endpoints update) and one round-robin index shared by all connections; ``NextEndpoint``
  returns ``endpoints[index]`` and advances the index.
* ``tryConnect`` makes up to four dials with timeouts 250 ms, 500 ms, 1 s and 2 s, calling
  ``NextEndpoint`` before each; a failed dial (refused or timed out) moves on, so the share
  of a failing endpoint goes to the endpoint after it in the list. After four failures the
  client connection is closed.
* UDP "dials" never fail (no handshake), so a dead endpoint keeps its share and those flows
  are lost.

Two arrival regimes are modelled exactly. "sequential": connections one after another, so
the index sequence is deterministic and the steady state is the cycle it falls into; a
connection whose turn hits a failing endpoint lands on the next one, but that endpoint's
own turn is then skipped, so working endpoints still share evenly. "concurrent": so many
connections in flight that a retry (after its timeout) finds the index at an effectively
random position; each dial fails with probability f/n independently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from routing.engine.ipvs.hashing import split_endpoint
from routing.engine.ipvs.model import SchedulerResult

DIAL_TIMEOUTS_MS = (250.0, 500.0, 1000.0, 2000.0)  # proxysocket.go endpointDialTimeout


def userspace_shares(
    *,
    endpoints: Sequence[str],
    failing: frozenset[str] = frozenset(),
    protocol: str = "TCP",
    failure: str = "timeout",
    arrivals: str = "sequential",
) -> SchedulerResult:
    """Steady-state share of new connections per endpoint under the userspace proxier.

    ``endpoints`` is the (shuffled) list in kube-proxy's order; ``failing`` endpoints refuse
    or black-hole new connections. ``failure`` is "timeout" (each failed dial costs its full
    timeout) or "refused" (fails at once); it only changes ``connect_delay_ms``.
    ``arrivals`` is "sequential" or "concurrent" (see the module docstring); ``protocol``
    "UDP" disables retries. Shares are over delivered connections; ``dropped`` is the
    fraction that never reach a working endpoint (closed after the last dial, or lost for
    UDP). ValueError with one line on bad input.
    """
    endpoints = tuple(endpoints)
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise ValueError(f"protocol must be TCP, UDP or SCTP, got {protocol!r}")
    if failure not in ("timeout", "refused"):
        raise ValueError(f"failure must be 'timeout' or 'refused', got {failure!r}")
    if arrivals not in ("sequential", "concurrent"):
        raise ValueError(f"arrivals must be 'sequential' or 'concurrent', got {arrivals!r}")
    if len(set(endpoints)) != len(endpoints):
        raise ValueError("duplicate endpoint ids given to userspace_shares")
    for endpoint in endpoints:
        split_endpoint(endpoint)
    unknown = sorted(set(failing) - set(endpoints))
    if unknown:
        raise ValueError(f"failing endpoint {unknown[0]!r} is not among the endpoints")
    notes = ["USERSPACE_REMOVED_1_26", "USERSPACE_ROUND_ROBIN", "USERSPACE_SOURCE_IP_LOST"]
    if not endpoints:
        return SchedulerResult(
            "userspace", {}, "analytic", (*notes, "USERSPACE_NO_ENDPOINTS"), dropped=1.0
        )
    if len(endpoints) > 1:
        notes.append("USERSPACE_ORDER_SHUFFLED")
    down = [e in failing for e in endpoints]
    if protocol == "UDP":
        return _udp(endpoints, down, notes)
    if arrivals == "concurrent":
        return _concurrent(endpoints, down, notes, failure)
    cycle = _steady_cycle(down)
    delivered = [0] * len(endpoints)
    delays: list[float] = []
    failed = 0
    for start in cycle:
        target, tries_failed = _connect(start, down)
        delays.append(_delay(tries_failed, failure))
        if target is None:
            failed += 1
        else:
            delivered[target] += 1
    if any(down):
        notes.append("USERSPACE_RETRY_NEXT_ENDPOINT")
    if failed:
        notes.append("USERSPACE_ALL_TRIES_FAILED")
    return SchedulerResult(
        "userspace",
        _shares(endpoints, delivered),
        "analytic",
        tuple(notes),
        dropped=failed / len(cycle),
        connect_delay_ms=_delay_stats(delays),
    )


def userspace_connections(
    *, endpoints: Sequence[str], failing: frozenset[str] = frozenset(), count: int
) -> list[tuple[str | None, int]]:
    """The first ``count`` connections from a fresh round-robin index, one after another.

    Each item is (endpoint reached or None, failed dials before it) — the trace that shows a
    failing endpoint's turn moving to the endpoint after it.
    """
    endpoints = tuple(endpoints)
    if not endpoints:
        return [(None, 0)] * count
    down = [e in failing for e in endpoints]
    trace: list[tuple[str | None, int]] = []
    index = 0
    for _ in range(count):
        target, tries_failed = _connect(index, down)
        trace.append((endpoints[target] if target is not None else None, tries_failed))
        index = (index + tries_failed + (1 if target is not None else 0)) % len(endpoints)
    return trace


def _connect(start: int, down: Sequence[bool]) -> tuple[int | None, int]:
    """tryConnect(): (endpoint index reached or None, number of failed dials)."""
    n = len(down)
    for attempt in range(len(DIAL_TIMEOUTS_MS)):
        index = (start + attempt) % n
        if not down[index]:
            return index, attempt
    return None, len(DIAL_TIMEOUTS_MS)


def _steady_cycle(down: Sequence[bool]) -> list[int]:
    """Round-robin index at the start of each connection, over the cycle it settles into.

    Each dial advances the shared index, so a connection starting at i leaves it at
    i + (dials made). From index 0 the sequence is eventually periodic; every state on the
    cycle recurs equally often, which makes the cycle the exact steady state.
    """
    n = len(down)
    seen: dict[int, int] = {}
    order: list[int] = []
    index = 0
    while index not in seen:
        seen[index] = len(order)
        order.append(index)
        target, tries_failed = _connect(index, down)
        dials = tries_failed + (1 if target is not None else 0)
        index = (index + dials) % n
    return order[seen[index] :]


def _delay(tries_failed: int, failure: str) -> float:
    if failure == "refused":
        return 0.0
    return float(sum(DIAL_TIMEOUTS_MS[:tries_failed]))


def _delay_stats(delays: Sequence[float]) -> dict[str, float]:
    values = np.asarray(delays, dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    return {
        "mean": round(float(values.mean()), 3),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


def _shares(endpoints: Sequence[str], delivered: Sequence[int]) -> dict[str, float]:
    total = sum(delivered)
    return {e: (d / total if total else 0.0) for e, d in zip(endpoints, delivered)}


def _concurrent(
    endpoints: tuple[str, ...], down: list[bool], notes: list[str], failure: str
) -> SchedulerResult:
    # Every dial lands on a uniformly random list position, independently: P(fail) = f/n.
    n, f = len(endpoints), sum(down)
    q = f / n
    tries = len(DIAL_TIMEOUTS_MS)
    if f:
        notes.append("USERSPACE_RETRY_NEXT_ENDPOINT")
    dropped = q**tries
    if dropped:
        notes.append("USERSPACE_ALL_TRIES_FAILED")
    outcomes = [(_delay(k, failure), (q**k) * (1 - q)) for k in range(tries)] + [
        (_delay(tries, failure), dropped)
    ]
    return SchedulerResult(
        "userspace",
        _shares(endpoints, [0 if d else 1 for d in down]),
        "analytic",
        tuple(notes),
        dropped=dropped,
        connect_delay_ms=_weighted_delay_stats(outcomes),
    )


def _weighted_delay_stats(outcomes: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Mean and percentiles of a discrete delay distribution given as (value, probability)."""
    ordered = sorted(o for o in outcomes if o[1] > 0)
    mean = sum(v * p for v, p in ordered)
    stats = {"mean": round(mean, 3)}
    for name, level in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        cumulative = 0.0
        for value, probability in ordered:
            cumulative += probability
            if cumulative >= level - 1e-12:
                stats[name] = value
                break
    return stats


def _udp(endpoints: tuple[str, ...], down: list[bool], notes: list[str]) -> SchedulerResult:
    # Every flow gets one "dial" that succeeds, so the index walks the list one step per flow.
    delivered = [0 if d else 1 for d in down]
    lost = sum(down)
    if lost:
        notes.append("USERSPACE_UDP_NO_RETRY")
    return SchedulerResult(
        "userspace",
        _shares(endpoints, delivered),
        "analytic",
        tuple(notes),
        dropped=lost / len(endpoints),
        connect_delay_ms={"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0},
    )
