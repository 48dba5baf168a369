"""Where ``routescope analyze FILE``'s time goes: CPU seconds per step, and peak RSS.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_analyze_steps.py [--nodes 5000] [--runs 3]
                                                                  [--modes shipped,unbounded]

Each run is a fresh process doing what ``analyze FILE -o json`` does in one process
(``ROUTESCOPE_ANALYZE_PROCESSES=1``: no fork), one step at a time, cyclic GC off as the
command keeps it: the dump read with the importer's per-object checks
(``routing.cli.local._read_settled``), the cross-object checks (``check_objects``), the
snapshot (``snapshot_with_pods_when_read``, as ``load_snapshot`` builds it), the analysis
and the JSON body. Beside them a plain
``json.load`` of the same file (the issue's yardstick). Modes, interleaved run by run:

- ``shipped``: the reader as it is (its memory bound: past 2x the input + 80 MB of growth,
  elements are checked, dropped and decoded again at the end);
- ``unbounded``: the same with that bound never firing (``cluster.dump_json.limit``
  patched): what keeping every decoded element costs, i.e. what a bound sized on what is
  really kept would give on this dump;
- ``baseline`` (with ``--baseline TREE``): ``shipped`` run from another checkout (say
  ``/work/main``), for before / after figures of a change.

Prints the median CPU seconds per step, peak RSS (MB) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["read", "check", "snapshot", "analyze", "body", "total"]


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def child(mode: str, path: str) -> None:
    """One run of ``mode`` on ``path``: prints {step: CPU s, ..., "peak_mb": MB} as JSON."""
    start = _cpu()
    figures: dict[str, float] = {}
    if mode == "json.load":
        with open(path, "rb") as handle:
            json.load(handle)
        figures["total"] = _cpu() - start
    else:
        import cluster.dump_json as dump_json
        from cluster.dump_json import collector_paused
        from cluster.plan import check_objects
        from routing.bodies import analysis_body
        from routing.cli import local, output
        from routing.engine import kube
        from routing.engine.analysis import analyze

        # As ``load_snapshot`` builds it (pods when read), where the checkout has that.
        snapshot_from_objects = getattr(
            kube, "snapshot_with_pods_when_read", kube.snapshot_from_objects
        )

        if mode == "unbounded":
            dump_json.limit = lambda size: 1 << 62
        limits = local.env_limits()
        start = _cpu()
        with collector_paused():
            mark = start

            def step(name: str) -> None:
                nonlocal mark
                now = _cpu()
                figures[name] = now - mark
                mark = now

            objects, checked = local._read_settled(path, limits)
            step("read")
            check_objects(objects, limits, checked=checked)
            step("check")
            snapshot = snapshot_from_objects(objects)
            step("snapshot")
            report = analyze(snapshot)
            step("analyze")
            body = analysis_body(report, {}, cluster=None, revision=None)
            output.render(body, "json", rows=output.analysis_rows)
            step("body")
            figures["total"] = mark - start
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()
    os._exit(0)  # as ``routescope`` ends: nothing freed one object at a time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="shipped,unbounded")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help="the dump (default: bench_engine.py's cached one)")
    parser.add_argument("--baseline", help="another checkout, run as the mode 'baseline'")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file)
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import dump_path

    path = args.file or str(dump_path(args.nodes))
    modes = ["json.load", *args.modes.split(",")]
    if args.baseline:
        modes.insert(1, "baseline")
    env = {**os.environ, "ROUTESCOPE_ANALYZE_PROCESSES": "1"}
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    loads = []
    for _ in range(args.runs):  # interleaved: a busy spell of the machine hits all alike
        for mode in modes:
            tree = Path(args.baseline).resolve() if mode == "baseline" else ROOT
            command = [sys.executable, __file__, "--child", mode, "--file", path]
            done = subprocess.run(
                command,
                env={**env, "PYTHONPATH": str(tree)},
                cwd=tree,
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode].append(json.loads(done.stdout))
            loads.append(os.getloadavg()[0])
    base = statistics.median(r["total"] for r in results["json.load"])
    print(f"{path}: median of {args.runs} runs, CPU seconds (ROUTESCOPE_ANALYZE_PROCESSES=1)")
    print(f"{'mode':<10}" + "".join(f"{s:>9}" for s in STEPS) + f"{'peak MB':>9}{'/json':>7}")
    for mode in modes:
        runs = results[mode]
        cells = []
        for name in STEPS:
            values = [r[name] for r in runs if name in r]
            cells.append(f"{statistics.median(values):9.2f}" if values else f"{'':>9}")
        peak = statistics.median(r["peak_mb"] for r in runs)
        ratio = statistics.median(r["total"] for r in runs) / base
        print(f"{mode:<10}" + "".join(cells) + f"{peak:9.0f}{ratio:7.2f}")
    print(f"load average (1 min) during the runs: {min(loads):.1f}..{max(loads):.1f}")


if __name__ == "__main__":
    main()
