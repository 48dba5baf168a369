"""Immutable engine types: what kube-proxy knows about nodes, services and endpoints.

Every field is documented against the Kubernetes API field it mirrors. The adapter in
``routing.engine.kube`` is the only place that reads Kubernetes objects; everything else
in the engine works on these frozen values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields

#: A Kubernetes minor release as ``(major, minor)``, e.g. ``(1, 35)``.
Version = tuple[int, int]

#: The release the engine follows when nothing in the cluster says otherwise.
DEFAULT_VERSION: Version = (1, 35)

PROXY_MODES = ("iptables", "nftables", "ipvs", "userspace")
IPVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh")
TRAFFIC_POLICIES = ("Cluster", "Local")
TRAFFIC_DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")
SESSION_AFFINITIES = ("None", "ClientIP")

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)")


def parse_version(text: str | None) -> Version | None:
    """``"v1.26.3"`` / ``"1.26"`` -> ``(1, 26)``; None when the text carries no version."""
    if not text:
        return None
    match = _VERSION_RE.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True, slots=True)
class FeatureGates:
    """The kube-proxy feature gates that change endpoint selection.

    Defaults are the gates' default values in ``DEFAULT_VERSION``; ``for_version`` gives
    the defaults of an older release (see the version table, semantics §10).
    """

    #: TopologyAwareHints (beta, on by default from 1.24, GA 1.33): kube-proxy reads
    #: ``endpoints[].hints.forZones`` at all.
    topology_aware_hints: bool = True
    #: ServiceTrafficDistribution (on from 1.31, GA 1.33): once on, kube-proxy stops
    #: requiring the ``service.kubernetes.io/topology-mode`` annotation before using hints.
    service_traffic_distribution: bool = True
    #: PreferSameTrafficDistribution (beta, on from 1.34): kube-proxy reads
    #: ``hints.forNodes`` and may pick the PreferSameNode topology mode.
    prefer_same_traffic_distribution: bool = True
    #: ProxyTerminatingEndpoints (on from 1.26, GA 1.28): the serving+terminating fallback
    #: of both the Cluster and the Local endpoint sets.
    proxy_terminating_endpoints: bool = True
    #: ServiceInternalTrafficPolicy (on from 1.22): ``spec.internalTrafficPolicy`` is read.
    service_internal_traffic_policy: bool = True

    @classmethod
    def for_version(cls, version: Version) -> FeatureGates:
        """The default gate values of kube-proxy ``version``."""
        return cls(
            topology_aware_hints=version >= (1, 24),
            service_traffic_distribution=version >= (1, 31),
            prefer_same_traffic_distribution=version >= (1, 34),
            proxy_terminating_endpoints=version >= (1, 26),
            service_internal_traffic_policy=version >= (1, 22),
        )


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """One node's kube-proxy: mode, scheduler, local-traffic detection, release, gates.

    Mirrors the ``kube-system/kube-proxy`` ConfigMap's ``config.conf``
    (KubeProxyConfiguration) and the node's ``status.nodeInfo``.
    """

    #: ``mode``: iptables (the default when empty), nftables, ipvs, or the removed userspace.
    mode: str = "iptables"
    #: ``ipvs.scheduler``; empty means ``rr`` in kube-proxy.
    ipvs_scheduler: str = "rr"
    #: ``clusterCIDR`` split on commas; feeds the ClusterCIDR LocalTrafficDetector.
    cluster_cidrs: tuple[str, ...] = ()
    #: ``detectLocalMode``: ClusterCIDR (default), NodeCIDR, BridgeInterface, InterfaceNamePrefix.
    detect_local_mode: str = "ClusterCIDR"
    #: ``detectLocal.bridgeInterface`` (BridgeInterface) or ``detectLocal.interfaceNamePrefix``
    #: (InterfaceNamePrefix): the interface the detector matches; "" for the CIDR modes.
    detect_local_interface: str = ""
    #: Whether kube-proxy can tell pod traffic from other traffic (a LocalTrafficDetector
    #: exists). Without one there is no eTP=Local short-circuit and no off-cluster
    #: ClusterIP masquerade (semantics §3.3, §5).
    local_detector: bool = True
    #: ``masqueradeAll``: SNAT every ClusterIP connection.
    masquerade_all: bool = False
    #: kube-proxy release (``status.nodeInfo.kubeProxyVersion`` or ``kubeletVersion``).
    version: Version = DEFAULT_VERSION
    gates: FeatureGates = field(default_factory=FeatureGates)


@dataclass(frozen=True, slots=True)
class Node:
    """A Node as kube-proxy and the cloud load balancer see it."""

    #: ``metadata.name`` (kube-proxy's ``--hostname-override``).
    name: str
    #: label ``topology.kubernetes.io/zone``; "" when missing (kube-proxy's own reading).
    zone: str = ""
    #: label ``topology.kubernetes.io/region``.
    region: str = ""
    #: the deprecated ``failure-domain.beta.kubernetes.io/zone`` label, which kube-proxy
    #: never reads (kept only to explain why such a node has no zone).
    beta_zone: str = ""
    #: ``status.conditions[type=Ready].status == "True"`` (missing condition -> True).
    ready: bool = True
    #: ``spec.unschedulable`` (cordoned).
    unschedulable: bool = False
    #: ``metadata.deletionTimestamp`` is set, or the node carries the
    #: ``ToBeDeletedByClusterAutoscaler`` taint (kube-proxy healthz then fails).
    deleting: bool = False
    #: the ``ToBeDeletedByClusterAutoscaler`` taint (which of the two ``deleting`` is).
    delete_taint: bool = False
    #: kube-proxy's own liveness on this node, from its Pod's Ready condition when the dump
    #: has the Pod; None: unknown (``lb.proxy_alive`` then assumes from node readiness).
    proxy_healthy: bool | None = None
    #: label ``node.kubernetes.io/exclude-from-external-load-balancers`` is present.
    exclude_from_lb: bool = False
    #: ``status.addresses`` of type InternalIP (then ExternalIP).
    addresses: tuple[str, ...] = ()
    #: ``spec.podCIDRs`` (or ``spec.podCIDR``).
    pod_cidrs: tuple[str, ...] = ()
    #: ``status.nodeInfo.kubeProxyVersion``, else ``kubeletVersion``; None if absent.
    version: Version | None = None


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One entry of ``spec.ports``: kube-proxy's unit of work (one chain set per port)."""

    #: ``ports[].name`` ("" for the single unnamed port).
    name: str
    #: ``ports[].port``.
    port: int
    #: ``ports[].protocol`` (TCP, UDP, SCTP).
    protocol: str = "TCP"
    #: ``ports[].targetPort`` (number or named port); informational.
    target_port: int | str | None = None
    #: ``ports[].nodePort``; 0 when none is allocated.
    node_port: int = 0


@dataclass(frozen=True, slots=True)
class Service:
    """A Service, normalised the way ``pkg/proxy/serviceport.go`` reads it."""

    namespace: str
    name: str
    #: ``spec.type``: ClusterIP, NodePort, LoadBalancer, ExternalName.
    type: str = "ClusterIP"
    #: ``spec.clusterIPs`` (or ``spec.clusterIP``); ("None",) for a headless Service.
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[ServicePort, ...] = ()
    #: ``spec.externalIPs``.
    external_ips: tuple[str, ...] = ()
    #: ``status.loadBalancer.ingress[].ip`` whose ``ipMode`` is unset or VIP — the only
    #: ingress addresses kube-proxy captures on nodes (semantics §1.1).
    lb_ips: tuple[str, ...] = ()
    #: ingress entries kube-proxy does not capture (hostname only, or ``ipMode: Proxy``).
    lb_uncaptured: tuple[str, ...] = ()
    #: ``spec.loadBalancerSourceRanges``.
    lb_source_ranges: tuple[str, ...] = ()
    #: ``spec.internalTrafficPolicy`` (nil -> Cluster).
    internal_traffic_policy: str = "Cluster"
    #: ``spec.externalTrafficPolicy`` (nil -> Cluster).
    external_traffic_policy: str = "Cluster"
    #: ``spec.trafficDistribution``; kube-proxy never reads it (only the hints the
    #: EndpointSlice controller writes because of it).
    traffic_distribution: str | None = None
    #: annotation ``service.kubernetes.io/topology-aware-hints`` if set (it wins, as in
    #: serviceport.go), else ``service.kubernetes.io/topology-mode``; "" when absent.
    #: What kube-proxy 1.27+ reads.
    topology_annotation: str = ""
    #: annotation ``service.kubernetes.io/topology-aware-hints`` alone ("" when absent;
    #: None when the Service was not read from an object: ``topology_annotation`` then
    #: stands for it): kube-proxy 1.24-1.26 read only this one (``topology-mode`` came in 1.27).
    hints_annotation: str | None = None

    def annotation_read_by(self, version: Version) -> str:
        """The topology annotation value kube-proxy ``version`` reads (serviceport.go)."""
        if version < (1, 27) and self.hints_annotation is not None:
            return self.hints_annotation
        return self.topology_annotation

    #: ``spec.sessionAffinity``: None or ClientIP.
    session_affinity: str = "None"
    #: ``spec.sessionAffinityConfig.clientIP.timeoutSeconds`` (API default 10800).
    affinity_timeout: int = 10800
    #: ``spec.healthCheckNodePort`` (0 when not allocated).
    health_check_node_port: int = 0
    #: ``spec.publishNotReadyAddresses``.
    publish_not_ready: bool = False
    #: ``spec.selector`` as sorted (key, value) pairs; None for a selector-less Service.
    selector: tuple[tuple[str, str], ...] | None = None
    #: label ``service.kubernetes.io/service-proxy-name`` (None when absent): kube-proxy's
    #: informers select ``!service.kubernetes.io/service-proxy-name``, so a Service carrying
    #: it (whatever its value) is left to another proxy (cmd/kube-proxy/app/server.go).
    proxy_name: str | None = None
    #: ``spec.externalName`` (type ExternalName).
    external_name: str = ""
    #: The IP family this view of the Service is for (kube-proxy runs one proxier per
    #: family): the family of ``cluster_ips[0]``; "" for headless / ExternalName.
    #: ``external_ips``, ``lb_ips`` and ``lb_source_ranges`` hold that family's entries
    #: only, as ``newBaseServiceInfo`` filters them (serviceport.go).
    family: str = ""
    #: Every ``spec.externalIPs`` / captured ingress IP / source range, both families
    #: (``routing.engine.families`` builds the other family's view from them).
    all_external_ips: tuple[str, ...] = ()
    all_lb_ips: tuple[str, ...] = ()
    all_source_ranges: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def headless(self) -> bool:
        """``clusterIP: None``: kube-proxy ignores the Service entirely."""
        return not self.cluster_ips or self.cluster_ips[0] in ("None", "")

    @property
    def proxied(self) -> bool:
        """kube-proxy programs this Service: not ExternalName, not headless, and not
        labelled for another service proxy."""
        return not (self.type == "ExternalName" or self.headless or self.proxy_name is not None)

    def port(self, name_or_number: str | int | None) -> ServicePort | None:
        """The port called ``name_or_number`` (name, or port number); the only port if None."""
        if name_or_number is None or name_or_number == "":
            return self.ports[0] if len(self.ports) == 1 else None
        for port in self.ports:
            if port.name == str(name_or_number):
                return port
        text = str(name_or_number)
        if text.isdigit():
            for port in self.ports:
                if port.port == int(text):
                    return port
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One EndpointSlice endpoint for one service port (kube-proxy's ``BaseEndpointInfo``)."""

    #: ``endpoints[].addresses[0]`` (kube-proxy uses only the first address).
    ip: str
    #: the matching ``ports[].port`` of the slice.
    port: int
    #: ``endpoints[].nodeName``; None when unset (then never local to any node).
    node: str | None = None
    #: ``endpoints[].zone`` — reporting only, kube-proxy ignores it.
    zone: str | None = None
    #: ``conditions.ready`` (omitted -> True).
    ready: bool = True
    #: ``conditions.serving`` (omitted -> True).
    serving: bool = True
    #: ``conditions.terminating`` (omitted -> False).
    terminating: bool = False
    #: ``hints.forZones[].name``.
    zone_hints: frozenset[str] = frozenset()
    #: ``hints.forNodes[].name`` (read only with PreferSameTrafficDistribution).
    node_hints: frozenset[str] = frozenset()
    #: ``targetRef`` as ``namespace/name`` when it is a Pod.
    pod: str | None = None

    @property
    def key(self) -> str:
        """``ip:port`` (``[ip]:port`` for IPv6): kube-proxy's de-duplication and sort key."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def _endpoint_maker() -> Callable[..., Endpoint]:
    new = object.__new__
    # The slots' setters, bound once: the maker's closure reads them as fast as locals.
    (
        set_ip,
        set_port,
        set_node,
        set_zone,
        set_ready,
        set_serving,
        set_terminating,
        set_zone_hints,
        set_node_hints,
        set_pod,
    ) = (getattr(Endpoint, f.name).__set__ for f in fields(Endpoint))

    def make_endpoint(
        ip: str,
        port: int,
        node: str | None,
        zone: str | None,
        ready: bool,
        serving: bool,
        terminating: bool,
        zone_hints: frozenset[str],
        node_hints: frozenset[str],
        pod: str | None,
    ) -> Endpoint:
        """``Endpoint(...)`` for bulk loads: fills the slots directly, skipping the frozen
        dataclass ``__init__`` (about 40% of its cost for the 150,000 endpoints of a large
        cluster). All arguments are required and positional, in field order."""
        obj = new(Endpoint)
        set_ip(obj, ip)
        set_port(obj, port)
        set_node(obj, node)
        set_zone(obj, zone)
        set_ready(obj, ready)
        set_serving(obj, serving)
        set_terminating(obj, terminating)
        set_zone_hints(obj, zone_hints)
        set_node_hints(obj, node_hints)
        set_pod(obj, pod)
        return obj

    return make_endpoint


make_endpoint = _endpoint_maker()


@dataclass(frozen=True, slots=True)
class Pod:
    """The part of a Pod the what-if needs: where it runs and who owns it."""

    namespace: str
    name: str
    #: ``spec.nodeName``.
    node: str | None = None
    #: ``status.podIP``.
    ip: str | None = None
    #: owner as ``Kind/name`` (a ReplicaSet's Deployment is resolved to ``Deployment/x``).
    owner: str | None = None
    #: ``metadata.labels`` as (key, value) pairs, in the object's order.
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"
