"""Import benchmark: a generated 5,000-node dump into SQLite and PostgreSQL.

    .venv/bin/python bench/bench_import.py [--nodes 5000 --services 10000 --pods 150000]
                                           [--db sqlite,postgres] [--pg-url URL]

The dump is generated once with ``cluster.generator`` and cached under ``bench/out/``.
Each import runs ``manage.py import_cluster`` in a child process against a freshly migrated
database, first into an empty database, then again over the same name (the replace path).
Then ``export_cluster`` writes it back out. Prints wall seconds, CPU seconds (steadier on
a shared machine) and the child's peak RSS, measured with ``os.wait4``. Targets: under
60 s and under 2 GB each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def dump_path(args: argparse.Namespace) -> Path:
    """The cached dump for the requested shape (generated on first use)."""
    from cluster.generator import Shape, generate_cluster  # pure: no Django set-up needed

    OUT.mkdir(parents=True, exist_ok=True)
    path = (
        OUT
        / f"import-{args.nodes}n-{args.services}s-{args.pods}p-{args.zones}z-seed{args.seed}.json"
    )
    if not path.exists():
        started = time.perf_counter()
        shape = Shape(
            nodes=args.nodes,
            services=args.services,
            pods=args.pods,
            zones=args.zones,
            seed=args.seed,
        )
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8", buffering=1 << 20) as out:
            generate_cluster(shape=shape, out=out)
        partial.rename(path)
        print(
            f"generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
    return path


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run ``manage.py argv`` in a child; return (wall s, cpu s, peak RSS MB, stdout).

    The child is reaped with ``os.wait4`` so its own resource usage (not the sum over
    every child so far) gives CPU time and peak RSS.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "manage.py", *argv, "--skip-checks"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode:
            raise SystemExit(f"manage.py {' '.join(argv)} failed: {err.read().strip()[-500:]}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


def database(kind: str, pg_url: str, sqlite_name: str = "bench_import.sqlite3") -> dict[str, str]:
    """Environment for a freshly created, migrated database of ``kind``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "SECRET_KEY": "bench"}
    if kind == "sqlite":
        path = OUT / sqlite_name
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{path}"
    else:
        base, _, name = pg_url.rpartition("/")
        quiet = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
        subprocess.run(
            ["psql", f"{base}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {name}"],
            check=True,
            env=quiet,
        )
        subprocess.run(
            ["psql", f"{base}/postgres", "-q", "-c", f"CREATE DATABASE {name}"],
            check=True,
            env=quiet,
        )
        env["DATABASE_URL"] = pg_url
    run(["migrate", "--noinput", "-v", "0"], env)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--pods", type=int, default=150000)
    parser.add_argument("--zones", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/routescope_bench")
    args = parser.parse_args()
    path = dump_path(args)
    print(f"{'database':<10} {'run':<8} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  summary")
    for kind in args.db.split(","):
        env = database(kind, args.pg_url)
        for label in ("import", "replace"):
            wall, cpu, rss, out = run(["import_cluster", str(path), "--name", "bench"], env)
            print(f"{kind:<10} {label:<8} {wall:7.1f} {cpu:7.1f} {rss:8.0f}  {out.splitlines()[0]}")
        exported = OUT / f"bench_export_{kind}.json"
        wall, cpu, rss, _ = run(["export_cluster", "bench", "-o", str(exported)], env)
        size = exported.stat().st_size / 1e6
        print(
            f"{kind:<10} {'export':<8} {wall:7.1f} {cpu:7.1f} {rss:8.0f}"
            f"  {size:.0f} MB written (streamed)"
        )


if __name__ == "__main__":
    main()
