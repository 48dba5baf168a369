"""Django side of the engine: the snapshot of a stored cluster, cached per revision."""
from __future__ import annotations

import threading
from collections import OrderedDict

from cluster.models import Cluster
from cluster.selectors import cluster_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.snapshot import Snapshot

#: Snapshots kept in this process; a cluster's revision bumps on every import/sync, so a
#: stale entry is never served, only evicted.
CACHE_SIZE = 8

_cache: OrderedDict[tuple[int, int, float], Snapshot] = OrderedDict()
_lock = threading.Lock()


def snapshot_for_cluster(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` at its current revision (built once per revision)."""
    key = cluster.state_key
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    snapshot = snapshot_from_objects(cluster_objects(cluster=cluster))
    with _lock:
        _cache[key] = snapshot
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return snapshot


def snapshot_cache_clear() -> None:
    """Forget every cached snapshot (tests, or after bulk deletes)."""
    with _lock:
        _cache.clear()
