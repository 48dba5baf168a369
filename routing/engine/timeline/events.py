"""From an event to pod lifecycles (placements come from ``scenario.apply_scenario``)."""
from __future__ import annotations

from collections import Counter

from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.snapshot import Snapshot
from routing.engine.timeline.lives import INF, Life
from routing.engine.timeline.timing import Event, TimelineError, Timing
from routing.engine.types import Service


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


def _new_lives(before: Snapshot, after: Snapshot, service: Service, known: dict[str, Life]) -> list[Life]:
    out = base_lives(after, service)
    fresh = [life for key, life in out.items() if key not in known]
    fresh.sort(key=lambda life: _serial(life.key))
    for life in fresh:
        life.new = True
    return fresh


def _serial(key: str) -> tuple:
    tail = key.rsplit("-", 1)[-1]
    return (0, int(tail), key) if tail.isdigit() else (1, 0, key)


def _create(life: Life, at: float, timing: Timing) -> None:
    life.born, life.ready = at, at + timing.readiness_delay_s


def _owner(snapshot: Snapshot, lives: dict[str, Life]) -> str:
    owners = Counter()
    for life in lives.values():
        pod = snapshot.pods.get(life.key)
        if pod is not None and pod.owner and pod.owner.split("/", 1)[0] in ("Deployment", "StatefulSet", "ReplicaSet"):
            owners[f"{pod.namespace}/{pod.owner.split('/', 1)[1]}"] += 1
    if not owners:
        raise TimelineError("the service's endpoints have no Pods owned by a Deployment, StatefulSet or ReplicaSet")
    return owners.most_common(1)[0][0]


def _down(nodes: set[str], lives: dict[str, Life], snapshot: Snapshot, service: Service, timing: Timing) -> list[Life]:
    marked = timing.node_monitor_grace_s
    evict = marked + timing.eviction_toleration_s
    hit = [life for life in lives.values() if life.node in nodes]
    for life in hit:
        life.dead, life.marked, life.stop_why = 0.0, marked, "is on a node that stopped"
        terminate(life, evict, timing)
    if not hit:
        return []
    after = apply_scenario(snapshot, Scenario(nodes_drained=frozenset(nodes)))
    fresh = _new_lives(snapshot, after, service, lives)
    for life in fresh:
        _create(life, evict, timing)
    return fresh


def lives_for_event(snapshot: Snapshot, service: Service, event: Event, timing: Timing) -> tuple[list[Life], set[str]]:
    """(every pod of the timeline, nodes that fail at t=0)."""
    lives = base_lives(snapshot, service)
    dead: set[str] = set()
    fresh: list[Life] = []
    if event.kind == "drain":
        if event.target not in snapshot.nodes:
            raise TimelineError(f"unknown node {event.target!r}")
        for life in lives.values():
            if life.node == event.target:
                terminate(life, 0.0, timing)
        after = apply_scenario(snapshot, Scenario(nodes_drained=frozenset([event.target])))
        fresh = _new_lives(snapshot, after, service, lives)
        for life in fresh:
            _create(life, 0.0, timing)
    elif event.kind in ("node-down", "zone-down"):
        if event.kind == "node-down":
            if event.target not in snapshot.nodes:
                raise TimelineError(f"unknown node {event.target!r}")
            dead = {event.target}
        else:
            dead = {n.name for n in snapshot.nodes.values() if n.zone == event.target}
            if not dead:
                raise TimelineError(f"no node in zone {event.target!r}")
        fresh = _down(dead, lives, snapshot, service, timing)
    elif event.kind == "scale":
        owner = _owner(snapshot, lives)
        after = apply_scenario(snapshot, Scenario(scale={owner: int(event.target)}))
        for life in lives.values():
            if life.key in snapshot.pods and life.key not in after.pods:
                terminate(life, 0.0, timing)
        fresh = _new_lives(snapshot, after, service, lives)
        for life in fresh:
            _create(life, 0.0, timing)
    else:
        fresh = _rollout(snapshot, service, lives, timing)
    return [*lives.values(), *fresh], dead


def _rollout(snapshot: Snapshot, service: Service, lives: dict[str, Life], timing: Timing) -> list[Life]:
    """The Deployment controller's rolling update, step by step: scale the new ReplicaSet
    up to replicas + maxSurge (counting pods not being deleted), scale the old one down
    while keeping replicas - maxUnavailable available (``rolling.go``: reconcileNewReplicaSet,
    reconcileOldReplicaSets); new pods count as available minReadySeconds after Ready."""
    owner = _owner(snapshot, lives)
    old = [life for life in lives.values() if life.key in snapshot.pods and snapshot.pods[life.key].owner
           and f"{snapshot.pods[life.key].namespace}/{snapshot.pods[life.key].owner.split('/', 1)[1]}" == owner]
    replicas = len(old)
    if replicas == 0:
        raise TimelineError(f"rollout: no pods of {owner} behind the service")
    after = apply_scenario(snapshot, Scenario(scale={owner: 2 * replicas}))
    pending = _new_lives(snapshot, after, service, lives)
    surge, unavailable = timing.surge_unavailable(replicas)
    crowd = Counter(life.node for life in old)
    # ReplicaSet deletion ranking: not ready first, crowded nodes, newest (later names) first.
    old.sort(key=lambda life: (life.accepting(-1.0), -crowd[life.node], tuple(-ord(c) for c in life.key)))
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
        shrink = max(0, min(len(old), total - (replicas - unavailable) - (len(created) - available_new)))
        for _ in range(shrink):
            terminate(old.pop(0), t, timing)
        if not old and (len(created) == replicas or not pending):
            break
        if grow or shrink:
            continue  # the controller acts again at once on what it just changed
        later = [life.ready + timing.min_ready_s for life in created if life.ready + timing.min_ready_s > t]
        if not later:
            break
        t = min(later)
    return created


__all__ = ["INF", "base_lives", "lives_for_event", "terminate"]
