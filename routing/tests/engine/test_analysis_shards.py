"""The analysis split into shards of Services and merged equals the whole analysis.

What the stored analysis (``routing/analysis_jobs.py``) relies on to spread one revision's
analysis over several Celery workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.kube_dump import read_objects
from routing.engine.analysis import analyze, key_shard, merge
from routing.engine.kube import snapshot_from_objects
from routing.tests.engine.test_analysis_properties import clusters

DEMO = Path(__file__).resolve().parents[3] / "cluster" / "fixtures" / "demo.json"


def _demo():
    return snapshot_from_objects(read_objects(DEMO))


@pytest.mark.parametrize("of", [1, 2, 3, 7, 64])
def test_demo_shards_merged_equal_the_whole_report(of: int) -> None:
    snapshot = _demo()
    whole = analyze(snapshot)
    parts = [analyze(snapshot, services=key_shard(snapshot.services, i, of)) for i in range(of)]
    merged = merge(parts)
    assert merged.to_json(endpoints=True) == whole.to_json(endpoints=True)
    assert merged.summary() == whole.summary()
    assert len(whole.findings) > 0 and len(whole.rows) > 1  # the demo has something to split


def test_shards_cover_every_service_once() -> None:
    snapshot = _demo()
    keys = [k for i in range(5) for k in key_shard(snapshot.services, i, 5)]
    assert keys == sorted(snapshot.services)
    with pytest.raises(ValueError):
        key_shard(snapshot.services, 5, 5)


def test_one_shard_has_only_its_services() -> None:
    snapshot = _demo()
    keys = key_shard(snapshot.services, 0, 3)
    part = analyze(snapshot, services=keys)
    assert {r.service for r in part.rows} <= set(keys)
    assert {f.service for f in part.findings} <= set(keys)
    assert part.services == len(snapshot.services)  # cluster totals stay the cluster's


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.integers(1, 4))
def test_random_clusters_shards_merged_equal_the_whole(cluster, of) -> None:
    objects, overrides = cluster
    snapshot = snapshot_from_objects(objects, **overrides)
    whole = analyze(snapshot)
    merged = merge(
        [analyze(snapshot, services=key_shard(snapshot.services, i, of)) for i in range(of)]
    )
    assert merged.to_json(endpoints=True) == whole.to_json(endpoints=True)


def test_sized_shards_cover_every_key_once_in_their_shares() -> None:
    keys = [f"ns/s{i:03}" for i in range(100)]
    sizes = [1.0, 0.7, 0.49, 0.343, 0.2401, 0.16807]
    for weights in (None, dict.fromkeys(keys, 3)):
        shards = [key_shard(keys, i, 6, weights=weights, sizes=sizes) for i in range(6)]
        assert [k for shard in shards for k in shard] == keys  # contiguous runs, in order
        assert [len(shard) for shard in shards] == [34, 24, 16, 12, 8, 6]
    # A heavy key takes the share it falls in; the shares after it stay as sized.
    heavy = dict.fromkeys(keys, 1) | {"ns/s000": 60}
    shards = [key_shard(keys, i, 3, weights=heavy, sizes=[2, 1, 1]) for i in range(3)]
    assert shards[0][0] == "ns/s000" and [k for s in shards for k in s] == keys
    assert [len(shard) for shard in shards] == [20, 40, 40]
    # Equal sizes cut as no sizes do.
    assert [key_shard(keys, i, 4, weights=heavy, sizes=[5, 5, 5, 5]) for i in range(4)] == [
        key_shard(keys, i, 4, weights=heavy) for i in range(4)
    ]
    for bad in ([1.0, 1.0], [1.0, 0.0, 1.0], [1.0, -1.0, 1.0]):
        with pytest.raises(ValueError):
            key_shard(keys, 0, 3, sizes=bad)
