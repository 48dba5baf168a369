"""API benchmark: POST /api/v1/simulate and a filtered endpoint list under gunicorn.

    .venv/bin/python bench/bench_api.py [--db sqlite|postgres] [--duration 20] [--reuse]
        [--connections 20] [--workers 2] [--nodes 5000 --services 10000 --pods 150000]

Steps: generate the dump once with ``manage.py generate_cluster`` (cached under
``bench/out/``), import it with ``manage.py import_cluster`` into a fresh database, print
a token with ``manage.py create_api_token``, start gunicorn on loopback, warm every worker
(each loads the cluster's node table once per revision), then drive ``wrk`` with
``--connections`` concurrent clients: simulate questions rotate over many Services and
source nodes; endpoint lists rotate over Services and nodes. Prints p50/p95/p99 and
requests/s. Targets: simulate p95 < 50 ms, filtered endpoint list p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
#: gunicorn hooks: with --preload the master builds the cluster's node table once before
#: forking, so every worker starts warm (copy-on-write); a simulate then reads only the
#: asked Service's rows (ARCHITECTURE.md, "One-service path"), never the whole cluster.
PRELOAD = ROOT / "bench" / "gunicorn_preload.py"
PY = sys.executable
LUA = """
local requests = {%(requests)s}
local i = 0
request = function()
  i = i + 1
  local r = requests[(i %% #requests) + 1]
  return wrk.format(r[1], r[2], {["Content-Type"] = "application/json",
                                 ["Authorization"] = "Token %(token)s",
                                 ["Host"] = "127.0.0.1"}, r[3])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%f %%f %%f %%f %%d %%d %%d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6),
    summary.requests, summary.errors.status, summary.errors.timeout))
end
"""


def manage(*argv: str, env: dict[str, str]) -> str:
    """Run ``manage.py argv``; stdout, or exit with its stderr."""
    done = subprocess.run(
        [PY, str(ROOT / "manage.py"), *argv], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare(args: argparse.Namespace, env: dict[str, str], database: str) -> str:
    """Dump, database, import, token; returns the token."""
    OUT.mkdir(parents=True, exist_ok=True)
    shape = f"{args.nodes}n-{args.services}s-{args.pods}p-{args.zones}z-seed{args.seed}"
    dump = OUT / f"api-{shape}.json"
    if not dump.exists():
        started = time.perf_counter()
        manage(
            "generate_cluster",
            "--nodes",
            str(args.nodes),
            "--services",
            str(args.services),
            "--pods",
            str(args.pods),
            "--zones",
            str(args.zones),
            "--seed",
            str(args.seed),
            "-o",
            str(dump),
            env=env,
        )
        print(f"generated {dump.name} in {time.perf_counter() - started:.1f} s")
    if not args.reuse:
        load(args, env, dump)
    else:
        manage("migrate", "--noinput", "-v", "0", env=env)  # the code may have moved on
    # Planner statistics: without them SQLite filters endpoints through the (one-valued)
    # cluster index and scans the whole cluster. import_cluster does not refresh them yet,
    # and a migration that rebuilds a table drops them.
    started = time.perf_counter()
    if args.db == "sqlite":
        import sqlite3

        with sqlite3.connect(OUT / "api.sqlite3") as conn:
            conn.execute("ANALYZE")
    else:
        import psycopg

        with psycopg.connect(
            database.replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute("ANALYZE")
    print(f"ANALYZE in {time.perf_counter() - started:.1f} s")
    return manage("create_api_token", "bench", "--create", env=env).strip()


def load(args: argparse.Namespace, env: dict[str, str], dump: Path) -> None:
    """A fresh database with the generated cluster imported as ``bench``."""
    if args.db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(OUT / "api.sqlite3") + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect(args.pg_admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS routescope_bench_api")
            conn.execute("CREATE DATABASE routescope_bench_api")
    manage("migrate", "--noinput", "-v", "0", env=env)
    started = time.perf_counter()
    manage("import_cluster", str(dump), "--name", "bench", env=env)
    print(f"imported into {args.db} in {time.perf_counter() - started:.1f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(
    base: str, path: str, token: str, body: dict | None = None, timeout: float = 120
) -> tuple[float, dict]:
    """One request; (seconds, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method="POST" if data else "GET",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - started, payload


def questions(base: str, token: str, count: int) -> tuple[list, list]:
    """Simulate bodies and endpoint-list paths over many Services and nodes."""
    _, services = get(base, "/api/v1/services?cluster=bench&limit=400&ordering=name", token)
    _, nodes = get(base, "/api/v1/nodes?cluster=bench&limit=200&ordering=name", token)
    keys = [
        s["key"] for s in services["results"] if s["ports"] and s["cluster_ip"] not in ("", "None")
    ]
    names = [n["name"] for n in nodes["results"]]
    bodies, paths = [], []
    for i in range(count):
        key, node = keys[i % len(keys)], names[(i * 7) % len(names)]
        body = {"cluster": "bench", "service": key, "source": f"pod:{node}"}
        svc = next(s for s in services["results"] if s["key"] == key)
        if len(svc["ports"]) > 1:
            body["port"] = str(svc["ports"][0].get("name") or svc["ports"][0]["port"])
        if i % 3 == 1:
            body["set"] = {"internalTrafficPolicy": "Local"}
        bodies.append(body)
        paths.append(
            f"/api/v1/endpoints?cluster=bench&service={key}"
            if i % 2 == 0
            else f"/api/v1/endpoints?cluster=bench&node={node}&ready=true"
        )
    return bodies, paths


def warm(base: str, token: str, bodies: list, workers: int) -> None:
    """Every worker reads its node table on its first simulate (from the pickle or memory):
    ask one question at a time until a run of answers is fast (all workers warm)."""
    started = time.perf_counter()
    fast = 0
    for body in bodies * 10:
        fast = fast + 1 if get(base, "/api/v1/simulate", token, body, timeout=900)[0] < 0.2 else 0
        if fast >= 10 * workers:
            break
    print(f"warm-up (node tables in every worker) {time.perf_counter() - started:.1f} s")


def workers_cpu(master: int) -> float:
    """CPU seconds (user + system) the gunicorn workers used so far: the server's cost per
    request, which a busy machine inflates far less than it inflates latency."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(base: str, token: str, requests: list[tuple[str, str, str]], args) -> list[float]:
    lua_requests = ",\n".join(
        "{" + ", ".join((json.dumps(m), json.dumps(p), json.dumps(b) if b else "nil")) + "}"
        for m, p, b in requests
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % {"requests": lua_requests, "token": token})
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(args.threads),
            "-c",
            str(args.connections),
            "-d",
            f"{args.duration}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return [float(x) for x in line.split()[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--zones", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    # Sync workers (1 thread) measured better on 2 cores than gthread 2x4: threads of one
    # worker contend for its GIL and stretch the tail (simulate p95 61 vs 162 ms).
    parser.add_argument("--server-threads", type=int, default=1, help="gunicorn threads")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of the previous run (skip generate/import)",
    )
    args = parser.parse_args()
    database = (
        f"sqlite:///{OUT / 'api.sqlite3'}"
        if args.db == "sqlite"
        else "postgres://postgres@127.0.0.1:5432/routescope_bench_api"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "THROTTLE_ANON": "10000000/minute",
        "THROTTLE_USER": "10000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    token = prepare(args, env, database)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.server_threads),
            "--timeout",
            "300",
            "--log-level",
            "warning",
            "--preload",
            "-c",
            str(PRELOAD),
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
                get(base, "/api/v1/clusters", token)
                break
            except OSError:
                time.sleep(0.2)
        bodies, paths = questions(base, token, 300)
        warm(base, token, bodies, args.workers)
        print(
            f"{args.connections} clients, {args.duration} s each, gunicorn {args.workers} "
            f"workers x {args.server_threads} threads, {args.db}"
        )
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"{'endpoint':<34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} "
            f"{'requests':>9} {'non-2xx':>8} {'CPU ms/req':>10}"
        )
        for label, reqs, target in (
            (
                "POST /api/v1/simulate",
                [("POST", "/api/v1/simulate", json.dumps(b)) for b in bodies],
                50,
            ),
            ("GET /api/v1/endpoints (filtered)", [("GET", p, "") for p in paths], 100),
        ):
            cpu = workers_cpu(server.pid)
            p50, p95, p99, rps, count, errors, _timeouts = run_wrk(base, token, reqs, args)
            cpu_ms = (workers_cpu(server.pid) - cpu) * 1000 / max(count, 1)
            verdict = "ok" if p95 < target and not errors else f"MISSES {target} ms"
            print(
                f"{label:<34} {p50:8.1f} {p95:8.1f} {p99:8.1f} {rps:8.0f} {int(count):9d} "
                f"{int(errors):8d} {cpu_ms:10.2f}  target p95 < {target} ms: {verdict}"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a request still running: do not wait for it
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


if __name__ == "__main__":
    main()
