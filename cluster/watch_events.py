"""Apply watch events to the stored state: one upsert or delete per event.

A batch of events is one short transaction that bumps the cluster's revision once, so
readers (and the engine's snapshot cache, keyed on the revision) see each batch whole.
Rows are built by the same parsers the importer uses (``cluster.parsing``), so a watched
object is stored exactly as an imported one would be.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cluster.fields import ObjectError
from cluster.kube.resources import KUBE_PROXY_CONFIGMAP
from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.parsing import (
    identify,
    node_overrides,
    parse_kube_proxy_config,
    parse_node,
    parse_pod,
    parse_service,
)
from cluster.signals import state_advanced
from cluster.slice_parsing import parse_slice

logger = logging.getLogger(__name__)
PROXY_DEFAULTS = {
    "mode": "iptables",
    "ipvs_scheduler": "rr",
    "cluster_cidr": "",
    "detect_local_mode": "",
    "masquerade_all": False,
    "config": {},
    "raw": None,
}


def events_apply(*, cluster: Cluster, events: list[tuple[str, dict]]) -> dict[str, int]:
    """Store a batch of ``(type, object)`` watch events atomically; returns counts.

    An object the parsers refuse is skipped (counted as ``rejected``, logged with its
    one-line reason); it cannot stop the rest of the stream.
    """
    counts = {"applied": 0, "rejected": 0}
    applied: list[tuple[str, dict]] = []
    rows: Counter[str] = Counter()  # rows added (+) and deleted (-) per model label
    with transaction.atomic():
        for type_, obj in events:
            try:
                moved: Counter[str] = Counter()
                with transaction.atomic():
                    _apply(cluster, type_, obj, moved)
                rows.update(moved)
                counts["applied"] += 1
                applied.append((type_, obj))
            except ObjectError as error:
                counts["rejected"] += 1
                logger.warning("cluster %s: watch event skipped: %s", cluster.name, error)
        if counts["applied"]:
            Cluster.objects.filter(pk=cluster.pk).update(
                revision=F("revision") + 1, last_synced_at=timezone.now()
            )
            # Read after our update (its row lock held until commit): the revision this
            # batch moved the cluster from is exactly one less.
            current = Cluster.objects.get(pk=cluster.pk)
            previous_key = (current.pk, current.revision - 1, current.state_key[2])
            _count_rows(current, rows)
            transaction.on_commit(lambda: _advance_snapshot(current, previous_key, applied))
    return counts


#: The kinds whose rows ``Cluster.row_counts`` keeps, by model.
_COUNTED = {
    Node: "Node",
    Service: "Service",
    EndpointSlice: "EndpointSlice",
    Endpoint: "Endpoint",
    Pod: "Pod",
}
_LABELS = {model._meta.label: kind for model, kind in _COUNTED.items()}


def _count_rows(current: Cluster, rows: Counter[str]) -> None:
    """Move the cluster's kept row counts on by the batch's rows (in the batch's
    transaction, beside its revision), when they were those of the revision it started
    from; otherwise leave them stale (pages count the rows instead)."""
    kept = current.row_counts or {}
    counts = kept.get("counts")
    if kept.get("revision") != current.revision - 1 or not isinstance(counts, dict):
        return
    moved = dict(counts)
    for label, delta in rows.items():
        kind = _LABELS.get(label)
        if kind is not None and kind in moved:
            moved[kind] = int(moved[kind]) + delta
    current.row_counts = {"revision": current.revision, "counts": moved}
    Cluster.objects.filter(pk=current.pk).update(row_counts=current.row_counts)


def _deleted(moved: Counter[str], queryset: Any) -> None:
    """Delete ``queryset``'s rows (and what cascades), counting them in ``moved``."""
    _, per_model = queryset.delete()
    moved.subtract(per_model)


def _advance_snapshot(
    cluster: Cluster, previous_key: tuple, applied: list[tuple[str, dict]]
) -> None:
    """Tell the apps above (``state_advanced``) what the batch changed, so the engine's
    cached snapshot is carried over to the new revision (only the changed objects are
    re-read) instead of rebuilt from every row."""
    final: dict[tuple[str | None, str, str], dict | None] = {}
    touched: set[str] = set()
    for type_, obj in applied:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        namespace = "" if kind == "Node" else (meta.get("namespace") or "default")
        if kind == "ConfigMap" and (namespace, meta.get("name")) != KUBE_PROXY_CONFIGMAP:
            continue  # not stored
        if kind == "EndpointSlice" and type_ == "DELETED":
            owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if owner:
                touched.add(f"{namespace}/{owner}")
        final[(kind, namespace, meta.get("name", ""))] = None if type_ == "DELETED" else obj
    # send_robust: a receiver's failure (a cache miss) must never fail a stored batch.
    answers = state_advanced.send_robust(
        sender=Cluster,
        cluster=cluster,
        previous_key=previous_key,
        upserts=[obj for obj in final.values() if obj is not None],
        deletes=[key for key, obj in final.items() if obj is None],
        touched_services=touched,
    )
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error(
                "cluster %s: %s failed on state_advanced",
                cluster.name,
                getattr(receiver, "__qualname__", receiver),
                exc_info=answer,
            )


def _apply(cluster: Cluster, type_: str, obj: dict, moved: Counter[str]) -> None:
    kind = obj.get("kind")
    namespace, name, reader = identify(obj, index=0, namespaced=kind != "Node")
    deleted = type_ == "DELETED"
    if kind == "Node":
        _node(cluster, name, None if deleted else obj, reader, moved)
    elif kind == "Service":
        _service(cluster, namespace, name, None if deleted else obj, reader, moved)
    elif kind == "EndpointSlice":
        _slice(cluster, namespace, name, None if deleted else obj, reader, moved)
    elif kind == "Pod":
        _pod(cluster, namespace, name, None if deleted else obj, reader, moved)
    elif kind == "ConfigMap" and (namespace, name) == KUBE_PROXY_CONFIGMAP:
        fields = PROXY_DEFAULTS if deleted else parse_kube_proxy_config(obj, reader)
        KubeProxyConfig.objects.update_or_create(cluster=cluster, defaults=fields)


def _node(cluster, name, obj, reader, moved) -> None:
    proxy, _ = KubeProxyConfig.objects.get_or_create(cluster=cluster, defaults=PROXY_DEFAULTS)
    overrides = dict(proxy.node_overrides)
    if obj is None:
        _deleted(moved, Node.objects.filter(cluster=cluster, name=name))
        overrides.pop(name, None)
    else:
        node, created = Node.objects.update_or_create(
            cluster=cluster, name=name, defaults=parse_node(obj, reader, name)
        )
        if created:
            moved[Node._meta.label] += 1
            Pod.objects.filter(cluster=cluster, node_name=name, node=None).update(node=node)
        override = node_overrides(obj, reader)
        if override:
            overrides[name] = override
        else:
            overrides.pop(name, None)
    if overrides != proxy.node_overrides:
        proxy.node_overrides = overrides
        proxy.save(update_fields=["node_overrides"])


def _service(cluster, namespace, name, obj, reader, moved) -> None:
    slices = EndpointSlice.objects.filter(cluster=cluster, namespace=namespace, service_name=name)
    if obj is None:
        Endpoint.objects.filter(slice__in=slices).update(service=None)
        slices.update(service=None, service_missing=True)
        _deleted(moved, Service.objects.filter(cluster=cluster, namespace=namespace, name=name))
        return
    service, created = Service.objects.update_or_create(
        cluster=cluster,
        namespace=namespace,
        name=name,
        defaults=parse_service(obj, reader, namespace, name),
    )
    if created:
        moved[Service._meta.label] += 1
        Endpoint.objects.filter(slice__in=slices).update(service=service)
        slices.update(service=service, service_missing=False)


def _slice(cluster, namespace, name, obj, reader, moved) -> None:
    if obj is None:
        _deleted(
            moved, EndpointSlice.objects.filter(cluster=cluster, namespace=namespace, name=name)
        )
        return
    row, entries = parse_slice(obj, reader, namespace, name)
    service_id = (
        Service.objects.filter(cluster=cluster, namespace=namespace, name=row["service_name"])
        .values_list("pk", flat=True)
        .first()
    )
    stored, created = EndpointSlice.objects.update_or_create(
        cluster=cluster,
        namespace=namespace,
        name=name,
        defaults={**row, "service_id": service_id, "service_missing": service_id is None},
    )
    moved[EndpointSlice._meta.label] += created
    _deleted(moved, Endpoint.objects.filter(slice=stored))
    added = Endpoint.objects.bulk_create(
        Endpoint(cluster=cluster, slice=stored, service_id=service_id, **entry) for entry in entries
    )
    moved[Endpoint._meta.label] += len(added)


def _pod(cluster, namespace, name, obj, reader, moved) -> None:
    if obj is None:
        _deleted(moved, Pod.objects.filter(cluster=cluster, namespace=namespace, name=name))
        return
    fields = parse_pod(obj, reader, namespace, name)
    node_id = (
        Node.objects.filter(cluster=cluster, name=fields["node_name"])
        .values_list("pk", flat=True)
        .first()
        if fields["node_name"]
        else None
    )
    _, created = Pod.objects.update_or_create(
        cluster=cluster, namespace=namespace, name=name, defaults={**fields, "node_id": node_id}
    )
    moved[Pod._meta.label] += created
