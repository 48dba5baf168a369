"""Writes of the routing app: saving what-if scenarios and turning one into an apply job.

A stored scenario keeps only the user's input (``changes``); it is checked against the
cluster's current state when saved, so a typo (unknown Service, bad value) is refused at
once with the field at fault. Previews and simulations are reads: see
``routing.selectors`` (re-exported here for the pages' convenience).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, transaction

from cluster.models import Cluster
from routing.engine.errors import ScenarioError
from routing.engine.rules.model import MODES as RULE_MODES
from routing.engine.timeline import TimelineError
from routing.models import RulesDriftReport, SavedTimeline, Scenario
from routing.selectors import (
    InputError,
    scenario_preview,
    scenario_snapshot,
    simulate_answer,
    snapshot_for,
)
from routing.timeline_input import FIELDS as TIMELINE_FIELDS
from routing.timeline_input import timeline_json

__all__ = [
    "InputError",
    "drift_report_record",
    "saved_timeline_create",
    "saved_timeline_delete",
    "saved_timeline_run",
    "scenario_apply",
    "scenario_apply_changes",
    "scenario_create",
    "scenario_delete",
    "scenario_preview",
    "scenario_update",
    "simulate_answer",
]

#: Parts of a scenario that exist only as a what-if: nothing to patch on a live cluster.
WHAT_IF_ONLY = (
    "nodes_down",
    "nodes_cordoned",
    "nodes_drained",
    "endpoints_not_ready",
    "endpoints_terminating",
    "scale",
    "node_proxy_modes",
    "node_ipvs_schedulers",
)


_Named = TypeVar("_Named", Scenario, SavedTimeline)


def _validate(*, cluster: Cluster, changes: dict[str, Any]) -> None:
    """Refuse changes the engine cannot apply to the cluster as it is now."""
    scenario_snapshot(snapshot=snapshot_for(cluster=cluster), changes=changes)


def _save_named(
    model: type[_Named], kind: str, *, cluster: Cluster, name: str, user: Any, **fields: Any
) -> _Named:
    """Save a named question (a scenario, a timeline) on ``cluster``, by ``user`` when signed
    in; ``InputError`` on the name field when the cluster already has one called ``name``."""
    try:
        with transaction.atomic():
            return model.objects.create(
                cluster=cluster,
                name=name,
                created_by=user if user is not None and user.is_authenticated else None,
                **fields,
            )
    except IntegrityError:
        raise InputError(
            f"cluster {cluster.name} already has a {kind} called {name!r}", field="name"
        ) from None


def scenario_create(
    *, cluster: Cluster, name: str, changes: dict[str, Any], description: str = "", user: Any = None
) -> Scenario:
    """Save a named what-if on ``cluster``; ``InputError`` if the name is taken or a change
    does not fit the cluster (unknown Service or node, bad value)."""
    _validate(cluster=cluster, changes=changes)
    return _save_named(
        Scenario,
        "scenario",
        cluster=cluster,
        name=name,
        user=user,
        changes=changes,
        description=description,
    )


def scenario_update(
    *,
    scenario: Scenario,
    name: str | None = None,
    changes: dict[str, Any] | None = None,
    description: str | None = None,
) -> Scenario:
    """Change a scenario's name, changes or description (the changes are re-checked)."""
    if changes is not None:
        _validate(cluster=scenario.cluster, changes=changes)
        scenario.changes = changes
    if name is not None:
        scenario.name = name
    if description is not None:
        scenario.description = description
    try:
        with transaction.atomic():
            scenario.save()
    except IntegrityError:
        raise InputError(
            f"cluster {scenario.cluster.name} already has a scenario called " f"{name!r}",
            field="name",
        ) from None
    return scenario


def scenario_delete(*, scenario: Scenario) -> None:
    """Forget a scenario (the cluster is untouched)."""
    scenario.delete()


def scenario_apply_changes(*, scenario: Scenario) -> list[dict[str, Any]]:
    """The Service patches a scenario stands for, in ``cluster.apply``'s input shape, each
    guarded by the resourceVersion the preview was computed from."""
    from cluster.models import Service

    overrides = scenario.changes.get("services") or {}
    versions = {}
    for key in overrides:
        namespace, _, name = key.partition("/")
        raw = (
            Service.objects.filter(cluster=scenario.cluster, namespace=namespace, name=name)
            .values_list("raw", flat=True)
            .first()
        )
        if raw is None:
            raise InputError(
                f"Service {key} is not in cluster {scenario.cluster.name} any more",
                field="changes.services",
            )
        versions[key] = (raw.get("metadata") or {}).get("resourceVersion") or ""
    return [
        {
            "namespace": key.partition("/")[0],
            "name": key.partition("/")[2],
            "set": dict(fields),
            "expected_resource_version": versions[key],
        }
        for key, fields in sorted(overrides.items())
    ]


def scenario_apply(*, scenario: Scenario, user: Any, confirm_restart: bool = False) -> list[Any]:
    """Queue the jobs that make a scenario real on its live cluster; returns the jobs.

    Service field changes become one apply job; a cluster-wide proxy mode / scheduler
    becomes a kube-proxy change job, which restarts kube-proxy on every node and so needs
    ``confirm_restart``. What-if-only parts (a node down, a scale) cannot be applied: the
    request is refused naming them. Raises ``PermissionDenied`` for non-operators.
    """
    from cluster.apply import ApplyError, apply_request, check_operator
    from cluster.proxy_apply import proxy_change_request

    check_operator(user)
    changes = scenario.changes
    only = [key for key in WHAT_IF_ONLY if changes.get(key)]
    if only:
        raise InputError(
            f"{', '.join(only)} cannot be applied to a live cluster (what-if "
            "only); save a scenario with just Service or proxy changes",
            field=f"changes.{only[0]}",
        )
    mode, scheduler = changes.get("proxy_mode") or None, changes.get("ipvs_scheduler") or None
    if not changes.get("services") and not (mode or scheduler):
        raise InputError("the scenario changes nothing that can be applied", field="changes")
    _validate(cluster=scenario.cluster, changes=changes)
    jobs = []
    try:
        with transaction.atomic():
            if changes.get("services"):
                jobs.append(
                    apply_request(
                        cluster=scenario.cluster,
                        user=user,
                        changes=scenario_apply_changes(scenario=scenario),
                    )
                )
            if mode or scheduler:
                jobs.append(
                    proxy_change_request(
                        cluster=scenario.cluster,
                        user=user,
                        mode=mode,
                        scheduler=scheduler,
                        confirm_restart=confirm_restart,
                    )
                )
    except ApplyError as error:
        # ApplyError names the apply's own input; a scenario carries it under "changes".
        field = (
            error.field
            if error.field in ("confirm_restart", "cluster", "changes")
            else f"changes.{error.field}"
        )
        raise InputError(str(error), field=field, code=error.code) from None
    return jobs


#: Longest diff text a drift report keeps; past it the text ends with a note.
DRIFT_DIFF_MAX_CHARS = 20_000
#: Reports kept per node (the newest); older ones are deleted when a new one is stored.
DRIFT_REPORTS_KEPT = 20
#: Modes a node agent compares (what ``routing.agent.drift.READ_COMMANDS`` can read).
DRIFT_MODES = RULE_MODES


def drift_diff_text(
    *, missing: list[str], extra: list[str], limit: int = DRIFT_DIFF_MAX_CHARS
) -> str:
    """``-`` lines expected but absent, ``+`` lines present but not expected, cut at
    ``limit`` characters (whole lines) with a note saying how many lines were left out."""
    lines = [f"- {line}" for line in missing] + [f"+ {line}" for line in extra]
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"… truncated: {len(lines) - len(kept)} more line(s) not stored")
    return "\n".join(kept)


def drift_report_record(
    *,
    cluster: Cluster,
    node: str,
    mode: str,
    result: dict[str, Any],
    agent_hostname: str = "",
    agent_version: str = "",
) -> RulesDriftReport:
    """Store one node agent's drift check. ``result`` is ``Drift.to_json()`` plus
    ``revision`` (the cluster revision the prediction was rendered from)."""
    from django.utils import timezone

    if mode not in DRIFT_MODES:
        raise ValueError(f"drift report mode must be one of {', '.join(DRIFT_MODES)}, not {mode!r}")
    if not node:
        raise ValueError("drift report needs the node name")
    missing, extra = list(result.get("missing") or []), list(result.get("extra") or [])
    report = RulesDriftReport.objects.create(
        cluster=cluster,
        node=node,
        mode=mode,
        checked_at=timezone.now(),
        cluster_revision=int(result.get("revision", getattr(cluster, "revision", 0)) or 0),
        in_sync=not missing and not extra,
        missing_count=len(missing),
        unexpected_count=len(extra),
        diff=drift_diff_text(missing=missing, extra=extra),
        agent_hostname=agent_hostname[:253],
        agent_version=agent_version[:64],
    )
    # Agents check on every change and on a timer: keep each node's recent history only.
    stale = (
        RulesDriftReport.objects.filter(cluster=cluster, node=node)
        .order_by("-checked_at", "-id")
        .values_list("pk", flat=True)[DRIFT_REPORTS_KEPT:]
    )
    RulesDriftReport.objects.filter(pk__in=list(stale)).delete()
    return report


def saved_timeline_run(
    *, cluster: Cluster, service: str, question: dict[str, Any]
) -> dict[str, Any]:
    """The timeline JSON of ``question`` about ``service`` on the cluster as it is now;
    ``InputError`` (naming the field) when the cluster no longer fits it."""
    unknown = sorted(k for k in question if k not in TIMELINE_FIELDS or k == "service")
    if unknown:
        raise InputError(f"unknown timeline field {unknown[0]!r}", field="question")
    snapshot = snapshot_for(cluster=cluster)
    if service not in snapshot.services:
        raise InputError(f"cluster {cluster.name} has no Service {service}", field="service")
    try:
        return timeline_json(snapshot, {**question, "service": service})
    except (TimelineError, ScenarioError) as error:
        raise InputError(" ".join(str(error).split()), field="question") from None


def saved_timeline_create(
    *, cluster: Cluster, name: str, service: str, question: dict[str, Any], user: Any = None
) -> SavedTimeline:
    """Save a timeline question to share; ``InputError`` if the name is taken or the
    question does not run on the cluster as it is now (it is run once to find out)."""
    question = {k: v for k, v in question.items() if v not in (None, "", {})}
    saved_timeline_run(cluster=cluster, service=service, question=question)
    return _save_named(
        SavedTimeline,
        "timeline",
        cluster=cluster,
        name=name,
        user=user,
        service=service,
        question=question,
    )


def saved_timeline_delete(*, saved: SavedTimeline) -> None:
    """Delete a saved timeline."""
    saved.delete()
