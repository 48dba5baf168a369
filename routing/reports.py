"""Django side of the cluster-wide analysis: the report of a stored cluster, cached per revision."""
from __future__ import annotations

import threading
from collections import OrderedDict

from cluster.models import Cluster
from routing.engine.analysis import Report, analyze
from routing.engine.scenario import Scenario, apply_scenario
from routing.snapshots import snapshot_for_cluster

#: Reports kept in this process. A cluster's revision bumps on every import/sync, so a
#: stale entry is never served, only evicted.
CACHE_SIZE = 8

_cache: OrderedDict[tuple[int, int, float], Report] = OrderedDict()
_lock = threading.Lock()


def cluster_report(*, cluster: Cluster) -> Report:
    """The cluster-wide analysis of ``cluster`` at its current revision (computed once per revision)."""
    key = cluster.state_key
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    report = analyze(snapshot_for_cluster(cluster=cluster))
    with _lock:
        _cache[key] = report
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return report


def scenario_report(*, cluster: Cluster, scenario: Scenario) -> Report:
    """The analysis of ``cluster`` as it would be after ``scenario`` (not cached; the empty
    scenario gives the cached ``cluster_report``). Raises ``ScenarioError`` on a bad scenario."""
    if scenario.is_empty():
        return cluster_report(cluster=cluster)
    return analyze(apply_scenario(snapshot_for_cluster(cluster=cluster), scenario))


def report_cache_clear() -> None:
    """Forget every cached report (tests, or after bulk deletes)."""
    with _lock:
        _cache.clear()
