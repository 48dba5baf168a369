"""Pods coming and going in a what-if: scaling an owner, rescheduling a drained node.

Placement follows the default scheduler's spreading closely enough for routing: a new
replica goes to a Ready, schedulable node with the fewest replicas of its owner (then the
emptiest zone, then name order). Removal follows the ReplicaSet controller's ranking
(``ActivePodsWithRanks``): not-ready pods first, then pods on nodes crowded with
replicas, then newer (here: later names). New pods get addresses from their node's
``podCIDR`` (else the 198.18.0.0/15 benchmarking range) and endpoints copied from a
sibling's, with hints as the EndpointSlice controller writes for ``trafficDistribution``.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace

from routing.engine.errors import ScenarioError
from routing.engine.types import Endpoint, Node, Pod, Service

# service key -> port name -> endpoints (a scratch copy the what-if edits in place)
Index = dict[str, Mapping[str, tuple[Endpoint, ...]]]
IndexView = Mapping[str, Mapping[str, tuple[Endpoint, ...]]]

CONTROLLERS = ("Deployment", "StatefulSet", "ReplicaSet")
SYNTHETIC_RANGE = ipaddress.ip_network("198.18.0.0/15")


def owner_pods(owner: str, pods: Mapping[str, Pod]) -> list[Pod]:
    """Pods of ``owner`` ("ns/name" of a Deployment, StatefulSet or ReplicaSet)."""
    namespace, _, name = owner.partition("/")
    wanted = {f"{kind}/{name}" for kind in CONTROLLERS}
    return [p for p in pods.values() if p.namespace == namespace and p.owner in wanted]


def _templates(
    members: list[Pod], index: Mapping[str, Mapping[str, tuple[Endpoint, ...]]]
) -> dict[tuple[str, str], Endpoint]:
    """(service key, port name) -> an endpoint of one of ``members`` to copy from."""
    keys = {p.key for p in members}
    out: dict[tuple[str, str], Endpoint] = {}
    for svc, ports in index.items():
        for port, eps in ports.items():
            for ep in eps:
                if ep.pod in keys:
                    out.setdefault((svc, port), ep)
    return out


def free_ips(node: Node | None, used: set[str]) -> Iterator[str]:
    """Pod addresses from ``node``'s ``podCIDR`` (else 198.18.0.0/15) not in ``used``
    (each one handed out is added to it)."""
    nets = [ipaddress.ip_network(c, strict=False) for c in (node.pod_cidrs if node else ())] or [
        SYNTHETIC_RANGE
    ]
    for net in nets:
        for host in net.hosts():
            text = str(host)
            if text not in used:
                used.add(text)
                yield text
    raise ScenarioError(
        f"no free pod address left on node {node.name if node else '?'}", field="scale"
    )


def pick_node(
    members: list[Pod], nodes: Mapping[str, Node], exclude: frozenset[str] = frozenset()
) -> Node | None:
    """Where the next replica of ``members``' owner goes: a Ready, schedulable node (not
    being deleted, not in ``exclude``) with the fewest of its replicas, then the emptiest
    zone, then name order; None when no node fits (the pod stays Pending)."""
    per_node = Counter(p.node for p in members)
    per_zone = Counter(
        nodes[p.node].zone for p in members if p.node is not None and p.node in nodes
    )
    fit = [
        n
        for n in nodes.values()
        if n.ready and not n.unschedulable and not n.deleting and n.name not in exclude
    ]

    def rank(n: Node) -> tuple[int, int, str]:
        return per_node[n.name], per_zone[n.zone], n.name

    return min(fit, key=rank) if fit else None


def _add_replica(
    owner: str,
    members: list[Pod],
    templates: dict[tuple[str, str], Endpoint],
    pods: dict[str, Pod],
    nodes: Mapping[str, Node],
    services: Mapping[str, Service],
    index: Index,
    used: set[str],
    exclude: frozenset[str] = frozenset(),
) -> None:
    node = pick_node(members, nodes, exclude)
    if node is None:
        return  # Pending: nowhere to schedule, so no endpoint either.
    namespace, _, name = owner.partition("/")
    serial = sum(1 for key in pods if key.startswith(f"{namespace}/{name}-whatif-"))
    ip = next(free_ips(node, used))
    pod = Pod(
        namespace=namespace,
        name=f"{name}-whatif-{serial}",
        node=node.name,
        ip=ip,
        owner=members[0].owner if members else f"Deployment/{name}",
        labels=members[0].labels if members else (),
    )
    pods[pod.key] = pod
    members.append(pod)
    for (svc_key, port), tpl in templates.items():
        svc = services[svc_key]
        dist = svc.traffic_distribution
        zone_hints = (
            frozenset([node.zone]) if node.zone and (dist or tpl.zone_hints) else frozenset()
        )
        node_hints = frozenset([node.name]) if dist == "PreferSameNode" else frozenset()
        ep = replace(
            tpl,
            ip=ip,
            node=node.name,
            zone=node.zone or None,
            ready=True,
            serving=True,
            terminating=False,
            zone_hints=zone_hints,
            node_hints=node_hints,
            pod=pod.key,
        )
        ports = dict(index.get(svc_key, {}))
        ports[port] = tuple(ports.get(port, ())) + (ep,)
        index[svc_key] = ports


def _used_ips(pods: Mapping[str, Pod], index: IndexView) -> set[str]:
    used = {p.ip for p in pods.values() if p.ip}
    used.update(ep.ip for ports in index.values() for eps in ports.values() for ep in eps)
    return used


def _remove_pods(keys: set[str], pods: dict[str, Pod], index: Index) -> None:
    for key in keys:
        pods.pop(key, None)
    for svc, ports in list(index.items()):
        if any(ep.pod in keys for eps in ports.values() for ep in eps):
            index[svc] = {
                port: tuple(ep for ep in eps if ep.pod not in keys) for port, eps in ports.items()
            }


def scale_owner(
    owner: str,
    replicas: int,
    pods: dict[str, Pod],
    nodes: Mapping[str, Node],
    services: Mapping[str, Service],
    index: Index,
) -> None:
    """Scale ``owner`` to ``replicas`` in place (``pods`` and ``index`` are scratch copies)."""
    members = owner_pods(owner, pods)
    if not members:
        raise ScenarioError(
            f"scale: no pods owned by a Deployment, StatefulSet or ReplicaSet {owner!r}",
            field="scale",
            code="unknown",
        )
    templates = _templates(members, index)
    if replicas < len(members):
        ranked = _deletion_order(members, index)
        _remove_pods({p.key for p in ranked[: len(members) - replicas]}, pods, index)
        return
    used = _used_ips(pods, index)
    for _ in range(replicas - len(members)):
        _add_replica(owner, members, templates, pods, nodes, services, index, used)


def _deletion_order(members: list[Pod], index: IndexView) -> list[Pod]:
    """ReplicaSet controller's order: unscheduled, not ready, crowded nodes, newest first."""
    ready = {ep.pod for ports in index.values() for eps in ports.values() for ep in eps if ep.ready}
    crowd = Counter(p.node for p in members)
    return sorted(
        members,
        key=lambda p: (p.node is not None, p.key in ready, -crowd[p.node], _reverse_name(p.name)),
    )


def _set_conditions(
    keys: set[str], index: Index, *, ready: bool, serving: bool, terminating: bool
) -> None:
    for svc, ports in list(index.items()):
        if any(ep.pod in keys for eps in ports.values() for ep in eps):
            index[svc] = {
                port: tuple(
                    replace(ep, ready=ready, serving=serving, terminating=terminating)
                    if ep.pod in keys
                    else ep
                    for ep in eps
                )
                for port, eps in ports.items()
            }


def roll_owner(
    owner: str,
    pods: dict[str, Pod],
    nodes: Mapping[str, Node],
    services: Mapping[str, Service],
    index: Index,
) -> None:
    """The middle of a default RollingUpdate (maxSurge 25% rounded up, maxUnavailable 25%
    rounded down): surge pods created but not ready yet, that many old pods terminating
    (still serving, as during their grace period)."""
    members = owner_pods(owner, pods)
    if not members:
        raise ScenarioError(
            f"rollout: no pods owned by a Deployment, StatefulSet or ReplicaSet {owner!r}",
            field="rollouts",
            code="unknown",
        )
    total = len(members)
    surge, unavailable = math.ceil(total * 0.25), math.floor(total * 0.25)
    old = _deletion_order(members, index)[:unavailable]
    templates = _templates(members, index)
    used = _used_ips(pods, index)
    before = set(pods)
    for _ in range(surge):
        _add_replica(owner, members, templates, pods, nodes, services, index, used)
    _set_conditions(set(pods) - before, index, ready=False, serving=False, terminating=False)
    _set_conditions({p.key for p in old}, index, ready=False, serving=True, terminating=True)


def _reverse_name(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)


def reschedule_drained(
    original: Mapping[str, Pod],
    pods: dict[str, Pod],
    nodes: Mapping[str, Node],
    services: Mapping[str, Service],
    index: Index,
    drained: frozenset[str],
    original_index: IndexView,
) -> None:
    """Evict every pod on ``drained`` nodes; controller-owned ones (not DaemonSets) come back
    on other nodes, bare pods and DaemonSet pods do not."""
    evicted = [p for p in original.values() if p.node in drained]
    if not evicted:
        return
    _remove_pods({p.key for p in evicted}, pods, index)
    used = _used_ips(original, original_index)
    for pod in evicted:
        if not pod.owner or pod.owner.split("/", 1)[0] not in CONTROLLERS:
            continue
        owner = f"{pod.namespace}/{pod.owner.split('/', 1)[1]}"
        templates = _templates([pod], original_index)
        _add_replica(
            owner,
            owner_pods(owner, pods),
            templates,
            pods,
            nodes,
            services,
            index,
            used,
            exclude=drained,
        )
