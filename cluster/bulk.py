"""Fast bulk inserts of cluster rows: COPY on PostgreSQL, executemany elsewhere.

Why not ``bulk_create``: for a 150,000-pod cluster the ORM spends most of an import
compiling per-row SQL (about half a millisecond a row). The rows written here are plain
values already checked by ``cluster.parsing``; this module only turns them into columns.
Callers run it inside their transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models

from cluster.fields import ObjectError

BATCH_SIZE = 2000
#: The Kubernetes field behind a column, for messages ("status.podIP", not "pod_ip").
FIELD_PATHS = {
    "name": "metadata.name",
    "namespace": "metadata.namespace",
    "uid": "metadata.uid",
    "zone": "zone",
    "region": "region label",
    "kubelet_version": "status.nodeInfo.kubeletVersion",
    "kube_proxy_version": "status.nodeInfo.kubeProxyVersion",
    "cluster_ip": "spec.clusterIP",
    "ip_family_policy": "spec.ipFamilyPolicy",
    "traffic_distribution": "spec.trafficDistribution",
    "topology_mode": "service.kubernetes.io/topology-mode annotation",
    "external_name": "spec.externalName",
    "node_name": "nodeName",
    "pod_ip": "status.podIP",
    "phase": "status.phase",
    "service_name": "kubernetes.io/service-name label",
    "managed_by": "endpointslice.kubernetes.io/managed-by label",
    "address": "addresses[0]",
    "hostname": "hostname",
    "target_kind": "targetRef.kind",
    "target_namespace": "targetRef.namespace",
    "target_name": "targetRef.name",
    "raw": "the object",
}
# An escaped NUL in JSON text: "\u0000" after an even number of backslashes (an odd
# number means the backslash itself was escaped, i.e. the text "\u0000", which is fine).
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# allow_nan=False: PostgreSQL jsonb refuses NaN, so refuse it for every database alike.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class _Column:
    __slots__ = ("attname", "is_json", "max_length", "default")

    def __init__(self, field: models.Field) -> None:
        self.attname = field.attname
        self.is_json = isinstance(field, models.JSONField)
        self.max_length = (
            getattr(field, "max_length", None) if isinstance(field, models.CharField) else None
        )
        self.default = field.get_default()


def insert_rows(
    model: type[models.Model],
    rows: Iterable[dict[str, Any]],
    *,
    fixed: dict[str, Any],
    label: Callable[[dict[str, Any]], str],
) -> int:
    """Insert one row per dict of field values (``fixed`` adds columns common to all rows).

    Missing fields take the model default. A string longer than its column raises
    :class:`ObjectError` naming the object (``label(row)``) and the field. Returns the
    number of rows written.
    """
    # Options.concrete_fields is a cached_property django-stubs does not declare.
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]  # type: ignore[attr-defined]
    columns = [_Column(f) for f in fields]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)

    # Per-column work decided once, not per row: this loop runs 300,000 times.
    attnames = [c.attname for c in columns]
    defaults = [fixed.get(c.attname, c.default) for c in columns]
    json_columns = [i for i, c in enumerate(columns) if c.is_json]
    sized_columns = [(i, c.max_length) for i, c in enumerate(columns) if c.max_length is not None]

    def values(row: dict[str, Any]) -> list[Any]:
        out = [row.get(name, default) for name, default in zip(attnames, defaults)]
        for i in json_columns:
            if out[i] is None:
                continue
            try:
                out[i] = _dumps(out[i])
            except (TypeError, ValueError) as exc:
                raise ObjectError(f"{label(row)}: {attnames[i]} is not JSON ({exc})") from None
            # jsonb cannot store NUL; refuse everywhere
            if "\\u0000" in out[i] and _NUL.search(out[i]):
                raise ObjectError(f"{label(row)}: {attnames[i]} contains a NUL character (\\u0000)")
        for i, limit in sized_columns:
            if out[i] is not None and len(out[i]) > limit:
                field = FIELD_PATHS.get(attnames[i], attnames[i])
                raise ObjectError(f"{label(row)}: {field} is longer than {limit} characters")
        return out

    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(values(row))
                    count += 1
            return count
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
        batch: list[list[Any]] = []
        for row in rows:
            batch.append(values(row))
            if len(batch) >= BATCH_SIZE:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count
