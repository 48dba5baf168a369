"""The cloud load balancer's view: which nodes get clients (semantics §6, issue 11 item 6).

Model (documented, configurable only through the snapshot):

* **Backend node set** — the cloud-provider service controller
  (``k8s.io/cloud-provider`` ``controllers/service/controller.go``). Since 1.27
  (KEP-3458 ``StableLoadBalancerNodeSet``, beta and on by default; GA 1.30)
  ``stableNodeSetPredicates``: ``nodeNotDeletedPredicate`` (no ``deletionTimestamp``),
  ``nodeIncludedPredicate`` (no ``node.kubernetes.io/exclude-from-external-load-balancers``
  label, unless its value parses as false) and ``nodeUnTaintedPredicate`` (no
  ``ToBeDeletedByClusterAutoscaler`` taint). NotReady nodes stay registered and are left
  to the health check. Before 1.27, ``allNodePredicates``: the label, the taint and
  ``nodeReadyPredicate`` — NotReady nodes are removed by the cloud's node filter, nodes
  being deleted are not. Cordoned (``spec.unschedulable``) nodes stay in under both.
* **kube-proxy liveness, apart from node readiness** (``pkg/proxy/healthcheck/
  proxy_health.go``): kube-proxy's own health (``IsHealthy``: its rules are synced) is
  what ``/livez`` reports; ``/healthz`` is that *and* the node being eligible
  (``SyncNode``: no ``deletionTimestamp``, no ``ToBeDeletedByClusterAutoscaler`` taint,
  KEP-3836). A NotReady node (kubelet silent) may well run a healthy kube-proxy: when the
  dump holds the node's kube-proxy Pod its Ready condition is the liveness
  (``Node.proxy_healthy``); without it a NotReady node is taken as one whose kube-proxy
  does not answer, and the explanation says it was assumed.
* **Health check** — eTP=Local (type LoadBalancer): ``healthCheckNodePort``
  (``service_health.go`` ``hcHandler.ServeHTTP``) answers 200 when kube-proxy is healthy
  (``IsHealthy``, not node eligibility) and the node has at least one *Ready* local
  endpoint, counted per Service over the EndpointSlices' ports — every port the slices
  carry, also ones no Service port names (``endpointschangetracker.go``
  ``LocalReadyEndpoints`` / ``getLocalReadyEndpointIPs`` over the whole EndpointsMap),
  terminating ones never. eTP=Cluster: kube-proxy's ``:10256/healthz``.
* **No ingress yet** — a LoadBalancer whose ``status.loadBalancer.ingress`` is empty has
  no load balancer to send clients: the ``lb`` source gets nothing (``LB_NO_INGRESS``).
* **Spread** — flows are hashed evenly over the nodes that pass (the LB knows nodes, not
  pods: eTP=Local therefore balances per node). If no node passes, the LB fails open to
  every backend node, as AWS NLB and GCP passthrough load balancers do.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot
from routing.engine.topology import external_policy_local
from routing.engine.types import DEFAULT_VERSION, Node, Service, ServicePort, Version


@dataclass(frozen=True, slots=True)
class LBNodes:
    """The nodes a cloud LB spreads clients over, each with its share of flows."""

    #: (node name, share of flows), shares sum to 1 unless empty.
    nodes: tuple[tuple[str, float], ...]
    #: node name -> health-check answer (200 or 503) for every backend node.
    health: dict[str, int]
    reasons: tuple[Reason, ...] = ()
    #: the Service has no ingress address yet: no load balancer exists to send clients.
    no_ingress: bool = False


#: The first release whose service controller keeps NotReady nodes in the LB
#: (KEP-3458 StableLoadBalancerNodeSet on by default).
STABLE_NODE_SET = (1, 27)


def local_ready_ips(
    snapshot: Snapshot, service: Service, port: ServicePort | None = None
) -> dict[str, int]:
    """node -> distinct IPs of Ready endpoints on it (``LocalReadyEndpoints``).

    The health check is per Service, not per port, and reads the slices' ports, not the
    Service's: kube-proxy collects the local Ready IPs of every ServicePortName of its
    EndpointsMap (``getLocalReadyEndpointIPs`` keys them by the namespaced name), slice
    ports no Service port names included (``Snapshot.unserved_endpoints``). ``port``
    does not narrow the count.
    """
    ips: dict[str, set[str]] = {}
    every = [ep for each in service.ports for ep in snapshot.endpoints(service.key, each.name)]
    every += snapshot.unserved_endpoints.get(service.key, ())
    for ep in every:
        if ep.ready and ep.node:
            ips.setdefault(ep.node, set()).add(ep.ip)
    return {node: len(found) for node, found in ips.items()}


def backend_excluded(node: Node, version: Version = DEFAULT_VERSION) -> str | None:
    """Why the service controller (of release ``version``) leaves ``node`` out of LB
    backends (None: it is in)."""
    if node.exclude_from_lb:
        return "labelled node.kubernetes.io/exclude-from-external-load-balancers"
    if node.delete_taint:
        return "tainted ToBeDeletedByClusterAutoscaler"
    stable = version >= STABLE_NODE_SET
    if node.deleting and stable:
        return "being deleted (deletionTimestamp)"
    if not node.ready and not stable:
        return (
            "NotReady: the cloud's node filter before 1.27 (nodeReadyPredicate) drops it, "
            "whatever kube-proxy answers"
        )
    return None


def proxy_alive(node: Node) -> tuple[bool, str]:
    """(kube-proxy on ``node`` is healthy — ``IsHealthy``, /livez —, how that is known)."""
    if node.proxy_healthy is not None:
        state = "Ready" if node.proxy_healthy else "not Ready"
        return node.proxy_healthy, f"its kube-proxy Pod is {state}"
    if not node.ready:
        return False, (
            "the node is NotReady and its kube-proxy Pod is not in the dump: kube-proxy "
            "taken as not answering"
        )
    return True, "kube-proxy taken as healthy"


def healthz(node: Node) -> tuple[bool, str]:
    """kube-proxy's ``/healthz`` on ``node``: healthy and the node eligible (KEP-3836)."""
    alive, why = proxy_alive(node)
    if not alive:
        return False, why
    if node.deleting:
        cause = "tainted ToBeDeletedByClusterAutoscaler" if node.delete_taint else "being deleted"
        return False, f"the node is {cause}: /healthz reports it not eligible"
    return True, why


def health_check(node: Node, *, local_policy: bool, local_ready: int) -> int:
    """The HTTP status the LB's probe gets from ``node``."""
    return 200 if _health(node, local_policy, local_ready)[0] else 503


def _health(node: Node, local_policy: bool, local_ready: int) -> tuple[bool, str]:
    if not local_policy:
        return healthz(node)
    alive, why = proxy_alive(node)
    if not alive:
        return False, why
    if local_ready <= 0:
        return False, "no Ready local endpoint"
    return True, f"{local_ready} Ready local endpoint(s)"


def lb_nodes(snapshot: Snapshot, *, service: Service, port: ServicePort) -> LBNodes:
    """Decide which nodes receive the load balancer's clients, and in what shares."""
    if not service.lb_ips and not service.lb_uncaptured:
        return LBNodes((), {}, (reason(Code.LB_NO_INGRESS, service=service.key),), no_ingress=True)
    local = external_policy_local(service, port) and service.type == "LoadBalancer"
    counts = local_ready_ips(snapshot, service, port) if local else {}
    version = snapshot.proxy.version
    check = (
        f"healthCheckNodePort {service.health_check_node_port}"
        if local
        else "kube-proxy :10256/healthz"
    )
    notes: list[Reason] = []
    backends: list[str] = []
    health: dict[str, int] = {}
    excluded: list[tuple[str, str]] = []
    failing: list[tuple[str, str]] = []
    for node in snapshot.nodes.values():
        why = backend_excluded(node, version)
        if why:
            excluded.append((node.name, why))
            continue
        backends.append(node.name)
        ok, cause = _health(node, local, counts.get(node.name, 0))
        health[node.name] = 200 if ok else 503
        # A node failing for kube-proxy's own sake (or being deleted) is worth a line; with
        # eTP=Local a node merely without a local endpoint is the policy working.
        if not ok and (not local or not proxy_alive(node)[0]):
            failing.append((node.name, cause))
    passing = [name for name in backends if health[name] == 200]
    if passing:
        notes.append(
            reason(
                Code.LB_NODES_HEALTH_CHECK,
                count=len(passing),
                total=len(snapshot.nodes),
                check=check,
            ),
        )
    elif backends:
        passing = backends
        notes.append(reason(Code.LB_NO_HEALTHY_NODE, count=len(backends)))
    else:
        notes.append(reason(Code.LB_NO_BACKEND_NODE))
    notes.extend(_named(Code.LB_NODE_EXCLUDED, excluded))
    notes.extend(
        reason(Code.LB_NODE_HEALTH, check=check, node=name, answer="503", why=why)
        for name, why in failing[:3]
    )
    for address in service.lb_uncaptured:
        notes.append(reason(Code.LB_NOT_CAPTURED, address=address))
    share = 1.0 / len(passing) if passing else 0.0
    return LBNodes(tuple((name, share) for name in sorted(passing)), health, tuple(notes))


def _named(code: Code, nodes: list[tuple[str, str]]) -> list[Reason]:
    """Name a few; thousands of identical lines would only be trimmed later."""
    shown = nodes if len(nodes) <= 3 else nodes[:2]
    out = [reason(code, node=f"node {name}", why=why) for name, why in shown]
    if len(nodes) > len(shown):
        out.append(
            reason(code, node=f"{len(nodes) - len(shown)} more node(s)", why="excluded likewise")
        )
    return out
