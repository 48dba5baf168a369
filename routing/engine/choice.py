"""How each proxy mode picks one endpoint among the candidates (semantics §7).

iptables (``statistic`` probabilities 1/n, 1/(n-1), …, 1) and nftables (``numgen random
mod n``) are both exactly uniform. IPVS and userspace are delegated to
``routing.engine.ipvs`` and ``routing.engine.userspace`` (imported lazily: they are
separate modules with their own tests).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.types import Endpoint


@dataclass(frozen=True, slots=True)
class Choice:
    """Shares of new connections over one candidate set."""

    #: endpoint key ("ip:port") -> share; sums to 1 over the candidates.
    shares: dict[str, float]
    #: "analytic" or "simulated".
    method: str = "analytic"
    reasons: tuple[Reason, ...] = ()
    #: p50/p95/p99 (ms) when a request-level simulation produced them.
    latency_ms: dict[str, float] | None = None


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


def choose(endpoints: Sequence[Endpoint], *, mode: str, scheduler: str = "rr", seed: int = 0,
           failing: frozenset[str] = frozenset()) -> Choice:
    """Shares of ``endpoints`` (already the candidate set, kube-proxy order) under ``mode``."""
    keys = [ep.key for ep in endpoints]
    if not keys:
        return Choice({})
    if mode in ("iptables", "nftables"):
        return Choice(uniform_shares(keys), "analytic", (reason(Code.CHOICE_UNIFORM, mode=mode, count=len(keys)),))
    if mode == "ipvs":
        from routing.engine.ipvs import scheduler_shares  # noqa: PLC0415 — separate module, loaded on demand

        result = scheduler_shares(endpoints=keys, scheduler=scheduler, seed=seed)
        notes = (reason(Code.CHOICE_IPVS, scheduler=scheduler, method=result.method),)
        return Choice(dict(result.shares), result.method, notes + _foreign(result.notes), result.latency_ms)
    if mode == "userspace":
        from routing.engine.userspace import userspace_shares  # noqa: PLC0415

        result = userspace_shares(endpoints=keys, failing=failing)
        notes = (reason(Code.CHOICE_USERSPACE),)
        return Choice(dict(result.shares), result.method, notes + _foreign(result.notes), result.latency_ms)
    raise ValueError(f"unknown proxy mode {mode!r}")


def _foreign(codes: Sequence[str]) -> tuple[Reason, ...]:
    """Reason codes from the scheduler modules, kept verbatim (their own vocabulary)."""
    out = []
    for text in map(str, codes):
        name, _, message = text.partition(":")
        out.append(Reason(name.strip(), message.strip() or name.strip().replace("_", " ").lower()))
    return tuple(out)
