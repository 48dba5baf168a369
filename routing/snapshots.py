"""Django side of the engine: the snapshot of a stored cluster, cached per state.

The snapshot lives in the one state cache (``routing.cache``): this process's memory, then
a pickle on disk shared by every process, so only the first process after an import or
sync pays the full rebuild from the database rows. A watch batch advances a cached
snapshot incrementally (``snapshot_advance``) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from cluster.models import Cluster, EndpointSlice
from cluster.selectors import cluster_objects
from routing.cache import StateKey, pickle_path, state_cache
from routing.engine.incremental import NeedsFullRebuild, snapshot_with_changes
from routing.engine.kube import SnapshotError, snapshot_from_objects
from routing.engine.rules.cache import RenderCache
from routing.engine.snapshot import Snapshot

logger = logging.getLogger(__name__)

KIND = "snapshot"
RENDER_KIND = "render"


def snapshot_for_cluster(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` at its current state (built once per state)."""
    return state_cache.get_or_build(
        cluster.state_key,
        KIND,
        lambda: snapshot_from_objects(cluster_objects(cluster=cluster)),
        persisted=Snapshot,
    )


def render_cache_for(*, cluster: Cluster) -> RenderCache:
    """The rule-render cache (``routing.engine.rules.RenderCache``) of ``cluster``'s current
    state: rendering a node reuses the blocks earlier renders of the same snapshot (or of
    what-ifs built on it, which share its endpoint objects) formatted. Pass it to
    ``render_node_rules`` and ``diff_rules`` with that state's snapshot; the engine keeps
    none itself."""
    return state_cache.get_or_build(cluster.state_key, RENDER_KIND, RenderCache)


def snapshot_advance(
    *,
    cluster: Cluster,
    previous_key: StateKey,
    upserts: Iterable[dict],
    deletes: Iterable[tuple[str, str, str]],
    touched_services: Iterable[str] = (),
) -> Snapshot | None:
    """After a watch batch moved ``cluster`` from ``previous_key`` to its current state,
    cache the previous snapshot updated with the batch's changes under the new key (and
    pickle it for the other processes when the watch is next idle).

    Returns the new snapshot, or None when the previous one is not in memory or the
    changes need a full rebuild (cluster-wide kube-proxy settings); the next reader
    then rebuilds as usual. ``cluster`` must carry the new revision; ``touched_services``
    names the owners of deleted EndpointSlices ("namespace/name").
    """
    previous = state_cache.get(previous_key, KIND)
    if previous is None:
        return None

    def service_slices(namespace: str, service: str) -> list:
        return list(
            EndpointSlice.objects.filter(
                cluster=cluster,
                namespace=namespace,
                service_name=service,
            )
            .order_by("pk")
            .values_list("raw", flat=True)
        )

    try:
        snapshot = snapshot_with_changes(
            previous,
            upserts=upserts,
            deletes=deletes,
            service_slices=service_slices,
            touched_services=touched_services,
        )
    except (NeedsFullRebuild, SnapshotError) as why:
        logger.info("cluster %s: snapshot rebuilt in full on next read: %s", cluster.name, why)
        return None
    state_cache.put(cluster.state_key, KIND, snapshot, later=True)
    return snapshot


def snapshot_on_state_advanced(
    sender: object,
    *,
    cluster: Cluster,
    previous_key: StateKey,
    upserts: Iterable[dict],
    deletes: Iterable[tuple[str, str, str]],
    touched_services: Iterable[str] = (),
    **_: object,
) -> None:
    """Receiver of ``cluster.signals.state_advanced`` (connected in ``RoutingConfig.ready``)."""
    snapshot_advance(
        cluster=cluster,
        previous_key=previous_key,
        upserts=upserts,
        deletes=deletes,
        touched_services=touched_services,
    )


def snapshot_on_watch_idle(sender: object, **_: object) -> None:
    """Receiver of ``cluster.signals.watch_idle``: pickle the newest advanced snapshots."""
    state_cache.flush()


def snapshot_path(key: StateKey) -> Path:
    """Where the pickle of the snapshot at ``key`` lives."""
    return pickle_path(key, KIND)


def snapshot_cache_clear() -> None:
    """Forget every cached snapshot, in this process and on disk (tests, or after bulk
    deletes)."""
    state_cache.forget(kind=KIND, disk=True)
    state_cache.forget(kind=RENDER_KIND)


__all__: list[str] = [
    "render_cache_for",
    "snapshot_advance",
    "snapshot_cache_clear",
    "snapshot_for_cluster",
    "snapshot_on_state_advanced",
    "snapshot_on_watch_idle",
    "snapshot_path",
]
