"""Recommendations, each checked by re-running the timeline with the change."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import Field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from routing.engine.simulate import Question, simulate
from routing.engine.snapshot import Snapshot
from routing.engine.timeline.codes import (
    ENDPOINT_NOT_ACCEPTING,
    LB_FAIL_OPEN,
    LB_HEALTH_CHECK_LAG,
    NODE_DOWN,
)
from routing.engine.timeline.timing import Event, Timing
from routing.engine.types import Service, ServicePort


class _Request(Protocol):
    """What is read of a ``TimelineRequest`` (a dataclass: re-runs ``replace`` it)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def timing(self) -> Timing: ...

    @property
    def overrides(self) -> Mapping[str, str]: ...


class _RunView(Protocol):
    """What is read of the timeline run (``run._Run``; not imported: no import cycle)."""

    event: Event
    snapshot: Snapshot
    original: Snapshot
    service: Service
    port: ServicePort
    local_ext: bool
    sources: list[str]


_R = TypeVar("_R", bound=_Request)


def _new_windows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in windows if not w["source"].endswith(":established")]


def _rerun(
    rerun: Callable[[_R], list[dict[str, Any]]], request: _R, **changes: Any
) -> list[dict[str, Any]]:
    return _new_windows(rerun(replace(request, **changes)))


def recommendations(
    request: _R,
    run: _RunView,
    windows: list[dict[str, Any]],
    rerun: Callable[[_R], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """preStop sleep (for events that delete pods), externalTrafficPolicy=Cluster (for
    load-balancer windows of a Local service); each with the windows left after it."""
    new = _new_windows(windows)
    if not new:
        return []
    out: list[dict[str, Any]] = []
    timing = request.timing
    deletes = run.event.kind in ("drain", "rollout", "scale")
    lag = [
        w for w in new if w["code"] in (ENDPOINT_NOT_ACCEPTING, LB_HEALTH_CHECK_LAG, LB_FAIL_OPEN)
    ]
    if deletes and lag:
        # Long enough for the slice update, kube-proxy's sync and the LB to take the node
        # out, measured from the deletion that caused the window.
        need = (
            max(timing.delay(run.snapshot.proxy_for(n).mode) for n in run.snapshot.nodes)
            if run.snapshot.nodes
            else 2.0
        )
        if run.local_ext and "lb" in run.sources:
            need += timing.lb.out_after_s
        sleep = float(max(5, 5 * math.ceil((need + 1) / 5)))
        for attempt in range(3):
            grace = max(timing.grace_s, sleep + 5)
            changed = timing.with_fields({"prestop_s": sleep, "grace_s": grace})
            after = _rerun(rerun, request, timing=changed)
            if attempt == 2 or not [
                w
                for w in after
                if w["code"] in (ENDPOINT_NOT_ACCEPTING, LB_HEALTH_CHECK_LAG, LB_FAIL_OPEN)
            ]:
                break  # what is reported is exactly what was re-run
            sleep += 5
        out.append(
            {
                "change": {
                    "kind": "timing",
                    "set": {"prestop_s": sleep, "grace_s": grace},
                    "text": f"a preStop sleep of {sleep:g} s"
                    f" (terminationGracePeriodSeconds >= {grace:g} s)"
                    + (" closes the window" if not after else " narrows the windows"),
                    "client_ip_preserved": None,
                },
                "windows_after": after,
            }
        )
    lb_windows = [w for w in new if w["source"] == "lb"]
    probe = timing.lb
    fast = (5.0, 2)  # the shortest interval and threshold AWS NLB, GCP and Azure all accept
    if (
        not (deletes and lag)
        and [w for w in lb_windows if w["code"] in (NODE_DOWN, LB_HEALTH_CHECK_LAG)]
        and probe.out_after_s > fast[0] * fast[1]
    ):
        changed = timing.with_probe(interval_s=fast[0], unhealthy_threshold=fast[1])
        after = _rerun(rerun, request, timing=changed)
        out.append(
            {
                "change": {
                    "kind": "timing",
                    "set": {"probe_interval": fast[0], "unhealthy_threshold": fast[1]},
                    "text": f"a load-balancer health check every {fast[0]:g} s"
                    f" that gives up after {fast[1]} failures"
                    f" ({fast[0] * fast[1]:g} s instead of {probe.out_after_s:g} s)"
                    " shortens the load-balancer window",
                    "client_ip_preserved": None,
                },
                "windows_after": after,
            }
        )
    if run.local_ext and lb_windows:
        overrides = {**request.overrides, "externalTrafficPolicy": "Cluster"}
        after = _rerun(rerun, request, overrides=overrides)
        ans = simulate(
            run.original,
            Question(
                service=run.service.key,
                source="lb",
                overrides=overrides,
                port=run.port.name or run.port.port,
            ),
        )
        lost = not ans.client_ip_preserved
        left = [w for w in after if w["source"] == "lb"]
        out.append(
            {
                "change": {
                    "kind": "service",
                    "set": {"externalTrafficPolicy": "Cluster"},
                    "text": "externalTrafficPolicy=Cluster "
                    + (
                        "closes the load-balancer window"
                        if not left
                        else "narrows the load-balancer window"
                    )
                    + (" but loses the client IP (kube-proxy masquerades)" if lost else ""),
                    "client_ip_preserved": not lost,
                },
                "windows_after": after,
            }
        )
    return out
