"""How each proxy mode picks one endpoint among the candidates (semantics §7).

iptables (``statistic`` probabilities 1/n, 1/(n-1), …, 1) and nftables (``numgen random
mod n``) are both exactly uniform. IPVS and userspace are delegated to
``routing.engine.ipvs`` and ``routing.engine.userspace`` (imported lazily: they are
separate modules with their own tests), passing what they report back: their
explanation lines, the refused fraction (IPVS finds no available real server; the
userspace proxy closes a connection after its last dial) and the pinned backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.types import Endpoint


@dataclass(frozen=True, slots=True)
class Traffic:
    """What one node's virtual server knows about the connections it schedules (IPVS only).

    kube-proxy programs one IPVS virtual server per address: ``destination_vip`` is that
    address (ClusterIP, node IP for a NodePort, LB IP, externalIP), which ``dh`` and
    ``lblc``/``lblcr`` key on. ``quiesced`` are real servers kube-proxy set to weight 0
    (graceful termination, TCP only): they stay in the list, so hash schedulers still map
    clients to them and those connections are refused. ``persistence_timeout_s`` is the
    virtual server's persistence (sessionAffinity ClientIP).
    """

    destination_vip: str = ""
    protocol: str = "TCP"
    persistence_timeout_s: int = 0
    quiesced: tuple[Endpoint, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    """Shares of new connections over one candidate set."""

    #: endpoint key ("ip:port") -> share of the *delivered* connections; sums to 1 over
    #: the candidates (all 0 when nothing is delivered).
    shares: dict[str, float]
    method: str = "analytic"
    reasons: tuple[Reason, ...] = ()
    #: p50/p95/p99 (ms) when a request-level simulation produced them.
    latency_ms: dict[str, float] | None = None
    #: fraction of new connections that reach no endpoint: IPVS refuses them (ICMP port
    #: unreachable), the userspace proxy closes them after its last dial.
    refused: float = 0.0
    #: dh/lblc: the one endpoint every new connection to the VIP goes to.
    pinned: str | None = None


def iptables_probabilities(count: int) -> tuple[float, ...]:
    """The ``--probability`` of each rule in order: 1/n, 1/(n-1), …, the last unconditional."""
    return tuple(1.0 / (count - i) for i in range(count))


def uniform_shares(keys: Sequence[str]) -> dict[str, float]:
    """Each rule i is reached with prob. prod(1-p_j, j<i) and taken with p_i: 1/n each."""
    remaining, shares = 1.0, {}
    for key, p in zip(keys, iptables_probabilities(len(keys)), strict=True):
        shares[key] = remaining * p
        remaining -= shares[key]
    return shares


def choose(
    endpoints: Sequence[Endpoint],
    *,
    mode: str,
    scheduler: str = "rr",
    seed: int = 0,
    failing: frozenset[str] = frozenset(),
    traffic: Traffic | None = None,
) -> Choice:
    """Shares of ``endpoints`` (already the candidate set, kube-proxy order) under ``mode``.

    ``traffic`` (IPVS only) describes the virtual server; without it the IPVS answer is
    the scheduler's VIP-independent one (as the cluster-wide analysis uses).
    """
    keys = [ep.key for ep in endpoints]
    if not keys:
        return Choice({})
    if mode in ("iptables", "nftables"):
        return Choice(
            uniform_shares(keys),
            "analytic",
            (reason(Code.CHOICE_UNIFORM, mode=mode, count=len(keys)),),
        )
    if mode == "ipvs":
        return _ipvs(keys, scheduler, seed, traffic)
    if mode == "userspace":
        from routing.engine.userspace import userspace_shares

        protocol = traffic.protocol if traffic else "TCP"
        result = userspace_shares(endpoints=keys, failing=failing, protocol=protocol)
        notes = (reason(Code.CHOICE_USERSPACE),)
        return Choice(
            dict(result.shares),
            result.method,
            notes + _foreign(result.explanations),
            result.latency_ms,
            refused=result.dropped,
        )
    raise ValueError(f"unknown proxy mode {mode!r}")


def _ipvs(keys: list[str], scheduler: str, seed: int, traffic: Traffic | None) -> Choice:
    from routing.engine.ipvs import (
        Workload,
        scheduler_shares,
    )

    workload = None
    given = keys
    if traffic is not None:
        quiesced = [ep.key for ep in traffic.quiesced if ep.key not in set(keys)]
        # The kernel's list holds the weight-0 servers too. Its real order is kube-proxy's
        # Go map order (unknowable); like the candidates, we use the sorted ip:port order.
        given = sorted([*keys, *quiesced])
        if _workload_matters(scheduler, traffic, quiesced):
            # Persistence under rr/wrr only regroups turns per client (still 1/n): left out.
            persistence = traffic.persistence_timeout_s if scheduler in LOAD_DEPENDENT else 0
            workload = Workload(
                requests=4000,
                destination_vip=traffic.destination_vip,
                protocol=traffic.protocol,
                weights={key: 0 for key in quiesced},
                persistence_timeout_s=float(persistence),
            )
    result = scheduler_shares(endpoints=given, scheduler=scheduler, workload=workload, seed=seed)
    notes = (reason(Code.CHOICE_IPVS, scheduler=scheduler, method=result.method),)
    shares = {key: result.shares.get(key, 0.0) for key in keys}
    return Choice(
        shares,
        result.method,
        notes + _foreign(result.explanations),
        result.latency_ms,
        refused=result.dropped,
        pinned=result.pinned,
    )


LOAD_DEPENDENT = ("lc", "wlc", "sed", "nq", "lblc", "lblcr")


def _workload_matters(scheduler: str, traffic: Traffic, quiesced: Sequence[str]) -> bool:
    """Whether the virtual server's facts change this scheduler's answer (else the plain,
    workload-free answer stands: exact bucket/slot shares, no sampled client population)."""
    if quiesced:
        return True
    if scheduler == "dh":
        return bool(traffic.destination_vip)
    if scheduler in LOAD_DEPENDENT:
        return traffic.persistence_timeout_s > 0 or traffic.protocol == "UDP"
    return False


def _foreign(lines: Sequence[str]) -> tuple[Reason, ...]:
    """``"CODE: sentence"`` lines from the scheduler modules, kept verbatim (their own
    vocabulary)."""
    out = []
    for text in lines:
        name, _, message = str(text).partition(": ")
        out.append(Reason(name.strip(), message.strip() or name.strip().replace("_", " ").lower()))
    return tuple(out)
