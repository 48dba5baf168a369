"""Memory benchmark: web processes serving one-Service pages of several 5,000-node clusters.

    .venv/bin/python bench/bench_memory.py [--clusters 5] [--workers 2] [--reuse]
        [--overview] [--database-url URL] [--nodes 5000]

Imports the generated cluster (``cluster.generator``: ``--nodes`` nodes, 2 x nodes
Services, 30 x nodes pods, seed 1; cached under ``bench/out/``) ``--clusters`` times
(``mem-1`` …) into a PostgreSQL database of its own, starts ``gunicorn --workers N``
(no ``--preload``: each worker starts empty, as in production), then per cluster asks,
round-robin over the workers: the Service page of a Service, the what-if preview of it
(the explorer with ``etp=Local``), ``POST /api/v1/simulate`` — with ``--overview`` the
cluster's overview page first. Prints each worker's RSS (VmRSS) after each step and their
sum at the end, with the slowest of each step's requests (the first of a cluster reads its
node table).

Targets (issue 13): each web process <= 400 MB after the overview, a Service page and a
what-if preview of the 5,000-node cluster; five such clusters browsed with all web
processes together <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rs_bench_memory"


def manage(*argv: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PY, str(ROOT / "manage.py"), *argv], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """A fresh database with the generated cluster imported ``--clusters`` times."""
    import psycopg
    from bench_pages import dump_path

    dump = dump_path(args.nodes)
    admin, _, name = args.database_url.rpartition("/")
    with psycopg.connect(
        f"{admin}/postgres".replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v", "0", env=env)
    for i in range(1, args.clusters + 1):
        started = time.perf_counter()
        manage("import_cluster", str(dump), "--name", f"mem-{i}", env=env)
        print(f"imported mem-{i} in {time.perf_counter() - started:.1f} s", flush=True)
    with psycopg.connect(
        args.database_url.replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute("ANALYZE")


STORE_ANALYSIS = """
from cluster.models import Cluster
from routing.analysis_jobs import analysis_store_inline
import sys, time
started = time.perf_counter()
cluster = Cluster.objects.get(name=sys.argv[-1])
analysis = analysis_store_inline(cluster=cluster)
print(f"{cluster.name} analysis {analysis.pk} stored ({time.perf_counter() - started:.1f} s)")
"""


def store_analyses(args: argparse.Namespace, env: dict[str, str]) -> None:
    """The stored analysis of every cluster's current revision, each computed in a child
    process of its own (as a Celery worker would): the overview then reads it, as it does
    in production once the analysis job ran, instead of computing it in the web process."""
    for i in range(1, args.clusters + 1):
        done = subprocess.run(
            [
                PY,
                "-c",
                "import django; django.setup(); exec(__import__('sys').argv[1])",
                STORE_ANALYSIS,
                f"mem-{i}",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"storing the analysis of mem-{i} failed: {done.stderr.strip()[-2000:]}")
        print(done.stdout.strip(), flush=True)


def deep_mb(root: object, seen: set[int] | None = None) -> float:
    """Bytes (MB) of ``root`` and everything it references, not counting modules, types,
    functions or objects in ``seen`` (shared with the caller to split overlapping caches)."""
    import gc
    import types

    seen = set() if seen is None else seen
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total / 1024**2


def malloc_free_mb() -> float:
    """Bytes (MB) glibc holds freed but not returned to the system (mallinfo2 fordblks)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
            ).split()
        ]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().fordblks / 1024**2


def cache_sizes(args: argparse.Namespace, env: dict[str, str]) -> None:
    """``--sizes``: the same requests through the Django test client in this one process,
    then, after each cluster, the deep size of each per-process cache (the state cache by
    kind, the one-Service snapshots, the stored analysis columns), glibc's freed-but-kept
    bytes and this process's RSS: where the growth per cluster goes."""
    os.environ.update(env)
    import django

    django.setup()
    from django.test import Client

    from routing import cache, snapshots, stored_analysis

    client = Client(HTTP_HOST="127.0.0.1")
    listing = client.get("/api/v1/services?cluster=mem-1&limit=100&ordering=name").json()
    rows = listing["results"]
    service = next((s for s in rows if s["type"] == "LoadBalancer"), rows[0])
    namespace, name = service["key"].split("/")
    print(f"--sizes: one process, Service {service['key']}; MB after each cluster")
    for i in range(1, args.clusters + 1):
        cluster = f"mem-{i}"
        paths = [f"/clusters/{cluster}/"] if args.overview else []
        paths += [
            f"/clusters/{cluster}/services/{namespace}/{name}/",
            f"/clusters/{cluster}/what-if/?service={namespace}/{name}&etp=Local",
        ]
        for path in paths:
            assert client.get(path).status_code == 200, path
        answer = client.post(
            "/api/v1/simulate",
            {"cluster": cluster, "service": service["key"], "source": "lb"},
            content_type="application/json",
        )
        assert answer.status_code == 200, answer.content[:300]
        seen: set[int] = set()
        sizes: dict[str, float] = {}
        entries = list(cache.state_cache._entries.items())
        kinds = sorted({kind for _, values in entries for kind in values})
        for kind in kinds:  # a kind's size counts what an earlier kind did not
            held = [values[kind] for _, values in entries if kind in values]
            sizes[f"{kind} x{len(held)}"] = deep_mb(held, seen)
        sizes[f"one-Service x{len(snapshots._PARTS)}"] = deep_mb(dict(snapshots._PARTS), seen)
        columns = stored_analysis._columns._values
        sizes[f"columns x{len(columns)}"] = deep_mb(dict(columns), seen)
        figures = "  ".join(f"{k} {v:.1f}" for k, v in sizes.items())
        print(
            f"{cluster}: RSS {rss_mb(os.getpid()):.0f}, malloc free {malloc_free_mb():.0f}; "
            f"{figures}",
            flush=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(base: str, path: str, body: dict | None = None) -> tuple[float, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json", "Host": "127.0.0.1"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:
        payload = response.read()
    return time.perf_counter() - started, payload


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers(master: int) -> list[int]:
    return sorted(
        int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--overview", action="store_true", help="also serve the overview")
    parser.add_argument("--reuse", action="store_true", help="keep the imported clusters")
    parser.add_argument(
        "--sizes",
        action="store_true",
        help="no server: the requests in this process, printing each cache's size per cluster",
    )
    args = parser.parse_args()
    snapshots = OUT / "memory-snapshots"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "ROUTESCOPE_SNAPSHOT_DIR": str(snapshots),
        "ROUTESCOPE_ANONYMOUS_READ": "true",
        "THROTTLE_ANON": "10000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    if not args.reuse:
        prepare(args, env)
    if args.overview:
        store_analyses(args, env)
    for stale in snapshots.glob("*.pickle"):  # every run starts cold
        stale.unlink()
    if args.sizes:
        cache_sizes(args, env)
        return
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--timeout",
            "900",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if server.poll() is not None:
                sys.exit("gunicorn exited; see its output above")
            try:
                fetch(base, "/api/v1/clusters")
                break
            except OSError:
                time.sleep(0.2)
        pids = workers(server.pid)
        print(f"gunicorn {len(pids)} workers, idle RSS MB: {[round(rss_mb(p)) for p in pids]}")
        _, listing = fetch(base, "/api/v1/services?cluster=mem-1&limit=100&ordering=name")
        rows = json.loads(listing)["results"]
        service = next((s for s in rows if s["type"] == "LoadBalancer"), rows[0])
        namespace, name = service["key"].split("/")
        print(f"Service asked: {service['key']} ({service['type']})")
        print(
            f"{'cluster':<8} {'step':<16} {'max ms':>9}   RSS MB per worker "
            f"(the step asked {args.workers} times: workers take them as they are free)"
        )
        peak = 0.0
        for i in range(1, args.clusters + 1):
            cluster = f"mem-{i}"
            steps = [
                ("service page", f"/clusters/{cluster}/services/{namespace}/{name}/", None),
                (
                    "what-if preview",
                    f"/clusters/{cluster}/what-if/?service={namespace}/{name}&etp=Local",
                    None,
                ),
                (
                    "simulate",
                    "/api/v1/simulate",
                    {"cluster": cluster, "service": service["key"], "source": "lb"},
                ),
            ]
            if args.overview:
                steps.insert(0, ("overview", f"/clusters/{cluster}/", None))
            for label, path, body in steps:
                took = max(fetch(base, path, body)[0] for _ in range(args.workers))
                rss = [rss_mb(p) for p in pids]
                peak = max(peak, sum(rss))
                print(f"{cluster:<8} {label:<16} {took * 1000:9.0f}   {[round(r) for r in rss]}")
        rss = [rss_mb(p) for p in pids]
        total = sum(rss)
        print(
            f"after {args.clusters} clusters: workers {[round(r) for r in rss]} MB, "
            f"sum {total:.0f} MB (peak sum {peak:.0f} MB); master {rss_mb(server.pid):.0f} MB"
        )
        print(
            f"target each worker <= 400 MB: {'ok' if max(rss) <= 400 else 'MISSED'}; "
            f"all workers <= 1024 MB: {'ok' if total <= 1024 else 'MISSED'}"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


if __name__ == "__main__":
    main()
