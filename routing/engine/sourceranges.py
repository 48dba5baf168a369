"""``spec.loadBalancerSourceRanges``: which clients kube-proxy lets through at the LB IP.

kube-proxy filters connections *to a load-balancer ingress IP* by source address, in every
mode, for every client that reaches the IP on a node — pods and host processes included:

* iptables (pkg/proxy/iptables/proxier.go ``syncProxyRules``): ``-d LBIP --dport P`` jumps
  to ``KUBE-FW-*``, which sends ``-s RANGE`` (and ``-s LBIP`` when the node IP is inside a
  range: a node's own call to a local VIP leaves with the VIP as source) on to
  ``KUBE-EXT-*``; the rest is dropped by ``KUBE-PROXY-FIREWALL``. The chain exists only
  when the Service has endpoints (``usesFWChain := hasEndpoints && …``); without any
  the REJECT comes first.
* nftables (pkg/proxy/nftables/proxier.go): the ``firewall-ips`` map sends the LB IP to
  a chain ``ip saddr != { RANGES } drop`` before DNAT, endpoints or not.
* IPVS (pkg/proxy/ipvs/proxier.go): ``KUBE-LOAD-BALANCER-FW`` +
  ``KUBE-LOAD-BALANCER-SOURCE-CIDR`` (and ``-SOURCE-IP`` for the node's own VIP calls)
  in ``KUBE-FIREWALL``, else ``KUBE-MARK-DROP``.
* userspace never read the field (modelled without a filter).

NodePorts and externalIPs are never filtered. The ranges are those of the Service's family
(serviceport.go trims and filters them; ``Service.lb_source_ranges``).

Which address a client has: a host process calls from its node's IP (or the local VIP,
allowed on the same condition); a pod from an address of its node's ``podCIDR`` — a
verdict when the whole pod CIDR is inside (or wholly outside) the ranges; an external or
load-balancer client only when the question gives ``client_ip``. Otherwise the client is
taken as inside, and the answer says so.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot
from routing.engine.types import Service


class ClientAddressError(ValueError):
    """``client_ip`` is not an IP address."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the client passes the ranges: True, False, or None (unknown: taken as inside)."""

    allowed: bool | None
    #: the client as the explanation names it ("10.0.0.7", "pods on n1 (10.244.1.0/24)").
    client: str
    reason: Reason


@lru_cache(maxsize=4096)
def _networks(ranges: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for text in ranges:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            continue  # MapCIDRsByIPFamily drops what does not parse
    return tuple(out)


def filters(service: Service, to: str) -> bool:
    """The question goes to a captured LB IP of a Service with source ranges."""
    return to == "loadbalancer" and bool(service.lb_ips) and bool(service.lb_source_ranges)


def firewall_drops(mode: str, has_any_endpoints: bool) -> bool:
    """Whether ``mode``'s firewall is in place for a client outside the ranges."""
    if mode == "userspace":
        return False
    if mode == "iptables":
        return has_any_endpoints
    return True


def check_client_ip(client_ip: str | None) -> None:
    """Raise ``ClientAddressError`` unless ``client_ip`` is None or an IP address."""
    if client_ip is None:
        return
    try:
        ipaddress.ip_address(client_ip.strip())
    except ValueError:
        raise ClientAddressError(f"client_ip {client_ip!r} is not an IP address") from None


def verdict(
    snapshot: Snapshot, service: Service, kind: str, node: str | None, client_ip: str | None
) -> Verdict:
    """Does the client of a question pass ``service``'s loadBalancerSourceRanges?"""
    nets = _networks(service.lb_source_ranges)
    ranges = ", ".join(service.lb_source_ranges)
    if client_ip:
        check_client_ip(client_ip)
        address = ipaddress.ip_address(client_ip.strip())
        inside = any(address in net for net in nets)
        return _decided(service, inside, str(address), ranges, snapshot, node)
    found = snapshot.nodes.get(node) if node else None
    family = 6 if service.family == "IPv6" else 4
    if kind == "host":
        host = next((a for a in (found.addresses if found else ()) if _version(a) == family), None)
        if host is None:
            return _assumed(ranges, f"node {node}'s address is not in the dump")
        inside = any(ipaddress.ip_address(host) in net for net in nets)
        return _decided(service, inside, f"host process on {node} ({host})", ranges, snapshot, node)
    if kind == "pod":
        cidrs = [
            c for c in (found.pod_cidrs if found else ()) if _version(c.split("/")[0]) == family
        ]
        if not cidrs:
            return _assumed(ranges, f"node {node}'s podCIDR is not in the dump")
        pod_nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        within = all(any(_subnet_of(p, n) for n in nets) for p in pod_nets)
        apart = not any(p.overlaps(n) for p in pod_nets for n in nets if n.version == p.version)
        label = f"pods on {node} ({', '.join(cidrs)})"
        if within or apart:
            return _decided(service, within, label, ranges, snapshot, node)
        return _assumed(ranges, f"{label} are partly inside them")
    who = "a load-balancer client" if kind == "lb" else "an external client"
    return _assumed(ranges, f"{who}'s address was not given")


def _subnet_of(
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    """``inner.subnet_of(outer)`` for two networks of one family; False across families."""
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _version(text: str) -> int:
    return 6 if ":" in text else 4


def _decided(
    service: Service, inside: bool, client: str, ranges: str, snapshot: Snapshot, node: str | None
) -> Verdict:
    if inside:
        return Verdict(
            True, client, reason(Code.LB_SOURCE_RANGE_ALLOWED, client=client, ranges=ranges)
        )
    mode = snapshot.proxy_for(node).mode
    return Verdict(
        False,
        client,
        reason(
            Code.LB_SOURCE_RANGE_DROP,
            client=client,
            ranges=ranges,
            mode=mode,
            lb_ip=", ".join(service.lb_ips),
        ),
    )


def _assumed(ranges: str, why: str) -> Verdict:
    return Verdict(None, "", reason(Code.LB_SOURCE_RANGE_ASSUMED, ranges=ranges, why=why))
