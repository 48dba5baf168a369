"""Where ``import_cluster``'s time goes: CPU seconds per step, in one process.

    .venv/bin/python bench/bench_import_steps.py [--db sqlite|postgres] [--pg-url URL]
                                                 [--nodes 5000 --services 10000 --pods 150000]

The generated dump (cached under ``bench/out/`` by ``bench_import.py``) goes through the
import's steps one at a time, each timed alone: the dump read (``read_dump`` with the
importer's per-object checks), the plan (kinds sorted, names checked), per table the row
values (``cluster.rows``; beside them the field-by-field parsers they replace, for
comparison), the column values (JSON text, lengths: ``cluster.bulk.column_values``) and the
database write (``cluster.bulk.write_values``), under ``cluster.writer.write_session`` as
the import runs, then the commit (where PostgreSQL checks the deferred foreign keys). The
writes go to a freshly migrated database. CPU seconds are this process's, the comparable
figure on a shared machine; on PostgreSQL the server backend's CPU seconds per step are
read from its /proc entry (a local server).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_import import database, dump_path  # noqa: E402 — after the path set-up


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the PostgreSQL backend ``pid`` (0 without one, or when it runs where
    this process cannot read its /proc entry)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Steps:
    """Prints one line per step: CPU s, wall s (and the database server's CPU s)."""

    def __init__(self, backend: int | None = None) -> None:
        self.backend = backend
        self.cpu = self.wall = self.server = 0.0
        print(f"{'step':<34} {'cpu s':>7} {'wall s':>7} {'server cpu s' if backend else ''}")

    def __call__(self, label: str, work: Callable[[], Any]) -> Any:
        server = server_cpu(self.backend)
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = server_cpu(self.backend) - server
        self.cpu += cpu
        self.wall += wall
        self.server += server
        extra = f" {server:12.2f}" if self.backend else ""
        print(f"{label:<34} {cpu:7.2f} {wall:7.2f}{extra}", flush=True)
        return result

    def total(self) -> None:
        extra = f" {self.server:12.2f}" if self.backend else ""
        print(f"{'total (the import path)':<34} {self.cpu:7.2f} {self.wall:7.2f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--zones", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/routescope_bench")
    parser.add_argument(
        "--sqlite-cache-kib",
        type=int,
        default=None,
        help="the import's SQLite page cache (default: SQLITE_IMPORT_CACHE_KIB; 2000 was"
        " SQLite's own default)",
    )
    args = parser.parse_args()
    path = dump_path(args)
    os.environ.update(database(args.db, args.pg_url, sqlite_name="bench_import_steps.sqlite3"))

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    from cluster import writer
    from cluster.bulk import column_values, write_values
    from cluster.dump_limits import dump_limits
    from cluster.kube_dump import read_dump
    from cluster.models import Cluster, Endpoint, EndpointSlice, Node, Pod, Service
    from cluster.parsing import parse_pod
    from cluster.plan import check_object, plan_objects
    from cluster.rows import node_row, pod_row, service_row, slice_rows
    from cluster.slice_parsing import parse_slice
    from cluster.writer import _ids, _label, write_session

    if args.sqlite_cache_kib is not None:
        writer.SQLITE_IMPORT_CACHE_KIB = args.sqlite_cache_kib
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    cache = f", SQLite cache {writer.SQLITE_IMPORT_CACHE_KIB} KiB" if backend is None else ""
    print(f"{path.name}, {args.db}{cache}, load average {os.getloadavg()[0]:.1f}")
    limits = dump_limits()
    step = Steps(backend)
    dump = step(
        "read (read_dump + checks)",
        lambda: read_dump(
            path,
            max_bytes=settings.ROUTESCOPE_MAX_DUMP_BYTES,
            limits=limits,
            settle=lambda obj, index: check_object(obj, index, limits),
        ),
    )
    with write_session():
        plan = step("plan (kinds, names)", lambda: plan_objects(dump.objects, limits))

        def write(model: Any, rows: list[dict[str, Any]], label: Any) -> None:
            values = step(
                f"  {model.__name__} column values",
                lambda: list(column_values(model, rows, fixed=fixed, label=label)),
            )
            step(f"  {model.__name__} write", lambda: write_values(model, values))

        transaction.set_autocommit(False)
        try:
            cluster = Cluster.objects.create(name="steps")
            fixed = {"cluster_id": cluster.pk}
            rows = step("Node rows", lambda: [node_row(o, r, n) for o, r, _, n in plan.nodes])
            write(Node, rows, _label("Node"))
            nodes = _ids(Node.objects.filter(cluster=cluster), "name")
            rows = step(
                "Service rows",
                lambda: [service_row(o, r, ns, n) for o, r, ns, n in plan.services],
            )
            write(Service, rows, _label("Service"))
            services = _ids(Service.objects.filter(cluster=cluster), "namespace", "name")
            parsed = step(
                "EndpointSlice + Endpoint rows",
                lambda: [slice_rows(o, r, ns, n) for o, r, ns, n in plan.slices],
            )
            for row, _ in parsed:
                row["service_id"] = services.get((row["namespace"], row["service_name"]))
                row["service_missing"] = row["service_id"] is None
            write(EndpointSlice, [row for row, _ in parsed], _label("EndpointSlice"))
            slices = _ids(EndpointSlice.objects.filter(cluster=cluster), "namespace", "name")
            endpoints = []
            for row, entries in parsed:
                for entry in entries:
                    entry["slice_id"] = slices[(row["namespace"], row["name"])]
                    entry["service_id"] = row["service_id"]
                    endpoints.append(entry)
            write(Endpoint, endpoints, lambda entry: f"endpoint {entry['position']}")
            rows = step("Pod rows", lambda: [pod_row(o, r, ns, n) for o, r, ns, n in plan.pods])
            for row in rows:
                row["node_id"] = nodes.get(row["node_name"])
            write(Pod, rows, _label("Pod"))
            # PostgreSQL checks the deferred foreign keys of every new row here.
            step("commit", transaction.commit)
        finally:
            transaction.set_autocommit(True)
    step.total()
    print("for comparison, the field-by-field parsers the rows replace:")
    with write_session():
        compare = Steps()
        compare(
            "  parse_slice (slices + endpoints)",
            lambda: [parse_slice(o, r, ns, n) for o, r, ns, n in plan.slices],
        )
        compare("  parse_pod", lambda: [parse_pod(o, r, ns, n) for o, r, ns, n in plan.pods])


if __name__ == "__main__":
    main()
