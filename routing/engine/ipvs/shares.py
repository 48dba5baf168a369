"""``scheduler_shares``: how one node's IPVS spreads new connections over a virtual
server's real servers.

Decide, then apply: :func:`needs_simulation` decides whether the steady state is known in
closed form; the analytic helpers compute exact shares (or exact hash mappings) where it
is, and :mod:`routing.engine.ipvs.simulate` runs the seeded request-level simulation where
the answer depends on load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from routing.engine.ipvs import hashing
from routing.engine.ipvs.model import SCHEDULERS, SchedulerResult, Workload

if TYPE_CHECKING:  # imported where used: it needs numpy (a tenth of a second to import),
    # which no Service the analysis meets outside IPVS asks for
    from routing.engine.ipvs import simulate

LOAD_DEPENDENT = ("lc", "wlc", "sed", "nq", "lblc", "lblcr")
# With no workload, sed/nq still need one (their answer depends on load): kube-proxy's typical
# light-to-moderate load, kept short because cluster-wide analysis asks once per endpoint count.
_DEFAULT_WORKLOAD = Workload(requests=4000)
# Simulation outcomes by (scheduler, shape, workload, seed); a plain dict evicted oldest-first
# because Workload holds mappings and cannot be an lru_cache key.
_SIM_CACHE: dict[tuple[Any, ...], simulate.SimOutcome] = {}
_SIM_CACHE_SIZE = 512


def needs_simulation(
    *,
    scheduler: str,
    workload: Workload | None,
    weights: Sequence[int],
    service_ms: Sequence[float],
) -> bool:
    """True when the shares depend on live connection counts under this workload.

    rr/wrr/sh/mh/dh never need it (their choice ignores load); ``workload.simulate`` forces
    the answer either way. lc/wlc with identical endpoints are uniform by symmetry (their
    inactive counts keep recent connection counts level), so they simulate only with
    differing service times or weights, for UDP, or when too few closed connections linger
    (arrival rate x inactive timeout < 10 per server) to break ties. sed/nq always depend
    on load: the first idle server in list order wins. lblc/lblcr are analytic only without
    a workload (the light-load limit: the VIP stays pinned). Persistence (sessionAffinity)
    makes every load-dependent scheduler simulated; rr/wrr stay analytic per client.
    """
    if workload is not None and workload.simulate is not None:
        return workload.simulate
    if scheduler in ("sed", "nq"):
        return True
    if workload is None or scheduler not in LOAD_DEPENDENT:
        return False
    if scheduler in ("lblc", "lblcr") or workload.persistence_timeout_s > 0:
        return True
    identical = len(set(service_ms)) <= 1 and len({w for w in weights if w > 0}) <= 1
    # Symmetry only levels the shares when inactive counts break the ties: with few
    # connections lingering per server, every idle tie goes to the first in list order.
    lingering = workload.arrival_rate * workload.inactive_timeout() >= 10 * len(weights)
    return not identical or workload.protocol == "UDP" or not lingering


def scheduler_shares(
    *, endpoints: Sequence[str], scheduler: str, workload: Workload | None = None, seed: int = 0
) -> SchedulerResult:
    """Share of new connections each endpoint gets from one node's IPVS virtual server.

    ``endpoints`` are ``"ip:port"`` ids in the order of the kernel's destination list (the
    order is arbitrary on a real node — kube-proxy adds them in Go map order — and matters
    only for tie-breaks and hash tables). ``scheduler`` is one of ``SCHEDULERS``; a bad name
    or a malformed/duplicate endpoint raises ValueError with a one-line message. Shares sum
    to 1 over ``endpoints`` unless every connection fails (then ``dropped`` is 1).
    Without a workload, the answer is analytic except for sed/nq, which are simulated
    under a default workload (200 new connections/s, 10 ms service, 4 workers per endpoint,
    4000 connections) because they have no load-free answer. Deterministic for a given ``seed``.
    """
    if scheduler not in SCHEDULERS:
        raise ValueError(
            f"unknown IPVS scheduler {scheduler!r}; expected one of {', '.join(SCHEDULERS)}"
        )
    endpoints = tuple(endpoints)
    if len(set(endpoints)) != len(endpoints):
        raise ValueError("duplicate endpoint ids given to scheduler_shares")
    for endpoint in endpoints:
        hashing.split_endpoint(endpoint)
    weights = tuple(workload.weight(e) if workload else 1 for e in endpoints)
    base_notes = _base_notes(scheduler, weights, len(endpoints))
    if workload is not None and workload.persistence_timeout_s > 0:
        base_notes += ("IPVS_PERSISTENCE_PER_CLIENT",)
        if any(w == 0 for w in weights):
            base_notes += ("IPVS_PERSISTENCE_QUIESCED_TEMPLATE_EXPIRES",)
    if not any(w > 0 for w in weights):
        return SchedulerResult(
            scheduler,
            {e: 0.0 for e in endpoints},
            "analytic",
            (*base_notes, "IPVS_NO_AVAILABLE_DEST"),
            dropped=1.0,
        )
    chosen = workload or _DEFAULT_WORKLOAD
    service_ms = tuple(chosen.service_time(e) for e in endpoints) if workload is not None else ()
    if needs_simulation(
        scheduler=scheduler, workload=workload, weights=weights, service_ms=service_ms
    ):
        service_ms = service_ms or tuple(chosen.service_time(e) for e in endpoints)
        return _simulated(endpoints, scheduler, chosen, seed, weights, service_ms, base_notes)
    return _analytic(endpoints, scheduler, workload, weights, base_notes)


def _base_notes(scheduler: str, weights: Sequence[int], count: int) -> tuple[str, ...]:
    notes = ["IPVS_PER_NODE_STATE"]
    if all(w == 1 for w in weights) and scheduler in (
        "wrr",
        "wlc",
        "sh",
        "mh",
        "lblc",
        "lblcr",
        "sed",
        "nq",
    ):
        notes.append("IPVS_WEIGHTS_ALL_ONE")
    if any(w == 0 for w in weights):
        notes.append("IPVS_WEIGHT_ZERO_QUIESCED")
    if count > 1 and scheduler not in ("rr", "wrr", "lc", "wlc"):
        notes.append("IPVS_DEST_ORDER_AS_GIVEN")
    return tuple(notes)


def _normalise(endpoints: Sequence[str], amounts: Sequence[float]) -> dict[str, float]:
    total = float(sum(amounts))
    if total <= 0:
        return {e: 0.0 for e in endpoints}
    return {e: a / total for e, a in zip(endpoints, amounts)}


def _analytic(
    endpoints: tuple[str, ...],
    scheduler: str,
    workload: Workload | None,
    weights: tuple[int, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    positive = [w if w > 0 else 0 for w in weights]
    if scheduler in ("rr", "wrr") and workload is not None and workload.persistence_timeout_s > 0:
        return _persistent_turns(endpoints, scheduler, workload, weights, notes)
    if scheduler in ("rr", "wrr", "lc", "wlc"):
        if scheduler in ("wrr", "wlc") and len(set(p for p in positive if p)) > 1:
            # wrr hands out turns by weight; wlc levels overhead/weight, which at light load is
            # the lingering connection count, so shares follow the weights (the light-load limit).
            code = "IPVS_WRR_BY_WEIGHT" if scheduler == "wrr" else "IPVS_WLC_BY_WEIGHT"
            amounts = positive
        else:
            code = (
                "IPVS_RR_UNIFORM"
                if scheduler in ("rr", "wrr")
                else "IPVS_LEAST_CONN_UNIFORM_IDENTICAL"
            )
            amounts = [1 if p else 0 for p in positive]
        extra = ("IPVS_LC_COUNTS_INACTIVE",) if scheduler in ("lc", "wlc") else ()
        return SchedulerResult(
            scheduler, _normalise(endpoints, amounts), "analytic", (*notes, code, *extra)
        )
    if scheduler == "sh":
        return _sh(endpoints, workload, weights, notes)
    if scheduler == "mh":
        return _mh(endpoints, workload, weights, notes)
    if scheduler == "dh":
        return _dh(endpoints, workload, weights, notes)
    # lblc / lblcr without a workload: the light-load limit. The first connection finds every
    # server idle, so the weighted least-connection pick is the first usable one in list
    # order, and the cache keeps it while it never has more than one active connection.
    first = next(i for i, w in enumerate(weights) if w > 0)
    shares = {e: (1.0 if i == first else 0.0) for i, e in enumerate(endpoints)}
    return SchedulerResult(
        scheduler, shares, "analytic", (*notes, "IPVS_LBLC_PINS_VIP"), pinned=endpoints[first]
    )


def _persistent_turns(
    endpoints: tuple[str, ...],
    scheduler: str,
    workload: Workload,
    weights: tuple[int, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    """rr/wrr under persistence: the k-th client to arrive takes the k-th turn, then keeps it.

    Exact when every client returns within the timeout (templates are re-armed on each
    use) and clients send at equal rates: shares are clients per server / clients.
    """
    clients = len(workload.client_ips) if workload.client_ips else workload.clients
    from routing.engine.ipvs import simulate

    picker = simulate.turn_picker(scheduler, list(weights))
    counts = Counter(picker(0.0, k) for k in range(clients))
    code = (
        "IPVS_RR_UNIFORM"
        if scheduler == "rr" or len({w for w in weights if w > 0}) == 1
        else "IPVS_WRR_BY_WEIGHT"
    )
    return SchedulerResult(
        scheduler,
        _normalise(endpoints, [counts.get(i, 0) for i in range(len(endpoints))]),
        "analytic",
        (*notes, code),
    )


def _with_drops(
    endpoints: tuple[str, ...],
    counts: Counter[int | None],
    weights: tuple[int, ...],
    scheduler: str,
    method: str,
    notes: tuple[str, ...],
    pinned: str | None = None,
) -> SchedulerResult:
    """Turn per-index hit counts into shares, moving hits on weight-0 servers to ``dropped``."""
    total = sum(counts.values())
    lost = sum(c for i, c in counts.items() if i is None or weights[i] <= 0)
    kept = [counts.get(i, 0) if weights[i] > 0 else 0 for i in range(len(endpoints))]
    extra = ("IPVS_HASHED_DEST_UNAVAILABLE",) if lost else ()
    dropped = lost / total if total else 0.0
    return SchedulerResult(
        scheduler,
        _normalise(endpoints, kept),
        method,
        (*notes, *extra),
        dropped=dropped,
        pinned=pinned,
    )


def _sh(
    endpoints: tuple[str, ...],
    workload: Workload | None,
    weights: tuple[int, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    table = hashing.sh_table(weights)
    if workload is None:
        counts = Counter(table)
        return _with_drops(
            endpoints,
            counts,
            weights,
            "sh",
            "analytic",
            (*notes, "IPVS_SH_HASH_BY_CLIENT", "IPVS_SH_BUCKET_SHARE"),
        )
    from routing.engine.ipvs import simulate

    clients = simulate._client_ips(workload)
    counts = Counter(table[hashing.sh_bucket(ip)] for ip in clients)
    extra = ("IPVS_SH_FEW_CLIENTS_SKEW",) if len(clients) < 32 * len(endpoints) else ()
    return _with_drops(
        endpoints, counts, weights, "sh", "analytic", (*notes, "IPVS_SH_HASH_BY_CLIENT", *extra)
    )


def _mh(
    endpoints: tuple[str, ...],
    workload: Workload | None,
    weights: tuple[int, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    size = workload.mh_table_size if workload else hashing.MH_DEFAULT_TABLE_SIZE
    dests = [hashing.split_endpoint(e) for e in endpoints]
    # The table tiles by last_weight: a server drained to weight 0 keeps its slots.
    table = _mh_table_cached(tuple(dests), tuple(w if w > 0 else 1 for w in weights), size)
    notes = (*notes, "IPVS_MH_HASH_BY_CLIENT_IP_AND_PORT")
    if workload is not None and workload.client_ports:
        counts = Counter(
            table[hashing.mh_slot(ip, port, size=size)]
            for ip, port in zip(workload.client_ips, workload.client_ports)
        )
        return _with_drops(endpoints, counts, weights, "mh", "analytic", notes)
    return _with_drops(
        endpoints, _slot_counts(table), weights, "mh", "analytic", (*notes, "IPVS_MH_SLOT_SHARE")
    )


@lru_cache(maxsize=4096)
def _mh_table_cached(
    dests: tuple[tuple[str, int], ...], weights: tuple[int, ...], size: int
) -> tuple[int | None, ...]:
    return tuple(hashing.mh_table(dests, weights, size=size))


@lru_cache(maxsize=4096)
def _slot_counts(table: tuple[int | None, ...]) -> Counter[int | None]:
    return Counter(table)


def _dh(
    endpoints: tuple[str, ...],
    workload: Workload | None,
    weights: tuple[int, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    table = hashing.dh_table(len(endpoints))
    notes = (*notes, "IPVS_DH_PINS_ONE_BACKEND")
    if workload is None or not workload.destination_vip:
        return _with_drops(
            endpoints, Counter(table), weights, "dh", "analytic", (*notes, "IPVS_DH_VIP_UNKNOWN")
        )
    index = table[hashing.dh_bucket(workload.destination_vip)]
    return _with_drops(
        endpoints,
        Counter({index: 1}),
        weights,
        "dh",
        "analytic",
        notes,
        pinned=endpoints[index] if index is not None else None,
    )


def _simulated(
    endpoints: tuple[str, ...],
    scheduler: str,
    workload: Workload,
    seed: int,
    weights: tuple[int, ...],
    service_ms: tuple[float, ...],
    notes: tuple[str, ...],
) -> SchedulerResult:
    # Non-hash schedulers see endpoints only through their position, weight and service
    # time, so runs are shared across services with the same shape.
    key_endpoints = endpoints if scheduler in ("sh", "mh", "dh") else len(endpoints)
    key = (scheduler, key_endpoints, weights, service_ms, _workload_key(workload), seed)
    outcome = _SIM_CACHE.get(key)
    if outcome is None:
        from routing.engine.ipvs import simulate

        outcome = simulate.run(
            endpoints=endpoints, scheduler=scheduler, workload=workload, seed=seed
        )
        if len(_SIM_CACHE) >= _SIM_CACHE_SIZE:
            _SIM_CACHE.pop(next(iter(_SIM_CACHE)))
        _SIM_CACHE[key] = outcome
    extra = ["IPVS_LOAD_DEPENDENT_SIMULATED"]
    if scheduler in ("lc", "wlc", "lblc", "lblcr"):
        extra.append("IPVS_LC_COUNTS_INACTIVE")
    if workload.protocol == "UDP" and scheduler in ("lc", "wlc", "sed", "nq", "lblc", "lblcr"):
        extra.append("IPVS_UDP_ALL_INACTIVE")
    if scheduler in ("sed", "nq"):
        extra.append("IPVS_SED_NQ_FIRST_DEST_WHEN_IDLE")
        if len({w for w in weights if w > 0}) == 1:
            extra.append("IPVS_SED_EQUALS_NQ_EQUAL_WEIGHTS")
    if scheduler in ("lblc", "lblcr"):
        extra.append("IPVS_LBLC_PINS_VIP")
        if sum(1 for d in outcome.delivered if d) > 1:
            extra.append(
                "IPVS_LBLCR_SET_GROWS"
                if scheduler == "lblcr"
                else "IPVS_LBLC_REBALANCES_UNDER_LOAD"
            )
    if scheduler == "dh":
        extra.append("IPVS_DH_PINS_ONE_BACKEND")
    if scheduler in ("sh", "mh"):
        extra.append(
            "IPVS_SH_HASH_BY_CLIENT" if scheduler == "sh" else "IPVS_MH_HASH_BY_CLIENT_IP_AND_PORT"
        )
    total = sum(outcome.delivered) + outcome.dropped
    if outcome.dropped:
        extra.append("IPVS_HASHED_DEST_UNAVAILABLE")
    busy = [i for i, d in enumerate(outcome.delivered) if d]
    pinned = endpoints[busy[0]] if len(busy) == 1 and scheduler in ("dh", "lblc", "lblcr") else None
    return SchedulerResult(
        scheduler,
        _normalise(endpoints, outcome.delivered),
        "simulated",
        (*notes, *extra),
        latency_ms=outcome.latency_ms,
        active_connections={e: round(a, 4) for e, a in zip(endpoints, outcome.active_mean)},
        dropped=outcome.dropped / total if total else 0.0,
        pinned=pinned,
    )


def _workload_key(workload: Workload) -> tuple[Any, ...]:
    """The workload's hashable part (per-endpoint maps are folded into weights/service_ms)."""
    return (
        workload.arrival_rate,
        workload.requests,
        workload.clients,
        workload.client_ips,
        workload.client_ports,
        workload.client_base_ip,
        workload.workers,
        workload.connection_lifetime_s,
        workload.destination_vip,
        workload.protocol,
        workload.inactive_timeout(),
        workload.mh_table_size,
        workload.persistence_timeout_s,
        workload.handshake_ms,
    )
