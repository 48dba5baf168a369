"""Django side of the engine: the snapshot of a stored cluster, cached per revision.

Two cache levels: this process's memory (``CACHE_SIZE`` entries), then pickles on disk
under ``settings.ROUTESCOPE_SNAPSHOT_DIR`` shared by every worker process, so only the
first process after an import/sync pays the full rebuild from the database rows. A
watch batch advances a cached snapshot incrementally (``snapshot_advance``) instead.
"""
from __future__ import annotations

import logging
import copyreg
import fcntl
import gc
import io
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

from django.conf import settings

from cluster.models import Cluster, EndpointSlice
from cluster.selectors import cluster_objects
from routing.engine.incremental import NeedsFullRebuild, snapshot_with_changes
from routing.engine.kube import SnapshotError, snapshot_from_objects
from routing.engine.rules.cache import RenderCache
from routing.engine.snapshot import Snapshot

logger = logging.getLogger(__name__)

#: Snapshots kept in this process; a cluster's revision bumps on every import/sync, so a
#: stale entry is never served, only evicted.
CACHE_SIZE = 8
#: Pickles kept on disk per cluster (the newest revisions).
DISK_KEEP = 3

StateKey = tuple[int, int, float]
_cache: OrderedDict[StateKey, Snapshot] = OrderedDict()
_lock = threading.Lock()


def snapshot_for_cluster(*, cluster: Cluster) -> Snapshot:
    """The engine snapshot of ``cluster`` at its current revision (built once per revision)."""
    key = cluster.state_key
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    snapshot = _disk_load(key)
    if snapshot is None:
        # One process builds, the others (gunicorn workers missing at the same moment)
        # wait for its pickle: seconds of loading instead of each rebuilding for tens.
        # The pickle is written by a thread that keeps the lock until it is on disk: this
        # request does not wait for the writing, the waiting processes do (and then load).
        lock = _build_lock(key[0])
        try:
            if not snapshot_path(key).is_file():  # nobody wrote it while we waited: build
                snapshot = snapshot_from_objects(cluster_objects(cluster=cluster))
                writer = threading.Thread(target=_store_and_unlock, args=(key, snapshot, lock),
                                          name="snapshot-writer", daemon=True)
                with _pending_lock:
                    _build_writers.add(writer)
                writer.start()
                lock = None
        finally:
            _unlock(lock)
        if snapshot is None:
            snapshot = _disk_load(key)  # outside the lock: waiting processes load in parallel
            if snapshot is None:  # unreadable: rebuild here, rewrite it in the background
                snapshot = snapshot_from_objects(cluster_objects(cluster=cluster))
                _persist_later(key, snapshot)
    _remember(key, snapshot)
    return snapshot


#: Rule-render caches (``routing.engine.rules.RenderCache``) per cluster revision: rendering
#: a node reuses the blocks earlier renders of the same snapshot (or of what-ifs built on
#: it, which share its endpoint objects) formatted. The engine keeps none itself.
_render_caches: OrderedDict[StateKey, RenderCache] = OrderedDict()


def render_cache_for(*, cluster: Cluster) -> RenderCache:
    """The render cache for ``cluster``'s current revision (pass it to ``render_node_rules``
    and ``diff_rules`` with that revision's snapshot)."""
    key = cluster.state_key
    with _lock:
        found = _render_caches.get(key)
        if found is None:
            found = _render_caches[key] = RenderCache()
            while len(_render_caches) > CACHE_SIZE:
                _render_caches.popitem(last=False)
        _render_caches.move_to_end(key)
        return found


def _build_lock(pk: int) -> io.BufferedRandom | None:
    """Take the exclusive lock per cluster across processes and threads (``flock`` on a
    file in the snapshot directory; each call opens its own file, so threads exclude each
    other too); None without a usable directory (then each builds)."""
    try:
        _snapshot_dir().mkdir(parents=True, exist_ok=True)
        handle = open(_snapshot_dir() / f".build-{pk}.lock", "a+b")
    except OSError:
        return None
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _unlock(handle: io.BufferedRandom | None) -> None:
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _store_and_unlock(key: StateKey, snapshot: Snapshot, lock: io.BufferedRandom | None) -> None:
    try:
        _disk_store(key, snapshot)
    finally:
        _unlock(lock)
        with _pending_lock:
            _build_writers.discard(threading.current_thread())


def snapshot_advance(*, cluster: Cluster, previous_key: StateKey, upserts: Iterable[dict],
                     deletes: Iterable[tuple[str, str, str]],
                     touched_services: Iterable[str] = ()) -> Snapshot | None:
    """After a watch batch moved ``cluster`` from ``previous_key`` to its current state,
    cache the previous snapshot updated with the batch's changes under the new key.

    Returns the new snapshot, or None when the previous one is not in memory or the
    changes need a full rebuild (cluster-wide kube-proxy settings); the next reader
    then rebuilds as usual. ``cluster`` must carry the new revision; ``touched_services``
    names the owners of deleted EndpointSlices ("namespace/name").
    """
    with _lock:
        previous = _cache.get(previous_key)
    if previous is None:
        return None

    def service_slices(namespace: str, service: str) -> list:
        return list(EndpointSlice.objects.filter(cluster=cluster, namespace=namespace,
                                                 service_name=service).order_by("pk").values_list("raw", flat=True))

    try:
        snapshot = snapshot_with_changes(previous, upserts=upserts, deletes=deletes,
                                         service_slices=service_slices,
                                         touched_services=touched_services)
    except (NeedsFullRebuild, SnapshotError) as why:
        logger.info("cluster %s: snapshot rebuilt in full on next read: %s", cluster.name, why)
        return None
    _remember(cluster.state_key, snapshot)
    _persist_later(cluster.state_key, snapshot)
    return snapshot


def snapshot_on_state_advanced(sender: object, *, cluster: Cluster, previous_key: StateKey,
                               upserts: Iterable[dict], deletes: Iterable[tuple[str, str, str]],
                               touched_services: Iterable[str] = (), **_: object) -> None:
    """Receiver of ``cluster.signals.state_advanced`` (connected in ``RoutingConfig.ready``)."""
    snapshot_advance(cluster=cluster, previous_key=previous_key, upserts=upserts,
                     deletes=deletes, touched_services=touched_services)


def snapshot_persist_wait(*, timeout: float = 120.0) -> bool:
    """Wait until snapshots queued for disk are written (tests, benchmarks, a watch
    process shutting down); True when nothing is left pending."""
    deadline = time.monotonic() + timeout
    while True:
        with _pending_lock:
            writers = [w for w in (_writer, *_build_writers) if w is not None]
        if not writers:
            return True
        for writer in writers:
            writer.join(max(0.0, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            with _pending_lock:
                return _writer is None and not _pending and not _build_writers


def snapshot_cache_clear() -> None:
    """Forget every cached snapshot, in this process and on disk (tests, or after bulk
    deletes)."""
    with _lock:
        _cache.clear()
        _render_caches.clear()
    with _pending_lock:
        _pending.clear()
    for path in _snapshot_dir().glob("*.pickle"):
        path.unlink(missing_ok=True)


def _remember(key: StateKey, snapshot: Snapshot) -> None:
    with _lock:
        _cache[key] = snapshot
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


# Advanced snapshots reach disk from one background thread, newest per cluster only, so a
# burst of watch events costs one pickle, not one each, and never delays an event.
_pending: dict[int, tuple[StateKey, Snapshot]] = {}
_pending_lock = threading.Lock()
_writer: threading.Thread | None = None
#: Threads writing the pickle of a freshly built snapshot (each holds the build lock).
_build_writers: set[threading.Thread] = set()


def _persist_later(key: StateKey, snapshot: Snapshot) -> None:
    global _writer
    with _pending_lock:
        _pending[key[0]] = (key, snapshot)
        if _writer is None:
            _writer = threading.Thread(target=_write_pending, name="snapshot-writer", daemon=True)
            _writer.start()


def _write_pending() -> None:
    global _writer
    while True:
        with _pending_lock:
            if not _pending:
                _writer = None
                return
            _, (key, snapshot) = _pending.popitem()
        _disk_store(key, snapshot)


def _snapshot_dir() -> Path:
    return Path(settings.ROUTESCOPE_SNAPSHOT_DIR)


def snapshot_path(key: StateKey) -> Path:
    """Where the pickle of the snapshot at ``key`` lives."""
    pk, revision, created = key
    return _snapshot_dir() / f"{pk}-{revision}-{created:.6f}.pickle"


def _disk_load(key: StateKey) -> Snapshot | None:
    """The pickled snapshot at ``key``, or None (missing, unreadable or corrupt: rebuild).

    Only files this project wrote are read: the directory is the server's own, never a
    user upload."""
    path = snapshot_path(key)
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of acyclic objects: collections would dominate
    try:
        with open(path, "rb") as handle:
            snapshot = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - any broken pickle means "rebuild"
        logger.warning("snapshot cache %s ignored: %s", path.name, error)
        return None
    finally:
        if enabled:
            gc.enable()
    return snapshot if isinstance(snapshot, Snapshot) else None


def _disk_store(key: StateKey, snapshot: Snapshot) -> None:
    """Write atomically (temp file + rename) and keep the newest ``DISK_KEEP`` per cluster;
    a full or read-only disk only costs the next process a rebuild."""
    directory = _snapshot_dir()
    enabled = gc.isenabled()
    gc.disable()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(handle, "wb") as out:
                _pickler(_Yielding(out)).dump(snapshot)
            os.replace(temp, snapshot_path(key))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _prune(directory, key[0])
    except Exception as error:  # noqa: BLE001 - the snapshot in memory is still good
        logger.warning("snapshot cache not written: %s", error)
    finally:
        if enabled:
            gc.enable()


def _frozen(mapping: dict) -> MappingProxyType:
    """Unpickling half of the snapshot's read-only mappings."""
    return MappingProxyType(mapping)


def _reduce_proxy(proxy: MappingProxyType) -> tuple:
    return _frozen, (dict(proxy),)


def _pickler(out: object) -> pickle.Pickler:
    """A pickler that also writes ``MappingProxyType`` (the snapshot's frozen mappings),
    which plain pickle refuses."""
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_proxy}
    return pickler


class _Yielding:
    """A file wrapper whose ``write`` (once per 64 KB pickle frame) lets other threads run:
    the C pickler otherwise holds the GIL for long stretches, and a watch event or a
    request in this process would wait behind seconds of pickling."""

    def __init__(self, out: io.BufferedIOBase) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        written = self._out.write(data)
        time.sleep(0)
        return written


def _prune(directory: Path, pk: int) -> None:
    stale = time.time() - 600
    for temp in directory.glob(".tmp-*.pickle"):  # left by a process killed mid-write
        try:
            if temp.stat().st_mtime < stale:
                temp.unlink(missing_ok=True)
        except OSError:
            continue
    mine: list[tuple[float, int, Path]] = []
    for path in directory.glob(f"{pk}-*-*.pickle"):
        _, revision, created = path.stem.split("-", 2)
        try:
            mine.append((float(created), int(revision), path))
        except ValueError:
            continue
    for *_, path in sorted(mine, reverse=True)[DISK_KEEP:]:
        path.unlink(missing_ok=True)


__all__: list[str] = ["snapshot_advance", "snapshot_cache_clear", "snapshot_for_cluster", "snapshot_on_state_advanced",
                      "snapshot_path", "snapshot_persist_wait"]
