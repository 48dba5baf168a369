"""Writes to cluster state: import a dump, replace a cluster's objects.

Every write happens in one transaction (a bad object changes nothing) and bumps the
cluster's ``revision``. Objects are parsed and checked first, outside the transaction, so
the database is locked only while rows are written.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.db import models, transaction

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

BATCH_SIZE = 2000
#: The kinds stored, with the API groups read for each.
KNOWN = {
    "Node": ("v1",),
    "Service": ("v1",),
    "Pod": ("v1",),
    "EndpointSlice": ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"),
    "ConfigMap": ("v1",),
}
KUBE_PROXY_CONFIGMAP = ("kube-system", "kube-proxy")
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
    if not name or len(name) > 253 or name.strip() != name:
        raise ObjectError(f"cluster name {name!r} must be 1-253 characters without spaces at the ends")
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


def _bulk(model: type[models.Model], rows: Iterable[models.Model]) -> Iterable[models.Model]:
    """Insert ``rows`` in batches; yield each created row (primary key set)."""
    batch: list[models.Model] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            yield from model.objects.bulk_create(batch, batch_size=BATCH_SIZE)
            batch = []
    if batch:
        yield from model.objects.bulk_create(batch, batch_size=BATCH_SIZE)


def _count(created: Iterable[models.Model]) -> int:
    return sum(1 for _ in created)


def _write(cluster: Cluster, plan: _Plan, *, replaced: tuple[str, ...] = ()) -> ImportSummary:
    if cluster.pk is None:
        cluster.save()
    _clear(cluster)
    nodes = {n.name: n.pk for n in _bulk(Node, (Node(cluster=cluster, **r) for r in plan.nodes))}
    services = {
        (s.namespace, s.name): s.pk
        for s in _bulk(Service, (Service(cluster=cluster, **r) for r in plan.services))
    }
    flagged, endpoint_count = _write_slices(cluster, plan.slices, services)
    _count(
        _bulk(Pod, (Pod(cluster=cluster, node_id=nodes.get(r["node_name"]), **r) for r in plan.pods))
    )
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
    rows = []
    for row, _ in slices:
        service_id = services.get((row["namespace"], row["service_name"]))
        if service_id is None:
            why = (
                f"Service {row['namespace']}/{row['service_name']} not found"
                if row["service_name"]
                else "no kubernetes.io/service-name label"
            )
            flagged.append(f"{row['namespace']}/{row['name']} ({why})")
        rows.append(
            EndpointSlice(
                cluster=cluster, service_id=service_id, service_missing=service_id is None, **row
            )
        )
    created = list(_bulk(EndpointSlice, rows))
    del rows

    def endpoints() -> Iterable[Endpoint]:
        for stored, (_, entries) in zip(created, slices):
            for entry in entries:
                yield Endpoint(
                    cluster=cluster, slice_id=stored.pk, service_id=stored.service_id, **entry
                )

    count = _count(_bulk(Endpoint, endpoints()))
    return flagged, count
