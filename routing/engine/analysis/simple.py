"""The common case in closed form: a ClusterIP-only port with Cluster policy and no hints.

Most Services of a cluster are like that. When every node also runs the same kube-proxy
configuration in iptables or nftables mode, every node gets the same Cluster set, uniform
over its endpoints, so the pod source class is one categorisation plus arithmetic: each
endpoint gets 1/k of everything, and the locality split follows from the node count per
zone. ``ports.analyze_port`` uses this when it applies and the general grouping otherwise;
the property tests hold both equal to ``simulate`` from every node.
"""
from __future__ import annotations

from routing.engine.analysis.model import POD, PortAnalysis, SourceAggregate
from routing.engine.analysis.nodes import NodeIndex
from routing.engine.candidates import FORWARD, REJECT
from routing.engine.costmodel import LOCALITIES, SAME_NODE, locality
from routing.engine.explain import Code
from routing.engine.snapshot import Snapshot
from routing.engine.topology import categorize_endpoints, externally_accessible, internal_policy_local
from routing.engine.types import ProxyConfig, Service, ServicePort

_LOC_INDEX = {name: i for i, name in enumerate(LOCALITIES)}


def single_config(index: NodeIndex) -> ProxyConfig | None:
    """The one iptables/nftables configuration every node runs, else None."""
    configs = {cls.config_id: cls.config for cls in index.classes}
    if len(configs) != 1:
        return None
    (config,) = configs.values()
    return config if config.mode in ("iptables", "nftables") else None


def simple_port(snapshot: Snapshot, index: NodeIndex, config: ProxyConfig | None, service: Service,
                port: ServicePort) -> PortAnalysis | None:
    """The analysis of ``port`` in closed form, or None when the shortcut does not apply."""
    if (config is None or not index.total or service.type != "ClusterIP" or externally_accessible(service, port)
            or internal_policy_local(service, config.gates)):
        return None
    eps = snapshot.endpoints(service.key, port.name)
    if any(ep.ready and (ep.zone_hints or ep.node_hints) for ep in eps):
        return None
    first = index.classes[0]
    cat = categorize_endpoints(eps, service=service, port=port, node_name=first.names[0], zone=first.zone,
                               gates=config.gates, version=config.version)
    agg = SourceAggregate(POD, "clusterip", nodes=index.total, shares=[0.0] * len(eps))
    reasons = {str(r.code): (r.message, [f"zone {first.zone or '(none)'}"]) for r in cat.reasons}
    class_of = index.class_of
    hosting = {ep.node for ep in eps if ep.node in class_of}
    if not cat.cluster:
        # Cluster set empty with Cluster policy: nothing usable anywhere, refused everywhere.
        agg.actions[REJECT] = index.total
        agg.dropped = agg.refused = 1.0
        agg.drop_reasons[Code.NO_ENDPOINTS_REJECT.value] = index.total
        return PortAnalysis(service, port, eps, (agg,), len(hosting), reasons, {"": index.total})
    agg.actions[FORWARD] = index.total
    agg.preserved = 0.0 if config.masquerade_all else 1.0
    share = 1.0 / len(cat.cluster)
    positions = range(len(eps)) if len(cat.cluster) == len(eps) else _positions(eps, cat.cluster)
    zone_of, classes, loc = index.zone_of, index.classes, agg.locality
    zone_mass: dict[str, float] = {}
    same_node = _LOC_INDEX[SAME_NODE]
    per_node = share / index.total
    for i in positions:
        ep = eps[i]
        agg.shares[i] = share
        zone = ep.zone or zone_of.get(ep.node, "")
        zone_mass[zone] = zone_mass.get(zone, 0.0) + share
        if ep.node in class_of:
            # One node (the endpoint's own) sees it as same-node instead of its zone relation.
            loc[_LOC_INDEX[locality("", classes[class_of[ep.node]].zone, None, zone)]] -= per_node
            loc[same_node] += per_node
    for cls in classes:
        weight = len(cls.names) / index.total
        for zone, mass in zone_mass.items():
            loc[_LOC_INDEX[locality("", cls.zone, None, zone)]] += weight * mass
    return PortAnalysis(service, port, eps, (agg,), len(hosting), reasons, {"": index.total})


def _positions(eps: tuple, cands: tuple) -> list[int]:
    where = {id(ep): i for i, ep in enumerate(eps)}
    return [where[id(ep)] for ep in cands]
