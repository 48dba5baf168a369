"""Turn a ``Snapshot`` into per-node ``PortPlan``s: the one place the renderers meet the
engine's types and its ``categorize_endpoints`` decision."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from routing.engine.errors import EngineError
from routing.engine.rules.cache import RenderCache
from routing.engine.rules.model import NodeContext, PortPlan, RenderOptions
from routing.engine.snapshot import Snapshot
from routing.engine.topology import (
    Categorized,
    categorize_endpoints,
    external_policy_local,
    externally_accessible,
    internal_policy_local,
    local_endpoints,
    uses_cluster_endpoints,
    uses_local_endpoints,
)
from routing.engine.types import Endpoint, FeatureGates, ProxyConfig, Service, ServicePort


class RulesError(EngineError):
    """Bad input for rendering (unknown node, service or mode): one line, and ``field``
    ``node``, ``service`` or ``mode``."""


#: (cluster, local, has_any) as ``categorize_endpoints`` gives them for one node.
_Sets = tuple[tuple[Endpoint, ...] | None, tuple[Endpoint, ...] | None, bool]
#: ``_categorize``'s per-port index: endpoints by node, whether any carries zone / node
#: hints, and the full categorisation per (config, zone, node name) representative.
_PortIndex = tuple[
    dict[str | None, list[Endpoint]],
    bool,
    bool,
    dict[tuple[ProxyConfig, str | None, str | None], Categorized],
]
#: categorisation shared across node classes: (service key, port name) -> index.
SharedCategorization = dict[tuple[str, str], _PortIndex]


def _v4(ip: str) -> bool:
    return ":" not in ip


def node_context(snapshot: Snapshot, node_name: str) -> NodeContext:
    """The node as its kube-proxy sees itself (first IPv4 InternalIP as the node IP)."""
    node = snapshot.nodes.get(node_name)
    if node is None and node_name and (not snapshot.nodes or _hosts_endpoints(snapshot, node_name)):
        # As simulate does: a dump without Node objects (`kubectl get svc,endpointslices`)
        # cannot say which names exist, and endpoints may name nodes the dump leaves out.
        # Such a node's address is unknown; its zone is what its endpoints say.
        zone = next(
            (
                ep.zone
                for ports in snapshot.endpoint_index.values()
                for eps in ports.values()
                for ep in eps
                if ep.node == node_name and ep.zone
            ),
            None,
        )
        return NodeContext(name=node_name, ip=None, zone=zone or "")
    if node is None:
        known = ", ".join(sorted(snapshot.nodes)[:5]) or "none"
        raise RulesError(
            f"unknown node {node_name!r} (known: {known})", field="node", code="unknown"
        )
    ip = next((a for a in node.addresses if _v4(a)), None)
    return NodeContext(name=node.name, ip=ip, zone=node.zone)


def _hosts_endpoints(snapshot: Snapshot, node_name: str) -> bool:
    return any(
        ep.node == node_name
        for ports in snapshot.endpoint_index.values()
        for eps in ports.values()
        for ep in eps
    )


def cluster_cidr(
    snapshot: Snapshot, node_name: str, cache: RenderCache | None = None
) -> str | None:
    """The CIDR kube-proxy's LocalTrafficDetector matches pod traffic with, or None.

    ClusterCIDR mode uses ``clusterCIDR``; NodeCIDR mode the node's ``podCIDR``. When the
    dump says a detector exists but not its CIDR (no ConfigMap), the smallest network
    covering every node's pod CIDR stands in for it (computed once per snapshot through
    ``cache`` when given).
    """
    conf = snapshot.proxy_for(node_name)
    if not conf.local_detector:
        return None
    node = snapshot.nodes.get(node_name)
    if conf.detect_local_mode == "NodeCIDR":
        # server_linux.go getLocalDetectors: NodeCIDR matches the node's own podCIDR,
        # whatever clusterCIDR says.
        own = [c for c in (node.pod_cidrs if node else ()) if _v4(c)]
        if own:
            return own[0].strip()
    v4 = [c for c in conf.cluster_cidrs if _v4(c)]
    if v4:
        return v4[0].strip()
    if cache is None:
        return _pod_supernet(snapshot)
    return cache.per_snapshot(snapshot, "pod-supernet", lambda: _pod_supernet(snapshot))


def local_interface(conf: ProxyConfig) -> str | None:
    """The interface match of an interface-based LocalTrafficDetector (iptables spelling:
    the bridge, or the prefix and "+"), None for the CIDR modes or no detector."""
    if not conf.local_detector or not conf.detect_local_interface:
        return None
    if conf.detect_local_mode == "BridgeInterface":
        return conf.detect_local_interface
    if conf.detect_local_mode == "InterfaceNamePrefix":
        return conf.detect_local_interface + "+"
    return None


def _pod_supernet(snapshot: Snapshot) -> str | None:
    nets = {
        ipaddress.IPv4Network(c, strict=False)  # _v4: no ":", so never an IPv6 network
        for n in snapshot.nodes.values()
        for c in n.pod_cidrs
        if _v4(c)
    }
    if not nets:
        return None
    net = next(iter(nets))
    while not all(n.subnet_of(net) for n in nets):
        net = net.supernet()
    return str(net)


def render_options(
    snapshot: Snapshot, node_name: str, *, cache: RenderCache | None = None, **changes: object
) -> RenderOptions:
    """kube-proxy flags for ``node_name`` read from the snapshot, plus explicit changes."""
    conf = snapshot.proxy_for(node_name)
    opts: dict[str, object] = dict(
        cluster_cidr=cluster_cidr(snapshot, node_name, cache),
        local_interface=local_interface(conf),
        masquerade_all=conf.masquerade_all,
        ipvs_scheduler=conf.ipvs_scheduler or "rr",
    )
    opts.update(changes)
    return RenderOptions(**opts)  # type: ignore[arg-type]


def proxied_services(snapshot: Snapshot, service: str | None = None) -> list[Service]:
    """Services kube-proxy programs (not headless, IPv4 ClusterIP), sorted by key."""
    if service is not None:
        svc = snapshot.services.get(service)
        if svc is None:
            raise RulesError(
                f"unknown service {service!r} (expected namespace/name)",
                field="service",
                code="unknown",
            )
        candidates: Iterable[Service] = [svc]
    else:
        candidates = (snapshot.services[k] for k in sorted(snapshot.services))
    # Headless, ExternalName and other proxies' Services (service-proxy-name) are not kube-proxy's.
    return [s for s in candidates if s.proxied and _v4(s.cluster_ips[0])]


def trivial_categorization(
    endpoints: tuple[Endpoint, ...],
    svc: Service,
    port: ServicePort,
    node_name: str,
    gates: FeatureGates,
) -> _Sets | None:
    """``categorize_endpoints``' (cluster, local, has_any) when no topology filter can apply:
    no endpoint carries a zone or node hint and at least one is Ready (so the topology mode
    is none, the Cluster set is the Ready endpoints and its terminating fallback is moot);
    else None.

    One attribute pass instead of the full decision, for the common case of a single
    node's render (10,000 ports, 150,000 endpoints); same members in the same order
    (test_render_fast_paths checks it against categorize_endpoints).
    """
    all_ready = True
    for ep in endpoints:
        if ep.zone_hints or ep.node_hints:
            return None
        if not ep.ready:
            all_ready = False
    ready = endpoints if all_ready else tuple(ep for ep in endpoints if ep.ready)
    if not ready:
        return None
    uses_cluster = uses_cluster_endpoints(svc, port, gates)
    uses_local = uses_local_endpoints(svc, port, gates)
    local = local_endpoints(endpoints, node_name, gates) if uses_local else None
    return (ready if uses_cluster else None), local, uses_cluster or uses_local


def _categorize(
    snapshot: Snapshot,
    svc: Service,
    port: ServicePort,
    node: NodeContext,
    shared: SharedCategorization | None,
) -> _Sets:
    """(cluster, local, has_any) for ``node``; with ``shared``, nodes that can only differ in
    their local endpoints share one full categorisation.

    The Cluster set and ``has_any`` depend on the node only through its zone and name when
    endpoints carry hints, and through its kube-proxy configuration. So one call per such
    key gives them; the Local set comes from the same decider run on the node's own
    endpoints (it only ever looks at those). Used by the diff, where thousands of node
    classes of one large Service differ only in their local endpoints.
    """
    conf = snapshot.proxy_for(node.name)
    endpoints = snapshot.endpoints(svc.key, port.name)
    zone, gates, version = node.zone, conf.gates, conf.version
    if shared is None:
        cat = categorize_endpoints(
            endpoints,
            service=svc,
            port=port,
            node_name=node.name,
            zone=zone,
            gates=gates,
            version=version,
        )
        return cat.cluster, cat.local, cat.has_any_endpoints
    index = shared.get((svc.key, port.name))
    if index is None:
        by_node: dict[str | None, list[Endpoint]] = {}
        for e in endpoints:
            by_node.setdefault(e.node, []).append(e)
        zoned = any(e.zone_hints for e in endpoints)
        named = any(e.node_hints for e in endpoints)
        index = shared[(svc.key, port.name)] = (by_node, zoned, named, {})
    by_node, zoned, named, reps = index
    rep_key = (conf, node.zone if zoned else None, node.name if named else None)
    rep = reps.get(rep_key)
    if rep is None:
        rep = reps[rep_key] = categorize_endpoints(
            endpoints,
            service=svc,
            port=port,
            node_name=node.name,
            zone=zone,
            gates=gates,
            version=version,
        )
    own = by_node.get(node.name, ())
    local = (
        categorize_endpoints(
            own,
            service=svc,
            port=port,
            node_name=node.name,
            zone=zone,
            gates=gates,
            version=version,
        ).local
        if own
        else (None if rep.local is None else ())
    )
    return rep.cluster, local, rep.has_any_endpoints


def port_plan(
    snapshot: Snapshot,
    svc: Service,
    port: ServicePort,
    node: NodeContext,
    *,
    shared: SharedCategorization | None = None,
) -> PortPlan:
    """One service port as ``node``'s kube-proxy programs it (``shared``: see _categorize)."""
    conf = snapshot.proxy_for(node.name)
    endpoints = snapshot.endpoints(svc.key, port.name)
    trivial = None
    if shared is None and type(endpoints) is tuple:
        trivial = trivial_categorization(endpoints, svc, port, node.name, conf.gates)
    cluster, local, has_any = trivial or _categorize(snapshot, svc, port, node, shared)
    affinity = svc.affinity_timeout if svc.session_affinity == "ClientIP" else None
    hc = (
        svc.health_check_node_port
        if (svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local")
        else 0
    )
    return PortPlan(
        namespace=svc.namespace,
        name=svc.name,
        port_name=port.name,
        protocol=port.protocol.lower(),
        cluster_ip=svc.cluster_ips[0],
        port=port.port,
        node_port=port.node_port,
        external_ips=tuple(ip for ip in svc.external_ips if _v4(ip)),
        lb_ips=tuple(ip for ip in svc.lb_ips if _v4(ip)),
        source_ranges=tuple(c.strip() for c in svc.lb_source_ranges if c.strip() and _v4(c)),
        affinity_timeout=affinity or None,
        internal_local=internal_policy_local(svc, conf.gates),
        external_local=external_policy_local(svc, port),
        externally_accessible=externally_accessible(svc, port),
        health_check_node_port=hc,
        # Engine Endpoints carry ip/port/node/zone like EpRef: used as they are (no copy
        # per endpoint; a 150,000-endpoint render would spend most of its time there).
        cluster=cluster,  # type: ignore[arg-type]
        local=local,  # type: ignore[arg-type]
        has_any=has_any,
        total_endpoints=len(endpoints),
    )


def node_plans(
    snapshot: Snapshot, node_name: str, *, service: str | None = None
) -> tuple[NodeContext, list[PortPlan]]:
    """Every proxied service port (or one Service's ports) as ``node_name`` programs them."""
    node = node_context(snapshot, node_name)
    plans = [
        port_plan(snapshot, svc, port, node)
        for svc in proxied_services(snapshot, service)
        for port in svc.ports
    ]
    return node, plans
