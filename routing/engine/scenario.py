"""What-if scenarios: data in, a new snapshot out (never a write to cluster state).

A ``Scenario`` lists the user's changes; ``apply_scenario`` is a pure function
snapshot -> snapshot that also does what the control plane would do next (the
EndpointSlice controller rewriting hints after a ``trafficDistribution`` change, pods on a
downed node turning not-ready, a drained node's Deployment pods rescheduled);
``diff_answers`` says what moved between two answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from routing.engine.errors import INVALID, INVALID_CHOICE, NOT_APPLICABLE, UNKNOWN, ScenarioError
from routing.engine.scaling import reschedule_drained, roll_owner, scale_owner
from routing.engine.slicehints import controller_hints, controller_manages
from routing.engine.snapshot import Snapshot, sort_endpoints
from routing.engine.types import (
    IPVS_SCHEDULERS,
    PROXY_MODES,
    Endpoint,
    Node,
    ProxyConfig,
    Service,
)
from routing.engine.whatif_fields import (
    BY_NAME,
    FIELDS,
    MODE_RELEASES,
    Value,
    WhatIfField,
    check_release,
    field_named,
)


class Answer(Protocol):
    """What ``diff_answers`` reads of a ``simulate.Answer`` (typed here so that this module,
    which ``simulate`` imports, never imports ``simulate`` back)."""

    def to_json(self) -> dict[str, Any]: ...


#: Service fields a scenario may override -> (engine attribute, accepted values); derived
#: from the field table ``routing.engine.whatif_fields.FIELDS``.
SERVICE_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    f.name: (f.attr, f.choices) for f in FIELDS
}

_K = TypeVar("_K")
_V = TypeVar("_V")

_EMPTY: Mapping[Any, Any] = MappingProxyType({})  # empty: fits every mapping field


@dataclass(frozen=True)
class Scenario:
    """The user's what-if, as data. Every field is optional; the empty scenario is a no-op."""

    #: service key -> {what-if field name (``whatif_fields.FIELDS``) -> value}; "" clears
    #: trafficDistribution; numbers may come as text (a CLI flag) or as int.
    service_overrides: Mapping[str, Mapping[str, object]] = field(default_factory=lambda: _EMPTY)
    #: cluster-wide kube-proxy mode / IPVS scheduler.
    proxy_mode: str | None = None
    ipvs_scheduler: str | None = None
    #: node -> mode / scheduler (a cluster halfway through a migration).
    node_proxy_modes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    node_ipvs_schedulers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: nodes that go NotReady (their pods' endpoints turn not-ready, LB health checks fail).
    nodes_down: frozenset[str] = frozenset()
    #: nodes cordoned (``spec.unschedulable``): no routing change, no new pods there.
    nodes_cordoned: frozenset[str] = frozenset()
    #: nodes drained: cordoned, pods evicted, controller-owned pods recreated elsewhere.
    nodes_drained: frozenset[str] = frozenset()
    #: pods ("ns/name") or endpoint IPs turned not-ready / terminating (serving, graceful).
    endpoints_not_ready: frozenset[str] = frozenset()
    endpoints_terminating: frozenset[str] = frozenset()
    #: "ns/name" of a Deployment (or StatefulSet/ReplicaSet) -> replicas.
    scale: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    #: owners ("ns/name") caught in the middle of a default RollingUpdate.
    rollouts: frozenset[str] = frozenset()

    def is_empty(self) -> bool:
        """True when applying the scenario can change nothing."""
        return not any(
            (
                self.service_overrides,
                self.proxy_mode,
                self.ipvs_scheduler,
                self.node_proxy_modes,
                self.node_ipvs_schedulers,
                self.nodes_down,
                self.nodes_cordoned,
                self.nodes_drained,
                self.endpoints_not_ready,
                self.endpoints_terminating,
                self.scale,
                self.rollouts,
            )
        )


def _service_changes(snapshot: Snapshot, scenario: Scenario) -> dict[str, dict[WhatIfField, Value]]:
    """The scenario's Service overrides as typed values, each checked against the field
    table and the cluster's release; ``ScenarioError`` names ``services.<key>.<field>``."""
    out: dict[str, dict[WhatIfField, Value]] = {}
    for key, fields in scenario.service_overrides.items():
        service = snapshot.services.get(key)
        if service is None:
            raise ScenarioError(f"unknown service {key!r}", field="services", code=UNKNOWN)
        parsed = {}
        for name, raw in fields.items():
            spec = BY_NAME.get(name) or field_named(name, where=f"services.{key}.{name}")
            value = spec.parse(raw, where=f"services.{key}.{name}")
            if spec.releases:
                spec.check_release(value, snapshot.proxy.version, where=f"services.{key}.{name}")
            parsed[spec] = value
        for spec in parsed:
            if spec.requires is not None:
                other, wanted = spec.requires
                now = next((v for f, v in parsed.items() if f.name == other), None)
                if now is None:
                    now = getattr(service, next(f.attr for f in FIELDS if f.name == other))
                if now != wanted:
                    raise ScenarioError(
                        f"{spec.name} needs {other}={wanted} (Service {key} has {other}={now})",
                        field=f"services.{key}.{spec.name}",
                        code=NOT_APPLICABLE,
                    )
        out[key] = parsed
    return out


def _check(snapshot: Snapshot, scenario: Scenario) -> dict[str, dict[WhatIfField, Value]]:
    """Refuse what cannot apply (field, code and one line); the parsed Service changes."""
    services = _service_changes(snapshot, scenario)
    for label, modes in (
        ("proxy_mode", [(None, scenario.proxy_mode)]),
        ("node_proxy_modes", list(scenario.node_proxy_modes.items())),
    ):
        for node, mode in modes:
            if mode is not None and mode not in PROXY_MODES:
                raise ScenarioError(
                    f"proxy mode {mode!r} is not one of {', '.join(PROXY_MODES)}",
                    field=label,
                    code=INVALID_CHOICE,
                )
            if mode is not None:
                # A removed mode is refused like a version-gated field value.
                version = snapshot.proxy_for(node).version
                where = label if node is None else f"{label}.{node}"
                check_release("proxy_mode", mode, MODE_RELEASES.get(mode), version, where=where)
    for label, scheds in (
        ("ipvs_scheduler", [scenario.ipvs_scheduler]),
        ("node_ipvs_schedulers", scenario.node_ipvs_schedulers.values()),
    ):
        for sched in scheds:
            if sched is not None and sched not in IPVS_SCHEDULERS:
                raise ScenarioError(
                    f"ipvs scheduler {sched!r} is not one of {', '.join(IPVS_SCHEDULERS)}",
                    field=label,
                    code=INVALID_CHOICE,
                )
    for label, names in (
        ("node_proxy_modes", scenario.node_proxy_modes),
        ("node_ipvs_schedulers", scenario.node_ipvs_schedulers),
        ("nodes_down", scenario.nodes_down),
        ("nodes_cordoned", scenario.nodes_cordoned),
        ("nodes_drained", scenario.nodes_drained),
    ):
        for name in names:
            if name not in snapshot.nodes:
                raise ScenarioError(f"{label}: unknown node {name!r}", field=label, code=UNKNOWN)
    for count in scenario.scale.values():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ScenarioError(
                f"scale: replicas must be a whole number >= 0, not {count!r}",
                field="scale",
                code=INVALID,
            )
    return services


def _override_services(
    snapshot: Snapshot,
    changes: Mapping[str, Mapping[WhatIfField, Value]],
    services: dict[str, Service],
    index: _Tracking,
) -> None:
    for key, fields in changes.items():
        old = services[key]
        new = replace(
            old, **{spec.attr: spec.engine_value(value) for spec, value in fields.items()}
        )
        services[key] = new
        # The topology annotation wins over the field, so the controller keeps its hints then.
        # Selector-less Services' slices are hand-managed, and an "Auto" topology annotation
        # keeps the topology cache's hints: then the controller rewrites nothing.
        if new.traffic_distribution != old.traffic_distribution and controller_manages(new):
            index.keep_order(
                key,
                {
                    port: tuple(controller_hints(ep, new, snapshot.zone_of) for ep in eps)
                    for port, eps in index.get(key, {}).items()
                },
            )


class _Tracking(dict[str, Mapping[str, tuple[Endpoint, ...]]]):
    """The endpoint index being rewritten; remembers which services were written so only
    those are re-sorted and re-indexed."""

    def __init__(self, base: Mapping[str, Mapping[str, tuple[Endpoint, ...]]]) -> None:
        super().__init__(base.copy() if isinstance(base, MappingProxyType) else base)
        self.written: set[str] = set()
        #: services rewritten in place (conditions, hints, removals): still in kube-proxy order.
        self.in_order: set[str] = set()

    def __setitem__(self, key: str, value: Mapping[str, tuple[Endpoint, ...]]) -> None:
        self.written.add(key)
        self.in_order.discard(key)
        super().__setitem__(key, value)

    def keep_order(self, key: str, value: Mapping[str, tuple[Endpoint, ...]]) -> None:
        """Write ``value`` whose endpoints keep their kube-proxy order (no re-sort needed)."""
        self[key] = value
        self.in_order.add(key)


def _thaw(mapping: Mapping[_K, _V]) -> dict[_K, _V]:
    """A mutable copy of a snapshot mapping; mappingproxy.copy() is the C-speed dict copy."""
    built = getattr(mapping, "built", None)  # PodsWhenRead: the pods themselves
    if built is not None:
        mapping = built()
    return mapping.copy() if isinstance(mapping, MappingProxyType) else dict(mapping)


def sends_traffic(scenario: Scenario, node: str) -> bool:
    """Whether ``node`` is still a source of traffic after ``scenario``.

    A node taken down (``nodes_down``) is powered off or cut off from the network: its
    pods send nothing and no client reaches its NodePorts, so it is no source at all. Its
    own endpoints turn not-ready (``_rewrite_endpoints``, as the node lifecycle controller
    marks an unreachable node's pods: kubernetes ``pkg/controller/nodelifecycle``,
    ``MarkPodsNotReady``) and cloud load balancers leave it by health check
    (``lb.health_check``). Cordoned and drained nodes still send: cordoning changes no
    routing, and a drained node keeps its DaemonSet and bare pods.
    """
    return node not in scenario.nodes_down


def _affected(snapshot: Snapshot, scenario: Scenario) -> set[str]:
    """Services whose endpoints a node- or pod-level change can touch."""
    if scenario.endpoints_not_ready or scenario.endpoints_terminating:
        return set(snapshot.endpoint_index)
    keys: set[str] = set()
    for node in scenario.nodes_down | scenario.nodes_drained:
        keys |= snapshot.node_services.get(node, frozenset())
    return keys


def _rewrite_endpoints(
    snapshot: Snapshot, scenario: Scenario, services: Mapping[str, Service], index: _Tracking
) -> None:
    down, drained = scenario.nodes_down, scenario.nodes_drained
    not_ready, terminating = scenario.endpoints_not_ready, scenario.endpoints_terminating
    for key in _affected(snapshot, scenario):
        service = services[key]
        new_ports = {}
        for port, eps in index[key].items():
            out = []
            for ep in eps:
                if ep.node in drained:
                    continue
                if ep.node in down or ep.pod in not_ready or ep.ip in not_ready:
                    ep = replace(
                        ep, ready=service.publish_not_ready, serving=False, terminating=False
                    )
                elif ep.pod in terminating or ep.ip in terminating:
                    ep = replace(
                        ep, ready=service.publish_not_ready, serving=True, terminating=True
                    )
                out.append(ep)
            new_ports[port] = tuple(out)
        index.keep_order(key, new_ports)


def apply_scenario(snapshot: Snapshot, scenario: Scenario) -> Snapshot:
    """The snapshot as it would be after ``scenario`` (pure; the empty scenario returns
    ``snapshot`` itself). Raises ``ScenarioError`` on bad fields or values.

    Only the services a change can reach are rebuilt, so a one-service what-if on a
    10,000-service snapshot costs about as much as that one service."""
    if scenario.is_empty():
        return snapshot
    service_changes = _check(snapshot, scenario)
    # Copy only what the scenario can change (``_thaw``).
    new_services = _thaw(snapshot.services) if scenario.service_overrides else None
    services = snapshot.services if new_services is None else new_services
    touches_endpoints = bool(
        scenario.service_overrides
        or scenario.nodes_down
        or scenario.nodes_drained
        or scenario.endpoints_not_ready
        or scenario.endpoints_terminating
        or scenario.scale
        or scenario.rollouts
    )
    index = _Tracking(snapshot.endpoint_index) if touches_endpoints else None
    node_changes = scenario.nodes_down | scenario.nodes_cordoned | scenario.nodes_drained
    nodes: Mapping[str, Node] = snapshot.nodes
    if node_changes:
        new_nodes = _thaw(snapshot.nodes)
        for name in scenario.nodes_down:
            new_nodes[name] = replace(new_nodes[name], ready=False)
        for name in scenario.nodes_cordoned | scenario.nodes_drained:
            new_nodes[name] = replace(new_nodes[name], unschedulable=True)
        nodes = new_nodes
    new_pods = (
        _thaw(snapshot.pods)
        if scenario.nodes_drained or scenario.scale or scenario.rollouts
        else None
    )
    pods = snapshot.pods if new_pods is None else new_pods
    changes: dict[str, object] = {
        "proxy": _proxy(snapshot, scenario),
        "node_proxy": _node_proxy(snapshot, scenario, snapshot.nodes),
    }
    if index is not None:
        if new_services is not None:  # else there is no Service change (_check)
            _override_services(snapshot, service_changes, new_services, index)
        _rewrite_endpoints(snapshot, scenario, services, index)
        if new_pods is not None:  # else nothing is drained, scaled or rolled out
            if scenario.nodes_drained:
                reschedule_drained(
                    snapshot.pods,
                    new_pods,
                    nodes,
                    services,
                    index,
                    scenario.nodes_drained,
                    snapshot.endpoint_index,
                )
            for owner, replicas in scenario.scale.items():
                scale_owner(owner, replicas, new_pods, nodes, services, index)
            for owner in sorted(scenario.rollouts):
                roll_owner(owner, new_pods, nodes, services, index)
        changes.update(_finish_index(snapshot, index))
    return snapshot.evolve(services=services, nodes=nodes, pods=pods, **changes)


def _finish_index(snapshot: Snapshot, index: _Tracking) -> dict[str, object]:
    """Sort and freeze the rewritten services; extend the node -> services index."""
    if not index.written:
        return {"endpoint_index": dict.copy(index), "node_services": snapshot.node_services}
    node_services = _thaw(snapshot.node_services)
    for key in index.written:
        ports = index[key]
        if ports is snapshot.endpoint_index.get(key):
            continue
        if key in index.in_order:
            frozen = MappingProxyType({p: tuple(eps) for p, eps in ports.items()})
        else:
            frozen = MappingProxyType({p: sort_endpoints(list(eps)) for p, eps in ports.items()})
        dict.__setitem__(index, key, frozen)
        for eps in frozen.values():
            for ep in eps:
                if ep.node and key not in node_services.get(ep.node, frozenset()):
                    node_services[ep.node] = node_services.get(ep.node, frozenset()) | {key}
    return {"endpoint_index": dict.copy(index), "node_services": node_services}


def _proxy(snapshot: Snapshot, scenario: Scenario) -> ProxyConfig:
    proxy = snapshot.proxy
    if scenario.proxy_mode or scenario.ipvs_scheduler:
        proxy = replace(
            proxy,
            mode=scenario.proxy_mode or proxy.mode,
            ipvs_scheduler=scenario.ipvs_scheduler or proxy.ipvs_scheduler,
        )
    return proxy


def _node_proxy(
    snapshot: Snapshot, scenario: Scenario, nodes: Mapping[str, Node]
) -> Mapping[str, ProxyConfig]:
    """Per-node kube-proxy configs after a cluster-wide or per-node mode change."""
    proxy = _proxy(snapshot, scenario)
    if not (
        scenario.proxy_mode
        or scenario.ipvs_scheduler
        or scenario.node_proxy_modes
        or scenario.node_ipvs_schedulers
    ):
        return snapshot.node_proxy
    out: dict[str, ProxyConfig] = {}
    for name in nodes:
        config = snapshot.node_proxy.get(name)
        if config is not None and (scenario.proxy_mode or scenario.ipvs_scheduler):
            config = replace(config, mode=proxy.mode, ipvs_scheduler=proxy.ipvs_scheduler)
        if name in scenario.node_proxy_modes or name in scenario.node_ipvs_schedulers:
            base = config or proxy
            config = replace(
                base,
                mode=scenario.node_proxy_modes.get(name, base.mode),
                ipvs_scheduler=scenario.node_ipvs_schedulers.get(name, base.ipvs_scheduler),
            )
        if config is not None and config != proxy:
            out[name] = config
    return out


@dataclass(frozen=True, slots=True)
class AnswerDiff:
    """What a scenario changed for one question."""

    before: dict[str, Any]
    after: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """moved (per-endpoint share change), newly_dropped / stops_dropping, and the
        change in action, client IP, latency, cross-zone cost and imbalance."""
        old = {e["ip"]: e["share"] for e in self.before["endpoints"]}
        new = {e["ip"]: e["share"] for e in self.after["endpoints"]}
        moved = [
            {
                "ip": ip,
                "before": old.get(ip, 0.0),
                "after": new.get(ip, 0.0),
                "change": round(new.get(ip, 0.0) - old.get(ip, 0.0), 6),
            }
            for ip in sorted(old.keys() | new.keys())
            if abs(new.get(ip, 0.0) - old.get(ip, 0.0)) > 1e-9
        ]
        # Effective: a share forwarded whose replies are lost never "stops dropping".
        delta_drop = round(_failing(self.after) - _failing(self.before), 6)

        def change(path: tuple[str, ...]) -> dict[str, Any]:
            a: Any = self.before
            b: Any = self.after
            for key in path:
                a, b = (a or {}).get(key), (b or {}).get(key)
            return {
                "before": a,
                "after": b,
                "change": None if a is None or b is None else round(b - a, 6),
            }

        return {
            "moved": moved,
            "newly_dropped": max(delta_drop, 0.0),
            "stops_dropping": max(-delta_drop, 0.0),
            "action": {"before": self.before["action"], "after": self.after["action"]},
            "outcome": {
                "before": self.before.get("outcome"),
                "after": self.after.get("outcome"),
            },
            "drop_reason": {
                "before": self.before["drop_reason"],
                "after": self.after["drop_reason"],
            },
            "client_ip_preserved": {
                "before": self.before["client_ip_preserved"],
                "after": self.after["client_ip_preserved"],
            },
            "latency_ms": change(("latency_ms", "expected")),
            "cost_usd_per_month": change(("cost", "usd_per_month")),
            "cross_zone": change(("locality", "cross_zone")),
            "imbalance": change(("imbalance",)),
        }


def _failing(answer: Mapping[str, Any]) -> float:
    """The share of new connections that do not work (``effective_dropped``: dropped,
    refused or forwarded with replies lost); ``dropped`` for answers stored without it."""
    return float(answer.get("effective_dropped", answer["dropped"]))


def diff_answers(before: Answer, after: Answer) -> AnswerDiff:
    """Compare the answers to the same question before and after a scenario."""
    return AnswerDiff(before.to_json(), after.to_json())
