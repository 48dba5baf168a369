"""The per-node decision of the analysis: which candidates a source class gets on one node.

Kept apart from the aggregation so that it reads side by side with
``routing.engine.candidates.path_for``, which it must match (the property tests hold the
two equal on random clusters).
"""
from __future__ import annotations

from dataclasses import dataclass

from routing.engine.candidates import DROP, FORWARD, REJECT
from routing.engine.explain import Code
from routing.engine.topology import Categorized, external_policy_local, internal_policy_local
from routing.engine.types import Endpoint, ProxyConfig, Service, ServicePort


@dataclass(frozen=True, slots=True)
class Answer:
    """One node's verdict for one source class: the action, the candidates, SNAT or not."""

    #: forward, drop or reject.
    action: str
    cands: tuple[Endpoint, ...]
    preserved: bool
    reason: str | None = None
    #: IPVS forwarded to the Cluster set because the Local set was empty.
    fallback: bool = False


def uses_local_path(service: Service, port: ServicePort, config: ProxyConfig, *, pod_source: bool, to_cluster_ip: bool) -> bool:
    """Whether the node's answer comes from its Local set (path_for's routing of the question)."""
    if config.mode == "userspace":
        return False
    if to_cluster_ip:
        return internal_policy_local(service, config.gates)
    if not external_policy_local(service, port):
        return False
    return not (pod_source and config.mode != "ipvs" and config.local_detector)


def decide(eps: tuple[Endpoint, ...], service: Service, port: ServicePort, config: ProxyConfig,
           cat: Categorized | None, local: tuple[Endpoint, ...] | None, *, pod_source: bool, to_cluster_ip: bool) -> Answer:
    """One node's verdict and candidates for one source class, from that node's
    categorisation ``cat`` and Local set ``local`` (None when the question does not use it).

    Mirrors ``candidates.path_for`` (semantics §3.4, §4, §7.3, §7.4) without recomputing the
    categorisation, which the analysis shares between every node of a group.
    """
    if config.mode == "userspace":
        usable = tuple(ep for ep in eps if ep.ready)
        return Answer(FORWARD, usable, False) if usable else Answer(REJECT, (), False, Code.NO_ENDPOINTS_REJECT.value)
    assert cat is not None
    if to_cluster_ip:
        preserved = not config.masquerade_all and (pod_source or not config.local_detector)
    else:
        preserved = external_policy_local(service, port)
    if uses_local_path(service, port, config, pod_source=pod_source, to_cluster_ip=to_cluster_ip):
        if local:
            return Answer(FORWARD, local, preserved)
        if config.mode == "ipvs":
            if cat.cluster:
                return Answer(FORWARD, cat.cluster, preserved, fallback=True)
            return Answer(REJECT, (), preserved, Code.NO_ENDPOINTS_REJECT.value)
        return _empty(cat, preserved)
    if cat.cluster:
        return Answer(FORWARD, cat.cluster, preserved)
    return _empty(cat, preserved)


def _empty(cat: Categorized, preserved: bool) -> Answer:
    if not cat.has_any_endpoints:
        return Answer(REJECT, (), preserved, Code.NO_ENDPOINTS_REJECT.value)
    return Answer(DROP, (), preserved, Code.LOCAL_NO_ENDPOINT_ON_NODE.value)
