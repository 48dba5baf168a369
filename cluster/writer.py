"""The write path behind ``cluster.services``: sort a dump's objects, then parse and insert.

``plan_objects`` sorts objects by kind, skips what Routescope does not store and refuses
duplicates, without parsing. ``write_plan`` then builds each object's row
(``cluster.rows``: read off its checked msgspec shape, the parsers when the shape says no)
while streaming it into the database, under ``write_session`` (no cyclic GC, a larger
SQLite page cache), so at most one batch of parsed rows is in memory at a time — a
150,000-pod dump is held once (as the decoded JSON), not twice. It must run inside the
caller's transaction: a bad object raises ``ObjectError`` part-way and the transaction's
rollback leaves nothing behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models

from cluster.bulk import insert_rows
from cluster.dump_json import collector_paused
from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.plan import (  # noqa: F401 — re-exported: callers import them from here
    KNOWN,
    KUBE_PROXY_CONFIGMAP,
    Entry,
    Plan,
    check_objects,
    plan_objects,
)
from cluster.rows import node_row, pod_row, service_row, slice_rows

#: Slices parsed and inserted per round trip (their endpoints follow at once).
SLICE_CHUNK = 1000
#: SQLite's page cache for the writing connection during an import, in KiB (as
#: ``PRAGMA cache_size=-N``). The default 2 MB makes every index insert of a 150,000-row
#: table read its pages again; the cache fills only as pages are touched.
SQLITE_IMPORT_CACHE_KIB = 256 * 1024


@contextmanager
def write_session() -> Iterator[None]:
    """The settings a large write runs under, restored as they were however it ends.

    - The cyclic garbage collector is off: an import builds hundreds of thousands of row
      dicts and JSON texts next to the millions of objects of the decoded dump, none of
      them in a cycle, and each collection of the oldest generation would walk them all.
    - On SQLite, the connection's page cache is raised to ``SQLITE_IMPORT_CACHE_KIB``.
    """
    with collector_paused():
        raw, cache = None, None
        try:
            if connection.vendor == "sqlite":
                # On the DB-API connection: a PRAGMA is no part of the transaction, and the
                # restore must run even where a failed atomic block refuses Django queries.
                connection.ensure_connection()
                raw = connection.connection
                cache = raw.execute("PRAGMA cache_size").fetchone()[0]
                raw.execute(f"PRAGMA cache_size = -{int(SQLITE_IMPORT_CACHE_KIB)}")
            yield
        finally:
            if raw is not None and cache is not None and connection.connection is raw:
                raw.execute(f"PRAGMA cache_size = {int(cache)}")


@dataclass
class Written:
    """What ``write_plan`` stored."""

    counts: dict[str, int]
    flagged_slices: list[str]
    #: Pods and endpoints whose node is not among the dump's Nodes, per kind.
    unknown_nodes: dict[str, int] = field(default_factory=dict)


def clear_state(cluster: Cluster) -> None:
    """Delete every object row of ``cluster`` (inside the caller's transaction)."""
    # Children before parents, each as one DELETE statement: the ORM's cascade collector
    # would load every row of a 150,000-pod cluster into memory first.
    for model in (Endpoint, EndpointSlice, Pod, Service, Node, KubeProxyConfig):
        # QuerySet._raw_delete is private Django API, absent from django-stubs.
        model.objects.filter(cluster=cluster)._raw_delete(model.objects.db)  # type: ignore[union-attr]


def _label(kind: str) -> Callable[[dict[str, Any]], str]:
    return (
        lambda row: f"{kind} {row['namespace'] + '/' if row.get('namespace') else ''}{row['name']}"
    )


def _ids(queryset: models.QuerySet, *keys: str) -> dict[Any, int]:
    if len(keys) == 1:
        return dict(queryset.values_list(keys[0], "id"))
    return {tuple(row[:-1]): row[-1] for row in queryset.values_list(*keys, "id")}


def write_plan(cluster: Cluster, plan: Plan) -> Written:
    """Replace ``cluster``'s rows with the plan's objects, parsing them on the way in."""
    clear_state(cluster)
    fixed = {"cluster_id": cluster.pk}
    counts = {
        "Node": 0,
        "Service": 0,
        "EndpointSlice": 0,
        "Endpoint": 0,
        "Pod": 0,
        "ConfigMap": int(plan.proxy is not None) + len(plan.extra_maps),
    }
    counts["Node"] = insert_rows(
        Node, (node_row(o, r, n) for o, r, _, n in plan.nodes), fixed=fixed, label=_label("Node")
    )
    nodes = _ids(Node.objects.filter(cluster=cluster), "name")
    counts["Service"] = insert_rows(
        Service,
        (service_row(o, r, ns, n) for o, r, ns, n in plan.services),
        fixed=fixed,
        label=_label("Service"),
    )
    services = _ids(Service.objects.filter(cluster=cluster), "namespace", "name")
    flagged: list[str] = []
    unknown: Counter = Counter()
    for start in range(0, len(plan.slices), SLICE_CHUNK):
        chunk = [
            slice_rows(o, r, ns, n) for o, r, ns, n in plan.slices[start : start + SLICE_CHUNK]
        ]
        unknown["Endpoint"] += sum(
            1
            for _, entries in chunk
            for e in entries
            if e["node_name"] and e["node_name"] not in nodes
        )
        slices, endpoints = _write_slices(cluster, chunk, services, flagged)
        counts["EndpointSlice"] += slices
        counts["Endpoint"] += endpoints
    counts["Pod"] = insert_rows(
        Pod, _pods(plan.pods, nodes, unknown), fixed=fixed, label=_label("Pod")
    )
    proxy = plan.proxy or {"mode": "iptables", "ipvs_scheduler": "rr", "raw": None}
    KubeProxyConfig.objects.create(
        cluster=cluster, node_overrides=plan.overrides, extra_config_maps=plan.extra_maps, **proxy
    )
    return Written(counts=counts, flagged_slices=flagged, unknown_nodes=+unknown)


def _pods(
    entries: list[Entry], nodes: dict[str, int], unknown: Counter
) -> Iterator[dict[str, Any]]:
    for obj, reader, namespace, name in entries:
        row = pod_row(obj, reader, namespace, name)
        row["node_id"] = nodes.get(row["node_name"])
        if row["node_name"] and row["node_id"] is None:
            unknown["Pod"] += 1
        yield row


def _write_slices(
    cluster: Cluster,
    chunk: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    services: dict[tuple[str, str], int],
    flagged: list[str],
) -> tuple[int, int]:
    """Insert one chunk of slices, then their endpoints; return both counts."""
    for row, _ in chunk:
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
    names = [(row["namespace"], row["name"]) for row, _ in chunk]
    count = insert_rows(
        EndpointSlice, (row for row, _ in chunk), fixed=fixed, label=_label("EndpointSlice")
    )
    # Look the new rows up by name: only this chunk's slices, through the unique index.
    stored = _ids(
        EndpointSlice.objects.filter(cluster=cluster, name__in=[n for _, n in names]),
        "namespace",
        "name",
    )

    def endpoints() -> Iterator[dict[str, Any]]:
        for row, entries in chunk:
            slice_id = stored[(row["namespace"], row["name"])]
            for entry in entries:
                entry["slice_id"], entry["service_id"], entry["_slice"] = (
                    slice_id,
                    row["service_id"],
                    row,
                )
                yield entry

    def label(entry: dict[str, Any]) -> str:
        row = entry["_slice"]
        return f"EndpointSlice {row['namespace']}/{row['name']}: endpoints[{entry['position']}]"

    return count, insert_rows(Endpoint, endpoints(), fixed=fixed, label=label)
