"""Timeline benchmark (issue 14): one Service, a 100-pod rollout, on the generated
5,000-node / 10,000-service / 150,000-pod cluster (3 zones, seed 1).

    .venv/bin/python bench/bench_timeline.py [--nodes 5000] [--pods-behind 100] [--runs 5]

The dump comes from ``cluster.generator`` (as ``manage.py generate_cluster --nodes 5000
--services 10000 --pods 150000 --zones 3 --seed 1``) and is cached under ``bench/out/``.
Set-up (not timed): the snapshot; the Service is the LoadBalancer with the most pods
(externalTrafficPolicy=Local preferred, the hard case: per-node health checks); its pods
are given one Deployment (the generator writes no ownerReferences), which is scaled to
``--pods-behind`` replicas with ``apply_scenario`` when it has fewer. Timed:
``run_timeline(event="rollout")`` with the default timing (aws-nlb preset,
maxSurge/maxUnavailable 25 %), recommendations and their re-runs included; median of
``--runs`` (each run starts cold: nothing is shared between runs). Wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

TARGET_S = 1.0


def dump_path(nodes: int) -> Path:
    from cluster.generator import Shape, generate_cluster

    path = OUT / f"engine-{nodes}n-{2 * nodes}s-{30 * nodes}p-seed1.json"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", buffering=1 << 20) as out:
            generate_cluster(
                shape=Shape(nodes=nodes, services=2 * nodes, pods=30 * nodes, zones=3, seed=1),
                out=out,
            )
        tmp.rename(path)
    return path


def pick_service(snapshot):
    """(snapshot with the Service's pods owned by a Deployment, service key, owner, pods):
    the LoadBalancer Service with the most endpoints, eTP=Local first. The generator
    writes no ownerReferences, so the set-up gives the Service's pods one Deployment (as
    ``kubectl create deployment`` would) before the rollout."""
    from dataclasses import replace

    best = None
    for key, service in snapshot.services.items():
        if service.type != "LoadBalancer" or not service.ports:
            continue
        pods = [
            ep.pod
            for ep in snapshot.endpoints(key, service.ports[0].name)
            if ep.pod in snapshot.pods
        ]
        rank = (service.external_traffic_policy == "Local", len(pods))
        if pods and (best is None or rank > best[0]):
            best = (rank, key, pods)
    if best is None:
        raise SystemExit("no LoadBalancer Service with pods in the dump")
    _, key, pods = best
    service = snapshot.services[key]
    owned = dict(snapshot.pods)
    for pod in pods:
        owned[pod] = replace(owned[pod], owner=f"Deployment/{service.name}")
    return snapshot.evolve(pods=owned), key, f"{service.namespace}/{service.name}", len(pods)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-behind", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from routing.engine.kube import snapshot_from_objects
    from routing.engine.scenario import Scenario, apply_scenario
    from routing.engine.timeline import TimelineRequest, run_timeline

    started = time.perf_counter()
    path = dump_path(args.nodes)
    with open(path, encoding="utf-8") as handle:
        objects = json.load(handle)["items"]
    snapshot = snapshot_from_objects(objects)
    del objects
    snapshot, service, owner, count = pick_service(snapshot)
    if count < args.pods_behind:
        snapshot = apply_scenario(snapshot, Scenario(scale={owner: args.pods_behind}))
    behind = len(snapshot.endpoints(service, snapshot.services[service].ports[0].name))
    print(
        f"set-up {time.perf_counter() - started:.1f} s: {len(snapshot.nodes)} nodes, "
        f"{len(snapshot.services)} services; "
        f"{service} (eTP={snapshot.services[service].external_traffic_policy}), owner {owner}: "
        f"{count} -> {behind} endpoints"
    )

    walls, cpus, out = [], [], None
    for _ in range(args.runs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = run_timeline(snapshot, TimelineRequest(service=service, event="rollout"))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    assert out is not None
    print(
        f"rollout timeline: {len(out['steps'])} steps, {len(out['windows'])} windows, "
        f"{len(out['recommendations'])} recommendations (each re-run)"
    )
    print(
        f"median of {args.runs}: {wall:.3f} s wall, {cpu:.3f} s CPU  (target < {TARGET_S:g} s)  "
        f"{'OK' if wall < TARGET_S else 'OVER'}"
    )


if __name__ == "__main__":
    main()
