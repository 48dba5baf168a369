"""IP families: kube-proxy runs one proxier per family, and each sees its own Service.

``newBaseServiceInfo`` (K/K pkg/proxy/serviceport.go) takes the ClusterIP of the
proxier's family (``GetClusterIPByFamily``) and keeps only that family's externalIPs,
loadBalancerSourceRanges and VIP-mode ingress IPs; a Service without a ClusterIP of the
family is not in that proxier's map at all (servicechangetracker.go). The EndpointSlice
cache of the proxier skips endpoints of the other family (endpointslicecache.go
``addEndpoints``). ``family_view`` gives one family's view of a ``Service``;
``snapshot_for_family`` the whole snapshot as that family's proxiers see it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, TypedDict

from routing.engine.types import Service

if TYPE_CHECKING:
    from routing.engine.snapshot import Snapshot

IPV4, IPV6 = "IPv4", "IPv6"
_ODD_V4 = re.compile(r"(^|\.)0\d|\s")
FAMILIES = (IPV4, IPV6)


def family_of(text: str) -> str:
    """``IPv6`` for an address or CIDR containing ':', else ``IPv4``."""
    return IPV6 if ":" in text else IPV4


@lru_cache(maxsize=65536)
def _canonical(text: str) -> str:
    stripped = text.strip()
    if ":" not in stripped:
        # Go's ParseIPSloppy reads "010.001.0.1" as decimal octets, Python refuses it.
        parts = stripped.split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            return ".".join(str(int(p)) for p in parts)
        return stripped
    try:
        return str(ipaddress.ip_address(stripped))
    except ValueError:
        return stripped


def canonical_ip(text: str) -> str:
    """One spelling per address: ``2001:0db8:0:0::1`` and ``2001:DB8::1`` are both
    ``2001:db8::1`` (RFC 5952), as the kernel (and IPVS, which keys real servers by the
    parsed address) sees them. Text that is no address is returned unchanged."""
    if ":" not in text:
        # The common IPv4 case, without a parse: only an octet with a leading zero or
        # padding differs from its canonical text.
        return _canonical(text) if _ODD_V4.search(text) else text
    return _canonical(text)


def primary_family(service: Service) -> str:
    """The family of ``spec.clusterIPs[0]``; "" when the Service has no ClusterIP."""
    if service.headless or service.type == "ExternalName":
        return ""
    return family_of(service.cluster_ips[0])


def families(service: Service) -> tuple[str, ...]:
    """The families the Service has a ClusterIP in, primary first."""
    if service.headless or service.type == "ExternalName":
        return ()
    return tuple(dict.fromkeys(family_of(ip) for ip in service.cluster_ips))


def family_view(service: Service, family: str | None = None) -> Service:
    """``service`` as the ``family`` proxier sees it (None: the primary family): that
    family's ClusterIP first, and only that family's externalIPs, ingress IPs and source
    ranges. A family the Service has no ClusterIP in returns the Service unchanged with
    ``family`` set to it; callers check ``families(service)`` first."""
    fields = family_fields(
        service.type,
        service.cluster_ips,
        service.all_external_ips,
        service.all_lb_ips,
        service.all_source_ranges,
        family,
    )
    return replace(service, **fields) if fields else service


class FamilyFields(TypedDict, total=False):
    """The ``Service`` fields that differ between the per-family views (``family_fields``)."""

    family: str
    cluster_ips: tuple[str, ...]
    external_ips: tuple[str, ...]
    lb_ips: tuple[str, ...]
    lb_source_ranges: tuple[str, ...]


def family_fields(
    type_: str,
    cluster_ips: tuple[str, ...],
    external_ips: tuple[str, ...],
    lb_ips: tuple[str, ...],
    ranges: tuple[str, ...],
    family: str | None = None,
) -> FamilyFields:
    """The ``Service`` fields of one family's view (``family_view``); {} for a Service
    without a ClusterIP (headless, ExternalName), which no proxier reads."""
    if type_ == "ExternalName" or not cluster_ips or cluster_ips[0] in ("None", ""):
        return {}
    family = family or family_of(cluster_ips[0])
    v6 = family == IPV6
    ips = tuple(ip for ip in cluster_ips if (":" in ip) == v6)
    others = tuple(ip for ip in cluster_ips if (":" in ip) != v6)
    return {
        "family": family,
        "cluster_ips": ips + others if ips else cluster_ips,
        "external_ips": tuple(ip for ip in external_ips if (":" in ip) == v6),
        "lb_ips": tuple(ip for ip in lb_ips if (":" in ip) == v6),
        "lb_source_ranges": tuple(c for c in ranges if (":" in c) == v6),
    }


def snapshot_for_family(snapshot: Snapshot, service_key: str, family: str) -> Snapshot:
    """``snapshot`` with Service ``service_key`` as its ``family`` proxier sees it: that
    family's view of the Service and that family's endpoints. The caller has checked that
    the Service has a ClusterIP of ``family``."""
    service = snapshot.services[service_key]
    if family == service.family or not service.family:
        return snapshot
    services = dict(snapshot.services)
    services[service_key] = family_view(service, family)
    index = dict(snapshot.endpoint_index)
    swapped = snapshot.family_endpoints.get(service_key)
    if swapped:
        index[service_key] = swapped
    else:
        index.pop(service_key, None)
    family_index = dict(snapshot.family_endpoints)
    if service_key in snapshot.endpoint_index:
        family_index[service_key] = snapshot.endpoint_index[service_key]
    else:
        family_index.pop(service_key, None)
    nodes = {ep.node for eps in index.get(service_key, {}).values() for ep in eps if ep.node}
    node_services = dict(snapshot.node_services)
    for node in nodes:
        node_services[node] = node_services.get(node, frozenset()) | {service_key}
    return snapshot.evolve(
        services=services,
        endpoint_index=index,
        family_endpoints=family_index,
        node_services=node_services,
    )


def node_address(addresses: tuple[str, ...], family: str) -> str:
    """The node address a client of ``family`` targets for a NodePort: the node's first
    address of that family (kube-proxy opens the NodePort on each node IP of the proxier's
    family); the first address when the node lists none of it; "" when it lists none."""
    v6 = family == IPV6
    return next((a for a in addresses if (":" in a) == v6), addresses[0] if addresses else "")
