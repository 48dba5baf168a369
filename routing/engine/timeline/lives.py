"""Pod lifecycles: when each endpoint of the Service is born, Ready, terminating, stops
accepting, leaves the EndpointSlice, or dies with its node — and what the EndpointSlice
says about it at any moment."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from routing.engine.types import Endpoint

INF = math.inf


@dataclass(slots=True)
class Life:
    """One Pod behind the Service (one endpoint per Service port)."""

    key: str
    node: str | None
    #: port name -> the endpoint as the dump (or the placement) gives it.
    eps: dict[str, Endpoint]
    new: bool = False
    born: float = -INF
    ready: float = -INF
    term: float = INF
    stop: float = INF
    gone: float = INF
    dead: float = INF
    marked: float = INF
    #: why the app stops accepting (for the causes in words).
    stop_why: str = ""
    _cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return next(iter(self.eps.values())).ip

    def _orig(self) -> tuple[bool, bool, bool]:
        ep = next(iter(self.eps.values()))
        return ep.ready, ep.serving, ep.terminating

    def accepting(self, t: float) -> bool:
        """Whether the app answers a new connection at ``t`` (ground truth)."""
        if t >= self.stop or t >= self.dead:
            return False
        if self.new:
            return t >= self.ready
        return self._orig()[1]

    def changes(self) -> list[float]:
        """Times at which the EndpointSlice view of this pod may change."""
        return [
            x
            for x in (self.born, self.ready, self.term, self.stop, self.gone, self.marked)
            if math.isfinite(x)
        ]

    def state(self, s: float) -> tuple[bool, bool, bool] | None:
        """(ready, serving, terminating) in the EndpointSlice at ``s``; None when absent."""
        if s < self.born or s >= self.gone:
            return None
        if not self.new and s < min(self.term, self.stop, self.marked):
            return self._orig()
        serving = (self.ready <= s or not self.new) and s < self.stop and s < self.marked
        if not self.new and not self._orig()[1]:
            serving = False
        terminating = s >= self.term
        return (serving and not terminating, serving, terminating)

    def endpoint(self, port: str, s: float) -> Endpoint | None:
        """This pod's endpoint for ``port`` as the slice shows it at ``s``."""
        st = self.state(s)
        if st is None or port not in self.eps:
            return None
        key = (port, st)
        ep = self._cache.get(key)
        if ep is None:
            base = self.eps[port]
            ep = (
                base
                if (base.ready, base.serving, base.terminating) == st
                else replace(base, ready=st[0], serving=st[1], terminating=st[2])
            )
            self._cache[key] = ep
        return ep
