"""From a what-if to the exact patch an operator confirms, and the calls that act on it.

Writes go through the routing app's services: ``scenario_create`` saves a scenario,
``scenario_apply`` starts the apply job(s). This module only shows exactly what would be
patched and says why Apply is not available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.models import Cluster, KubeProxyConfig, Service
from core.permissions import user_can_operate
from jobs.models import Job
from routing.engine.whatif_fields import BY_NAME, WhatIfField
from routing.models import Scenario
from routing.services import scenario_apply, scenario_create


def current_value(spec: WhatIfField, raw: dict[str, Any]) -> str:
    """A Service object's value of a what-if field as text ("" = unset), read at the
    field table's path, the Kubernetes default standing in for an omitted field."""
    value: Any = raw
    for key in spec.path:
        value = value.get(key) if isinstance(value, dict) else None
    if value in (None, "") and spec.default is not None:
        value = spec.default
    return "" if value is None else str(value)


#: Parts of a what-if that cannot be patched into a live cluster (routing.services.WHAT_IF_ONLY).
SIMULATION_ONLY = {
    "nodes_down": "nodes taken down",
    "nodes_cordoned": "nodes cordoned",
    "nodes_drained": "nodes drained",
    "scale": "workloads scaled",
    "endpoints_not_ready": "endpoints made not-ready",
    "endpoints_terminating": "endpoints terminating",
    "node_proxy_modes": "per-node proxy modes",
    "node_ipvs_schedulers": "per-node IPVS schedulers",
}


@dataclass
class FieldChange:
    """One field as it is and as the scenario sets it ("" = unset)."""

    field: str
    before: str
    after: str


@dataclass
class ServicePatch:
    """One Service's fields as they are and as the scenario sets them."""

    namespace: str
    name: str
    resource_version: str
    fields: list[FieldChange]


@dataclass
class Patch:
    """The whole patch: Service changes to send, and what stays a simulation."""

    services: list[ServicePatch] = field(default_factory=list)
    #: kube-proxy ConfigMap changes (field, before, after): kube-proxy restarts on every node.
    proxy: list[FieldChange] = field(default_factory=list)
    simulation_only: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing would be sent to the API server."""
        return not self.services and not self.proxy


def changed_services(*, cluster: Cluster, changes: dict[str, Any]) -> dict[str, Service]:
    """The stored rows (namespace, name, raw) of the Services ``changes`` sets, by key."""
    keys = [tuple(key.split("/", 1)) for key in changes.get("services") or {} if "/" in key]
    if not keys:
        return {}
    return {
        f"{s.namespace}/{s.name}": s
        for s in Service.objects.filter(
            cluster=cluster, namespace__in=[k[0] for k in keys], name__in=[k[1] for k in keys]
        ).only("namespace", "name", "raw")
    }


def service_patch(
    *, cluster: Cluster, changes: dict[str, Any], rows: dict[str, Service] | None = None
) -> Patch:
    """What applying ``changes`` would send to the API server, field by field (``rows``: the
    changed Services' rows when the caller has them, see :func:`changed_services`)."""
    patch = Patch()
    wanted = changes.get("services") or {}
    if rows is None:
        rows = changed_services(cluster=cluster, changes=changes)
    for key, fields in wanted.items():
        row = rows.get(key)
        if row is None:
            continue
        diffs = []
        for name, value in fields.items():
            spec = BY_NAME[name]
            before = current_value(spec, row.raw)
            after = "" if value is None else str(value)
            if (after or str(spec.default or "")) != before:
                diffs.append(FieldChange(name, before, after))
        if diffs:
            rv = (row.raw.get("metadata") or {}).get("resourceVersion", "")
            patch.services.append(ServicePatch(row.namespace, row.name, str(rv), diffs))
    config = KubeProxyConfig.objects.filter(cluster=cluster).first()
    mode_now = (config.mode if config else "") or "iptables"
    scheduler_now = (config.ipvs_scheduler if config else "") or "rr"
    if changes.get("proxy_mode") and changes["proxy_mode"] != mode_now:
        patch.proxy.append(FieldChange("mode", mode_now, changes["proxy_mode"]))
    if changes.get("ipvs_scheduler") and changes["ipvs_scheduler"] != scheduler_now:
        patch.proxy.append(FieldChange("ipvs.scheduler", scheduler_now, changes["ipvs_scheduler"]))
    for name, label in SIMULATION_ONLY.items():
        if changes.get(name):
            patch.simulation_only.append(label)
    return patch


def apply_blocker(
    user: Any, cluster: Cluster, scenario: Scenario | None, patch: Patch | None
) -> str:
    """Why Apply is unavailable ("" when it is available)."""
    if not user_can_operate(user):
        return (
            "log in as an operator to apply"
            if not user.is_authenticated
            else "applying needs the operate-cluster permission"
        )
    if scenario is None:
        return "save the what-if as a scenario first (applies are audited per scenario)"
    if patch is None:
        return "nothing to patch"
    if patch.simulation_only:
        return (
            f"{', '.join(patch.simulation_only)}: what-if only, cannot be applied to a live cluster"
        )
    if patch.empty:
        return "nothing to patch: the scenario changes no Service field or kube-proxy setting"
    if not (cluster.kubeconfig_path or cluster.in_cluster):
        return f"cluster {cluster.name} is not connected to a live API server (imported state)"
    return ""


def save_scenario(
    *, cluster: Cluster, user: Any, name: str, description: str, changes: dict[str, Any]
) -> Scenario:
    """Store the scenario through the routing app's service (``InputError`` when refused)."""
    return scenario_create(
        cluster=cluster, name=name, description=description, changes=changes, user=user
    )


def start_apply(*, scenario: Scenario, user: Any, confirm_restart: bool) -> list[Job]:
    """Queue the apply job(s) for the scenario through ``routing.services.scenario_apply``."""
    return scenario_apply(scenario=scenario, user=user, confirm_restart=confirm_restart)
