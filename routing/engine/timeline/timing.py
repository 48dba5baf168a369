"""The timing model of a disruption timeline, with the upstream or cloud source of every
default (the tests cite the same sources).

* EndpointSlice propagation: the EndpointSlice controller syncs a Service as soon as a Pod
  changes (``--endpointslice-updates-batch-period`` defaults to 0), and kube-proxy's
  informer sees the write after one watch round trip. Upstream gives no number for the
  round trip; we take 1 s, overridable (``endpointslice_s``).
* kube-proxy sync: a change is programmed no sooner than ``minSyncPeriod`` after the last
  sync — 1 s by default for iptables and nftables (``pkg/proxy/apis/config/v1alpha1/
  defaults.go``); the IPVS proxier's ``ipvs.minSyncPeriod`` is not defaulted there (0 s).
  The healthCheckNodePort server's local-endpoint counts are updated in the same sync
  (``proxier.syncProxyRules`` -> ``serviceHealthServer.SyncEndpoints``), so the 503 starts
  when the rules change.
* Node removal (``scale-in``): kube-proxy's ``/healthz`` (the eTP=Cluster health check)
  answers 503 once it sees the ``ToBeDeletedByClusterAutoscaler`` taint or a deletion
  timestamp (KEP-3836, ``pkg/proxy/healthcheck/proxy_health.go`` ``SyncNode``; on by
  default from 1.30); the healthCheckNodePort of eTP=Local does not look at the node.
* Node failure: the node lifecycle controller marks a silent node NotReady (and its pods
  not ready) after ``nodeMonitorGracePeriod`` = 40 s; its pods are evicted after the
  ``not-ready``/``unreachable`` toleration of 300 s (DefaultTolerationSeconds admission).
* Pods: ``terminationGracePeriodSeconds`` 30 s (API default); the preStop hook runs first,
  inside the grace period; SIGKILL at its end. Deployment ``maxSurge`` / ``maxUnavailable``
  25 % (rounded up / down), ``minReadySeconds`` 0. ``readiness_delay_s`` (container start to
  Ready) is the user's to know: 10 s assumed (one default ``periodSeconds``).
* Cloud load balancer: probes every ``interval_s``; a node is taken out after
  ``unhealthy_threshold`` failed probes and put back after ``healthy_threshold`` good ones.
  The timeline takes the worst case (the check started failing just after a probe):
  out after interval × unhealthy threshold, back after interval × healthy threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any


class TimelineError(ValueError):
    """Bad timeline input: unknown event, preset, node, zone, field or value."""


@dataclass(frozen=True, slots=True)
class LBProbe:
    """A cloud load balancer's health checking of the nodes."""

    interval_s: float
    unhealthy_threshold: int
    healthy_threshold: int
    #: where the defaults come from ("" for user-given values).
    source: str = ""

    @property
    def out_after_s(self) -> float:
        """Seconds from the first failing answer until the LB stops sending (worst case)."""
        return self.interval_s * self.unhealthy_threshold

    @property
    def in_after_s(self) -> float:
        """Seconds from the first passing answer until the LB sends again (worst case)."""
        return self.interval_s * self.healthy_threshold


#: Defaults of the load balancers the cloud providers create for a Service of type
#: LoadBalancer (each cited in routing/tests/engine/test_timeline_timing.py).
LB_PRESETS: Mapping[str, LBProbe] = MappingProxyType(
    {
        "aws-nlb": LBProbe(
            30,
            3,
            3,
            "kubernetes/cloud-provider-aws pkg/providers/v1/aws_loadbalancer.go: "
            "defaultNlbHealthCheckInterval 30, defaultNlbHealthCheckThreshold 3 "
            "(healthy and unhealthy)",
        ),
        "aws-elb": LBProbe(
            10,
            6,
            2,
            "kubernetes/cloud-provider-aws pkg/providers/v1/aws_loadbalancer.go: "
            "defaultElbHCInterval 10, defaultElbHCUnhealthyThreshold 6, "
            "defaultElbHCHealthyThreshold 2",
        ),
        "gcp": LBProbe(
            8,
            3,
            1,
            "kubernetes/cloud-provider-gcp providers/gce/gce_loadbalancer_external.go: "
            "gceHcCheckIntervalSeconds 8, gceHcUnhealthyThreshold 3, gceHcHealthyThreshold 1",
        ),
        "azure": LBProbe(
            5,
            2,
            1,
            "kubernetes-sigs/cloud-provider-azure pkg/consts/consts.go: "
            "HealthProbeDefaultProbeInterval 5, "
            "HealthProbeDefaultNumOfProbe 2; one good probe puts an instance back",
        ),
    }
)
DEFAULT_PRESET = "aws-nlb"

#: kube-proxy ``minSyncPeriod`` per mode (defaults.go, see the module docstring).
DEFAULT_SYNC_S: Mapping[str, float] = MappingProxyType(
    {"iptables": 1.0, "nftables": 1.0, "ipvs": 0.0, "userspace": 1.0}
)

ON_SIGTERM = ("stop", "serve")
EVENT_KINDS = ("drain", "node-down", "zone-down", "rollout", "scale", "scale-in")


@dataclass(frozen=True, slots=True)
class Timing:
    """Every delay the timeline uses; all overridable (``with_fields``)."""

    endpointslice_s: float = 1.0
    sync_s: Mapping[str, float] = field(default_factory=lambda: DEFAULT_SYNC_S)
    lb_preset: str = DEFAULT_PRESET
    lb: LBProbe = field(default_factory=lambda: LB_PRESETS[DEFAULT_PRESET])
    node_monitor_grace_s: float = 40.0
    eviction_toleration_s: float = 300.0
    readiness_delay_s: float = 10.0
    min_ready_s: float = 0.0
    grace_s: float = 30.0
    prestop_s: float = 0.0
    #: "stop": the app stops accepting (and exits) at SIGTERM; "serve": it keeps serving
    #: until it is killed at the end of the grace period.
    on_sigterm: str = "stop"
    max_surge: str = "25%"
    max_unavailable: str = "25%"
    #: scale-in: seconds from the node's last pod being gone to its VM stopping (the
    #: cluster autoscaler deletes the node, the cloud terminates it); an assumption.
    node_delete_s: float = 0.0

    def delay(self, mode: str) -> float:
        """Seconds from a Pod change to the rules of a node running ``mode``."""
        return self.endpointslice_s + self.sync_s.get(mode, 1.0)

    def surge_unavailable(self, replicas: int) -> tuple[int, int]:
        """maxSurge rounded up, maxUnavailable rounded down (deployment util
        ``ResolveFenceposts``); both 0 becomes maxUnavailable 1 as upstream does."""
        surge = _resolve(self.max_surge, replicas, up=True, name="max_surge")
        unavailable = _resolve(self.max_unavailable, replicas, up=False, name="max_unavailable")
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def to_json(self) -> dict[str, Any]:
        return {
            "endpointslice_s": self.endpointslice_s,
            "kube_proxy_sync_s": dict(self.sync_s),
            "lb": {
                "preset": self.lb_preset or None,
                "interval_s": self.lb.interval_s,
                "unhealthy_threshold": self.lb.unhealthy_threshold,
                "healthy_threshold": self.lb.healthy_threshold,
                "out_after_s": self.lb.out_after_s,
                "in_after_s": self.lb.in_after_s,
                "source": self.lb.source or None,
            },
            "node_monitor_grace_s": self.node_monitor_grace_s,
            "eviction_toleration_s": self.eviction_toleration_s,
            "readiness_delay_s": self.readiness_delay_s,
            "min_ready_s": self.min_ready_s,
            "grace_s": self.grace_s,
            "prestop_s": self.prestop_s,
            "on_sigterm": self.on_sigterm,
            "max_surge": self.max_surge,
            "max_unavailable": self.max_unavailable,
            "node_delete_s": self.node_delete_s,
        }

    def with_probe(
        self,
        *,
        preset: object = None,
        interval_s: object = None,
        unhealthy_threshold: object = None,
        healthy_threshold: object = None,
    ) -> Timing:
        """A copy with another LB preset and/or explicit probe numbers (explicit ones win);
        the values are checked here, so they may come straight from user input."""
        out = self
        if preset is not None:
            if preset not in LB_PRESETS:
                raise TimelineError(
                    f"unknown load-balancer preset {preset!r} (known: {', '.join(LB_PRESETS)})"
                )
            name = str(preset)  # one of the LB_PRESETS keys: the same string
            out = replace(out, lb_preset=name, lb=LB_PRESETS[name])
        if (
            interval_s is not None
            or unhealthy_threshold is not None
            or healthy_threshold is not None
        ):
            lb = out.lb
            probe = LBProbe(
                _positive(interval_s, "probe interval")
                if interval_s is not None
                else lb.interval_s,
                _count(unhealthy_threshold, "unhealthy threshold")
                if unhealthy_threshold is not None
                else lb.unhealthy_threshold,
                _count(healthy_threshold, "healthy threshold")
                if healthy_threshold is not None
                else lb.healthy_threshold,
            )
            out = replace(out, lb_preset="", lb=probe)
        return out

    def with_fields(self, values: Mapping[str, object]) -> Timing:
        """A copy with fields set by name (``--set grace_s=60``, ``sync_s.iptables=2``)."""
        out = self
        names = {f.name for f in fields(self)} - {"lb", "lb_preset", "sync_s"}
        for name, value in values.items():
            if name.startswith("sync_s."):
                mode = name.split(".", 1)[1]
                if mode not in DEFAULT_SYNC_S:
                    raise TimelineError(f"unknown proxy mode in {name!r}")
                out = replace(
                    out, sync_s=MappingProxyType({**out.sync_s, mode: _seconds(value, name)})
                )
            elif name in ("max_surge", "max_unavailable"):
                text = str(value)
                _resolve(text, 100, up=True, name=name)
                # a field chosen by name: its type (str) is checked above, not by mypy
                text_change: dict[str, Any] = {name: text}
                out = replace(out, **text_change)
            elif name == "on_sigterm":
                if value not in ON_SIGTERM:
                    raise TimelineError(f"on_sigterm must be stop or serve, not {value!r}")
                out = replace(out, on_sigterm=str(value))
            elif name in names:
                # a field chosen by name: every one left in ``names`` is a float
                float_change: dict[str, Any] = {name: _seconds(value, name)}
                out = replace(out, **float_change)
            else:
                raise TimelineError(f"unknown timing field {name!r}")
        return out


def _seconds(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TimelineError(f"{name} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise TimelineError(f"{name} must be >= 0 seconds, not {value!r}")
    return number


def _positive(value: object, name: str) -> float:
    number = _seconds(value, name)
    if number <= 0:
        raise TimelineError(f"{name} must be > 0 seconds")
    return number


def _count(value: object, name: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise TimelineError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise TimelineError(f"{name} must be >= 1")
    return number


def _resolve(text: str, replicas: int, *, up: bool, name: str) -> int:
    text = str(text).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if pct < 0:
                raise ValueError
            raw = replicas * pct / 100
            return math.ceil(raw - 1e-9) if up else math.floor(raw + 1e-9)
        number = int(text)
        if number < 0:
            raise ValueError
        return number
    except ValueError:
        raise TimelineError(f"{name} must be a count or a percentage, not {text!r}") from None


@dataclass(frozen=True, slots=True)
class Event:
    """``drain:NODE``, ``node-down:NODE``, ``zone-down:ZONE``, ``rollout``, ``scale:N`` or
    ``scale-in:NODE`` (the cluster autoscaler removes the node: taint, drain, delete)."""

    kind: str
    target: str | None = None

    @property
    def text(self) -> str:
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


def parse_event(text: str) -> Event:
    """Parse the ``--event`` value; raises ``TimelineError`` when malformed."""
    kind, sep, target = str(text).strip().partition(":")
    if kind not in EVENT_KINDS:
        raise TimelineError(
            f"event {text!r} is not drain:NODE, node-down:NODE, zone-down:ZONE, rollout,"
            " scale:N or scale-in:NODE"
        )
    if kind == "rollout":
        if sep:
            raise TimelineError("event rollout takes no target")
        return Event(kind)
    if not target:
        raise TimelineError(
            f"event {kind} needs a target"
            f" ({kind}:{'N' if kind == 'scale' else 'ZONE' if kind == 'zone-down' else 'NODE'})"
        )
    if kind == "scale" and (not target.isdigit()):
        raise TimelineError(f"scale:{target}: replicas must be a whole number >= 0")
    return Event(kind, target)
