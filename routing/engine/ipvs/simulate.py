"""Seeded request-level simulation of one node's IPVS virtual server.

Each arrival (Poisson) is a new connection carrying one request. The scheduler picks a
real server by the kernel's own rule from the live counters; the request queues FCFS for
one of the endpoint's workers, is served (exponential, the endpoint's mean), then the
connection stays ESTABLISHED for an optional keep-alive idle time and closes.

Counters follow the kernel: a TCP/SCTP connection is *active* while established and
*inactive* for ``inactive_timeout`` after it closes (FIN_WAIT/TIME_WAIT); a UDP flow is
inactive for its whole life plus the UDP timeout (IPVS only marks TCP/SCTP connections
active). Ties go to the first real server in list order, as the kernel's strict
comparisons do.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.engine.ipvs import hashing
from routing.engine.ipvs.model import Workload

LBLCR_EXPIRATION_S = 24 * 60 * 60.0  # sysctl lblcr_expiration default (DEFAULT_EXPIRATION)
EPHEMERAL_PORTS = (32768, 61000)  # Linux ip_local_port_range default, upper bound exclusive
_HUGE = float("inf")


@dataclass(frozen=True)
class SimOutcome:
    """Raw simulation counts, by endpoint index."""

    delivered: tuple[int, ...]
    dropped: int
    latency_ms: dict[str, float] | None
    active_mean: tuple[float, ...]


class _Counters:
    """Live per-real-server counters, mirrored in numpy arrays for vectorised picks."""

    def __init__(self, weights: Sequence[int]) -> None:
        self.n = len(weights)
        self.weight = np.asarray(weights, dtype=np.int64)
        self.usable = self.weight > 0
        self.divisor = np.maximum(self.weight, 1).astype(float)
        self.active = np.zeros(self.n, dtype=np.int64)
        self.inactive = np.zeros(self.n, dtype=np.int64)

    def overhead(self) -> np.ndarray:
        """ip_vs_dest_conn_overhead(): activeconns * 256 + inactconns."""
        return self.active * 256 + self.inactive

    def weighted_least(self, load: np.ndarray, among: np.ndarray | None = None) -> int | None:
        """First usable server minimising load/weight (weight-0 servers never win)."""
        mask = self.usable if among is None else self.usable & among
        if not mask.any():
            return None
        # Division is correctly rounded, so equal ratios tie exactly as the kernel's
        # cross-multiplied integer comparison does.
        scores = np.where(mask, load / self.divisor, _HUGE)
        return int(np.argmin(scores))

    def overloaded(self, index: int) -> bool:
        """lblc/lblcr is_overloaded(): busier than its weight while some server sits under
        half its weight."""
        if self.active[index] <= self.weight[index]:
            return False
        return bool((self.active * 2 < self.weight).any())


def _client_ips(workload: Workload) -> list[str]:
    if workload.client_ips:
        return list(workload.client_ips)
    base = int(ipaddress.ip_address(workload.client_base_ip))
    return [str(ipaddress.ip_address(base + i)) for i in range(workload.clients)]


def _make_picker(
    scheduler: str,
    endpoints: Sequence[str],
    counters: _Counters,
    workload: Workload,
    rng: np.random.Generator,
    client_of: np.ndarray | None,
) -> Callable[[float, int], int | None]:
    """Return pick(now, request_index) -> endpoint index or None, holding the scheduler's state."""
    weights = [int(w) for w in counters.weight]
    if scheduler in ("lc", "wlc"):
        # lc compares raw overhead and wlc overhead/weight; with kube-proxy's weight 1 they agree,
        # and lc only differs by ignoring non-zero weights, which weighted_least would honour.
        if scheduler == "lc":

            def pick_lc(now: float, k: int) -> int | None:
                if not counters.usable.any():
                    return None
                return int(
                    np.argmin(
                        np.where(counters.usable, counters.overhead(), np.iinfo(np.int64).max)
                    )
                )

            return pick_lc
        return lambda now, k: counters.weighted_least(counters.overhead())
    if scheduler == "sed":
        return lambda now, k: counters.weighted_least(counters.active + 1)
    if scheduler == "nq":

        def pick_nq(now: float, k: int) -> int | None:
            idle = counters.usable & (counters.active == 0)
            if idle.any():
                return int(np.argmax(idle))
            return counters.weighted_least(counters.active + 1)

        return pick_nq
    if scheduler in ("rr", "wrr"):
        return turn_picker(scheduler, weights)
    if scheduler in ("sh", "mh", "dh"):
        return _hash_picker(scheduler, endpoints, weights, workload, rng, client_of)
    if scheduler == "lblc":
        return _lblc_picker(counters)
    if scheduler == "lblcr":
        return _lblcr_picker(counters)
    raise ValueError(f"scheduler {scheduler!r} cannot be simulated")


def turn_picker(scheduler: str, weights: list[int]) -> Callable[[float, int], int | None]:
    """The load-blind pickers: ip_vs_rr.c (next server with weight > 0) or ip_vs_wrr.c."""
    if scheduler == "wrr":
        return _wrr_picker(weights)
    n = len(weights)
    position = [-1]

    def pick_rr(now: float, k: int) -> int | None:
        for step in range(1, n + 1):
            candidate = (position[0] + step) % n
            if weights[candidate] > 0:
                position[0] = candidate
                return candidate
        return None

    return pick_rr


def _wrr_picker(weights: list[int]) -> Callable[[float, int], int | None]:
    """ip_vs_wrr_schedule(): interleaved weighted round robin (current weight cw steps down
    by gcd)."""
    positive = [w for w in weights if w > 0]
    divisor = 0
    for w in positive:
        divisor = int(np.gcd(divisor, w))
    divisor = divisor or 1
    top = max(weights, default=0) - (divisor - 1)
    state = {"pos": -1, "cw": top}

    def pick(now: float, k: int) -> int | None:
        if top <= 0:
            return None
        while True:
            state["pos"] += 1
            if state["pos"] == len(weights):
                state["pos"] = -1
                state["cw"] -= divisor
                if state["cw"] <= 0:
                    state["cw"] = top
                continue
            if weights[state["pos"]] >= state["cw"]:
                return state["pos"]

    return pick


def _hash_picker(
    scheduler: str,
    endpoints: Sequence[str],
    weights: list[int],
    workload: Workload,
    rng: np.random.Generator,
    chooser: np.ndarray | None,
) -> Callable[[float, int], int | None]:
    """sh/mh/dh: a fixed table lookup; a weight-0 hashed server means the connection fails."""
    if scheduler == "dh":
        table = hashing.dh_table(len(endpoints))
        pinned = table[hashing.dh_bucket(workload.destination_vip or "0.0.0.0")]
        return lambda now, k: pinned if pinned is not None and weights[pinned] > 0 else None
    clients = _client_ips(workload)
    assert chooser is not None, "sh and mh hash the client: the caller draws one per connection"
    if scheduler == "sh":
        sh = hashing.sh_table(weights)
        by_client = [sh[hashing.sh_bucket(ip)] for ip in clients]
        return lambda now, k: _available(by_client[chooser[k]], weights)
    size = workload.mh_table_size
    dests = [hashing.split_endpoint(e) for e in endpoints]
    mh = hashing.mh_table(dests, [w if w > 0 else 1 for w in weights], size=size)
    if workload.client_ports:
        fixed = [
            mh[hashing.mh_slot(ip, port, size=size)]
            for ip, port in zip(clients, workload.client_ports)
        ]
        return lambda now, k: _available(fixed[chooser[k]], weights)
    ports = rng.integers(*EPHEMERAL_PORTS, size=workload.requests)
    return lambda now, k: _available(
        mh[hashing.mh_slot(clients[chooser[k]], int(ports[k]), size=size)], weights
    )


def _available(index: int | None, weights: list[int]) -> int | None:
    return index if index is not None and weights[index] > 0 else None


def _lblc_picker(counters: _Counters) -> Callable[[float, int], int | None]:
    """ip_vs_lblc_schedule() for a virtual server whose packets all carry one destination VIP."""
    cache: list[int | None] = [None]

    def pick(now: float, k: int) -> int | None:
        current = cache[0]
        if current is not None and counters.usable[current] and not counters.overloaded(current):
            return current
        chosen = counters.weighted_least(counters.overhead())
        if chosen is not None:
            cache[0] = chosen
        return chosen

    return pick


def _lblcr_picker(counters: _Counters) -> Callable[[float, int], int | None]:
    """ip_vs_lblcr_schedule(): a growing server set per VIP, least-loaded member first."""
    members: list[int] = []  # head first, as list_add_rcu inserts
    present: set[int] = set()
    lastmod = [0.0]

    def set_least() -> int | None:
        # ip_vs_dest_set_min(): first usable member minimising overhead/weight, in set order.
        order = np.asarray(members)
        usable = counters.usable[order]
        if not usable.any():
            return None
        scores = np.where(usable, counters.overhead()[order] / counters.divisor[order], _HUGE)
        return int(order[int(np.argmin(scores))])

    def drop_most_loaded() -> None:
        # ip_vs_dest_set_max(): first member maximising overhead/weight among weight > 0.
        order = np.asarray(members)
        usable = counters.usable[order]
        if not usable.any():
            return
        scores = np.where(usable, counters.overhead()[order] / counters.divisor[order], -_HUGE)
        victim = int(order[int(np.argmax(scores))])
        members.remove(victim)
        present.discard(victim)

    def pick(now: float, k: int) -> int | None:
        if members:
            chosen = set_least()
            if len(members) > 1 and now - lastmod[0] > LBLCR_EXPIRATION_S:
                drop_most_loaded()
                lastmod[0] = now
            if chosen is not None and not counters.overloaded(chosen):
                return chosen
        chosen = counters.weighted_least(counters.overhead())
        if chosen is not None and chosen not in present:
            members.insert(0, chosen)
            present.add(chosen)
            lastmod[0] = now
        return chosen

    return pick


class _Connections:
    """IPVS connection entries of one virtual server: active until close, then inactive
    until expiry."""

    def __init__(self, counters: _Counters, *, udp: bool, linger: float) -> None:
        self.counters = counters
        self.udp = udp
        self.linger = linger
        self.establishes: list[tuple[float, int]] = []
        self.closes: list[tuple[float, int]] = []
        self.expiries: list[tuple[float, int]] = []
        self.active_time = [0.0] * counters.n

    def advance(self, now: float) -> None:
        """Apply every handshake completion, close and expiry due by ``now``.

        Each connection's events are ordered (established <= closed <= expired), so draining
        the three heaps one after another leaves the same counts as a merged timeline.
        """
        while self.establishes and self.establishes[0][0] <= now:
            index = heapq.heappop(self.establishes)[1]
            self.counters.inactive[index] -= 1
            self.counters.active[index] += 1
        while self.closes and self.closes[0][0] <= now:
            closed_at, index = heapq.heappop(self.closes)
            self.counters.active[index] -= 1
            self.counters.inactive[index] += 1
            heapq.heappush(self.expiries, (closed_at + self.linger, index))
        while self.expiries and self.expiries[0][0] <= now:
            self.counters.inactive[heapq.heappop(self.expiries)[1]] -= 1

    def open(self, index: int, now: float, established_at: float, close_at: float) -> None:
        """A new connection to ``index``.

        IPVS creates every connection INACTIVE (__ip_vs_update_dest sets IP_VS_CONN_F_INACTIVE);
        the TCP/SCTP state machine makes it active once ESTABLISHED. UDP flows stay inactive.
        """
        if self.udp:
            self.counters.inactive[index] += 1
            heapq.heappush(self.expiries, (close_at + self.linger, index))
            return
        if established_at > now:
            self.counters.inactive[index] += 1
            heapq.heappush(self.establishes, (established_at, index))
        else:
            self.counters.active[index] += 1
        self.active_time[index] += close_at - established_at
        heapq.heappush(self.closes, (close_at, index))


def _latency_summary(latencies: list[float]) -> dict[str, float] | None:
    if not latencies:
        return None
    values = np.asarray(latencies)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(values.mean()), 3),
    }


def run(*, endpoints: Sequence[str], scheduler: str, workload: Workload, seed: int) -> SimOutcome:
    """Simulate ``workload.requests`` new connections and count where IPVS sent them.

    ``active_mean`` is the time-averaged IPVS activeconns per endpoint (always 0 for UDP).
    """
    n = len(endpoints)
    counters = _Counters([workload.weight(e) for e in endpoints])
    rng = np.random.default_rng(seed)
    count = workload.requests
    arrivals = np.cumsum(rng.exponential(1.0 / workload.arrival_rate, size=count)).tolist()
    work = rng.exponential(1.0, size=count).tolist()
    lifetime = workload.connection_lifetime_s
    idle = rng.exponential(lifetime, size=count).tolist() if lifetime > 0 else [0.0] * count
    mean_s = [workload.service_time(e) / 1000.0 for e in endpoints]
    free_at = [
        [0.0] * workload.workers for _ in range(n)
    ]  # per endpoint, a heap of worker free times
    connections = _Connections(
        counters, udp=workload.protocol == "UDP", linger=workload.inactive_timeout()
    )
    handshake = workload.handshake_ms / 1000.0
    persist = workload.persistence_timeout_s
    # Which client opens each connection: sh/mh hash it, persistence keys templates on it.
    needs_client = scheduler in ("sh", "mh") or persist > 0
    client_of = rng.integers(0, len(_client_ips(workload)), size=count) if needs_client else None
    templates: dict[int, list[Any]] = {}  # client -> [real server, expiry]: ip_vs_sched_persist()
    pick = _make_picker(scheduler, endpoints, counters, workload, rng, client_of)
    client_at = client_of if client_of is not None else np.zeros(count, dtype=np.int64)
    delivered = [0] * n
    latencies: list[float] = []
    dropped = 0
    for k, now in enumerate(arrivals):
        connections.advance(now)
        template = templates.get(int(client_at[k])) if persist > 0 else None
        # kube-proxy sets expire_quiescent_template=1: a template whose server has weight 0
        # is dropped.
        if template is not None and template[1] > now and counters.weight[template[0]] > 0:
            index = template[0]
        else:
            index = pick(now, k)
            template = [index, 0.0] if index is not None and persist > 0 else None
            if template is not None:
                templates[int(client_at[k])] = template
        if index is None:
            dropped += 1
            continue
        workers = free_at[index]
        established_at = now + handshake
        finish = max(established_at, workers[0]) + work[k] * mean_s[index]
        heapq.heapreplace(workers, finish)
        latencies.append((finish - now) * 1000.0)
        close_at = finish + idle[k]
        if template is not None:
            # Each use re-arms the template's timer; it outlives the connections it controls.
            template[1] = max(template[1], now + persist, close_at)
        delivered[index] += 1
        connections.open(index, now, established_at, close_at)
    horizon = arrivals[-1] if arrivals[-1] > 0 else 1.0
    return SimOutcome(
        delivered=tuple(delivered),
        dropped=dropped,
        latency_ms=_latency_summary(latencies),
        active_mean=tuple(t / horizon for t in connections.active_time),
    )
