"""Stable reason codes for the explanation trail.

Codes are public (API, CLI, findings): never rename one, only add. Each message is a
``str.format`` template; ``reason(code, **params)`` fills it in, and ``str(reason)`` gives
``"CODE: message"`` as printed in the ``explain`` list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Every reason the engine can give."""

    # topology (pkg/proxy/topology.go topologyModeFromHints)
    TOPOLOGY_SAME_NODE = "TOPOLOGY_SAME_NODE"
    TOPOLOGY_SAME_ZONE = "TOPOLOGY_SAME_ZONE"
    HINTS_IGNORED_ENDPOINT_WITHOUT_HINT = "HINTS_IGNORED_ENDPOINT_WITHOUT_HINT"
    HINTS_IGNORED_NODE_WITHOUT_ZONE = "HINTS_IGNORED_NODE_WITHOUT_ZONE"
    HINTS_IGNORED_NO_HINT_FOR_ZONE = "HINTS_IGNORED_NO_HINT_FOR_ZONE"
    NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT = "NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT"
    NODE_HINTS_IGNORED_NO_HINT_FOR_NODE = "NODE_HINTS_IGNORED_NO_HINT_FOR_NODE"
    NODE_HINTS_IGNORED_GATE_OFF = "NODE_HINTS_IGNORED_GATE_OFF"
    HINTS_IGNORED_NO_ANNOTATION = "HINTS_IGNORED_NO_ANNOTATION"
    HINTS_IGNORED_GATE_OFF = "HINTS_IGNORED_GATE_OFF"
    TRAFFIC_DISTRIBUTION_WITHOUT_HINTS = "TRAFFIC_DISTRIBUTION_WITHOUT_HINTS"
    # endpoint conditions
    TERMINATING_FALLBACK = "TERMINATING_FALLBACK"
    LOCAL_TERMINATING_FALLBACK = "LOCAL_TERMINATING_FALLBACK"
    NOT_READY_IGNORED = "NOT_READY_IGNORED"
    # policies and verdicts
    CLUSTER_POLICY = "CLUSTER_POLICY"
    INTERNAL_POLICY_LOCAL = "INTERNAL_POLICY_LOCAL"
    EXTERNAL_POLICY_LOCAL = "EXTERNAL_POLICY_LOCAL"
    LOCAL_NO_ENDPOINT_ON_NODE = "LOCAL_NO_ENDPOINT_ON_NODE"
    NO_ENDPOINTS_REJECT = "NO_ENDPOINTS_REJECT"
    SHORT_CIRCUIT_POD_TRAFFIC = "SHORT_CIRCUIT_POD_TRAFFIC"
    NO_LOCAL_TRAFFIC_DETECTOR = "NO_LOCAL_TRAFFIC_DETECTOR"
    ETP_IGNORED_NOT_EXTERNAL = "ETP_IGNORED_NOT_EXTERNAL"
    ITP_GATE_OFF = "ITP_GATE_OFF"
    IPVS_LOCAL_FALLBACK_TO_CLUSTER = "IPVS_LOCAL_FALLBACK_TO_CLUSTER"
    USERSPACE_NO_POLICIES = "USERSPACE_NO_POLICIES"
    # masquerade (semantics §5)
    MASQUERADE_EXTERNAL_CLUSTER = "MASQUERADE_EXTERNAL_CLUSTER"
    MASQUERADE_OFF_CLUSTER_SOURCE = "MASQUERADE_OFF_CLUSTER_SOURCE"
    MASQUERADE_ALL = "MASQUERADE_ALL"
    MASQUERADE_USERSPACE = "MASQUERADE_USERSPACE"
    CLIENT_IP_PRESERVED = "CLIENT_IP_PRESERVED"
    # load balancer (health checks)
    LB_NODES_HEALTH_CHECK = "LB_NODES_HEALTH_CHECK"
    LB_NODE_EXCLUDED = "LB_NODE_EXCLUDED"
    LB_NO_HEALTHY_NODE = "LB_NO_HEALTHY_NODE"
    LB_NOT_CAPTURED = "LB_NOT_CAPTURED"
    LB_BALANCES_PER_NODE = "LB_BALANCES_PER_NODE"
    # choice
    CHOICE_UNIFORM = "CHOICE_UNIFORM"
    CHOICE_IPVS = "CHOICE_IPVS"
    CHOICE_USERSPACE = "CHOICE_USERSPACE"
    SESSION_AFFINITY = "SESSION_AFFINITY"
    # applicability
    NO_EXTERNAL_ADDRESS = "NO_EXTERNAL_ADDRESS"
    HEADLESS_SERVICE = "HEADLESS_SERVICE"
    NOT_PROXIED_HEADLESS = "NOT_PROXIED_HEADLESS"
    NOT_PROXIED_EXTERNAL_NAME = "NOT_PROXIED_EXTERNAL_NAME"
    NOT_PROXIED_OTHER_PROXY = "NOT_PROXIED_OTHER_PROXY"
    LB_SOURCE_RANGE_DROP = "LB_SOURCE_RANGE_DROP"
    NODE_ONLY_BETA_ZONE = "NODE_ONLY_BETA_ZONE"
    LB_SOURCE_RANGE_ALLOWED = "LB_SOURCE_RANGE_ALLOWED"
    LB_SOURCE_RANGE_ASSUMED = "LB_SOURCE_RANGE_ASSUMED"
    NODE_PROXY_MODE = "NODE_PROXY_MODE"
    NODE_NOT_READY = "NODE_NOT_READY"
    IPVS_FALLBACK_REPLY_LOST = "IPVS_FALLBACK_REPLY_LOST"
    LB_SOURCE_RANGES = "LB_SOURCE_RANGES"
    MODE_NOT_IN_RELEASE = "MODE_NOT_IN_RELEASE"
    DUAL_STACK_PRIMARY_FAMILY = "DUAL_STACK_PRIMARY_FAMILY"
    HOST_SOURCE_LOCAL_TRAFFIC = "HOST_SOURCE_LOCAL_TRAFFIC"
    # IPVS / userspace choice outcomes (semantics §7.3, §7.4)
    IPVS_SCHEDULER_REFUSED = "IPVS_SCHEDULER_REFUSED"
    IPVS_PINNED = "IPVS_PINNED"
    IPVS_GRACEFUL_WEIGHT_ZERO = "IPVS_GRACEFUL_WEIGHT_ZERO"
    IPVS_PERSISTENT = "IPVS_PERSISTENT"
    USERSPACE_CONNECTION_CLOSED = "USERSPACE_CONNECTION_CLOSED"
    LB_PROXY_REPLACES_SOURCE = "LB_PROXY_REPLACES_SOURCE"
    LB_NO_BACKEND_NODE = "LB_NO_BACKEND_NODE"
    SNAPSHOT_ASSUMPTION = "SNAPSHOT_ASSUMPTION"
    MASQUERADE_HOST_SOURCE = "MASQUERADE_HOST_SOURCE"
    # a source reaching a NodePort through another node (issue 11, item 9)
    VIA_NODE = "VIA_NODE"
    VIA_NODE_POD_TRAFFIC = "VIA_NODE_POD_TRAFFIC"
    VIA_NODE_NOT_POD_TRAFFIC = "VIA_NODE_NOT_POD_TRAFFIC"
    VIA_NODE_CAPTURED_AT_SOURCE = "VIA_NODE_CAPTURED_AT_SOURCE"
    VIA_NODE_REPLY_BYPASSES = "VIA_NODE_REPLY_BYPASSES"
    # load balancer health checks (issue 11, item 6)
    LB_NO_INGRESS = "LB_NO_INGRESS"
    LB_NODE_HEALTH = "LB_NODE_HEALTH"


MESSAGES: dict[Code, str] = {
    Code.TOPOLOGY_SAME_NODE: (
        "every ready endpoint has a node hint and {node} is hinted: only endpoints hinted for "
        "{node}"
    ),
    Code.TOPOLOGY_SAME_ZONE: (
        "every ready endpoint has a zone hint and zone {zone} is hinted: only endpoints hinted "
        "for {zone}"
    ),
    Code.HINTS_IGNORED_ENDPOINT_WITHOUT_HINT: (
        "hints ignored: ready endpoint {endpoint} has no zone hint, so no endpoint is filtered"
    ),
    Code.HINTS_IGNORED_NODE_WITHOUT_ZONE: (
        "hints ignored: node {node} has no topology.kubernetes.io/zone label"
    ),
    Code.HINTS_IGNORED_NO_HINT_FOR_ZONE: (
        "hints ignored: no ready endpoint is hinted for zone {zone}"
    ),
    Code.NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT: (
        "node hints ignored: ready endpoint {endpoint} has no node hint"
    ),
    Code.NODE_HINTS_IGNORED_NO_HINT_FOR_NODE: (
        "node hints ignored: no ready endpoint is hinted for node {node}"
    ),
    Code.NODE_HINTS_IGNORED_GATE_OFF: (
        "node hints ignored: PreferSameTrafficDistribution is off in kube-proxy {version}"
    ),
    Code.HINTS_IGNORED_NO_ANNOTATION: (
        "hints ignored: kube-proxy {version} also needs the service.kubernetes.io/topology-mode "
        "annotation"
    ),
    Code.HINTS_IGNORED_GATE_OFF: "hints ignored: TopologyAwareHints is off in kube-proxy {version}",
    Code.TRAFFIC_DISTRIBUTION_WITHOUT_HINTS: (
        "trafficDistribution {value} is set but no endpoint carries hints yet; kube-proxy only "
        "reads hints"
    ),
    Code.TERMINATING_FALLBACK: (
        "no ready endpoint anywhere: falling back to {count} serving terminating endpoint(s)"
    ),
    Code.LOCAL_TERMINATING_FALLBACK: (
        "no ready endpoint on {node}: falling back to {count} local serving terminating "
        "endpoint(s)"
    ),
    Code.NOT_READY_IGNORED: (
        "{count} endpoint(s) neither ready nor serving-terminating are never used"
    ),
    Code.CLUSTER_POLICY: "{policy}=Cluster: any usable endpoint in the cluster",
    Code.INTERNAL_POLICY_LOCAL: "internalTrafficPolicy=Local: only endpoints on {node}",
    Code.EXTERNAL_POLICY_LOCAL: "externalTrafficPolicy=Local: only endpoints on {node}",
    Code.LOCAL_NO_ENDPOINT_ON_NODE: (
        "{policy}=Local and {node} has no usable endpoint: packets are dropped (client times out)"
    ),
    Code.NO_ENDPOINTS_REJECT: (
        "no usable endpoint anywhere: connections are rejected (connection refused)"
    ),
    Code.SHORT_CIRCUIT_POD_TRAFFIC: (
        "pod traffic to an external address of an externalTrafficPolicy=Local service is "
        "short-circuited to the cluster-wide endpoints, not masqueraded"
    ),
    Code.NO_LOCAL_TRAFFIC_DETECTOR: (
        "kube-proxy on {node} cannot tell pod traffic apart (no cluster CIDR): the pod is treated "
        "as an external client"
    ),
    Code.ETP_IGNORED_NOT_EXTERNAL: (
        "externalTrafficPolicy=Local is ignored: the service is not externally accessible"
    ),
    Code.ITP_GATE_OFF: "internalTrafficPolicy is ignored by kube-proxy {version}",
    Code.IPVS_LOCAL_FALLBACK_TO_CLUSTER: (
        "IPVS: no local endpoint on {node}, falls back to cluster-wide endpoints instead of "
        "dropping (kubernetes#97081)"
    ),
    Code.USERSPACE_NO_POLICIES: (
        "userspace mode knows no traffic policies or topology: every ready endpoint"
    ),
    Code.MASQUERADE_EXTERNAL_CLUSTER: (
        "externalTrafficPolicy=Cluster: external traffic is masqueraded to the node IP (client IP "
        "lost)"
    ),
    Code.MASQUERADE_OFF_CLUSTER_SOURCE: (
        "source outside the cluster CIDR: ClusterIP traffic is masqueraded"
    ),
    Code.MASQUERADE_ALL: "masqueradeAll is set: every ClusterIP connection is masqueraded",
    Code.MASQUERADE_USERSPACE: (
        "userspace mode proxies the connection itself: the client IP is always lost"
    ),
    Code.CLIENT_IP_PRESERVED: "the client source IP reaches the endpoint",
    Code.LB_NODES_HEALTH_CHECK: (
        "load balancer sends to {count} of {total} node(s) passing its health check ({check})"
    ),
    Code.LB_NODE_EXCLUDED: "load balancer skips {node}: {why}",
    Code.LB_NO_HEALTHY_NODE: (
        "no node passes the load balancer health check: it fails open to all {count} backend "
        "node(s)"
    ),
    Code.LB_NOT_CAPTURED: (
        "load balancer ingress {address} is not captured by kube-proxy (hostname or ipMode "
        "Proxy): traffic arrives through a NodePort"
    ),
    Code.LB_BALANCES_PER_NODE: (
        "externalTrafficPolicy=Local: the load balancer splits per node, not per pod"
    ),
    Code.CHOICE_UNIFORM: "{mode}: uniform random choice over {count} endpoint(s)",
    Code.CHOICE_IPVS: "ipvs scheduler {scheduler} ({method})",
    Code.CHOICE_USERSPACE: "userspace: round robin with retry on failure",
    Code.SESSION_AFFINITY: (
        "sessionAffinity=ClientIP: one client sticks to one endpoint for {timeout}s; shares over "
        "many clients are unchanged"
    ),
    Code.NO_EXTERNAL_ADDRESS: "the service has no {to} address for port {port}",
    Code.HEADLESS_SERVICE: (
        "headless service: kube-proxy programs nothing, clients resolve pod IPs by DNS"
    ),
    Code.NOT_PROXIED_HEADLESS: (
        "not proxied by kube-proxy: DNS returns the endpoint addresses of headless Service "
        "{service} ({dns}); clients connect to them directly (spread modelled uniform over the "
        "returned addresses)"
    ),
    Code.NOT_PROXIED_EXTERNAL_NAME: (
        "not proxied by kube-proxy: DNS returns a CNAME to {dns} for ExternalName Service "
        "{service}; the client connects to whatever that name resolves to, outside "
        "kube-proxy's rules"
    ),
    Code.NOT_PROXIED_OTHER_PROXY: (
        "not proxied by kube-proxy: DNS returns ClusterIP {dns} of Service {service}, but it "
        "carries service.kubernetes.io/service-proxy-name={proxy}, so kube-proxy ignores it "
        "and its EndpointSlices; only that proxy decides where connections land"
    ),
    Code.LB_SOURCE_RANGE_DROP: (
        "client {client} is outside loadBalancerSourceRanges {ranges}: {mode} drops it at the "
        "load-balancer IP {lb_ip}"
    ),
    Code.NODE_ONLY_BETA_ZONE: (
        "node {node} has only the deprecated failure-domain.beta.kubernetes.io/zone={zone}: "
        "kube-proxy reads topology.kubernetes.io/zone alone, so the node has no zone for "
        "topology hints"
    ),
    Code.LB_SOURCE_RANGE_ALLOWED: "client {client} is inside loadBalancerSourceRanges {ranges}",
    Code.LB_SOURCE_RANGE_ASSUMED: (
        "loadBalancerSourceRanges {ranges}: the client address is unknown ({why}), "
        "so it is taken as inside them; give one with --client-ip / client_ip to check it"
    ),
    Code.NODE_PROXY_MODE: "node {node} runs kube-proxy {version} in {mode} mode",
    Code.NODE_NOT_READY: "node {node} is not Ready: its kube-proxy rules may be stale",
    Code.IPVS_FALLBACK_REPLY_LOST: (
        "IPVS fallback without SNAT: the remote pod answers the external client directly from its "
        "own IP, so the reply is discarded: forwarded, yet not working (outcome replies_lost)"
    ),
    Code.LB_SOURCE_RANGES: (
        "loadBalancerSourceRanges {ranges}: clients outside them are dropped at the load-balancer "
        "IP (NodePorts are not filtered)"
    ),
    Code.MODE_NOT_IN_RELEASE: (
        "{mode} mode does not exist in kube-proxy {version} ({why}); modelled anyway for the "
        "what-if"
    ),
    Code.SNAPSHOT_ASSUMPTION: "{note}",
    Code.LB_NO_BACKEND_NODE: (
        "the load balancer has no backend node at all (every node excluded or being deleted): "
        "clients get no answer"
    ),
    Code.HOST_SOURCE_LOCAL_TRAFFIC: (
        "a host-network process on {node} reaching an externalTrafficPolicy=Local address is "
        'masqueraded and sent to the cluster-wide endpoints ("route LOCAL traffic")'
    ),
    Code.MASQUERADE_HOST_SOURCE: (
        "the source is the node's own address (outside the cluster CIDR): masqueraded"
    ),
    Code.IPVS_SCHEDULER_REFUSED: (
        "ipvs {scheduler} on {node}: {percent} of new connections find no available real server "
        "and are refused (ICMP port unreachable)"
    ),
    Code.IPVS_PINNED: (
        "ipvs {scheduler} on {node}: every new connection to {vip} goes to one backend, "
        "{endpoint} in ip:port list order (a real node adds real servers in kube-proxy's map "
        "order, so which one varies by node)"
    ),
    Code.IPVS_GRACEFUL_WEIGHT_ZERO: (
        "ipvs on {node}: terminating endpoint(s) {endpoints} stay as real servers with weight 0 "
        "until their connections end (graceful termination): no new connections"
    ),
    Code.IPVS_PERSISTENT: (
        "ipvs virtual server {vip} is persistent for {timeout}s (sessionAffinity ClientIP): each "
        "client is scheduled once"
    ),
    Code.USERSPACE_CONNECTION_CLOSED: (
        "userspace proxy on {node}: {percent} of accepted connections fail every dial and are "
        "closed"
    ),
    Code.LB_PROXY_REPLACES_SOURCE: (
        "load balancer {address} is ipMode Proxy: it opens its own connection to a NodePort, so "
        "nodes see the load balancer's address, never the client's"
    ),
    Code.DUAL_STACK_PRIMARY_FAMILY: (
        "dual-stack service: answered for family {family}; kube-proxy runs one proxier per family "
        "(--family / family picks the other)"
    ),
    Code.VIA_NODE: (
        "the {who} on {source} sends to node {via}'s NodePort: {via}'s address is not local on "
        "{source}, so kube-proxy there leaves the packet alone and kube-proxy on {via} NATs it"
    ),
    Code.VIA_NODE_POD_TRAFFIC: (
        "kube-proxy on {via} counts the packet from {source} as pod traffic (detectLocalMode "
        "{mode}: {why})"
    ),
    Code.VIA_NODE_NOT_POD_TRAFFIC: (
        "kube-proxy on {via} does not count the packet from {source} as its pod traffic "
        "({why}): handled like an external client's"
    ),
    Code.VIA_NODE_CAPTURED_AT_SOURCE: (
        "{to} addresses are programmed on every node: kube-proxy on {source} NATs the "
        "connection itself, it never reaches {via}"
    ),
    Code.VIA_NODE_REPLY_BYPASSES: (
        "{via} DNATs without SNAT, so endpoint(s) {endpoints} answer {source} directly, not "
        "through {via}: the client discards the reply (outcome replies_lost)"
    ),
    Code.LB_NO_INGRESS: (
        "LoadBalancer {service} has no ingress address yet (status.loadBalancer is empty): "
        "no load balancer sends it any client"
    ),
    Code.LB_NODE_HEALTH: "load balancer health check {check} on node {node}: {answer} ({why})",
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One explanation line: a stable code plus a filled-in message."""

    #: a ``Code``, or a code from a scheduler module (``routing.engine.ipvs``) kept verbatim.
    code: Code | str
    message: str
    #: further distinct lines of this code left out of the answer (``simulate`` keeps a
    #: few per code): the trail says "(and N more like it)".
    more: int = 0

    def __str__(self) -> str:
        suffix = f" (and {self.more} more like it)" if self.more else ""
        return f"{self.code}: {self.message}{suffix}"


def reason(code: Code, **params: object) -> Reason:
    """Build the ``Reason`` for ``code`` with its template filled from ``params``."""
    return Reason(code, MESSAGES[code].format(**params))
