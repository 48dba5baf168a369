"""How one group of nodes spreads connections over its candidates, as ``simulate`` does.

iptables and nftables are uniform. IPVS and the userspace proxy get what ``simulate``
gives them (``decide.traffic``): the virtual server's address (which ``dh``, ``lblc`` and
``lblcr`` key on), the protocol, persistence (sessionAffinity) and the terminating real
servers kube-proxy keeps at weight 0 (``decide.draining``, graceful termination, TCP), to
which hash schedulers still map clients, who are then refused. Answers are cached: a
5,000-node cluster asks the same few questions thousands of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from routing.engine.choice import choose
from routing.engine.decide import is_ip, persistence, traffic, vip_depends_on_node, virtual_server
from routing.engine.explain import Code
from routing.engine.ipvs.hashing import dh_bucket
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort


def dh_by_address(config: ProxyConfig, service: Service, to: str) -> bool:
    """dh behind a NodePort: the answer depends on the node only through the bucket its
    address hashes to, so nodes are grouped by bucket instead of taken one by one."""
    return vip_depends_on_node(config, service, to) and config.ipvs_scheduler == "dh"


def address_bucket(address: str) -> int | None:
    """The dh bucket of a node address (None when it is not an IP address)."""
    return _bucket(address) if is_ip(address) else None


#: IPVS schedulers whose answer depends on positions only (all weights 1, identical
#: endpoints; dh's table is bucket i -> server i mod n, and its bucket is in the key).
POSITIONAL = ("rr", "wrr", "lc", "wlc", "sed", "nq", "dh")


@lru_cache(maxsize=65536)
def _bucket(address: str) -> int:
    return dh_bucket(address)


@dataclass(frozen=True, slots=True)
class Spread:
    """Shares of delivered connections (aligned with the candidates), and the refused part."""

    shares: tuple[float, ...]
    refused: float = 0.0
    #: the reason code of the refused part.
    code: str | None = None


@dataclass(slots=True)
class ChoiceCache:
    """Spreads by (mode, candidates, virtual-server facts); identical questions share one object."""

    _cache: dict[tuple[object, ...], Spread] = field(default_factory=dict)
    #: id(candidates) -> (candidates, their ip:port keys): big sets are asked about often.
    _keys: dict[int, tuple[tuple[Endpoint, ...], tuple[str, ...]]] = field(default_factory=dict)

    def keys(self, cands: tuple[Endpoint, ...]) -> tuple[str, ...]:
        """``ip:port`` of each candidate (memoised per candidate tuple)."""
        found = self._keys.get(id(cands))
        if found is None or found[0] is not cands:
            found = self._keys[id(cands)] = (cands, tuple(ep.key for ep in cands))
        return found[1]

    def spread(
        self,
        cands: tuple[Endpoint, ...],
        config: ProxyConfig,
        *,
        service: Service,
        port: ServicePort,
        to: str,
        address: str = "",
        draining: tuple[Endpoint, ...] = (),
    ) -> Spread:
        """How ``config``'s proxy mode spreads new connections over ``cands`` on a node whose
        virtual server has address ``address`` (NodePort) and weight-0 servers ``draining``."""
        mode = config.mode
        if mode in ("iptables", "nftables"):
            key: tuple[object, ...] = ("uniform", len(cands))
        elif mode == "userspace":
            key = ("userspace", port.protocol, len(cands))
        else:
            vip: object = virtual_server(service, to, address)
            if config.ipvs_scheduler == "dh" and vip:
                # dh maps the address to one of 256 buckets: nodes in one bucket get one answer.
                vip = ("bucket", _bucket(str(vip)))
            ids = (
                len(cands)
                if config.ipvs_scheduler in POSITIONAL and not draining
                else self.keys(cands)
            )
            key = (
                "ipvs",
                config.ipvs_scheduler,
                ids,
                self.keys(draining),
                vip,
                port.protocol,
                persistence(service),
            )
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(
                cands, config, service, port, to, address, draining
            )
        return found

    @staticmethod
    def _compute(
        cands: tuple[Endpoint, ...],
        config: ProxyConfig,
        service: Service,
        port: ServicePort,
        to: str,
        address: str,
        draining: tuple[Endpoint, ...],
    ) -> Spread:
        mode = config.mode
        if mode in ("iptables", "nftables"):
            return Spread((1.0 / len(cands),) * len(cands))
        if mode == "userspace":
            choice = choose(cands, mode=mode, traffic=traffic(mode, service, port, to, address))
            code = Code.USERSPACE_CONNECTION_CLOSED.value
        else:
            choice = choose(
                cands,
                mode=mode,
                scheduler=config.ipvs_scheduler,
                traffic=traffic(mode, service, port, to, address, draining),
            )
            code = Code.IPVS_SCHEDULER_REFUSED.value
        shares = tuple(choice.shares.get(ep.key, 0.0) for ep in cands)
        return Spread(shares, choice.refused, code if choice.refused > 0 else None)
