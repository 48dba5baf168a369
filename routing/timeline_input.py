"""The timeline's inputs, shared by ``manage.py timeline`` and ``POST /api/v1/timeline``
so both build the same request from the same fields (and give the same JSON)."""

from __future__ import annotations

from collections.abc import Mapping

from routing.engine.scenario import SERVICE_FIELDS
from routing.engine.snapshot import Snapshot
from routing.engine.timeline import TimelineError, TimelineRequest, Timing, run_timeline

#: The fields, by their API names (the CLI flags are the same with dashes).
FIELDS = (
    "service",
    "event",
    "port",
    "lb_preset",
    "probe_interval",
    "unhealthy_threshold",
    "healthy_threshold",
    "grace",
    "prestop",
    "on_sigterm",
    "set",
)


def build_request(fields: Mapping[str, object]) -> TimelineRequest:
    """A ``TimelineRequest`` from the CLI/API fields; ``TimelineError`` on bad input.

    ``set`` takes Service fields (externalTrafficPolicy, …) and timing fields by name
    (``readiness_delay_s``, ``endpointslice_s``, ``sync_s.iptables``, ``max_surge``, …)."""
    service, event = fields.get("service"), fields.get("event")
    if not isinstance(service, str) or "/" not in service:
        raise TimelineError("service must be NAMESPACE/NAME")
    if not isinstance(event, str) or not event:
        raise TimelineError(
            "event is required (drain:NODE, node-down:NODE, zone-down:ZONE, rollout,"
            " scale:N or scale-in:NODE)"
        )
    preset = fields.get("lb_preset")
    probe = {
        k: fields.get(k) for k in ("probe_interval", "unhealthy_threshold", "healthy_threshold")
    }
    if preset not in (None, "") and any(v is not None for v in probe.values()):
        raise TimelineError("give a load-balancer preset or probe numbers, not both")
    timing = Timing().with_probe(
        preset=preset or None,
        interval_s=probe["probe_interval"],
        unhealthy_threshold=probe["unhealthy_threshold"],
        healthy_threshold=probe["healthy_threshold"],
    )
    sets = fields.get("set") or {}
    if not isinstance(sets, Mapping):
        raise TimelineError("set must map FIELD to VALUE")
    overrides = {k: str(v) for k, v in sets.items() if k in SERVICE_FIELDS}
    timed: dict = {k: v for k, v in sets.items() if k not in SERVICE_FIELDS}
    for name, key in (("grace", "grace_s"), ("prestop", "prestop_s"), ("on_sigterm", "on_sigterm")):
        if fields.get(name) is not None:
            timed[key] = fields[name]
    timing = timing.with_fields(timed)
    if timing.prestop_s > timing.grace_s:
        raise TimelineError(
            f"prestop ({timing.prestop_s:g} s) is longer than the grace period"
            f" ({timing.grace_s:g} s)"
        )
    port = fields.get("port")
    if port is not None and not isinstance(port, (str, int)):
        raise TimelineError(f"port must be a name or a number, not {port!r}")
    return TimelineRequest(
        service=service,
        event=event,
        timing=timing,
        port=port if port not in ("", None) else None,
        overrides=overrides,
    )


def timeline_json(snapshot: Snapshot, fields: Mapping[str, object]) -> dict:
    """The timeline JSON for ``fields`` on ``snapshot``."""
    return run_timeline(snapshot, build_request(fields))
