"""Endpoint categorisation: kube-proxy's ``CategorizeEndpoints`` (K/K pkg/proxy/topology.go).

Decide first (``topology_mode``), then apply (``categorize_endpoints``). Works on one
service port as seen from one node. ``None`` in a result means "this set is not used by
the service"; an empty tuple means "used, and nothing is left".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.types import (
    DEFAULT_VERSION,
    Endpoint,
    FeatureGates,
    Service,
    ServicePort,
    Version,
)

MODE_NONE = ""
MODE_SAME_ZONE = "PreferSameZone"
MODE_SAME_NODE = "PreferSameNode"


def externally_accessible(service: Service, port: ServicePort) -> bool:
    """A NodePort, a captured LB ingress IP or an externalIP exists for ``port``
    (serviceport.go)."""
    return bool(port.node_port or service.lb_ips or service.external_ips)


def external_policy_local(service: Service, port: ServicePort) -> bool:
    """eTP=Local, honoured only for externally accessible ports (``ExternalPolicyLocal``)."""
    return service.external_traffic_policy == "Local" and externally_accessible(service, port)


def internal_policy_local(service: Service, gates: FeatureGates) -> bool:
    """iTP=Local (``InternalPolicyLocal``); ignored before the gate existed."""
    return gates.service_internal_traffic_policy and service.internal_traffic_policy == "Local"


def uses_cluster_endpoints(service: Service, port: ServicePort, gates: FeatureGates) -> bool:
    """The port needs the Cluster set: iTP=Cluster, or it is externally accessible
    (an eTP=Local service still needs it for the pod short-circuit)."""
    return not internal_policy_local(service, gates) or externally_accessible(service, port)


def uses_local_endpoints(service: Service, port: ServicePort, gates: FeatureGates) -> bool:
    """The port needs the Local set: iTP=Local, or eTP=Local on an external port."""
    return internal_policy_local(service, gates) or external_policy_local(service, port)


def usable_anywhere(ep: Endpoint) -> bool:
    """Ready, or serving and terminating: the endpoints that count for ``hasAnyEndpoints``."""
    return ep.ready or (ep.serving and ep.terminating)


def annotation_enables_hints(value: str, version: Version) -> bool:
    """Whether kube-proxy ``version`` (without ServiceTrafficDistribution) accepts the hints
    annotation.

    Up to 1.26 ``canUseTopology`` took only "auto"/"Auto" (topology_test.go: "aUto" is
    ignored); from 1.27 (the ``topology-mode`` annotation, K/K #116522) any non-empty
    value other than "disabled"/"Disabled" is accepted, so custom heuristics work too.
    """
    if version < (1, 27):
        return value in ("auto", "Auto")
    return value not in ("", "disabled", "Disabled")


@dataclass(frozen=True, slots=True)
class TopologyDecision:
    """Which topology filter applies on one node, and why."""

    #: "" (no filtering), "PreferSameZone" or "PreferSameNode" — kube-proxy's naming.
    mode: str
    reasons: tuple[Reason, ...] = ()


def topology_mode(
    endpoints: Sequence[Endpoint],
    *,
    service: Service,
    node_name: str,
    zone: str,
    gates: FeatureGates,
    version: Version = DEFAULT_VERSION,
) -> TopologyDecision:
    """Decide the topology mode for ``node_name`` (``topologyModeFromHints``).

    Only Ready endpoints count. Same-node mode needs the PreferSameTrafficDistribution
    gate, a node hint on *every* Ready endpoint and one naming this node; same-zone mode
    the same with zone hints. There is no partial filtering. Releases before 1.31
    (ServiceTrafficDistribution off) also required the topology annotation to be
    non-empty and not "disabled".
    """
    ready = [ep for ep in endpoints if ep.ready]
    if not ready:
        return TopologyDecision(MODE_NONE)
    any_hints = any(ep.zone_hints or ep.node_hints for ep in ready)
    if not any_hints:
        if service.traffic_distribution:
            return TopologyDecision(
                MODE_NONE,
                (
                    reason(
                        Code.TRAFFIC_DISTRIBUTION_WITHOUT_HINTS, value=service.traffic_distribution
                    ),
                ),
            )
        return TopologyDecision(MODE_NONE)
    ver = f"v{version[0]}.{version[1]}"
    if not gates.topology_aware_hints:
        return TopologyDecision(MODE_NONE, (reason(Code.HINTS_IGNORED_GATE_OFF, version=ver),))
    # Before ServiceTrafficDistribution (1.31) kube-proxy also demanded the annotation.
    if not gates.service_traffic_distribution and not annotation_enables_hints(
        service.annotation_read_by(version), version
    ):
        return TopologyDecision(MODE_NONE, (reason(Code.HINTS_IGNORED_NO_ANNOTATION, version=ver),))
    if not gates.service_traffic_distribution and not zone:
        # Before 1.31 canUseTopology refused a node without a zone label up front.
        return TopologyDecision(
            MODE_NONE, (reason(Code.HINTS_IGNORED_NODE_WITHOUT_ZONE, node=node_name),)
        )
    notes: list[Reason] = []
    if gates.prefer_same_traffic_distribution:
        missing = next((ep for ep in ready if not ep.node_hints), None)
        if missing is None:
            if any(node_name in ep.node_hints for ep in ready):
                return TopologyDecision(
                    MODE_SAME_NODE, (reason(Code.TOPOLOGY_SAME_NODE, node=node_name),)
                )
            notes.append(reason(Code.NODE_HINTS_IGNORED_NO_HINT_FOR_NODE, node=node_name))
        elif any(ep.node_hints for ep in ready):
            notes.append(
                reason(Code.NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT, endpoint=missing.key)
            )
    elif any(ep.node_hints for ep in ready):
        notes.append(reason(Code.NODE_HINTS_IGNORED_GATE_OFF, version=ver))
    missing = next((ep for ep in ready if not ep.zone_hints), None)
    if missing is not None:
        notes.append(reason(Code.HINTS_IGNORED_ENDPOINT_WITHOUT_HINT, endpoint=missing.key))
    elif any(zone in ep.zone_hints for ep in ready):
        notes.append(reason(Code.TOPOLOGY_SAME_ZONE, zone=zone))
        return TopologyDecision(MODE_SAME_ZONE, tuple(notes))
    elif not zone:
        notes.append(reason(Code.HINTS_IGNORED_NODE_WITHOUT_ZONE, node=node_name))
    else:
        notes.append(reason(Code.HINTS_IGNORED_NO_HINT_FOR_ZONE, zone=zone))
    return TopologyDecision(MODE_NONE, tuple(notes))


def available_for_topology(ep: Endpoint, mode: str, node_name: str, zone: str) -> bool:
    """Apply a decided topology mode to one endpoint (``availableForTopology``)."""
    if mode == MODE_NONE:
        return True
    if mode == MODE_SAME_NODE:
        return node_name in ep.node_hints
    return zone in ep.zone_hints


def local_endpoints(
    endpoints: Sequence[Endpoint], node_name: str, gates: FeatureGates
) -> tuple[Endpoint, ...]:
    """kube-proxy's Local set on ``node_name`` (used or not): its Ready endpoints, else
    (ProxyTerminatingEndpoints) its serving-terminating ones. ``endpoints`` may be the
    whole port's or only the node's own."""
    local = tuple(ep for ep in endpoints if ep.node == node_name and ep.ready)
    if not local and gates.proxy_terminating_endpoints:
        local = tuple(
            ep for ep in endpoints if ep.node == node_name and ep.serving and ep.terminating
        )
    return local


@dataclass(frozen=True, slots=True)
class Categorized:
    """The endpoint sets one node programs for one service port."""

    #: Cluster-policy endpoints after topology and the terminating fallback; None when the
    #: port never uses Cluster policy (iTP=Local and not externally accessible).
    cluster: tuple[Endpoint, ...] | None
    #: Local-policy endpoints (on this node, ready, else serving-terminating); None when
    #: the port never uses Local policy.
    local: tuple[Endpoint, ...] | None
    #: Some node could route: drives REJECT (False) versus DROP (True, but empty here).
    has_any_endpoints: bool
    #: "", "PreferSameZone" or "PreferSameNode" (only meaningful for the Cluster set).
    topology_mode: str
    #: Why the sets look the way they do.
    reasons: tuple[Reason, ...] = ()
    #: The Cluster set is the serving-terminating fallback.
    cluster_terminating: bool = False
    #: The Local set is the serving-terminating fallback.
    local_terminating: bool = False


_DEFAULT_GATES = FeatureGates()  # frozen: one shared default


def categorize_endpoints(
    endpoints: Sequence[Endpoint],
    *,
    service: Service,
    port: ServicePort,
    node_name: str,
    zone: str,
    gates: FeatureGates = _DEFAULT_GATES,
    version: Version = DEFAULT_VERSION,
) -> Categorized:
    """Split ``endpoints`` (one service port, sorted) into kube-proxy's sets on ``node_name``.

    Cluster set: Ready endpoints passing the topology filter; if none, every
    serving+terminating endpoint (topology ignored). Local set: this node's Ready
    endpoints, else its serving+terminating ones. The fallbacks need
    ProxyTerminatingEndpoints (on from 1.26).
    """
    if not endpoints:
        return Categorized(
            None if not uses_cluster_endpoints(service, port, gates) else (),
            None if not uses_local_endpoints(service, port, gates) else (),
            False,
            MODE_NONE,
        )
    notes: list[Reason] = []
    mode = MODE_NONE
    cluster: tuple[Endpoint, ...] | None = None
    cluster_term = local_term = False
    has_any = False
    fallback = gates.proxy_terminating_endpoints
    if uses_cluster_endpoints(service, port, gates):
        decision = topology_mode(
            endpoints, service=service, node_name=node_name, zone=zone, gates=gates, version=version
        )
        mode = decision.mode
        notes.extend(decision.reasons)
        cluster = tuple(
            ep for ep in endpoints if ep.ready and available_for_topology(ep, mode, node_name, zone)
        )
        if not cluster and fallback:
            # Topology already fell back to "" if no Ready endpoint matched it, so an empty
            # set here means no Ready endpoint anywhere.
            cluster = tuple(ep for ep in endpoints if ep.serving and ep.terminating)
            if cluster:
                cluster_term = True
                notes.append(reason(Code.TERMINATING_FALLBACK, count=len(cluster)))
        has_any = bool(cluster)
    local: tuple[Endpoint, ...] | None = None
    if uses_local_endpoints(service, port, gates):
        usable = endpoints if fallback else [ep for ep in endpoints if ep.ready]
        has_any = has_any or any(usable_anywhere(ep) for ep in usable)
        local = local_endpoints(endpoints, node_name, gates)
        if local and not local[0].ready:  # the fallback set holds no Ready endpoint
            local_term = True
            notes.append(reason(Code.LOCAL_TERMINATING_FALLBACK, node=node_name, count=len(local)))
    unusable = sum(1 for ep in endpoints if not usable_anywhere(ep))
    if unusable:
        notes.append(reason(Code.NOT_READY_IGNORED, count=unusable))
    return Categorized(cluster, local, has_any, mode, tuple(notes), cluster_term, local_term)
