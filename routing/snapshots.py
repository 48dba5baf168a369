"""Django side of the engine: the snapshot of a stored cluster, cached per state.

The snapshot lives in the one state cache (``routing.cache``): this process's memory, then
a pickle on disk shared by every process, so only the first process after an import or
sync pays the full rebuild from the database rows. A watch batch advances a cached
snapshot incrementally (``snapshot_advance``) instead.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Concat

from cluster.fastjson import loads
from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.selectors import cluster_objects
from routing.cache import StateKey, pickle_path, state_cache
from routing.engine.analysis import ServiceTotals
from routing.engine.incremental import DERIVED_NOTES, NeedsFullRebuild, snapshot_with_changes
from routing.engine.kube import (
    PROXY_NAME_LABEL,
    SnapshotError,
    shared_by_every_service,
    snapshot_from_objects,
)
from routing.engine.kube_pods import pod_from_object
from routing.engine.rules.cache import RenderCache
from routing.engine.snapshot import Snapshot

logger = logging.getLogger(__name__)

KIND = "snapshot"
RENDER_KIND = "render"
NODES_KIND = "nodes"
PLAN_KIND = "plan"

#: What-if parts that move pods between nodes: their new pods' addresses depend on every
#: pod of the cluster (``routing.engine.scaling``), so only the whole snapshot answers them.
WHOLE_CLUSTER_CHANGES = ("nodes_drained", "scale", "rollouts")


def snapshot_for_cluster(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` at its current state (built once per state)."""
    return state_cache.get_or_build(
        cluster.state_key,
        KIND,
        lambda: snapshot_from_objects(cluster_objects(cluster=cluster)),
        persisted=Snapshot,
    )


#: One-service snapshots kept per process (least recently used out): a few KB each beside
#: the node table they share, and a repeated question then costs no query. Only those of
#: the states whose node table the process keeps (``node_tables_keep``): the others would
#: hold on to their evicted node tables.
PARTS_KEEP = 512
_PARTS: OrderedDict[tuple, Snapshot] = OrderedDict()
_PARTS_GUARD = threading.Lock()
#: ``state_cache.changes`` at the last prune (``_parts_prune``)
_PARTS_SEEN = -1


def node_objects(*, cluster: Cluster) -> list[dict]:
    """What every Service's answer shares: the Nodes, the kube-proxy ConfigMaps and the
    kube-system Pods (a node's own kube-proxy Pod may carry its configuration)."""
    objects: list[dict] = list(
        Node.objects.filter(cluster=cluster).order_by("pk").values_list("raw", flat=True)
    )
    objects += (
        Pod.objects.filter(cluster=cluster, namespace="kube-system")
        .order_by("pk")
        .values_list("raw", flat=True)
    )
    proxy = (
        KubeProxyConfig.objects.filter(cluster=cluster)
        .values_list("raw", "extra_config_maps")
        .first()
    )
    if proxy is not None:
        raw, extra = proxy
        objects += ([raw] if raw is not None else []) + list(extra)
    return objects


def node_table(*, cluster: Cluster, **overrides: object) -> Snapshot:
    """The node table of ``cluster`` built from its rows (see :func:`node_table_for_cluster`).
    Built without Services or EndpointSlices, the adapter would note endpoints derived from
    the kube-system Pods: that note is not the cluster's (the one-service path falls back
    to the whole snapshot for clusters stored without EndpointSlices)."""
    table = snapshot_from_objects(node_objects(cluster=cluster), **overrides)
    return table.evolve(notes=tuple(n for n in table.notes if not n.startswith(DERIVED_NOTES)))


def node_table_for_cluster(*, cluster: Cluster) -> Snapshot:
    """``cluster``'s nodes and per-node kube-proxy configuration at its current state: a
    snapshot without Services (a few MB for 5,000 nodes), cached and pickled per state like
    the whole snapshot. The one-service path (:func:`service_snapshot`) lays one Service's
    objects over it. A process keeps the node tables of ``node_tables_keep()`` states
    (least recently used out; an evicted one is loaded again from its pickle)."""
    return state_cache.get_or_build(
        cluster.state_key,
        NODES_KIND,
        lambda: node_table(cluster=cluster),
        persisted=Snapshot,
        keep=node_tables_keep(),
    )


def node_tables_keep() -> int:
    """How many cluster states' node tables a process keeps: ``ROUTESCOPE_NODE_TABLES_KEEP``
    (at least 1)."""
    return max(1, int(getattr(settings, "ROUTESCOPE_NODE_TABLES_KEEP", 2)))


def _parts_prune() -> None:
    """Drop the one-service snapshots of states whose node table was evicted (each holds
    its node table). Only when the state cache changed since the last pass: until a node
    table is put or evicted there is nothing to drop, and the pass walks up to
    ``PARTS_KEEP`` keys on every one-service question."""
    global _PARTS_SEEN
    with _PARTS_GUARD:
        if state_cache.changes == _PARTS_SEEN:
            return
        _PARTS_SEEN = state_cache.changes
        live = state_cache.keys_holding(NODES_KIND)
        for part_key in [k for k in _PARTS if k[0] not in live]:
            del _PARTS[part_key]


def service_snapshot(
    *,
    cluster: Cluster,
    services: Iterable[str],
    changes: Mapping[str, Any] | None = None,
    source_nodes: Iterable[str] = (),
    with_pods: bool = True,
    **overrides: object,
) -> Snapshot:
    """The snapshot a question about ``services`` ("namespace/name") needs, without the
    rest of the cluster: the node table (:func:`node_table_for_cluster`), those Services,
    their EndpointSlices and the Pods behind them, read by index. Every answer about these
    Services — simulate from any source, their preview under a what-if that sets Service
    fields, a proxy mode or scheduler, nodes down or cordoned, endpoints not ready or
    terminating — is the one the whole snapshot gives (``routing/tests/test_one_service.py``).

    Falls back to the whole snapshot (:func:`snapshot_for_cluster`) where one Service's
    rows cannot give the same answer: a what-if in ``WHOLE_CLUSTER_CHANGES`` (new pods take
    addresses no other pod uses), a cluster stored without EndpointSlices (endpoints are
    derived from every Pod), or a source node that is no Node but hosts some endpoint
    (simulate accepts such a name only because of the other Services' endpoints).
    ``overrides``: ``snapshot_from_objects``'s (``version``), applied to the node table.
    ``with_pods=False`` skips the Pods (one query and their raw objects): simulate and the
    preview never read ``Snapshot.pods``; only the what-ifs that move pods do.
    """
    keys = sorted(set(services) | set((changes or {}).get("services") or {}))
    base = (
        node_table(cluster=cluster, **overrides)
        if overrides
        else node_table_for_cluster(cluster=cluster)
    )
    strays = [n for n in source_nodes if base.nodes and n not in base.nodes]

    def whole() -> Snapshot:
        if overrides:
            return snapshot_from_objects(cluster_objects(cluster=cluster), **overrides)
        return snapshot_for_cluster(cluster=cluster)

    if any((changes or {}).get(part) not in (None, [], {}) for part in WHOLE_CLUSTER_CHANGES) or (
        strays and Endpoint.objects.filter(cluster=cluster, node_name__in=strays).exists()
    ):
        return whole()
    part_key = (cluster.state_key, tuple(keys), with_pods)
    if not overrides:
        _parts_prune()
        with _PARTS_GUARD:
            cached = _PARTS.get(part_key)
            if cached is not None and cached.nodes is base.nodes:  # laid over this table
                _PARTS.move_to_end(part_key)
                return cached
    objects, slices = _service_rows(cluster=cluster, keys=keys)
    if not slices and not EndpointSlice.objects.filter(cluster=cluster).exists():
        return whole()
    part = snapshot_from_objects(objects + slices)
    pod_keys = {
        ep.pod
        for index in (part.endpoint_index, part.family_endpoints)
        for ports in index.values()
        for eps in ports.values()
        for ep in eps
        if ep.pod
    }
    pods: dict[str, Any] = {}
    if pod_keys and with_pods:
        namespaces, names = zip(*(key.split("/", 1) for key in pod_keys), strict=True)
        raws = Pod.objects.filter(
            cluster=cluster, namespace__in=set(namespaces), name__in=set(names)
        ).values_list("raw", flat=True)
        pods = {p.key: p for p in map(pod_from_object, raws) if p.key in pod_keys}
    found = base.with_services_of(part, pods=pods)
    if not overrides:
        with _PARTS_GUARD:
            _PARTS[part_key] = found
            while len(_PARTS) > PARTS_KEEP:
                _PARTS.popitem(last=False)
    return found


#: Up to this many Services are read by an OR of (namespace, name) pairs (each by index);
#: more by their "namespace/name" text, in chunks (one scan of the cluster's rows each).
_FEW_KEYS = 64
_KEYS_CHUNK = 5000


def _rows_named(
    rows: QuerySet, keys: list[str], name_field: str, fields: tuple[str, ...]
) -> list[tuple]:
    """``fields`` of the ``rows`` whose (namespace, ``name_field``) is one of ``keys``
    ("namespace/name"), in pk order."""
    if not keys:
        return []
    if len(keys) <= _FEW_KEYS:
        wanted = Q(pk__in=[])
        for key in keys:
            namespace, _, name = key.partition("/")
            wanted |= Q(namespace=namespace, **{name_field: name})
        return list(rows.filter(wanted).order_by("pk").values_list("pk", *fields))
    named = rows.annotate(
        _key=Concat("namespace", Value("/"), name_field, output_field=CharField())
    )
    found: list[tuple] = []
    for start in range(0, len(keys), _KEYS_CHUNK):
        chunk = keys[start : start + _KEYS_CHUNK]
        found += named.filter(_key__in=chunk).values_list("pk", *fields)
    found.sort(key=lambda row: row[0])
    return found


def _service_rows(*, cluster: Cluster, keys: list[str]) -> tuple[list[dict], list[dict]]:
    """The raw Services ``keys`` and their EndpointSlices: one query per table (by chunks
    of keys), the slices in pk order as the whole build reads them (the order settles
    duplicate endpoints). Each ``raw`` is read as its JSON text and decoded by
    :func:`raw_decode`."""
    services = _rows_named(
        Service.objects.filter(cluster=cluster).annotate(_raw=Cast("raw", TextField())),
        keys,
        "name",
        ("_raw",),
    )
    slices = _rows_named(
        EndpointSlice.objects.filter(cluster=cluster).annotate(_raw=Cast("raw", TextField())),
        keys,
        "service_name",
        ("_raw",),
    )
    return [raw_decode(raw) for _, raw in services], [raw_decode(raw) for _, raw in slices]


def raw_decode(text: str) -> Any:
    """A ``raw`` column's JSON text as Django's ``JSONField`` reads it (``json.loads``; the
    text itself when it is no JSON), decoded by msgspec: half the CPU time for an
    analysis shard's 36 MB of EndpointSlices (0.15 s against 0.30 with the cyclic GC
    off, the shards' case). What msgspec refuses and ``json`` reads (NaN, infinities,
    numbers past a float, lone surrogate escapes) takes ``json``; where both read a text
    they agree (``routing/tests/test_analysis_shard_rows.py``): ``cluster.fastjson.loads``."""
    try:
        return loads(text)
    except json.JSONDecodeError:
        return text


#: A Service's weight in an analysis shard beside one per endpoint: a shard reads its
#: rows, builds and analyses them, its cyclic GC paused, in ~0.16 ms per Service and
#: ~0.0066 ms per endpoint (least squares over 48 shards of the generated 5,000-node
#: cluster). The file mode's forked analysis, which only analyses, weighs a Service as
#: ``SERVICE_WEIGHT`` endpoints.
PLAN_SERVICE_WEIGHT = 24


@dataclass(frozen=True)
class ServicePlan:
    """What splitting a cluster's analysis into shards needs, read from indexed columns
    without building any Service: every Service key, its weight (``PLAN_SERVICE_WEIGHT`` +
    its endpoints: the shard's cost) and the cluster's ``ServiceTotals``."""

    keys: list[str]
    weights: dict[str, int]
    totals: ServiceTotals


def service_plan(*, cluster: Cluster) -> ServicePlan:
    """``cluster``'s :class:`ServicePlan` at its current state: read from the rows once
    (two queries, :func:`service_plan_rows`) and kept in the state cache like the node
    table; shards starting together wait for the first one's read (under the build lock)
    rather than repeat its queries: on a busy box the same wait, less work."""
    return state_cache.get_or_build(
        cluster.state_key,
        PLAN_KIND,
        lambda: service_plan_rows(cluster=cluster),
        persisted=ServicePlan,
    )


def service_plan_rows(*, cluster: Cluster) -> ServicePlan:
    """``cluster``'s :class:`ServicePlan` read from its rows (two queries). The totals are
    the adapter's (``ServiceTotals.of`` over the whole snapshot) read from the Service
    columns: a
    dual-stack proxied Service is neither ExternalName, nor headless (``clusterIPs``
    empty or "None"), nor labelled for another proxy, and has ClusterIPs of both
    families."""
    keys: list[str] = []
    dual: list[str] = []
    key_of: dict[int, str] = {}
    rows = (
        Service.objects.filter(cluster=cluster)
        .annotate(_other=Q(labels__has_key=PROXY_NAME_LABEL))
        .values_list("pk", "namespace", "name", "type", "cluster_ips", "_other")
    )
    for pk, namespace, name, kind, ips, other in rows:
        key = f"{namespace}/{name}"
        keys.append(key)
        key_of[pk] = key
        ips = [str(ip) for ip in ips or ()]
        if kind == "ExternalName" or other or not ips or ips[0] in ("None", ""):
            continue
        if len({":" in ip for ip in ips}) > 1:
            dual.append(key)
    weights = dict.fromkeys(keys, PLAN_SERVICE_WEIGHT)
    # By the endpoints' own Service link (kept with their slice's: cluster.watch_events),
    # not a join with the slices by name: a quarter of the server's time (60 vs 250 ms for
    # 150,000 endpoints), and the plan is the serial start of every analysis.
    counted = (
        Endpoint.objects.filter(cluster=cluster, service__isnull=False)
        .values_list("service_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for service_id, count in counted:
        named = key_of.get(service_id)
        if named is not None:
            weights[named] += count
    return ServicePlan(keys, weights, ServiceTotals(len(keys), len(dual), min(dual, default="")))


def services_snapshot(*, cluster: Cluster, keys: Collection[str]) -> Snapshot:
    """The snapshot an analysis shard of the Services ``keys`` needs: the node table
    (:func:`node_table_for_cluster`, nodes and every node's kube-proxy configuration)
    and those Services and their EndpointSlices, one query per table; no Pod (the
    analysis reads none). ``analyze(..., totals=service_plan(...).totals)`` over it gives
    those Services' rows and findings exactly as the whole snapshot does
    (``routing/tests/test_analysis_shard_rows.py``). A cluster stored without
    EndpointSlices (endpoints derived from every Pod) gets the whole snapshot."""
    if not EndpointSlice.objects.filter(cluster=cluster).exists():
        return snapshot_for_cluster(cluster=cluster)
    objects, slices = _service_rows(cluster=cluster, keys=sorted(set(keys)))
    part = snapshot_from_objects(objects + slices)
    return node_table_for_cluster(cluster=cluster).with_services_of(part, pods={})


def render_cache_for(*, cluster: Cluster) -> RenderCache:
    """The rule-render cache (``routing.engine.rules.RenderCache``) of ``cluster``'s current
    state: rendering a node reuses the blocks earlier renders of the same snapshot (or of
    what-ifs built on it, which share its endpoint objects) formatted. Pass it to
    ``render_node_rules`` and ``diff_rules`` with that state's snapshot; the engine keeps
    none itself."""
    return state_cache.get_or_build(cluster.state_key, RENDER_KIND, RenderCache)


def snapshot_advance(
    *,
    cluster: Cluster,
    previous_key: StateKey,
    upserts: Iterable[dict],
    deletes: Iterable[tuple[str, str, str]],
    touched_services: Iterable[str] = (),
) -> Snapshot | None:
    """After a watch batch moved ``cluster`` from ``previous_key`` to its current state,
    cache the previous snapshot updated with the batch's changes under the new key (and
    pickle it for the other processes when the watch is next idle).

    Returns the new snapshot, or None when the previous one is not in memory or the
    changes need a full rebuild (cluster-wide kube-proxy settings); the next reader
    then rebuilds as usual. ``cluster`` must carry the new revision; ``touched_services``
    names the owners of deleted EndpointSlices ("namespace/name").
    """
    previous = state_cache.get(previous_key, KIND)
    if previous is None:
        return None

    def service_slices(namespace: str, service: str) -> list:
        return list(
            EndpointSlice.objects.filter(
                cluster=cluster,
                namespace=namespace,
                service_name=service,
            )
            .order_by("pk")
            .values_list("raw", flat=True)
        )

    try:
        snapshot = snapshot_with_changes(
            previous,
            upserts=upserts,
            deletes=deletes,
            service_slices=service_slices,
            touched_services=touched_services,
        )
    except (NeedsFullRebuild, SnapshotError) as why:
        logger.info("cluster %s: snapshot rebuilt in full on next read: %s", cluster.name, why)
        return None
    state_cache.put(cluster.state_key, KIND, snapshot, later=True)
    return snapshot


def node_table_advance(
    *,
    cluster: Cluster,
    previous_key: StateKey,
    upserts: Iterable[dict],
    deletes: Iterable[tuple[str, str, str]],
) -> Snapshot | None:
    """After a watch batch moved ``cluster`` from ``previous_key`` to its current state,
    carry the previous state's node table over to the new state when the batch touched
    nothing it is built from (pickled when the watch is next idle, for the analysis'
    shard workers and the one-service path), so it is not rebuilt from every Node row per
    revision. None when the batch touched it or the previous table is nowhere (the next
    reader builds it)."""
    touched = any(
        shared_by_every_service(
            str(obj.get("kind", "")), str((obj.get("metadata") or {}).get("namespace") or "")
        )
        for obj in upserts
    ) or any(shared_by_every_service(kind, namespace) for kind, namespace, _ in deletes)
    if touched:
        return None
    table = state_cache.find(previous_key, NODES_KIND, persisted=Snapshot)
    if table is None:
        return None
    state_cache.put(cluster.state_key, NODES_KIND, table, later=True)
    return table


def snapshot_on_state_advanced(
    sender: object,
    *,
    cluster: Cluster,
    previous_key: StateKey,
    upserts: Iterable[dict],
    deletes: Iterable[tuple[str, str, str]],
    touched_services: Iterable[str] = (),
    **_: object,
) -> None:
    """Receiver of ``cluster.signals.state_advanced`` (connected in ``RoutingConfig.ready``)."""
    node_table_advance(cluster=cluster, previous_key=previous_key, upserts=upserts, deletes=deletes)
    snapshot_advance(
        cluster=cluster,
        previous_key=previous_key,
        upserts=upserts,
        deletes=deletes,
        touched_services=touched_services,
    )


def snapshot_on_watch_idle(sender: object, **_: object) -> None:
    """Receiver of ``cluster.signals.watch_idle``, before the analysis is requested: pickle
    what the analysis' shards read (the carried node tables, a few MB), not the whole
    snapshot (``snapshot_on_watch_idle_late``)."""
    state_cache.flush(skip={KIND})


def snapshot_on_watch_idle_late(sender: object, **_: object) -> None:
    """Receiver of ``cluster.signals.watch_idle``, after the analysis is requested: pickle
    the newest advanced whole snapshots, for the other processes' whole-cluster pages
    (2.4-6.6 s of CPU for 5,000 nodes). With workers (a broker) the shards run now, so a
    forked child writes it at the lowest CPU priority and this process goes on; without,
    here and now."""
    state_cache.flush(kinds={KIND}, background=not settings.CELERY_TASK_ALWAYS_EAGER)


def snapshot_path(key: StateKey) -> Path:
    """Where the pickle of the snapshot at ``key`` lives."""
    return pickle_path(key, KIND)


def snapshot_cache_clear() -> None:
    """Forget every cached snapshot, in this process and on disk (tests, or after bulk
    deletes)."""
    state_cache.forget(kind=KIND, disk=True)
    state_cache.forget(kind=NODES_KIND, disk=True)
    state_cache.forget(kind=PLAN_KIND, disk=True)
    with _PARTS_GUARD:
        _PARTS.clear()
    state_cache.forget(kind=RENDER_KIND)


__all__: list[str] = [
    "ServicePlan",
    "node_table_advance",
    "node_table_for_cluster",
    "render_cache_for",
    "service_plan",
    "service_plan_rows",
    "service_snapshot",
    "services_snapshot",
    "snapshot_advance",
    "snapshot_cache_clear",
    "snapshot_for_cluster",
    "snapshot_on_state_advanced",
    "snapshot_on_watch_idle",
    "snapshot_on_watch_idle_late",
    "snapshot_path",
]
