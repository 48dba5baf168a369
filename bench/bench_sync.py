"""Sync benchmark: the generated 5,000-node / 150,000-pod cluster from the fake API server.

    .venv/bin/python bench/bench_sync.py [--nodes 5000 --services 10000 --pods 150000]
                                         [--pg-url URL] [--events 20]

The fake Kubernetes API server (``cluster.testing.fake_apiserver``) serves the generated
dump from a thread of THIS process; the syncs run as ``manage.py`` child processes over
the socket with the official client, into a fresh PostgreSQL database, so the figures
(wall s, CPU s, peak RSS via ``os.wait4``) are the sync's alone. Then ``watch_cluster``
runs in a child and this process changes one Pod at a time on the server, timing how long
until the stored row shows the change (and how long the engine snapshot of the new
revision takes to build). Targets: sync < 60 s and < 2 GB; one event < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_import import OUT, database, dump_path, run  # noqa: E402


def serve(path: Path):
    """Start the fake API server on the dump; return it and a kubeconfig path."""
    from cluster.kube_dump import read_objects
    from cluster.testing.fake_apiserver import FakeApiServer

    started = time.perf_counter()
    server = FakeApiServer(read_objects(str(path)), token="bench-token").start()
    for plural in ("nodes", "services", "endpointslices", "pods"):
        server.store.list_page(plural, None, None, None)  # encode every item once, up front
    kubeconfig = server.write_kubeconfig(OUT / "bench_sync.kubeconfig", context="bench")
    print(
        f"fake API server on {server.url}: {sum(len(v) for v in server.store.objects.values())} "
        f"objects loaded in {time.perf_counter() - started:.1f} s"
    )
    return server, kubeconfig


def watch_latency(server, env: dict[str, str], events: int) -> None:
    """Change pods on the server while ``watch_cluster`` runs; time each until stored."""
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")})
    import django

    django.setup()
    from cluster.models import Cluster, Pod
    from jobs.models import SyncRun
    from routing.snapshots import snapshot_for_cluster

    cluster = Cluster.objects.get(name="bench")
    full_runs = (
        SyncRun.objects.filter(cluster=cluster, mode="full").exclude(status="running").count()
    )
    watcher = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "watch_cluster",
            "bench",
            "--seconds",
            "600",
            "--skip-checks",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()
    while SyncRun.objects.filter(cluster=cluster, mode="full").exclude(
        status="running"
    ).count() == full_runs or not server.watch_requests("pods"):
        time.sleep(0.2)
        if watcher.poll() is not None:
            assert watcher.stderr is not None  # stderr=PIPE
            raise SystemExit(f"watch_cluster exited: {watcher.stderr.read()[-500:]}")
    print(f"watch_cluster: initial list (unchanged) in {time.perf_counter() - started:.1f} s")
    time.sleep(1.0)  # the watches connect
    pods = sorted(server.store.objects["pods"])[:events]
    latencies = []
    for index, key in enumerate(pods):
        obj = server.store.objects["pods"][key]
        label = f"bench-{index}"
        changed = {
            **obj,
            "metadata": {
                **obj["metadata"],
                "labels": {**obj["metadata"].get("labels", {}), "bench": label},
            },
        }
        t0 = time.perf_counter()
        server.store.upsert(changed)
        while not Pod.objects.filter(
            cluster=cluster, namespace=key[0], name=key[1], labels__bench=label
        ).exists():
            time.sleep(0.002)
            if time.perf_counter() - t0 > 10:
                raise SystemExit("event not stored within 10 s")
        latencies.append((time.perf_counter() - t0) * 1000)
    cluster.refresh_from_db()
    t0 = time.perf_counter()
    snapshot_for_cluster(cluster=cluster)
    snapshot_s = time.perf_counter() - t0
    watcher.terminate()
    watcher.wait(timeout=30)
    print(
        f"watch event -> stored row: median {statistics.median(latencies):.0f} ms, "
        f"max {max(latencies):.0f} ms over {len(latencies)} events"
    )
    print(f"engine snapshot of the new revision (full rebuild from the DB): {snapshot_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--zones", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/routescope_bench_sync"
    )
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow "
        "with it; CPU seconds much less)"
    )
    server, kubeconfig = serve(dump_path(args))
    env = database("postgres", args.pg_url)
    run(
        [
            "add_cluster",
            "bench",
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "bench",
            "--sync-every",
            "0",
        ],
        env,
    )
    print(f"{'run':<22} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  result")
    for label in ("first sync", "second (unchanged)"):
        wall, cpu, rss, out = run(["sync_cluster", "bench"], env)
        print(f"{label:<22} {wall:7.1f} {cpu:7.1f} {rss:8.0f}  {out.splitlines()[-1][:110]}")
    from_db = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from jobs.models import SyncRun; "
            "[print(r.status, round(r.fetch_seconds, 1), round(r.apply_seconds, 1)) "
            "for r in SyncRun.objects.order_by('id')]",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    print("SyncRun rows (status, fetch s, diff+store s): " + "; ".join(filter(None, from_db)))
    lists = [q for (_m, p, q) in server.requests if p == "/api/v1/pods" and "watch" not in q]
    print(f"pod list pages per sync: {len(lists) // 2} (limit {lists[0].get('limit')})")
    watch_latency(server, env, args.events)
    server.stop()
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
