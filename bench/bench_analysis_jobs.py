"""Stored-analysis benchmark (issue 13): the cluster-wide analysis as Celery jobs per revision.

    .venv/bin/python bench/bench_analysis_jobs.py [--nodes 5000] [--shards N] [--rounds 2]
        [--database-url postgres://postgres@127.0.0.1:5432/rs_bench_analysis] [--runs 15]
        [--one-session]

Workers run each in a session of their own, as a worker started as a service (systemd,
supervisor, a container) is: with the kernel's autogroups (``sched_autogroup_enabled``)
the CPU is shared between sessions first, so workers left in the bench's session would
share one session's share between them whenever another session keeps a core busy
(``--one-session``: the way this bench started them before). PostgreSQL's autovacuum may
be off on a bench box: give each run a fresh ``--database-url`` (a replace import leaves
150,000 dead Pod rows behind, which later runs then read).

On the generated cluster of ``bench_pages.py`` (``--nodes`` nodes, 2 x nodes Services,
30 x nodes pods), with a private ``redis-server`` and real ``celery worker`` processes
(``cluster.testing.workers``):

1. imports the cluster (a new revision: the revision hook queues the analysis' shards)
   with 2 workers running, then times the first overview request right after the import
   (it must answer at once, showing the progress bar) and the time until the analysis is
   stored;
2. times the pages and the API that read the stored analysis (median of ``--runs``), and
   a Service page whose stored-analysis columns the process has not read yet (the first
   one a web process serves after an analysis is stored);
3. makes new revisions with a watch batch (one Service label; this process holds the
   snapshot as a watch process does, so the batch advances it and the watch's idle
   signal pickles it) and times, with 1 worker and then 2 (fresh processes each time,
   ``--rounds`` times), the analysis from the revision to the stored result, and its
   compute part (first shard job's start to stored).

Targets: first overview <= 1 s; stored <= 30 s; pages <= 300 ms median; 2 workers >= 1.6x
faster than 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pages import dump_path  # noqa: E402

NAME = "bench-analysis"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rs_bench_analysis"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when missing (SQLite needs nothing)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup(database_url: str, broker_url: str, shards: int | None) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=broker_url,
        DJANGO_SETTINGS_MODULE="config.settings.test",
    )
    if shards is not None:  # else the setting's default
        os.environ["ROUTESCOPE_ANALYSIS_SHARDS"] = str(shards)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)


#: Workers each in a session of their own, as workers run as services are (see --one-session).
OWN_SESSION = True


def start_workers(broker_url: str, database_url: str, count: int) -> list:
    from cluster.testing.workers import Worker

    workers = [
        Worker(
            broker_url=broker_url,
            database_url=database_url,
            name=f"bench{i}",
            own_session=OWN_SESSION,
        )
        for i in range(count)
    ]
    return [w.wait_ready(timeout=60) for w in workers]


def stop(workers: list) -> None:
    for worker in workers:
        worker.stop()


def wait_stored(cluster, revision: int, timeout: float = 600):
    from routing.models import ClusterAnalysis

    deadline = time.monotonic() + timeout
    # Polled by its state only: reading the stored row (~17 MB of columns) on every poll
    # made the bench see the result ~0.1 s late.
    small = ("pk", "state", "error", "revision", "created_at", "started_at", "finished_at")
    while time.monotonic() < deadline:
        found = (
            ClusterAnalysis.objects.filter(cluster=cluster, revision=revision, state="done")
            .only(*small)
            .first()
        )
        if found is not None:
            return found
        failed = (
            ClusterAnalysis.objects.filter(cluster=cluster, revision=revision, state="failed")
            .only(*small)
            .first()
        )
        if failed is not None:
            raise SystemExit(f"analysis failed: {failed.error}")
        time.sleep(0.02)
    raise SystemExit(f"analysis of revision {revision} not stored within {timeout:.0f} s")


def new_revision(cluster, objects: list[dict], note: str) -> int:
    """One watch batch (a Service label) and the watch's idle signal: a new revision."""
    from cluster.models import Cluster
    from cluster.signals import watch_idle
    from cluster.watch_events import events_apply

    service = json.loads(json.dumps(next(o for o in objects if o["kind"] == "Service")))
    service["metadata"].setdefault("labels", {})["bench"] = note
    events_apply(cluster=cluster, events=[("MODIFIED", service)])
    watch_idle.send(sender=Cluster, cluster=cluster)
    cluster.refresh_from_db()
    return cluster.revision


def shard_figures(analysis) -> dict[str, float]:
    """From the shard jobs' rows: first start to stored, and the summed step times."""
    from jobs.models import Job

    jobs = list(Job.objects.filter(kind="analysis", params__analysis=analysis.pk))
    first = min(j.started_at for j in jobs if j.started_at is not None)
    steps = {
        key: sum(float(j.result.get(key, 0.0)) for j in jobs)
        for key in ("snapshot_s", "analyze_s", "merge_s", "cpu_s")
    }
    return {"compute_s": (analysis.finished_at - first).total_seconds(), **steps}


def postgres_cpu() -> float | None:
    """CPU seconds the local PostgreSQL server's processes used so far (Linux): every live
    ``postgres`` process's user + system time, plus the postmaster's reaped children's
    (ended backends: the workers' connections). None when not readable."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    found = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found = True
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if _name(fields[1]) != "postgres":  # the postmaster: its reaped backends' time
            total += (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
    return total if found else None


def _name(pid: str) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.index("(") + 1 : stat.rindex(")")]


def timeline(analysis, clock: float) -> list[str]:
    """One line per shard job of ``analysis``: its worker process, when it started and
    finished (seconds after ``clock``, the revision's time) and its step times."""
    from jobs.models import Job

    jobs = Job.objects.filter(kind="analysis", params__analysis=analysis.pk).order_by("id")
    lines = [f"    requested {analysis.created_at.timestamp() - clock:.3f}"]
    for job in jobs:
        started = job.started_at.timestamp() - clock if job.started_at else float("nan")
        finished = job.finished_at.timestamp() - clock if job.finished_at else float("nan")
        steps = " ".join(f"{k.removesuffix('_s')} {v}" for k, v in job.result.items() if k != "pid")
        lines.append(
            f"    shard {job.params['shard']:>2} pid {job.result.get('pid', '?')}: "
            f"{started:.3f} -> {finished:.3f}  {steps}"
        )
    lines.append(f"    stored {analysis.finished_at.timestamp() - clock:.3f}")
    return lines


def timed_get(client, url: str, query: dict | None = None) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.get(url, query or {})
    return (time.perf_counter() - started) * 1000, response


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="step 3: print each shard job's worker, start, end and steps",
    )
    parser.add_argument(
        "--one-session",
        action="store_true",
        help="start the workers in this process' session (before: with the kernel's "
        "autogroups they then share one session's CPU share on a busy box)",
    )
    args = parser.parse_args()
    global OWN_SESSION
    OWN_SESSION = not args.one_session

    from cluster.testing.workers import RedisServer

    dump = dump_path(args.nodes)
    ensure_database(args.database_url)
    redis_dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
    redis = RedisServer(Path(redis_dir.name)).start()
    workers: list = []
    try:
        setup(args.database_url, redis.url, args.shards)
        from django.test import Client

        from cluster.kube_dump import read_objects
        from cluster.models import Cluster
        from cluster.services import cluster_import
        from routing.snapshots import snapshot_cache_clear

        snapshot_cache_clear()  # the bench's own pickles of an older run
        objects = read_objects(dump)
        workers = start_workers(redis.url, args.database_url, 2)
        print(
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; workers in "
            f"{'their own sessions' if OWN_SESSION else 'this session'}"
        )

        # 1. import -> first overview -> stored. A running web server has served pages
        # before the import: warm this process's URL resolver and templates on another page.
        client = Client()
        client.get("/jobs/")
        started = time.perf_counter()
        cluster_import(name=NAME, objects=objects, replace=True, source="generated")
        imported = time.perf_counter()
        cluster = Cluster.objects.get(name=NAME)
        print(
            f"imported {args.nodes} nodes / {cluster.services.count()} services / "
            f"{cluster.pods.count()} pods (revision {cluster.revision}) in "
            f"{imported - started:.1f} s"
        )
        first_ms, response = timed_get(client, f"/clusters/{NAME}/")
        body = response.content.decode()
        showing = "progress bar" if 'id="analysis-status"' in body else "results"
        second_ms, _ = timed_get(client, f"/clusters/{NAME}/")
        stored = wait_stored(cluster, cluster.revision)
        stored_s = time.perf_counter() - imported
        print(
            f"first overview after the import: {first_ms:.0f} ms (showing the {showing}), "
            f"second {second_ms:.0f} ms  [target <= 1000 ms]"
        )
        figures = shard_figures(stored)
        print(
            f"analysis stored {stored_s:.1f} s after the import  [target <= 30 s]"
            f"  (shard jobs: snapshot {figures['snapshot_s']:.1f} s, analyse "
            f"{figures['analyze_s']:.1f} s, merge + store {figures['merge_s']:.1f} s, summed;"
            f" CPU {figures['cpu_s']:.1f} s)"
        )

        # 2. pages and API reading the stored analysis
        print(f"\n{'page (stored analysis)':<34}{'median ms':>11}{'max ms':>9}  target 300 ms")
        checks = [
            ("overview", f"/clusters/{NAME}/", {}),
            ("services", f"/clusters/{NAME}/services/", {}),
            ("services page 50", f"/clusters/{NAME}/services/", {"page": "50"}),
            ("services by drop", f"/clusters/{NAME}/services/", {"ordering": "-drop"}),
            ("API analysis (100 rows)", f"/api/v1/clusters/{NAME}/analysis", {}),
            ("API analysis dropping", f"/api/v1/clusters/{NAME}/analysis", {"dropping": "1"}),
        ]
        worst = 0.0
        # The first Service page a web process serves after an analysis is stored: its
        # stored-analysis columns not yet read (dropped before each request; the node
        # table and the Service's rows stay cached, as on any later Service page). A
        # LoadBalancer Service: its page shows its bill (``stored_costs``).
        from dashboard import answers
        from routing import stored_analysis

        service = cluster.services.filter(type="LoadBalancer").order_by("namespace", "name")[0]
        page = f"/clusters/{NAME}/services/{service.namespace}/{service.name}/"
        timed_get(client, page)
        cold = []
        for _ in range(args.runs):
            stored_analysis._columns._values.clear()
            answers._page_report.clear()
            cold.append(timed_get(client, page)[0])
        cold.sort()
        print(
            f"{'service page, columns cold':<34}{statistics.median(cold):>11.1f}"
            f"{cold[-1]:>9.1f}  {'ok' if statistics.median(cold) <= 300 else 'SLOW'}"
        )
        for label, url, query in checks:
            timed_get(client, url, query)
            times = sorted(timed_get(client, url, query)[0] for _ in range(args.runs))
            median = statistics.median(times)
            worst = max(worst, median)
            print(
                f"{label:<34}{median:>11.1f}{times[-1]:>9.1f}  "
                f"{'ok' if median <= 300 else 'SLOW'}"
            )

        # 3. 1 worker vs 2 workers, fresh processes, new revisions by watch batches. Like a
        # watch process, this one holds the snapshot: each batch advances it in memory and
        # the watch's idle signal pickles it before the analysis is requested, so workers
        # load it instead of rebuilding it from the database.
        stop(workers)
        workers = []
        from routing.snapshots import snapshot_for_cluster

        snapshot_for_cluster(cluster=cluster)
        print(
            f"\n{'workers':<9}{'revision -> stored s':>22}{'requested s':>13}{'compute s':>11}"
            f"{'snapshot s':>12}{'analyse s':>11}{'merge s':>9}{'CPU s':>7}{'PG CPU s':>10}"
            "  (steps summed over shards; PG: the server's processes)"
        )
        results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for count in (1, 2):
                workers = start_workers(redis.url, args.database_url, count)
                server = postgres_cpu()
                started, clock = time.perf_counter(), time.time()
                revision = new_revision(cluster, objects, f"r{round_}-{count}")
                analysis = wait_stored(cluster, revision)
                wall = time.perf_counter() - started
                after = postgres_cpu()
                server = after - server if after is not None and server is not None else None
                steps = shard_figures(analysis)
                results[count].append((wall, steps["compute_s"]))
                # When the watch's idle signal requested the analysis (its batch, the
                # node table's pickle, the request; the snapshot's pickle comes after).
                requested = analysis.created_at.timestamp() - clock
                print(
                    f"{count:<9}{wall:>22.1f}{requested:>13.1f}{steps['compute_s']:>11.1f}"
                    f"{steps['snapshot_s']:>12.1f}{steps['analyze_s']:>11.1f}"
                    f"{steps['merge_s']:>9.1f}{steps['cpu_s']:>7.1f}"
                    f"{'?' if server is None else f'{server:.1f}':>10}"
                )
                if args.timeline:
                    print("\n".join(timeline(analysis, clock)))
                stop(workers)
                workers = []
        best = {n: min(r[0] for r in rows) for n, rows in results.items()}
        compute = {n: min(r[1] for r in rows) for n, rows in results.items()}
        speedup = best[1] / best[2]
        print(
            f"\nbest of {args.rounds}: 1 worker {best[1]:.1f} s, 2 workers {best[2]:.1f} s: "
            f"{speedup:.2f}x  [target >= 1.6x]; compute part {compute[1]:.1f} s vs "
            f"{compute[2]:.1f} s: {compute[1] / compute[2]:.2f}x"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        ok = first_ms <= 1000 and stored_s <= 30 and worst <= 300 and speedup >= 1.6
        return 0 if ok else 1
    finally:
        stop(workers)
        redis.stop()
        redis_dir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
