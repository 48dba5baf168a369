"""Fast bulk inserts of cluster rows: COPY on PostgreSQL, executemany elsewhere.

Why not ``bulk_create``: for a 150,000-pod cluster the ORM spends most of an import
compiling per-row SQL (about half a millisecond a row). The rows written here are plain
values already checked by ``cluster.parsing``; this module only turns them into columns.
Callers run it inside their transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
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
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def json_text(value: Any) -> str:
    """``value`` as the compact JSON text stored in a JSON column.

    msgspec writes it (five to seven times faster than :mod:`json`); decoding that text
    back must give ``value`` again, else the standard library's encoder decides, with its
    refusals (``TypeError`` / ``ValueError``). So what msgspec would write differently from
    what json accepts or refuses — NaN or infinity (msgspec writes null), a set, bytes, a
    date, a Decimal, an Enum, a non-string key, a tuple — takes the json path, and every
    stored value decodes to what json's text decoded to (``cluster/tests/test_bulk_json.py``).
    """
    if not value and (type(value) is list or type(value) is dict):
        return "[]" if type(value) is list else "{}"  # the commonest value, as both write it
    try:
        text = _encode(value)
        if _decode(text) == value:
            return text.decode()
    except Exception:  # anything msgspec cannot write (a set key, a cycle): json decides
        pass
    return _dumps(value)


class _Column:
    __slots__ = ("attname", "is_json", "max_length", "default")

    def __init__(self, field: models.Field) -> None:
        self.attname = field.attname
        self.is_json = isinstance(field, models.JSONField)
        self.max_length = (
            getattr(field, "max_length", None) if isinstance(field, models.CharField) else None
        )
        self.default = field.get_default()


def _fields(model: type[models.Model]) -> list[models.Field]:
    # Options.concrete_fields is a cached_property django-stubs does not declare.
    return [f for f in model._meta.concrete_fields if not f.primary_key]  # type: ignore[attr-defined]


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
    return write_values(model, column_values(model, rows, fixed=fixed, label=label))


def column_values(
    model: type[models.Model],
    rows: Iterable[dict[str, Any]],
    *,
    fixed: dict[str, Any],
    label: Callable[[dict[str, Any]], str],
) -> Iterator[list[Any]]:
    """Each row's column values in ``model``'s column order, JSON columns as text, checked
    (the first half of :func:`insert_rows`; ``bench/bench_import_steps.py`` times it alone)."""
    columns = [_Column(f) for f in _fields(model)]

    # Per-column work decided once, not per row: this loop runs 300,000 times.
    attnames = [c.attname for c in columns]
    defaults = [fixed.get(c.attname, c.default) for c in columns]
    json_columns = [i for i, c in enumerate(columns) if c.is_json]
    sized_columns = [(i, c.max_length) for i, c in enumerate(columns) if c.max_length is not None]

    def values(row: dict[str, Any]) -> list[Any]:
        out = list(map(row.get, attnames, defaults))
        for i in json_columns:
            if out[i] is None:
                continue
            try:
                out[i] = json_text(out[i])
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

    return map(values, rows)


def write_values(model: type[models.Model], values: Iterable[list[Any]]) -> int:
    """Write rows of column values (from :func:`column_values`); return how many."""
    fields = _fields(model)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
                    count += 1
            return count
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
        batch: list[list[Any]] = []
        for row in values:
            batch.append(row)
            if len(batch) >= BATCH_SIZE:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count
