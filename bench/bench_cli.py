"""``routescope`` from a script: wall time per call, in fresh processes (as a CI job runs it).

- ``routescope simulate`` on the demo dump (``cluster/fixtures/demo.json``), beside
  ``manage.py simulate`` for the same question (the Django start-up ``routescope`` avoids);
- ``--analyze``: ``routescope analyze`` of the generated 5,000-node dump end to end,
  beside a plain ``json.load`` of it (target <= 1x);
- ``--check``: ``routescope check`` of a 20-document change (Services with
  ``externalTrafficPolicy`` flipped) against the generated 5,000-node dump, beside a plain
  ``json.load`` of that dump (the dump is the one ``bench_engine.py`` caches): wall and CPU;
- ``--daemonset``: ``routescope check`` of a DaemonSet on the dump's largest zone (~2,000
  nodes) that a Service selects: wall, CPU, peak RSS.

Runs ``python -m routing.cli.main`` (what the ``routescope`` entry point calls), so it needs
no installed script. Targets: simulate <= 150 ms per call; check <= 2x json.load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "cluster" / "fixtures" / "demo.json"
QUESTION = ["--service", "shop/frontend", "--port", "http", "--source", "external:node-a1"]
TARGET_SIMULATE_MS = 150.0
TARGET_CHECK_RATIO = 2.0
TARGET_ANALYZE_RATIO = 1.0


def wall(command: list[str], runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall ms of ``runs`` fresh processes of ``command`` (exit status checked); their CPU
    ms (user + system) are appended to ``cpu`` when given."""
    out = []
    for _ in range(runs):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        out.append((time.perf_counter() - started) * 1000)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu is not None:
            cpu.append((now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime) * 1000)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command[:4])}: exit {proc.returncode}: {proc.stderr}")
    return out


def ratios(
    name: str, base: tuple[list[float], list[float]], it: tuple[list[float], list[float]]
) -> float:
    """Print wall and CPU medians of ``it`` over ``base``; return the wall ratio."""
    (base_wall, base_cpu), (it_wall, it_cpu) = base, it
    wall_ratio = statistics.median(it_wall) / statistics.median(base_wall)
    cpu_ratio = statistics.median(it_cpu) / statistics.median(base_cpu)
    it_s, base_s = statistics.median(it_cpu) / 1000, statistics.median(base_cpu) / 1000
    print(
        f"{name} / json.load: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f} "
        f"(median CPU s {it_s:.2f} vs {base_s:.2f}; load average {os.getloadavg()[0]:.1f})"
    )
    return wall_ratio


def show(name: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    print(f"{name:<44} median {median:7.1f} ms   p95 {p95:7.1f} ms   ({len(samples)} runs)")
    return median


def compiled() -> None:
    """Bytecode for the project's modules, as ``make venv`` leaves it (``.venv/.cli``): a
    stale or missing ``.pyc`` would be compiled again by every call where
    PYTHONDONTWRITEBYTECODE is set, and the figures would time the compiler."""
    packages = ["routing", "cluster", "core", "jobs"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], cwd=ROOT, check=True)


def bench_simulate(runs: int) -> bool:
    compiled()
    cli = [sys.executable, "-m", "routing.cli.main", "simulate", str(DEMO), *QUESTION, "-o", "json"]
    manage = [sys.executable, "manage.py", "simulate", str(DEMO), *QUESTION, "--json"]
    median = show("routescope simulate (demo dump)", wall(cli, runs))
    show("manage.py simulate (same question)", wall(manage, max(3, runs // 4)))
    ok = median <= TARGET_SIMULATE_MS
    print(f"target <= {TARGET_SIMULATE_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return ok


def change_of(dump: Path, count: int = 20) -> Path:
    """``count`` of the dump's Services with externalTrafficPolicy flipped, as YAML."""
    import yaml

    with open(dump, encoding="utf-8") as handle:
        items = json.load(handle)["items"]
    services = [
        o
        for o in items
        if o["kind"] == "Service" and o["spec"].get("type") in ("NodePort", "LoadBalancer")
    ][:count]
    docs = []
    for obj in services:
        spec = {k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")}
        etp = spec.get("externalTrafficPolicy", "Cluster")
        spec["externalTrafficPolicy"] = "Cluster" if etp == "Local" else "Local"
        meta = {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
    path = dump.with_name(dump.stem + f"-change{count}.yaml")
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def check_command(dump: Path, change: Path) -> list[str]:
    """``routescope check --cluster DUMP CHANGE -o json`` in a fresh interpreter."""
    cli = [sys.executable, "-m", "routing.cli.main", "check"]
    return [*cli, "--cluster", str(dump), str(change), "-o", "json"]


def bench_check(nodes: int, runs: int) -> bool:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import dump_path

    dump = dump_path(nodes)
    change = change_of(dump)
    load = [sys.executable, "-c", f"import json; json.load(open({str(dump)!r}))"]
    check = check_command(dump, change)
    base_cpu: list[float] = []
    check_cpu: list[float] = []
    base_wall: list[float] = []
    check_wall: list[float] = []
    for _ in range(runs):  # interleaved: a busy spell of the machine hits both alike
        base_wall += wall(load, 1, base_cpu)
        check_wall += wall(check, 1, check_cpu)
    show(f"json.load of the {nodes}-node dump", base_wall)
    show("routescope check (20-document change)", check_wall)
    ratio = ratios("check", (base_wall, base_cpu), (check_wall, check_cpu))
    print(
        f"check / json.load = {ratio:.2f} wall (target <= {TARGET_CHECK_RATIO:.0f}): "
        f"{'met' if ratio <= TARGET_CHECK_RATIO else 'MISSED'}"
    )
    return ratio <= TARGET_CHECK_RATIO


def daemonset_change(dump: Path) -> tuple[Path, str]:
    """A DaemonSet on the dump's most common zone, selected by a NodePort / LoadBalancer
    Service with Cluster policies and no topology (its endpoints then sit on some 2,000
    nodes), as YAML; (path, the Service's key)."""
    import yaml

    with open(dump, encoding="utf-8") as handle:
        items = json.load(handle)["items"]
    zones: dict[str, int] = {}
    for obj in items:
        if obj["kind"] == "Node":
            zone = obj["metadata"].get("labels", {}).get("topology.kubernetes.io/zone")
            if zone:
                zones[zone] = zones.get(zone, 0) + 1
    zone = max(zones, key=lambda z: zones[z])
    svc = next(
        o
        for o in items
        if o["kind"] == "Service"
        and o["spec"].get("type") in ("NodePort", "LoadBalancer")
        and o["spec"].get("externalTrafficPolicy", "Cluster") == "Cluster"
        and o["spec"].get("internalTrafficPolicy", "Cluster") == "Cluster"
        and "trafficDistribution" not in o["spec"]
        and not o["metadata"].get("annotations")
    )
    labels = dict(svc["spec"]["selector"])
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-agent", "namespace": svc["metadata"]["namespace"]},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "nodeSelector": {"topology.kubernetes.io/zone": zone},
                    "containers": [{"name": "agent", "image": "agent:1"}],
                },
            },
        },
    }
    path = dump.with_name(dump.stem + "-daemonset.yaml")
    path.write_text(yaml.safe_dump(daemon, sort_keys=False))
    return path, f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"


def bench_daemonset(nodes: int, runs: int) -> None:
    """``routescope check`` of a DaemonSet reaching ~2,000 nodes that a Service selects:
    wall, CPU and peak RSS per run (the preview's per-node questions were nodes x
    endpoints before hosting nodes were bundled: 155 s CPU, 5.5 GB)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import dump_path

    dump = dump_path(nodes)
    change, key = daemonset_change(dump)
    check = check_command(dump, change)
    for _ in range(runs):
        took, cpu, peak, code, out = measured(check)
        if code not in (0, 1):
            raise SystemExit(f"check --daemonset: exit {code}")
        report = json.loads(out)
        print(
            f"routescope check, DaemonSet behind {key}: wall {took:.1f} s, CPU {cpu:.1f} s, "
            f"peak RSS {peak / 1024:.0f} MB; {len(report['findings'])} findings "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        print(f"  {report['notes'][0] if report['notes'] else ''}")


def measured(command: list[str]) -> tuple[float, float, int, int, bytes]:
    """(wall s, CPU s, peak RSS KiB, exit status, stdout) of one fresh process."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode, out.read()


def bench_analyze(nodes: int, runs: int) -> bool:
    """``routescope analyze DUMP`` end to end (read, the importer's checks, snapshot,
    analysis, JSON out) beside a plain ``json.load`` of the same file, in the same run,
    interleaved (a busy spell of the shared machine hits both alike): wall and CPU (user +
    system of the process and its forked children)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import dump_path

    dump = dump_path(nodes)
    load = [sys.executable, "-c", f"import json; json.load(open({str(dump)!r}))"]
    analyze = [sys.executable, "-m", "routing.cli.main", "analyze", str(dump), "-o", "json"]
    base_wall: list[float] = []
    base_cpu: list[float] = []
    it_wall: list[float] = []
    it_cpu: list[float] = []
    for _ in range(runs):
        base_wall += wall(load, 1, base_cpu)
        it_wall += wall(analyze, 1, it_cpu)
    show(f"json.load of the {nodes}-node dump", base_wall)
    show("routescope analyze (end to end)", it_wall)
    ratio = ratios("analyze", (base_wall, base_cpu), (it_wall, it_cpu))
    print(
        f"analyze / json.load = {ratio:.2f} wall (target <= {TARGET_ANALYZE_RATIO:.1f}): "
        f"{'met' if ratio <= TARGET_ANALYZE_RATIO else 'MISSED'}"
    )
    return ratio <= TARGET_ANALYZE_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="also time check on a big dump")
    parser.add_argument("--analyze", action="store_true", help="also time analyze on it")
    parser.add_argument(
        "--daemonset", action="store_true", help="also time check of a DaemonSet on ~2,000 nodes"
    )
    parser.add_argument("--nodes", type=int, default=5000)
    args = parser.parse_args()
    ok = bench_simulate(args.runs)
    if args.check:
        ok = bench_check(args.nodes, max(1, min(args.runs, 3))) and ok
    if args.analyze:
        ok = bench_analyze(args.nodes, max(3, args.runs // 10)) and ok
    if args.daemonset:
        bench_daemonset(args.nodes, 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
