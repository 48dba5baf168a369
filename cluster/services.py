"""Writes to cluster state: import a dump, replace a cluster's objects.

Every write happens in one transaction (a bad object changes nothing) and bumps the
cluster's ``revision``. Objects are parsed and checked first, outside the transaction, so
the database is locked only while rows are written.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.db import models, transaction

from cluster.bulk import insert_rows

from cluster.fields import ObjectError
from cluster.models import (
    Cluster,
    ClusterSource,
    Endpoint,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    Pod,
    Service,
)
from cluster.parsing import (
    identify,
    node_overrides,
    parse_kube_proxy_config,
    parse_node,
    parse_pod,
    parse_service,
)
from cluster.slice_parsing import parse_slice

#: The kinds stored, with the API groups read for each.
KNOWN = {
    "Node": ("v1",),
    "Service": ("v1",),
    "Pod": ("v1",),
    "EndpointSlice": ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"),
    "ConfigMap": ("v1",),
}
KUBE_PROXY_CONFIGMAP = ("kube-system", "kube-proxy")
#: Cluster names appear in URLs (/clusters/<name>/): no slashes, spaces or other oddities.
CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
#: At most this many flagged slices are named in the stored summary (all are counted).
FLAGGED_KEPT = 200


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored: rows per kind, skipped objects per kind, flagged slices."""

    cluster: str
    revision: int
    counts: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    flagged_slices: tuple[str, ...] = ()
    #: Objects a later YAML document of the same stream replaced (see ``read_dump``).
    replaced: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored on the cluster, returned by the API)."""
        return {
            "cluster": self.cluster,
            "revision": self.revision,
            "counts": self.counts,
            "skipped": self.skipped,
            "flagged_slices": list(self.flagged_slices[:FLAGGED_KEPT]),
            "flagged_slice_count": len(self.flagged_slices),
            "replaced": list(self.replaced[:FLAGGED_KEPT]),
        }

    def lines(self) -> list[str]:
        """The summary as short human-readable lines (what ``import_cluster`` prints)."""
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items())
        out = [f"Imported cluster {self.cluster!r} (revision {self.revision}): {counts}"]
        if self.skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            out.append(f"Skipped (not used by Routescope): {kinds}")
        for flagged in self.flagged_slices[:20]:
            out.append(f"Flagged EndpointSlice {flagged}")
        if len(self.flagged_slices) > 20:
            out.append(f"... and {len(self.flagged_slices) - 20} more flagged EndpointSlices")
        if self.replaced:
            out.append(
                f"Replaced by a later document with the same name: {', '.join(self.replaced[:20])}"
                + (f" and {len(self.replaced) - 20} more" if len(self.replaced) > 20 else "")
            )
        return out


@dataclass
class _Plan:
    """Parsed row values of one dump, ready to write."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    slices: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    proxy: dict[str, Any] | None = None
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)


def cluster_import(
    *,
    name: str,
    objects: list[dict[str, Any]],
    source: str = ClusterSource.IMPORTED,
    replaced: tuple[str, ...] = (),
) -> ImportSummary:
    """Store ``objects`` (from :func:`cluster.kube_dump.read_objects`) as cluster ``name``.

    Creates the cluster, or replaces all of an existing cluster's objects, in one
    transaction. Raises :class:`cluster.fields.ObjectError` (a ``DumpError``) on a bad
    object, leaving the database unchanged. ``replaced`` (from ``read_dump``) is only
    reported in the summary.
    """
    if not CLUSTER_NAME.fullmatch(name or ""):
        raise ObjectError(
            f"cluster name {name!r} must be 1-253 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    if source not in ClusterSource.values:
        raise ObjectError(f"source {source!r} is not one of {', '.join(ClusterSource.values)}")
    plan = _plan(objects)
    with transaction.atomic():
        cluster, _ = Cluster.objects.select_for_update().get_or_create(
            name=name, defaults={"source": source}
        )
        cluster.source = source
        return _write(cluster, plan, replaced=replaced)


def cluster_replace_state(*, cluster: Cluster, objects: list[dict[str, Any]]) -> ImportSummary:
    """Replace every object of ``cluster`` with ``objects``, atomically; bumps the revision."""
    plan = _plan(objects)
    with transaction.atomic():
        locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
        summary = _write(locked, plan)
    cluster.revision, cluster.import_summary = locked.revision, locked.import_summary
    return summary


def _plan(objects: Iterable[dict[str, Any]]) -> _Plan:
    plan, seen = _Plan(), {}
    for index, obj in enumerate(objects):
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind not in KNOWN or api_version not in KNOWN[kind]:
            plan.skipped[kind if kind not in KNOWN else f"{kind} ({api_version})"] += 1
            continue
        namespace, name, reader = identify(obj, index=index, namespaced=kind != "Node")
        if kind == "ConfigMap" and (namespace, name) != KUBE_PROXY_CONFIGMAP:
            plan.skipped["ConfigMap"] += 1
            continue
        key = (kind, namespace, name)
        if key in seen:
            raise ObjectError(
                f"duplicate {reader.label}: objects {seen[key] + 1} and {index + 1} have the same name"
            )
        seen[key] = index
        _add(plan, kind, obj, reader, namespace, name)
    return plan


def _add(plan: _Plan, kind: str, obj: dict, reader: Any, namespace: str, name: str) -> None:
    if kind == "Node":
        plan.nodes.append(parse_node(obj, reader, name))
        override = node_overrides(obj, reader)
        if override:
            plan.overrides[name] = override
    elif kind == "Service":
        plan.services.append(parse_service(obj, reader, namespace, name))
    elif kind == "EndpointSlice":
        plan.slices.append(parse_slice(obj, reader, namespace, name))
    elif kind == "Pod":
        plan.pods.append(parse_pod(obj, reader, namespace, name))
    else:
        plan.proxy = parse_kube_proxy_config(obj, reader)


def _clear(cluster: Cluster) -> None:
    # Children before parents, each as one DELETE statement: the ORM's cascade collector
    # would load every row of a 150,000-pod cluster into memory first.
    for model in (Endpoint, EndpointSlice, Pod, Service, Node, KubeProxyConfig):
        model.objects.filter(cluster=cluster)._raw_delete(model.objects.db)


def _label(kind: str) -> Any:
    return lambda row: f"{kind} {row['namespace'] + '/' if row.get('namespace') else ''}{row['name']}"


def _ids(queryset: models.QuerySet, *keys: str) -> dict[Any, int]:
    if len(keys) == 1:
        return dict(queryset.values_list(keys[0], "id"))
    return {tuple(row[:-1]): row[-1] for row in queryset.values_list(*keys, "id")}


def _write(cluster: Cluster, plan: _Plan, *, replaced: tuple[str, ...] = ()) -> ImportSummary:
    if cluster.pk is None:
        cluster.save()
    _clear(cluster)
    fixed = {"cluster_id": cluster.pk}
    insert_rows(Node, plan.nodes, fixed=fixed, label=_label("Node"))
    nodes = _ids(Node.objects.filter(cluster=cluster), "name")
    insert_rows(Service, plan.services, fixed=fixed, label=_label("Service"))
    services = _ids(Service.objects.filter(cluster=cluster), "namespace", "name")
    flagged, endpoint_count = _write_slices(cluster, plan.slices, services)
    for row in plan.pods:
        row["node_id"] = nodes.get(row["node_name"])
    insert_rows(Pod, plan.pods, fixed=fixed, label=_label("Pod"))
    proxy = plan.proxy or {"mode": "iptables", "ipvs_scheduler": "rr", "raw": None}
    KubeProxyConfig.objects.create(cluster=cluster, node_overrides=plan.overrides, **proxy)
    counts = {
        "Node": len(plan.nodes),
        "Service": len(plan.services),
        "EndpointSlice": len(plan.slices),
        "Endpoint": endpoint_count,
        "Pod": len(plan.pods),
        "ConfigMap": int(plan.proxy is not None),
    }
    cluster.revision += 1
    summary = ImportSummary(
        cluster=cluster.name,
        revision=cluster.revision,
        counts=counts,
        skipped=dict(plan.skipped),
        flagged_slices=tuple(flagged),
        replaced=tuple(replaced),
    )
    cluster.import_summary = summary.to_json()
    cluster.save()
    return summary


def _write_slices(
    cluster: Cluster,
    slices: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    services: dict[tuple[str, str], int],
) -> tuple[list[str], int]:
    """Write slices then their endpoints; return the flagged slices and the endpoint count."""
    flagged: list[str] = []
    for row, _ in slices:
        row["service_id"] = services.get((row["namespace"], row["service_name"]))
        row["service_missing"] = row["service_id"] is None
        if row["service_missing"]:
            why = (
                f"Service {row['namespace']}/{row['service_name']} not found"
                if row["service_name"]
                else "no kubernetes.io/service-name label"
            )
            flagged.append(f"{row['namespace']}/{row['name']} ({why})")
    fixed = {"cluster_id": cluster.pk}
    insert_rows(EndpointSlice, (row for row, _ in slices), fixed=fixed, label=_label("EndpointSlice"))
    stored = _ids(EndpointSlice.objects.filter(cluster=cluster), "namespace", "name")

    def endpoints() -> Iterable[dict[str, Any]]:
        for row, entries in slices:
            slice_id = stored[(row["namespace"], row["name"])]
            for entry in entries:
                entry["slice_id"], entry["service_id"] = slice_id, row["service_id"]
                entry["_slice"] = row
                yield entry

    def label(entry: dict[str, Any]) -> str:
        row = entry["_slice"]
        return f"EndpointSlice {row['namespace']}/{row['name']}: endpoints[{entry['position']}]"

    count = insert_rows(Endpoint, endpoints(), fixed=fixed, label=label)
    return flagged, count
