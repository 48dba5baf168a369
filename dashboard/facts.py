"""A Service's facts as stored: what ``kubectl describe service`` would tell, for the
detail page's header (``templates/dashboard/services/_facts.html``).

Pure presentation over the stored row and the placement grid the page already reads (no
query of its own); what kube-proxy does with those facts stays the engine's answer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from cluster.models import Service
from dashboard.selectors import PlacedEndpoint

#: Service types whose ``externalTrafficPolicy`` kube-proxy reads (with externalIPs, any type).
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class PortFact:
    """One ``spec.ports`` entry."""

    name: str
    port: int
    protocol: str
    target_port: str
    node_port: int | None
    app_protocol: str


@dataclass(frozen=True)
class EndpointFact:
    """One endpoint address with the pod behind it and where that pod runs."""

    address: str
    pod: str
    node: str
    zone: str
    state: str
    label: str


@dataclass(frozen=True)
class ServiceFacts:
    """The header's facts; ``kind`` is what the Service really is for traffic:
    ``ExternalName``, ``headless`` or ``proxied``."""

    kind: str
    type_label: str
    cluster_ips: list[tuple[str, str]]
    family_policy: str
    ports: list[PortFact]
    lb_ingress: list[str]
    lb_source_ranges: list[str]
    health_check_node_port: int | None
    external_ips: list[str]
    selector: dict[str, str] | None
    internal_policy: str
    external_policy: str
    external_policy_applies: bool
    affinity: str
    traffic_distribution: str
    topology_mode: str
    external_name: str
    publish_not_ready: bool
    endpoints: list[EndpointFact]


def _family(ip: str) -> str:
    try:
        return f"IPv{ipaddress.ip_address(ip).version}"
    except ValueError:
        return ""


def _port(raw: dict[str, Any]) -> PortFact:
    return PortFact(
        name=raw.get("name") or "",
        port=int(raw.get("port") or 0),
        protocol=raw.get("protocol") or "TCP",
        # An omitted targetPort is the port itself (API server defaulting).
        target_port=str(raw.get("targetPort", raw.get("port", ""))),
        node_port=raw.get("nodePort"),
        app_protocol=raw.get("appProtocol") or "",
    )


def _ingress(raw: dict[str, Any]) -> str:
    address = raw.get("ip") or raw.get("hostname") or "?"
    return f"{address} (ipMode {raw['ipMode']})" if raw.get("ipMode") else address


def _kind(service: Service) -> str:
    if service.type == "ExternalName":
        return "ExternalName"
    if not service.cluster_ips or service.cluster_ips[0] in ("None", ""):
        return "headless"
    return "proxied"


def _affinity(service: Service) -> str:
    if service.session_affinity != "ClientIP":
        return service.session_affinity or "None"
    # kube-proxy's default stickiness is 3 hours (10800 s) when the config is omitted.
    return f"ClientIP, {service.session_affinity_timeout or 10800} s"


def endpoint_facts(
    placement: list[tuple[str, list[tuple[str, bool, bool, list[PlacedEndpoint]]]]],
) -> list[EndpointFact]:
    """The placement grid flattened: one row per address and pod, sorted by pod name."""
    seen: dict[tuple[str, str], EndpointFact] = {}
    for zone, nodes in placement:
        for node, _ready, _cordoned, eps in nodes:
            for ep in eps:
                seen.setdefault(
                    (ep.address, ep.pod),
                    EndpointFact(ep.address, ep.pod, node, zone, ep.state, ep.label),
                )
    return sorted(seen.values(), key=lambda e: (e.pod or "~", e.address))


def service_facts(
    service: Service,
    placement: list[tuple[str, list[tuple[str, bool, bool, list[PlacedEndpoint]]]]],
) -> ServiceFacts:
    """The stored ``service`` and its placed endpoints as the header shows them."""
    kind = _kind(service)
    ips = [ip for ip in service.cluster_ips or [] if ip not in ("", "None")]
    type_label = {"headless": f"{service.type} · headless (clusterIP: None)"}.get(
        kind, service.type
    )
    return ServiceFacts(
        kind=kind,
        type_label=type_label,
        cluster_ips=[(ip, _family(ip)) for ip in ips],
        family_policy=service.ip_family_policy or "",
        ports=[_port(p) for p in service.ports or []],
        lb_ingress=[_ingress(i) for i in service.load_balancer_ingress or []],
        lb_source_ranges=list(service.load_balancer_source_ranges or []),
        health_check_node_port=service.health_check_node_port,
        external_ips=list(service.external_ips or []),
        selector=service.selector or None,
        internal_policy=service.internal_traffic_policy or "Cluster",
        external_policy=service.external_traffic_policy or "Cluster",
        external_policy_applies=service.type in EXTERNAL_TYPES or bool(service.external_ips),
        affinity=_affinity(service),
        traffic_distribution=service.traffic_distribution or "",
        topology_mode=service.topology_mode or "",
        external_name=service.external_name or "",
        publish_not_ready=bool(service.publish_not_ready_addresses),
        endpoints=endpoint_facts(placement),
    )
