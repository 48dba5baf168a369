"""The cloud load balancer's view: which nodes get clients (semantics §6).

Model (documented, configurable only through the snapshot):

* **Backend node set** — the cloud-provider service controller's
  ``stableNodeSetPredicates`` (``k8s.io/cloud-provider`` ``controllers/service``,
  KEP-3458, on since 1.27): not being deleted (``deletionTimestamp``), no
  ``node.kubernetes.io/exclude-from-external-load-balancers`` label (unless its value
  parses as false), no ``ToBeDeletedByClusterAutoscaler`` taint. Cordoned
  (``spec.unschedulable``) nodes stay in: no predicate looks at schedulability. NotReady
  nodes stay registered and are left to the health check (the pre-1.27 predicate set
  dropped them instead — the same traffic either way).
* **Health check** — eTP=Local (type LoadBalancer): ``healthCheckNodePort`` answers 200
  only if kube-proxy is healthy and the node has at least one *Ready* local endpoint
  (terminating ones do not count, ``service_health.go``). eTP=Cluster: kube-proxy's
  ``:10256/healthz``, 200 unless kube-proxy is unhealthy or the node is being deleted.
  A NotReady node is taken as one whose kube-proxy does not answer.
* **Spread** — flows are hashed evenly over the nodes that pass (the LB knows nodes, not
  pods: eTP=Local therefore balances per node). If no node passes, the LB fails open to
  every backend node, as AWS NLB and GCP passthrough load balancers do.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.explain import Code, Reason, reason
from routing.engine.snapshot import Snapshot
from routing.engine.topology import external_policy_local
from routing.engine.types import Node, Service, ServicePort


@dataclass(frozen=True, slots=True)
class LBNodes:
    """The nodes a cloud LB spreads clients over, each with its share of flows."""

    #: (node name, share of flows), shares sum to 1 unless empty.
    nodes: tuple[tuple[str, float], ...]
    #: node name -> health-check answer (200 or 503) for every backend node.
    health: dict[str, int]
    reasons: tuple[Reason, ...] = ()


def local_ready_ips(
    snapshot: Snapshot, service: Service, port: ServicePort | None = None
) -> dict[str, int]:
    """node -> distinct IPs of Ready endpoints on it (``LocalReadyEndpoints``).

    The health check is per Service, not per port: kube-proxy collects the local Ready
    IPs of every port of the service (``getLocalReadyEndpointIPs`` keys them by the
    namespaced name), so ``port`` does not narrow the count.
    """
    ips: dict[str, set[str]] = {}
    for each in service.ports:
        for ep in snapshot.endpoints(service.key, each.name):
            if ep.ready and ep.node:
                ips.setdefault(ep.node, set()).add(ep.ip)
    return {node: len(found) for node, found in ips.items()}


def backend_excluded(node: Node) -> str | None:
    """Why the service controller leaves ``node`` out of LB backends (None: it is in)."""
    if node.exclude_from_lb:
        return "labelled node.kubernetes.io/exclude-from-external-load-balancers"
    if node.deleting:
        return "being deleted"
    return None


def health_check(node: Node, *, local_policy: bool, local_ready: int) -> int:
    """The HTTP status the LB's probe gets from ``node``."""
    if not node.ready:
        return 503
    if local_policy:
        return 200 if local_ready > 0 else 503
    return 200


def lb_nodes(snapshot: Snapshot, *, service: Service, port: ServicePort) -> LBNodes:
    """Decide which nodes receive the load balancer's clients, and in what shares."""
    local = external_policy_local(service, port) and service.type == "LoadBalancer"
    counts = local_ready_ips(snapshot, service, port) if local else {}
    notes: list[Reason] = []
    backends: list[str] = []
    health: dict[str, int] = {}
    excluded: list[tuple[str, str]] = []
    for node in snapshot.nodes.values():
        why = backend_excluded(node)
        if why:
            excluded.append((node.name, why))
            continue
        backends.append(node.name)
        health[node.name] = health_check(
            node, local_policy=local, local_ready=counts.get(node.name, 0)
        )
    passing = [name for name in backends if health[name] == 200]
    check = (
        f"healthCheckNodePort {service.health_check_node_port}"
        if local
        else "kube-proxy :10256/healthz"
    )
    if passing:
        notes.insert(
            0,
            reason(
                Code.LB_NODES_HEALTH_CHECK,
                count=len(passing),
                total=len(snapshot.nodes),
                check=check,
            ),
        )
    elif backends:
        passing = backends
        notes.insert(0, reason(Code.LB_NO_HEALTHY_NODE, count=len(backends)))
    else:
        notes.insert(0, reason(Code.LB_NO_BACKEND_NODE))
    # Name a few; thousands of identical lines would only be trimmed later.
    shown = excluded if len(excluded) <= 3 else excluded[:2]
    notes.extend(reason(Code.LB_NODE_EXCLUDED, node=f"node {name}", why=why) for name, why in shown)
    if len(excluded) > len(shown):
        notes.append(
            reason(
                Code.LB_NODE_EXCLUDED,
                node=f"{len(excluded) - len(shown)} more node(s)",
                why="excluded likewise",
            )
        )
    for address in service.lb_uncaptured:
        notes.append(reason(Code.LB_NOT_CAPTURED, address=address))
    share = 1.0 / len(passing) if passing else 0.0
    return LBNodes(tuple((name, share) for name in sorted(passing)), health, tuple(notes))
