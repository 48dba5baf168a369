"""Reads that run the engine for the API and the pages: simulate, and a scenario's preview.

Nothing here writes: a simulation or a preview never changes cluster state (STYLE §5).
Both go through the one what-if door (``routing.whatif``): the API, the pages and the CLI
get the same numbers. Bad input raises :class:`InputError` naming the request field at
fault (``routing.whatif.errors``, the one translation of the engine's structured errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError, DumpTooLarge, read_value
from cluster.models import Cluster
from cluster.writer import check_objects
from routing.costs import cost_inputs
from routing.engine.costmodel import DEFAULT_COST_MODEL, CostModel
from routing.engine.errors import INVALID, EngineError
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.snapshot import Snapshot
from routing.snapshots import service_snapshot, snapshot_for_cluster
from routing.whatif.errors import CHANGES, InputError, request_error
from routing.whatif.preview import ServicePreview, ask, brief, preview
from routing.whatif.value import CHANGE_KEYS, WhatIf

__all__ = [
    "CHANGE_KEYS",
    "InputError",
    "diff_before",
    "drift_latest",
    "engine_scenario",
    "one_service_snapshot",
    "preview_services",
    "scenario_preview",
    "scenario_snapshot",
    "service_preview",
    "simulate_answer",
    "snapshot_for",
    "whatif_for",
]

#: Services a preview covers when the scenario touches the whole cluster (a proxy mode).
PREVIEW_SERVICES = 25
#: The part of an answer a preview shows beside the diff (kept under its old name).
diff_before = brief


def snapshot_for(
    *, cluster: Cluster | None = None, dump: Any = None, kube_version: str | None = None
) -> Snapshot:
    """The engine snapshot of a stored ``cluster`` (cached per revision) or of an inline
    ``dump`` (a kubectl List as parsed JSON). ``kube_version`` ("1.29") overrides the
    kube-proxy release (then a stored cluster's snapshot is built afresh)."""
    overrides = {"version": kube_version} if kube_version else {}
    try:
        if cluster is not None and not overrides:
            # Built once per cluster state under the state cache's build lock: concurrent
            # requests wait for the first instead of each loading the whole cluster.
            return snapshot_for_cluster(cluster=cluster)
        if cluster is not None:
            from cluster.selectors import cluster_objects

            return snapshot_from_objects(cluster_objects(cluster=cluster), **overrides)
        limits = dump_limits()
        # The request body is decoded already: read it as a dump file is read, bounds and all.
        objects = read_value(dump, limits=limits)
        if not objects:
            raise InputError("the dump holds no Kubernetes objects", field="cluster_dump")
        check_objects(objects, limits)  # the importer's one-line refusals, not an engine traceback
        return snapshot_from_objects(objects, **overrides)
    except EngineError as error:
        raise request_error(error) from None
    except DumpError as error:
        raise InputError(
            str(error),
            field="cluster_dump",
            code="too_large" if isinstance(error, DumpTooLarge) else INVALID,
        ) from None


def one_service_snapshot(
    *,
    cluster: Cluster,
    services: Iterable[str],
    changes: Mapping[str, Any] | None = None,
    sources: Iterable[str] = (),
    kube_version: str | None = None,
    with_pods: bool = True,
) -> Snapshot:
    """What a question about some of ``cluster``'s Services needs, without loading the
    whole cluster in this process (``routing.snapshots.service_snapshot``: the cached node
    table plus those Services' rows): simulate, the Service page, one-Service previews.
    ``sources``: the question's sources ("pod:NODE", "lb" …)."""
    overrides = {"version": kube_version} if kube_version else {}
    try:
        return service_snapshot(
            cluster=cluster,
            services=services,
            changes=changes,
            source_nodes=[node for _, _, node in (s.partition(":") for s in sources) if node],
            with_pods=with_pods,
            **overrides,
        )
    except EngineError as error:
        raise request_error(error) from None


def simulate_answer(
    *,
    snapshot: Snapshot,
    service: str,
    source: str,
    to: str | None = None,
    port: str | int | None = None,
    overrides: Mapping[str, Any] | None = None,
    proxy_mode: str | None = None,
    ipvs_scheduler: str | None = None,
    seed: int = 0,
    family: str | None = None,
    client_ip: str | None = None,
    via_node: str | None = None,
    model: CostModel = DEFAULT_COST_MODEL,
) -> dict[str, Any]:
    """The DESIGN.md simulate answer (``Answer.to_json()``), the same as the CLI prints,
    priced under ``model`` (a stored cluster's: ``routing.costs.cost_inputs``)."""
    try:
        whatif = WhatIf.for_service(
            service, overrides or {}, proxy_mode=proxy_mode, ipvs_scheduler=ipvs_scheduler
        )
        return ask(
            snapshot,
            whatif,
            service=service,
            source=source,
            to=to,
            port=port,
            seed=seed,
            family=family,
            client_ip=client_ip,
            via_node=via_node,
            model=model,
        )
    except EngineError as error:
        raise request_error(error) from None


# --- scenarios -------------------------------------------------------------------------


def whatif_for(changes: Mapping[str, Any]) -> WhatIf:
    """The parsed ``WhatIf`` of a stored scenario's ``changes``; ``InputError`` on
    ``changes.*`` when a key, field or value is not one the field table knows."""
    try:
        return WhatIf.from_changes(changes)
    except EngineError as error:
        raise request_error(error, context=CHANGES) from None


def engine_scenario(changes: Mapping[str, Any]) -> Scenario:
    """The engine ``Scenario`` for a stored scenario's ``changes`` JSON."""
    return whatif_for(changes).scenario()


def scenario_snapshot(*, snapshot: Snapshot, changes: Mapping[str, Any]) -> Snapshot:
    """``snapshot`` after the scenario; a bad change is an ``InputError`` on ``changes.*``."""
    try:
        return apply_scenario(snapshot, whatif_for(changes).scenario())
    except EngineError as error:
        raise request_error(error, context=CHANGES) from None


def preview_services(*, snapshot: Snapshot, changes: Mapping[str, Any]) -> list[str]:
    """The Services a scenario can change, most specific first (capped for cluster-wide
    changes such as a proxy mode, which touch every Service)."""
    keys = list((changes.get("services") or {}).keys())
    nodes = set(changes.get("nodes_down") or ()) | set(changes.get("nodes_drained") or ())
    pods = set(changes.get("endpoints_not_ready") or ()) | set(
        changes.get("endpoints_terminating") or ()
    )
    owners = set((changes.get("scale") or {}).keys())
    for key, ports in snapshot.endpoint_index.items():
        if key in keys:
            continue
        for ep in (ep for eps in ports.values() for ep in eps):
            touched = ep.node in nodes or ep.pod in pods or ep.ip in pods
            if touched or (owners and _owner(snapshot, ep) in owners):
                keys.append(key)
                break
    if (
        changes.get("proxy_mode")
        or changes.get("ipvs_scheduler")
        or changes.get("node_proxy_modes")
        or changes.get("node_ipvs_schedulers")
    ):
        keys.extend(
            k for k in sorted(snapshot.services) if k not in keys and snapshot.services[k].proxied
        )
    return keys[:PREVIEW_SERVICES]


def _owner(snapshot: Snapshot, ep: Any) -> str | None:
    """``namespace/name`` of the workload (e.g. Deployment) owning the endpoint's pod."""
    pod = snapshot.pods.get(ep.pod or "")
    if pod is None or not pod.owner:
        return None
    return f"{pod.namespace}/{pod.owner.split('/', 1)[-1]}"


def service_preview(
    *,
    snapshot: Snapshot,
    changes: Mapping[str, Any],
    service: str,
    port: str | None = None,
    model: CostModel = DEFAULT_COST_MODEL,
) -> ServicePreview:
    """One Service's before | after under ``changes`` (its ``port``, else its first): the
    what-if page's preview, the same computation as :func:`scenario_preview`'s."""
    whatif = whatif_for(changes)
    found = snapshot.services.get(service)
    ports = [port] if port else [p.name or str(p.port) for p in found.ports[:1]] if found else None
    try:
        return preview(snapshot, whatif, services=[service], ports=ports, model=model).services[0]
    except EngineError as error:
        raise request_error(error, context=CHANGES) from None


def scenario_preview(
    *,
    cluster: Cluster,
    changes: Mapping[str, Any],
    services: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Before/after answers and their diff for the Services and sources a scenario touches
    (``routing.whatif.preview``: every node, grouped by equivalence, weighted by node count).

    ``services`` / ``sources`` narrow the preview (default: :func:`preview_services` and
    every node). Every Service port is asked; a source with no way into a port (e.g.
    ``external:NODE`` for a port without a nodePort) is skipped.
    """
    if services:
        keys = list(services)
        before = one_service_snapshot(
            cluster=cluster, services=keys, changes=changes, sources=sources or ()
        )
    else:
        before = snapshot_for(cluster=cluster)
        keys = preview_services(snapshot=before, changes=changes)
    for key in keys:
        if key not in before.services:
            raise InputError(
                f"no Service {key} in cluster {cluster.name}", field="services", code="unknown"
            )
    whatif = whatif_for(changes)
    try:
        result = preview(
            before,
            whatif,
            services=keys,
            sources=list(sources) if sources else None,
            model=cost_inputs(cluster),
        )
    except EngineError as error:
        if error.field == "sources":
            raise InputError(error.message, field="sources", code=error.code) from None
        raise request_error(error, context=CHANGES) from None
    return {
        "cluster": cluster.name,
        "revision": cluster.revision,
        **result.to_json(),
        "changes": dict(changes),
    }


# Node agents' drift reports (appended section; the model has no import-time dependencies).
from routing.models import RulesDriftReport  # noqa: E402


def drift_latest(
    *, cluster: Cluster, node: str | None = None, in_sync: bool | None = None
) -> list[RulesDriftReport]:
    """The latest ``RulesDriftReport`` of each node of ``cluster`` (one query), by node
    name; ``node`` keeps one node's, ``in_sync`` only reports that are (or are not) in sync."""
    from django.db.models import OuterRef, Subquery

    newest = (
        RulesDriftReport.objects.filter(cluster=cluster, node=OuterRef("node"))
        .order_by("-checked_at", "-id")
        .values("pk")[:1]
    )
    reports = RulesDriftReport.objects.filter(cluster=cluster, pk=Subquery(newest))
    if node is not None:
        reports = reports.filter(node=node)
    if in_sync is not None:
        reports = reports.filter(in_sync=in_sync)
    return list(reports.order_by("node"))


def whatif_export(
    *, cluster: Cluster, changes: Mapping[str, Any], raws: Mapping[str, Any] | None = None
) -> Any:
    """The ``routing.whatif.export.Export`` of ``changes`` on ``cluster``, built from the
    Services as stored (works on imported clusters, with nothing applied); None when the
    what-if sets no Service field. ``raws``: the changed Services' raw objects by key, when
    the caller has read them already."""
    from cluster.models import Service
    from routing.whatif.export import export

    whatif = whatif_for(changes)
    keys = list(whatif.services)
    if not keys:
        return None
    if raws is None:
        names = {key.partition("/")[2] for key in keys}
        rows = Service.objects.filter(cluster=cluster, name__in=names).only(
            "namespace", "name", "raw"
        )
        raws = {f"{row.namespace}/{row.name}": row.raw for row in rows}
    found = {key: raws[key] for key in keys if key in raws}
    missing = [key for key in keys if key not in found]
    if missing:
        raise InputError(
            f"no Service {missing[0]} in cluster {cluster.name}",
            field="changes.services",
            code="unknown",
        )
    return export(whatif, found)


def scenario_export(*, scenario: Any, fmt: str) -> dict[str, Any]:
    """A saved what-if's Service patches in ``fmt`` (``routing.whatif.export``)."""
    from routing.whatif.export import Export

    found = whatif_export(cluster=scenario.cluster, changes=scenario.changes)
    if found is None:
        found = Export((), tuple(f"not a Service patch: {key}" for key in scenario.changes))
    return {"scenario": scenario.pk, "cluster": scenario.cluster.name, **found.to_json(fmt)}
