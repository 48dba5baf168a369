"""Rules benchmark: one node's full iptables-restore text, and the all-nodes rule diff for a
one-Service flip, on a generated 5,000-node / 10,000-Service / 150,000-endpoint cluster.

Targets (issue 7): each under 1 s. Run: ``.venv/bin/python bench/bench_rules.py``.
The generated dump is cached in bench/out/.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def _generate(path: Path, nodes: int, services: int, pods: int) -> None:
    from cluster.generator import Shape, generate_cluster

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        generate_cluster(
            shape=Shape(nodes=nodes, services=services, pods=pods, zones=3, seed=7), out=out
        )


def _fresh_cache():
    """An empty render cache: a from-scratch render keeps nothing from the previous one
    but the chain-name hashes (naming.*, pure functions of the names)."""
    from routing.engine.rules.cache import RenderCache

    return RenderCache()


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared 2-core machine under load the
    wall time mostly measures the other processes; the CPU time is what the work costs."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _fmt(t: tuple[float, float]) -> str:
    return f"{t[1]:.3f} s CPU ({t[0]:.3f} s wall)"


def main() -> None:
    from cluster.kube_dump import read_objects
    from routing.engine.kube import snapshot_from_objects
    from routing.engine.rules import render_node_rules
    from routing.engine.rules.diff import diff_rules
    from routing.engine.rules.render import total_endpoints
    from routing.engine.scenario import Scenario, apply_scenario

    nodes, services, pods = 5000, 10000, 150000
    path = ROOT / "bench" / "out" / f"rules-{nodes}n-{services}s-{pods}p.json"
    if not path.exists():
        t = time.perf_counter()
        _generate(path, nodes, services, pods)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    snap = snapshot_from_objects(read_objects(path))
    print(
        f"loaded snapshot: {len(snap.nodes)} nodes, {len(snap.services)} services, "
        f"{total_endpoints(snap)} endpoints in {time.perf_counter() - t:.1f} s"
        " (not part of the targets)"
    )

    node = sorted(snap.nodes)[len(snap.nodes) // 2]

    for mode in ("iptables", "nftables"):
        times = []
        for _ in range(3):
            cache = _fresh_cache()
            times.append(
                _timed(functools.partial(render_node_rules, snap, node, mode, cache=cache))
            )
        rs = render_node_rules(snap, node, mode)
        print(
            f"render {mode:8} one node ({node}): {len(rs.text.splitlines()):>7} lines, "
            f"{len(rs.text) / 1e6:.1f} MB: "
            f"first {_fmt(times[0])} (chain-name hashes computed), "
            f"then best {_fmt(min(times[1:], key=lambda t: t[1]))} "
            "(rendered from scratch, hashes cached); target < 1 s"
        )

    other = sorted(snap.nodes)[len(snap.nodes) // 2 + 3]
    cache = _fresh_cache()
    render_node_rules(snap, node, "iptables", cache=cache)  # the first node fills the block cache
    print(
        f"render iptables another node ({other}) right after: "
        f"{_fmt(_timed(lambda: render_node_rules(snap, other, 'iptables', cache=cache)))} "
        "(blocks shared with the first node are reused)"
    )

    sizes = sorted(
        snap.services, key=lambda k: sum(len(v) for v in snap.endpoint_index.get(k, {}).values())
    )
    for label, key in (("median-size", sizes[len(sizes) // 2]), ("largest", sizes[-1])):
        svc = snap.services[key]
        flip = "Local" if svc.internal_traffic_policy == "Cluster" else "Cluster"
        whatif = apply_scenario(
            snap, Scenario(service_overrides={key: {"internalTrafficPolicy": flip}})
        )
        # A fresh cache per call, made inside the timed call (its cost counts).
        took = _timed(
            lambda whatif=whatif: diff_rules(snap, whatif, "iptables", cache=_fresh_cache())
        )
        summary = diff_rules(snap, whatif, "iptables").to_json()
        hosts = len({e.node for v in snap.endpoint_index.get(key, {}).values() for e in v})
        print(
            f"diff iptables, all {summary['nodes_total']} nodes, "
            f"iTP flip of the {label} Service {key} "
            f"({sum(len(v) for v in snap.endpoint_index.get(key, {}).values())} endpoints"
            f" on {hosts} nodes): "
            f"{summary['nodes_changed']} nodes change, {summary['render_classes']} render classes, "
            f"in {_fmt(took)} (target < 1 s)"
        )
    print(
        f"load average during the run: {Path('/proc/loadavg').read_text().split()[0]}"
        f" on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
