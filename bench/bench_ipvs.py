"""Throughput of the IPVS request-level simulation, per load-dependent scheduler.

Usage: .venv/bin/python bench/bench_ipvs.py [--requests N] [--repeat R]

For 8 and 200 real servers, runs routing.engine.ipvs.simulate directly (no result cache)
and prints simulated requests per second of wall time (best of R runs), plus the
analytic-path cost of scheduler_shares for the hash schedulers for comparison.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.engine.ipvs import (
    Workload,
    scheduler_shares,
    simulate,
)

LOAD_DEPENDENT = ("lc", "wlc", "sed", "nq", "lblc", "lblcr")
SIZES = (8, 200)


def endpoints(count: int) -> tuple[str, ...]:
    """``count`` distinct pod endpoints, as kube-proxy would name them."""
    return tuple(f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256 + 1}:8080" for i in range(count))


def best_seconds(fn, repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeat`` calls; CPU time is steadier on a busy machine."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"IPVS simulation throughput, {args.requests} requests per run, best of {args.repeat}")
    print(f"{'scheduler':<10}{'endpoints':>10}{'wall s':>10}{'cpu s':>10}{'requests/s (cpu)':>18}")
    for count in SIZES:
        eps = endpoints(count)
        # Heterogeneous service times and a load near saturation, so every rule is exercised.
        workload = Workload(
            requests=args.requests,
            arrival_rate=count * 300.0,
            service_time_ms={e: 8.0 + (i % 5) * 2.0 for i, e in enumerate(eps)},
        )
        for scheduler in LOAD_DEPENDENT:
            wall, cpu = best_seconds(
                functools.partial(
                    simulate.run, endpoints=eps, scheduler=scheduler, workload=workload, seed=1
                ),
                args.repeat,
            )
            print(
                f"{scheduler:<10}{count:>10}{wall:>10.3f}{cpu:>10.3f}{args.requests / cpu:>18,.0f}"
            )
    print("\nAnalytic path (scheduler_shares without a workload), calls/s")
    for count in SIZES:
        eps = endpoints(count)
        for scheduler in ("rr", "sh", "dh", "mh"):
            wall, _ = best_seconds(
                functools.partial(scheduler_shares, endpoints=eps, scheduler=scheduler),
                args.repeat,
            )
            print(f"{scheduler:<10}{count:>10}{wall:>10.5f}{1 / wall:>14,.0f}")


if __name__ == "__main__":
    main()
