"""How one group of nodes spreads connections over its candidates, as ``simulate`` does.

iptables and nftables are uniform. IPVS and the userspace proxy get what ``simulate``
gives them (``simulate.traffic_for``): the virtual server's address (which ``dh``,
``lblc`` and ``lblcr`` key on), the protocol, persistence (sessionAffinity) and the
terminating real servers kube-proxy keeps at weight 0 (graceful termination, TCP), to
which hash schedulers still map clients, who are then refused. Answers are cached: a
5,000-node cluster asks the same few questions thousands of times.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

from routing.engine.choice import Traffic, choose
from routing.engine.explain import Code
from routing.engine.ipvs.hashing import dh_bucket
from routing.engine.topology import Categorized, available_for_topology
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort

#: IPVS schedulers whose choice depends on the virtual server's address.
VIP_SCHEDULERS = ("dh", "lblc", "lblcr")
#: IPVS schedulers whose answer depends on positions only (all weights 1, identical
#: endpoints; dh's table is bucket i -> server i mod n, and its bucket is in the key).
POSITIONAL = ("rr", "wrr", "lc", "wlc", "sed", "nq", "dh")


def node_address_vip(service: Service, to: str) -> bool:
    """Whether the virtual server for ``to`` is the node's own address (NodePort, or an LB
    ingress kube-proxy does not capture, which comes back through the NodePort)."""
    return to == "nodeport" or (to == "loadbalancer" and not service.lb_ips)


def vip_depends_on_node(config: ProxyConfig, service: Service, to: str) -> bool:
    """Whether nodes of one group can get different IPVS answers for ``to``."""
    return config.mode == "ipvs" and config.ipvs_scheduler in VIP_SCHEDULERS and node_address_vip(service, to)


def dh_by_address(config: ProxyConfig, service: Service, to: str) -> bool:
    """dh behind a NodePort: the answer depends on the node only through the bucket its
    address hashes to, so nodes are grouped by bucket instead of taken one by one."""
    return vip_depends_on_node(config, service, to) and config.ipvs_scheduler == "dh"


def address_bucket(address: str) -> int | None:
    """The dh bucket of a node address (None when it is not an IP address)."""
    return _bucket(address) if _is_ip(address) else None


def quiesced(eps: tuple[Endpoint, ...], cands: tuple[Endpoint, ...], cat: Categorized, node: str, zone: str, *,
             local_answer: bool) -> tuple[Endpoint, ...]:
    """Terminating endpoints the node's virtual server keeps at weight 0 (``candidates._draining``):
    those it held while Ready — local ones for a Local answer, those passing the topology
    filter for a Cluster answer — and no longer has as candidates."""
    # Endpoints of one port are unique by ip:port, so identity stands in for the key.
    chosen = {id(ep) for ep in cands}
    return tuple(ep for ep in eps if ep.terminating and id(ep) not in chosen
                 and (ep.node == node if local_answer else available_for_topology(ep, cat.topology_mode, node, zone)))


def _vip(service: Service, to: str, address: str) -> str:
    if to == "clusterip":
        vip = service.cluster_ips[0] if service.cluster_ips else ""
    elif node_address_vip(service, to):
        vip = address
    elif to == "loadbalancer":
        vip = service.lb_ips[0]
    else:
        vip = service.external_ips[0] if service.external_ips else ""
    return vip if _is_ip(vip) else ""


@lru_cache(maxsize=65536)
def _is_ip(text: str) -> bool:
    """Parsing addresses is slow and the same few thousand come back for every Service."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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

    _cache: dict[tuple, Spread] = field(default_factory=dict)
    #: id(candidates) -> (candidates, their ip:port keys): big sets are asked about often.
    _keys: dict[int, tuple[tuple[Endpoint, ...], tuple[str, ...]]] = field(default_factory=dict)

    def keys(self, cands: tuple[Endpoint, ...]) -> tuple[str, ...]:
        """``ip:port`` of each candidate (memoised per candidate tuple)."""
        found = self._keys.get(id(cands))
        if found is None or found[0] is not cands:
            found = self._keys[id(cands)] = (cands, tuple(ep.key for ep in cands))
        return found[1]

    def spread(self, cands: tuple[Endpoint, ...], config: ProxyConfig, *, service: Service, port: ServicePort,
               to: str, address: str = "", draining: tuple[Endpoint, ...] = ()) -> Spread:
        """How ``config``'s proxy mode spreads new connections over ``cands`` on a node whose
        virtual server has address ``address`` (NodePort) and weight-0 servers ``draining``."""
        mode = config.mode
        if mode in ("iptables", "nftables"):
            key: tuple = ("uniform", len(cands))
        elif mode == "userspace":
            key = ("userspace", port.protocol, len(cands))
        else:
            timeout = service.affinity_timeout if service.session_affinity == "ClientIP" else 0
            vip: object = _vip(service, to, address)
            if config.ipvs_scheduler == "dh" and vip:
                # dh maps the address to one of 256 buckets: nodes in one bucket get one answer.
                vip = ("bucket", _bucket(str(vip)))
            ids = len(cands) if config.ipvs_scheduler in POSITIONAL and not draining else self.keys(cands)
            key = ("ipvs", config.ipvs_scheduler, ids, self.keys(draining), vip, port.protocol, timeout)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(cands, config, service, port, to, address, draining)
        return found

    @staticmethod
    def _compute(cands: tuple[Endpoint, ...], config: ProxyConfig, service: Service, port: ServicePort, to: str,
                 address: str, draining: tuple[Endpoint, ...]) -> Spread:
        mode = config.mode
        if mode in ("iptables", "nftables"):
            return Spread((1.0 / len(cands),) * len(cands))
        if mode == "userspace":
            choice = choose(cands, mode=mode, traffic=Traffic(protocol=port.protocol))
            code = Code.USERSPACE_CONNECTION_CLOSED.value
        else:
            timeout = service.affinity_timeout if service.session_affinity == "ClientIP" else 0
            traffic = Traffic(destination_vip=_vip(service, to, address), protocol=port.protocol,
                              persistence_timeout_s=timeout, quiesced=draining)
            choice = choose(cands, mode=mode, scheduler=config.ipvs_scheduler, traffic=traffic)
            code = Code.IPVS_SCHEDULER_REFUSED.value
        shares = tuple(choice.shares.get(ep.key, 0.0) for ep in cands)
        return Spread(shares, choice.refused, code if choice.refused > 0 else None)
