"""Reason codes attached to every rendered rule, and their human explanations.

A reason is ``code`` or ``code|detail``. Codes are stable (the UI and tests key on them);
the text is produced on demand so rendering 600k lines does not format 600k sentences.
"""

from __future__ import annotations

_TEXT = {
    "hook": "kube-proxy hooks its chains into the kernel's built-in chains",
    "base": "kube-proxy infrastructure shared by every Service",
    "masq": "marks or masquerades packets that need SNAT to the node IP",
    "forward": "accepts forwarded service traffic (and drops conntrack-INVALID packets)",
    "localnet": "blocks martian connections to 127.0.0.0/8 (localhost NodePorts are on)",
    "chain": "declares a chain used by {service}",
    "clusterip": "ClusterIP traffic for {service} is dispatched to its {detail} endpoints",
    "reject": (
        "REJECT because {service} has no usable endpoint anywhere (none ready or "
        "serving-terminating)"
    ),
    "drop-internal": (
        "DROP because internalTrafficPolicy=Local and node {node} has no local endpoint"
    ),
    "drop-external": (
        "DROP because externalTrafficPolicy=Local and node {node} has no local endpoint "
        "(pod traffic was already short-circuited to the Cluster set)"
    ),
    "externalip": "traffic to externalIP {detail} enters {service}'s external chain",
    "loadbalancer": "traffic to load-balancer IP {detail} enters {service}'s external chain",
    "nodeport": "NodePort {detail} on node {node} enters {service}'s external chain",
    "nodeports-jump": "NodePort traffic to this node's own addresses is checked last",
    "healthcheck": (
        "health-check node port {detail} for {service} (eTP=Local LoadBalancer) is accepted"
    ),
    "masq-offcluster": "ClusterIP traffic from outside the cluster CIDR is masqueraded",
    "masq-all": "--masquerade-all: every ClusterIP connection is masqueraded",
    "ext-masq": "externalTrafficPolicy=Cluster: external traffic is masqueraded (client IP lost)",
    "ext-short-circuit": (
        "externalTrafficPolicy=Local: pod traffic to an external address is short-circuited "
        "to the Cluster set, unmasqueraded"
    ),
    "ext-local-masq": "traffic from the node itself is masqueraded",
    "ext-local-route": "traffic from the node itself goes to the Cluster set",
    "ext-policy": "external traffic for {service} goes to its {detail} endpoints",
    "fw-allow": "loadBalancerSourceRanges: source {detail} may reach {service}'s load balancer",
    "fw-drop": "loadBalancerSourceRanges: other sources to {service}'s load balancer are dropped",
    "affinity": "sessionAffinity=ClientIP: a returning client sticks to endpoint {detail}",
    "pick": "endpoint {detail} picked for a new connection",
    "hairpin": "a pod reaching itself through {service} is masqueraded (hairpin)",
    "dnat": "DNAT to endpoint {detail}",
    "set": "set or map entry for {service}",
    "ipvs-vs": "IPVS virtual server {detail} for {service}",
    "ipvs-rs": "IPVS real server {detail} for {service}",
    "ipvs-fallback": (
        "IPVS real server {detail}: no local endpoint on node {node}, so IPVS falls back to the "
        "Cluster set instead of dropping (kubernetes#97081)"
    ),
}


def explain(reason: str, *, service: str | None, node: str) -> str:
    """Human text for a reason code, e.g. ``DROP because iTP=Local and no endpoint on n3``."""
    code, _, detail = reason.partition("|")
    template = _TEXT.get(code, code)
    return template.format(service=service or "all Services", node=node, detail=detail)
