"""The immutable cluster snapshot the engine answers questions about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeVar

from routing.engine.types import Endpoint, Node, Pod, ProxyConfig, Service

_K = TypeVar("_K")
_V = TypeVar("_V")

_EMPTY: Mapping[Any, Any] = MappingProxyType({})  # empty: fits every mapping field


def freeze(mapping: Mapping[_K, _V]) -> Mapping[_K, _V]:
    """A read-only view of ``mapping``. A plain dict is wrapped, not copied: callers hand
    over dicts they built and never touch again (copying 10,000 services per what-if
    would cost more than the what-if)."""
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(mapping if type(mapping) is dict else dict(mapping))


def services_by_node(
    index: Mapping[str, Mapping[str, tuple[Endpoint, ...]]],
) -> dict[str, frozenset[str]]:
    """node -> keys of the services with an endpoint on it."""
    found: dict[str, set[str]] = {}
    for key, ports in index.items():
        for eps in ports.values():
            for ep in eps:
                if ep.node:
                    found.setdefault(ep.node, set()).add(key)
    return {node: frozenset(keys) for node, keys in found.items()}


def sort_endpoints(endpoints: list[Endpoint]) -> tuple[Endpoint, ...]:
    """De-duplicate by ``ip:port`` and sort by that *string*, as kube-proxy does.

    When a key repeats (the same pod in two slices) a terminating copy never replaces an
    existing one and a non-terminating copy always does (endpointslicecache.go).
    """
    by_key: dict[str, Endpoint] = {}
    for ep in endpoints:
        ip = ep.ip
        key = f"[{ip}]:{ep.port}" if ":" in ip else f"{ip}:{ep.port}"
        if ep.terminating and key in by_key:
            continue
        by_key[key] = ep
    return tuple([by_key[k] for k in sorted(by_key)])


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """Nodes, services, per-service-port endpoints and per-node kube-proxy configuration.

    Build one with ``routing.engine.kube.snapshot_from_objects``; derive what-if variants
    with ``routing.engine.scenario.apply_scenario``. Never mutated.
    """

    #: node name -> Node.
    nodes: Mapping[str, Node] = field(default_factory=lambda: _EMPTY)
    #: "namespace/name" -> Service.
    services: Mapping[str, Service] = field(default_factory=lambda: _EMPTY)
    #: "namespace/name" -> port name -> endpoints (de-duplicated, sorted by "ip:port").
    endpoint_index: Mapping[str, Mapping[str, tuple[Endpoint, ...]]] = field(
        default_factory=lambda: _EMPTY
    )
    #: "namespace/name" -> Pod (only what the what-if needs).
    pods: Mapping[str, Pod] = field(default_factory=lambda: _EMPTY)
    #: kube-proxy configuration of nodes not listed in ``node_proxy``.
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    #: node name -> kube-proxy configuration where it differs from ``proxy``
    #: (another release, or a cluster halfway through a mode migration).
    node_proxy: Mapping[str, ProxyConfig] = field(default_factory=lambda: _EMPTY)
    #: What the adapter assumed or derived (one line each).
    notes: tuple[str, ...] = ()
    #: node name -> keys of services that have (or had, in a derived snapshot) endpoints
    #: on it: a superset index so node-level what-ifs touch only those services.
    node_services: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)
    #: "namespace/name" -> port name -> endpoints of a dual-stack Service's *second* IP
    #: family (``endpoint_index`` holds its primary family); read by
    #: ``routing.engine.families.snapshot_for_family``.
    family_endpoints: Mapping[str, Mapping[str, tuple[Endpoint, ...]]] = field(
        default_factory=lambda: _EMPTY
    )
    #: "namespace/name" -> endpoints of EndpointSlice ports no Service port names (name and
    #: protocol): kube-proxy keeps them in its EndpointsMap, where only the health check
    #: (``lb.local_ready_ips``) counts them. What-ifs leave them as the dump has them.
    unserved_endpoints: Mapping[str, tuple[Endpoint, ...]] = field(default_factory=lambda: _EMPTY)

    def endpoints(self, service_key: str, port_name: str) -> tuple[Endpoint, ...]:
        """kube-proxy's endpoint list for one service port (empty when unknown)."""
        return self.endpoint_index.get(service_key, _EMPTY).get(port_name, ())

    def proxy_for(self, node_name: str | None) -> ProxyConfig:
        """The kube-proxy configuration running on ``node_name``."""
        if node_name is None:
            return self.proxy
        return self.node_proxy.get(node_name, self.proxy)

    def zone_of(self, node_name: str | None) -> str:
        """The node's ``topology.kubernetes.io/zone`` ("" when unknown or unlabeled)."""
        node = self.nodes.get(node_name) if node_name else None
        return node.zone if node else ""

    def evolve(self, **changes: Any) -> Snapshot:
        """A copy with some fields replaced (mappings are frozen on the way in)."""
        for name in (
            "nodes",
            "services",
            "endpoint_index",
            "pods",
            "node_proxy",
            "node_services",
            "family_endpoints",
            "unserved_endpoints",
        ):
            if name in changes:
                changes[name] = freeze(changes[name])
        return replace(self, **changes)

    def with_services_of(self, part: Snapshot, **changes: Any) -> Snapshot:
        """This snapshot (a node table) with ``part``'s Services and their endpoints laid
        over it; ``changes`` as for :meth:`evolve`."""
        return self.evolve(
            services=part.services,
            endpoint_index=part.endpoint_index,
            family_endpoints=part.family_endpoints,
            unserved_endpoints=part.unserved_endpoints,
            node_services=part.node_services,
            **changes,
        )
