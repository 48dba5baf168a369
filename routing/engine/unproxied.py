"""Services kube-proxy does not handle, and what a client gets instead.

kube-proxy's informers select only Services and EndpointSlices without the labels
``service.kubernetes.io/service-proxy-name`` and ``service.kubernetes.io/headless``
(cmd/kube-proxy/app/server.go ``ProxyServer.Run``), and its service change tracker skips
Services without a ClusterIP — headless and ExternalName (pkg/proxy/servicechangetracker.go
``serviceToServiceMap``: ``ShouldSkipService``). For those the answer is not a kube-proxy
verdict but what cluster DNS hands the client:

* headless: the endpoint addresses themselves (A/AAAA records of the ready endpoints, or of
  every endpoint with ``publishNotReadyAddresses``); the client connects to them directly;
* ExternalName: a CNAME to ``spec.externalName``;
* another service proxy's Service: its ClusterIP, which only that proxy programs.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot, sort_endpoints
from routing.engine.types import Endpoint, Service


@dataclass(frozen=True, slots=True)
class NotProxied:
    """Why kube-proxy leaves ``service`` alone and what DNS returns for it."""

    reason: Reason
    #: what cluster DNS answers: addresses (headless, other proxy) or the CNAME target.
    dns: tuple[str, ...]
    #: endpoints the client connects to directly (headless only).
    endpoints: tuple[Endpoint, ...] = ()


def not_proxied(snapshot: Snapshot, service: Service) -> NotProxied | None:
    """None when kube-proxy programs ``service``; else why not and what DNS returns."""
    if service.proxied:
        return None
    if service.type == "ExternalName":
        target = service.external_name or "(spec.externalName unset)"
        return NotProxied(
            reason(Code.NOT_PROXIED_EXTERNAL_NAME, service=service.key, dns=target), (target,)
        )
    if service.headless:
        eps = dns_endpoints(snapshot, service)
        dns = tuple(dict.fromkeys(ep.ip for ep in eps))
        shown = (
            ", ".join(dns[:10]) + (f" and {len(dns) - 10} more" if len(dns) > 10 else "")
            if dns
            else "no address"
        )
        return NotProxied(
            reason(Code.NOT_PROXIED_HEADLESS, service=service.key, dns=shown), dns, eps
        )
    addresses = tuple(ip for ip in service.cluster_ips if ip not in ("", "None"))
    return NotProxied(
        reason(
            Code.NOT_PROXIED_OTHER_PROXY,
            service=service.key,
            dns=", ".join(addresses) or "none",
            proxy=service.proxy_name or '""',
        ),
        addresses,
    )


def dns_endpoints(snapshot: Snapshot, service: Service) -> tuple[Endpoint, ...]:
    """The endpoints a headless Service's DNS records name: the ready ones, or all of them
    when ``publishNotReadyAddresses`` is set; one per address (a pod listed under several
    ports is one A record)."""
    ports = snapshot.endpoint_index.get(service.key, {})
    seen: dict[str, Endpoint] = {}
    for eps in ports.values():
        for ep in eps:
            if (ep.ready or service.publish_not_ready) and ep.ip not in seen:
                seen[ep.ip] = ep
    return sort_endpoints(list(seen.values()))
