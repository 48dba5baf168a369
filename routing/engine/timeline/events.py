"""From an event to pod lifecycles. New pods are placed by ``place``: the rule
``scenario.apply_scenario`` follows (``scaling.py``), for this Service's pods only — the
tests check both give the same nodes."""

from __future__ import annotations

import heapq
import ipaddress
from collections import Counter
from dataclasses import replace
from typing import Any

from routing.engine.snapshot import Snapshot
from routing.engine.timeline.lives import INF, Life
from routing.engine.timeline.timing import Event, TimelineError, Timing
from routing.engine.types import Endpoint, Node, Service

#: placements of new pods, kept across re-runs (``run.Shared.places``): key -> (pod, node, eps).
PlaceCache = dict[tuple[Any, ...], list[tuple[str, str | None, dict[str, Endpoint]]]]


def base_lives(snapshot: Snapshot, service: Service) -> dict[str, Life]:
    """The Service's pods as the snapshot has them, keyed by pod (or IP without a pod)."""
    lives: dict[str, Life] = {}
    for port in service.ports:
        for ep in snapshot.endpoints(service.key, port.name):
            key = ep.pod or ep.ip
            life = lives.get(key)
            if life is None:
                life = lives[key] = Life(key=key, node=ep.node, eps={})
            life.eps.setdefault(port.name, ep)
    return lives


def terminate(life: Life, at: float, timing: Timing) -> None:
    """Pod deletion at ``at``: preStop, SIGTERM, the app's reaction, SIGKILL at the grace end."""
    if life.term <= at:
        return
    life.term = at
    if life.dead <= at:
        return  # an unreachable node: the pod stays in the slice, terminating, until it is back
    sigterm = at + min(timing.prestop_s, timing.grace_s)
    if timing.on_sigterm == "stop":
        life.stop, life.stop_why = sigterm, "stops at SIGTERM"
    else:
        life.stop, life.stop_why = at + timing.grace_s, "is killed at the end of its grace period"
    life.gone = life.stop


def _serial(key: str) -> tuple[int, int, str]:
    tail = key.rsplit("-", 1)[-1]
    return (0, int(tail), key) if tail.isdigit() else (1, 0, key)


def _create(life: Life, at: float, timing: Timing) -> None:
    life.born, life.ready = at, at + timing.readiness_delay_s


def _owner(snapshot: Snapshot, lives: dict[str, Life]) -> str:
    owners: Counter[str] = Counter()
    for life in lives.values():
        pod = snapshot.pods.get(life.key)
        if (
            pod is not None
            and pod.owner
            and pod.owner.split("/", 1)[0] in ("Deployment", "StatefulSet", "ReplicaSet")
        ):
            owners[f"{pod.namespace}/{pod.owner.split('/', 1)[1]}"] += 1
    if not owners:
        raise TimelineError(
            "the service's endpoints have no Pods owned by a Deployment, StatefulSet or ReplicaSet"
        )
    return owners.most_common(1)[0][0]


def _replacements(
    snapshot: Snapshot,
    service: Service,
    lives: dict[str, Life],
    nodes: frozenset[str],
    cache: PlaceCache | None,
) -> list[Life]:
    """The pods a controller recreates for this Service's pods evicted from ``nodes``: per
    owner, as many as were evicted, placed by ``place`` away from ``nodes`` (what
    ``apply_scenario(Scenario(nodes_drained=...))`` does, for this Service's pods only;
    bare and DaemonSet pods are not recreated)."""
    groups: dict[str, list[Life]] = {}
    for life in lives.values():
        pod = snapshot.pods.get(life.key)
        if (
            pod is None
            or not pod.owner
            or pod.owner.split("/", 1)[0] not in ("Deployment", "StatefulSet", "ReplicaSet")
        ):
            continue
        groups.setdefault(f"{pod.namespace}/{pod.owner.split('/', 1)[1]}", []).append(life)
    fresh: list[Life] = []
    for owner, members in sorted(groups.items()):
        evicted = [life for life in members if life.node in nodes]
        staying = [life for life in members if life.node not in nodes]
        if evicted:
            fresh += place(
                snapshot,
                service,
                owner,
                staying,
                len(evicted),
                cache,
                exclude=nodes,
                template=evicted[0],
            )
    return fresh


def _down(
    nodes: set[str],
    lives: dict[str, Life],
    snapshot: Snapshot,
    service: Service,
    timing: Timing,
    cache: PlaceCache | None = None,
) -> list[Life]:
    marked = timing.node_monitor_grace_s
    evict = marked + timing.eviction_toleration_s
    hit = [life for life in lives.values() if life.node in nodes]
    for life in hit:
        life.dead, life.marked, life.stop_why = 0.0, marked, "is on a node that stopped"
        terminate(life, evict, timing)
    if not hit:
        return []
    fresh = _replacements(snapshot, service, lives, frozenset(nodes), cache)
    for life in fresh:
        _create(life, evict, timing)
    return fresh


def lives_for_event(
    snapshot: Snapshot,
    service: Service,
    event: Event,
    timing: Timing,
    cache: PlaceCache | None = None,
) -> tuple[list[Life], dict[str, float]]:
    """(every pod of the timeline, node -> when it stops answering)."""
    lives = base_lives(snapshot, service)
    dead: dict[str, float] = {}
    fresh: list[Life] = []
    # parse_event: every kind but rollout has a target.
    if event.kind in ("drain", "scale-in"):
        assert event.target is not None
        if event.target not in snapshot.nodes:
            raise TimelineError(f"unknown node {event.target!r}")
        for life in lives.values():
            if life.node == event.target:
                terminate(life, 0.0, timing)
        fresh = _replacements(snapshot, service, lives, frozenset([event.target]), cache)
        for life in fresh:
            _create(life, 0.0, timing)
        if event.kind == "scale-in":
            # The cluster autoscaler deletes the node once its pods are gone; the VM stops.
            gone = [
                life.gone
                for life in lives.values()
                if life.node == event.target and life.gone < INF
            ]
            dead = {event.target: max(gone, default=0.0) + timing.node_delete_s}
    elif event.kind in ("node-down", "zone-down"):
        assert event.target is not None
        if event.kind == "node-down":
            if event.target not in snapshot.nodes:
                raise TimelineError(f"unknown node {event.target!r}")
            names = {event.target}
        else:
            names = {n.name for n in snapshot.nodes.values() if n.zone == event.target}
            if not names:
                raise TimelineError(f"no node in zone {event.target!r}")
        dead = dict.fromkeys(names, 0.0)
        fresh = _down(names, lives, snapshot, service, timing, cache)
    elif event.kind == "scale":
        assert event.target is not None
        owner, members = _members(snapshot, lives)
        want = int(event.target)
        if want < len(members):
            for life in _deletion_order(members)[: len(members) - want]:
                terminate(life, 0.0, timing)
        else:
            fresh = place(snapshot, service, owner, members, want - len(members), cache)
            for life in fresh:
                _create(life, 0.0, timing)
    else:
        fresh = _rollout(snapshot, service, lives, timing, cache)
    return [*lives.values(), *fresh], dead


def _members(snapshot: Snapshot, lives: dict[str, Life]) -> tuple[str, list[Life]]:
    """(owner, its pods behind the Service)."""
    owner = _owner(snapshot, lives)
    members = []
    for life in lives.values():
        pod = snapshot.pods.get(life.key)
        if (
            pod is not None
            and pod.owner
            and f"{pod.namespace}/{pod.owner.split('/', 1)[1]}" == owner
        ):
            members.append(life)
    return owner, members


def _deletion_order(members: list[Life]) -> list[Life]:
    """ReplicaSet deletion ranking (``ActivePodsWithRanks``, as ``scaling.py``): not ready
    first, then pods on nodes crowded with replicas, then newer (later names)."""
    crowd = Counter(life.node for life in members)
    return sorted(
        members,
        key=lambda life: (
            life.accepting(-1.0),
            -crowd[life.node],
            tuple(-ord(c) for c in life.key),
        ),
    )


def place(
    snapshot: Snapshot,
    service: Service,
    owner: str,
    members: list[Life],
    count: int,
    cache: PlaceCache | None = None,
    *,
    exclude: frozenset[str] = frozenset(),
    template: Life | None = None,
) -> list[Life]:
    """``count`` new replicas placed by ``scaling.py``'s rule — a Ready, schedulable node
    with the fewest replicas of the owner, then the emptiest zone, then name order — with
    addresses from the node's podCIDR that no pod or endpoint on the node uses. (The same
    rule as ``apply_scenario(Scenario(scale=...))``, without its whole-cluster scans: one
    heap per zone, so a 100-pod rollout on 5,000 nodes places in milliseconds.)"""
    template = template or (members[0] if members else None)
    if count <= 0 or template is None:
        return []
    key = (
        "place",
        service.key,
        service.traffic_distribution,
        owner,
        count,
        tuple(life.key for life in members),
        exclude,
    )
    if cache is not None and key in cache:  # a re-run: same placement, fresh lifecycles
        return [Life(key=k, node=n, eps=dict(e), new=True) for k, n, e in cache[key]]
    per_node = Counter(life.node for life in members)
    per_zone = Counter(snapshot.zone_of(life.node) for life in members)
    heaps: dict[str, list[tuple[int, str]]] = {}
    for node in snapshot.nodes.values():
        if node.ready and not node.unschedulable and not node.deleting and node.name not in exclude:
            heaps.setdefault(node.zone, []).append((per_node[node.name], node.name))
    for heap in heaps.values():
        heapq.heapify(heap)
    used: dict[str, set[str]] = {}
    namespace, _, name = owner.partition("/")
    out = []
    for i in range(count):
        tops = [
            (heap[0][0], per_zone[zone], heap[0][1], zone) for zone, heap in heaps.items() if heap
        ]
        if not tops:
            break  # Pending: nowhere to schedule
        replicas, _, node_name, zone = min(tops)
        heapq.heapreplace(heaps[zone], (replicas + 1, node_name))
        per_zone[zone] += 1
        node = snapshot.nodes[node_name]
        ip = _free_ip(snapshot, node, used, service.key)
        pod_key = f"{namespace}/{name}-timeline-{i}"
        eps = {}
        for port, tpl in template.eps.items():
            dist = service.traffic_distribution
            zone_hints = (
                frozenset([node.zone]) if node.zone and (dist or tpl.zone_hints) else frozenset()
            )
            node_hints = frozenset([node.name]) if dist == "PreferSameNode" else frozenset()
            eps[port] = replace(
                tpl,
                ip=ip,
                node=node.name,
                zone=node.zone or None,
                ready=True,
                serving=True,
                terminating=False,
                zone_hints=zone_hints,
                node_hints=node_hints,
                pod=pod_key,
            )
        out.append(Life(key=f"{namespace}/{name}-timeline-{i}", node=node.name, eps=eps, new=True))
    if cache is not None:
        cache[key] = [(life.key, life.node, dict(life.eps)) for life in out]
    return out


def _free_ip(snapshot: Snapshot, node: Node, used: dict[str, set[str]], service_key: str) -> str:
    taken = used.get("")
    if taken is None:  # pod IPs are unique in the cluster: one set of them all
        taken = used[""] = {p.ip for p in snapshot.pods.values() if p.ip}
        for eps in snapshot.endpoint_index.get(service_key, {}).values():
            taken.update(ep.ip for ep in eps)
    nets = [ipaddress.ip_network(c, strict=False) for c in node.pod_cidrs] or [
        ipaddress.ip_network("198.18.0.0/15")
    ]
    for net in nets:
        for host in net.hosts():
            text = str(host)
            if text not in taken:
                taken.add(text)
                return text
    raise TimelineError(f"no free pod address left on node {node.name}")


def _rollout(
    snapshot: Snapshot,
    service: Service,
    lives: dict[str, Life],
    timing: Timing,
    cache: PlaceCache | None = None,
) -> list[Life]:
    """The Deployment controller's rolling update, step by step: scale the new ReplicaSet
    up to replicas + maxSurge (counting pods not being deleted), scale the old one down
    while keeping replicas - maxUnavailable available (``rolling.go``: reconcileNewReplicaSet,
    reconcileOldReplicaSets); new pods count as available minReadySeconds after Ready."""
    owner, old = _members(snapshot, lives)
    replicas = len(old)
    if replicas == 0:
        raise TimelineError(f"rollout: no pods of {owner} behind the service")
    # New pods go where the scheduler would put them with the old ones still running.
    pending = place(snapshot, service, owner, old, replicas, cache)
    surge, unavailable = timing.surge_unavailable(replicas)
    old = _deletion_order(old)
    created: list[Life] = []
    t = 0.0
    for _ in range(4 * replicas + 8):
        available_new = sum(1 for life in created if life.ready + timing.min_ready_s <= t)
        total = len(old) + len(created)
        grow = max(0, min(replicas - len(created), replicas + surge - total, len(pending)))
        for _ in range(grow):
            life = pending.pop(0)
            _create(life, t, timing)
            created.append(life)
        total = len(old) + len(created)
        shrink = max(
            0, min(len(old), total - (replicas - unavailable) - (len(created) - available_new))
        )
        for _ in range(shrink):
            terminate(old.pop(0), t, timing)
        if not old and (len(created) == replicas or not pending):
            break
        if grow or shrink:
            continue  # the controller acts again at once on what it just changed
        later = [
            life.ready + timing.min_ready_s
            for life in created
            if life.ready + timing.min_ready_s > t
        ]
        if not later:
            break
        t = min(later)
    return created


__all__ = ["INF", "base_lives", "lives_for_event", "terminate"]
