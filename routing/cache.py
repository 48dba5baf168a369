"""One cache for everything derived from a stored cluster's state, keyed by its state key.

The key is ``cluster.state_key`` (pk, revision, creation time): every write to a cluster's
objects bumps its revision, so an entry is never stale, only evicted. Under each key sit
values by kind (``"snapshot"``, ``"report"``, ``"overview"``); the newest ``KEEP`` keys
stay in this process's memory, and of a kind listed in ``KIND_KEEP`` only that many (the
whole-cluster snapshot: one per process, whatever the number of clusters).

One build lock: per cluster and kind, an ``flock`` on a file in
``settings.ROUTESCOPE_SNAPSHOT_DIR``. It keeps out other processes and, each taker opening
its own file, other threads; so the first request after an import or sync builds, and the
requests missing at the same moment wait for it instead of building too.

Persisted kinds (the engine snapshot) are also pickled to that directory, written whole
before the lock is released (temp file + rename, the newest ``DISK_KEEP`` per cluster): a
process that misses in memory loads the pickle instead of rebuilding from the database.
A missing, unreadable or corrupt pickle only means "build it". A value that arrives by
another road (a watch batch advancing the snapshot) can be written ``later``: ``flush``
writes the newest such value per cluster and kind, when its caller is idle (the watch
sends ``cluster.signals.watch_idle``), so a burst of events costs one pickle, not one each;
``flush(background=True)`` leaves the writing to a forked child at ``nice`` 19 (one at a
time: what comes meanwhile is written by the next child, the newest per cluster and kind).
"""

from __future__ import annotations

import copyreg
import fcntl
import io
import logging
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from django.conf import settings

logger = logging.getLogger(__name__)

StateKey = tuple[int, int, float]
T = TypeVar("T")

#: Cluster states kept in memory (each with all its kinds).
KEEP = 8
#: Pickles kept on disk per cluster and kind (the newest states).
DISK_KEEP = 3
#: Kinds kept in fewer states than ``KEEP``: a whole-cluster snapshot of a 5,000-node
#: cluster holds ~0.9 GB, so a process keeps one (the newest used). A caller may bound its
#: kind by a setting instead (``put(..., keep=N)``): the per-cluster node tables of the
#: one-service path (``routing.snapshots``, ``ROUTESCOPE_NODE_TABLES_KEEP``).
KIND_KEEP = {"snapshot": 1}


class StateCache:
    """Values derived from a cluster's state, by (state key, kind). Thread-safe."""

    def __init__(self, *, keep: int = KEEP, kind_keep: dict[str, int] | None = None) -> None:
        self.keep = keep
        self.kind_keep = dict(KIND_KEEP if kind_keep is None else kind_keep)
        self._entries: OrderedDict[StateKey, dict[str, Any]] = OrderedDict()
        self._guard = threading.Lock()  # guards _entries/_later; never held while building
        self._later: dict[tuple[int, str], StateKey] = {}
        #: goes up on every put and forget: what is in memory may have changed since a
        #: reader last looked (``routing.snapshots._parts_prune`` skips its pass when not)
        self.changes = 0
        self._writers: list[threading.Thread] = []  # reapers of background flushes
        self._writing = False  # a child writes: later background flushes wait for it
        self._deferred: dict[tuple[int, str], tuple[StateKey, str]] = {}

    def get(self, key: StateKey, kind: str) -> Any | None:
        """The value in memory, or None."""
        with self._guard:
            values = self._entries.get(key)
            if values is None or kind not in values:
                return None
            self._entries.move_to_end(key)
            return values[kind]

    def put(
        self,
        key: StateKey,
        kind: str,
        value: Any,
        *,
        persist: bool = False,
        later: bool = False,
        keep: int | None = None,
    ) -> None:
        """Remember ``value``; with ``persist`` also pickle it for other processes now,
        with ``later`` at the next :meth:`flush`. ``keep``: at most that many states hold
        ``kind`` (least recently used out), instead of ``KIND_KEEP``'s bound."""
        with self._guard:
            self.changes += 1
            self._entries.setdefault(key, {})[kind] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.keep:
                self._entries.popitem(last=False)
            limit = self.kind_keep.get(kind) if keep is None else max(1, keep)
            if limit is not None:
                holding = [k for k, values in reversed(self._entries.items()) if kind in values]
                for old in holding[limit:]:  # least recently used first out
                    del self._entries[old][kind]
            if later:
                self._later[(key[0], kind)] = key
        if persist:
            self._store(key, kind, value)

    def flush(
        self,
        *,
        kinds: Collection[str] | None = None,
        skip: Collection[str] = (),
        background: bool = False,
    ) -> None:
        """Pickle the values put ``later`` (the newest per cluster and kind; only ``kinds``
        when given, never ``skip``), each under its build lock, so a process waiting for it
        then loads it. With ``background`` they are written by a forked child at the
        lowest CPU priority (``nice`` 19), so the write takes only a core nobody else wants
        (the analysis' shard workers run meanwhile); :meth:`wait_background` waits for it."""
        with self._guard:
            chosen = {
                slot: key
                for slot, key in self._later.items()
                if (kinds is None or slot[1] in kinds) and slot[1] not in skip
            }
            for slot in chosen:
                del self._later[slot]
        values = [
            (key, kind, value)
            for (_pk, kind), key in chosen.items()
            if (value := self.get(key, kind)) is not None
        ]
        if not values:
            return
        if background and hasattr(os, "fork"):
            with self._guard:
                if self._writing:  # one child at a time: the running one's reaper takes these
                    for key, kind, _value in values:
                        self._deferred[(key[0], kind)] = (key, kind)
                    return
                self._writing = True
            self._store_in_child(values)
            return
        self._store_all(values)

    def _store_all(self, values: list[tuple[StateKey, str, Any]]) -> None:
        """Pickle each value under its build lock (a process waiting for it then loads it)."""
        for key, kind, value in values:
            with self.build_lock(key, kind):
                self._store(key, kind, value)

    def _store_in_child(self, values: list[tuple[StateKey, str, Any]]) -> None:
        """Write ``values`` from a forked child at ``nice`` 19 (copy-on-write: the child
        sees this process' values as they are now, and only writes files), reaped by a
        thread of this process, which then hands what was deferred meanwhile (the newest
        per cluster and kind) to the next child: one child at a time, so a burst of idle
        watches never holds several copies of a large snapshot."""
        try:
            pid = os.fork()
        except OSError as error:  # no child (memory, process limits): write them here
            logger.warning("state cache written in the foreground: %s", error)
            with self._guard:
                self._writing = False
            self._store_all(values)
            return
        if pid == 0:  # the child: write, then leave without running any of the parent's exits
            code = 1
            try:
                _lowest_priority()
                self._store_all(values)
                code = 0
            finally:
                os._exit(code)
        reaper = threading.Thread(
            target=self._reap, args=(pid,), name=f"state-cache-writer-{pid}", daemon=True
        )
        with self._guard:
            self._writers = [t for t in self._writers if t.is_alive()] + [reaper]
        reaper.start()

    def _reap(self, pid: int) -> None:
        os.waitpid(pid, 0)
        while True:
            with self._guard:
                deferred, self._deferred = self._deferred, {}
                if not deferred:
                    self._writing = False
                    return
            values = [
                (key, kind, value)
                for key, kind in deferred.values()
                if (value := self.get(key, kind)) is not None
            ]
            if values:
                self._store_in_child(values)  # its own reaper takes over
                return

    def wait_background(self, timeout: float | None = None) -> bool:
        """Wait for the pickles :meth:`flush` handed to children (those deferred to a next
        child too); False when one is still being written after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._guard:
                writers = [t for t in self._writers if t.is_alive()]
            if not writers:
                return True
            for writer in writers:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                writer.join(left)

    def keys_holding(self, kind: str) -> set[StateKey]:
        """The states whose ``kind`` is in memory."""
        with self._guard:
            return {key for key, values in self._entries.items() if kind in values}

    def find(self, key: StateKey, kind: str, *, persisted: type) -> Any | None:
        """The value at ``key`` from memory, else from its pickle (then kept in memory);
        None when neither has it. Never builds."""
        value = self.get(key, kind)
        if value is None:
            value = self._load(key, kind, persisted)
            if value is not None:
                self.put(key, kind, value)
        return value

    def get_or_build(
        self,
        key: StateKey,
        kind: str,
        build: Callable[[], T],
        *,
        persisted: type | None = None,
        keep: int | None = None,
    ) -> T:
        """The value at ``key``: from memory, else (``persisted``: the pickle's type) from
        disk, else ``build()``, once, under the build lock (``keep``: see :meth:`put`)."""
        value = self.get(key, kind)
        if value is not None:
            return value
        with self.build_lock(key, kind):
            value = self.get(key, kind)  # built by another thread while we waited
            if value is None and persisted is not None:
                value = self._load(key, kind, persisted)  # or written by another process
                if value is not None:
                    self.put(key, kind, value, keep=keep)
            if value is None:
                value = build()
                self.put(key, kind, value, persist=persisted is not None, keep=keep)
        return value

    def forget(self, *, kind: str | None = None, disk: bool = False) -> None:
        """Drop ``kind`` and its ``kind:…`` variants (every kind by default) from memory; with
        ``disk`` its pickles too
        (tests, benchmarks, or rows written behind the revision's back)."""
        with self._guard:
            self.changes += 1
            self._later.clear()
            for values in self._entries.values():
                if kind is None:
                    values.clear()
                else:  # the kind, and its variants "kind:…" (e.g. per cost model)
                    for name in [k for k in values if k == kind or k.startswith(f"{kind}:")]:
                        del values[name]
        if disk:
            pattern = "*.pickle" if kind is None else f"*-{kind}.pickle"
            for path in _directory().glob(pattern):
                path.unlink(missing_ok=True)

    @contextmanager
    def build_lock(self, key: StateKey, kind: str) -> Iterator[None]:
        """The one build lock of (cluster, kind); without a usable directory, none (each
        builds)."""
        try:
            _directory().mkdir(parents=True, exist_ok=True)
            handle: io.BufferedRandom | None = open(  # noqa: SIM115 - held across the yield
                _directory() / f".build-{key[0]}-{kind}.lock", "a+b"
            )
        except OSError:
            handle = None
        if handle is None:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _load(self, key: StateKey, kind: str, expected: type) -> Any | None:
        # Only files this project wrote are read: the directory is the server's own.
        path = pickle_path(key, kind)
        try:
            with open(path, "rb") as handle:
                value = pickle.load(handle)
        except FileNotFoundError:
            return None
        except Exception as error:  # any broken pickle means "rebuild"
            logger.warning("state cache %s ignored: %s", path.name, error)
            return None
        return value if isinstance(value, expected) else None

    def _store(self, key: StateKey, kind: str, value: Any) -> None:
        """Write atomically and keep the newest ``DISK_KEEP``; a full or read-only disk only
        costs the next process a rebuild."""
        directory = _directory()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pickle")
            try:
                with os.fdopen(handle, "wb") as out:
                    _pickler(out).dump(value)
                os.replace(temp, pickle_path(key, kind))
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            _prune(directory, key[0], kind)
        except Exception as error:  # the value in memory is still good
            logger.warning("state cache not written: %s", error)


#: The process's one cache.
state_cache = StateCache()


def _lowest_priority() -> None:
    """This (forked) process at the lowest CPU priority: ``nice`` 19, in a session of its
    own whose autogroup is at ``nice`` 19 too. With the kernel's autogroups (Linux's
    default for processes outside a cgroup), a process's nice only ranks it inside its
    session: left in the watch's session, the child would still take that session's whole
    share of the CPU from other sessions' processes (the shard workers)."""
    os.nice(19)
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write("19")
    except OSError:  # no autogroups (or not Linux): the plain nice is what there is
        pass


def pickle_path(key: StateKey, kind: str) -> Path:
    """Where the pickle of ``kind`` at ``key`` lives."""
    pk, revision, created = key
    return _directory() / f"{pk}-{revision}-{created:.6f}-{kind}.pickle"


def _directory() -> Path:
    return Path(settings.ROUTESCOPE_SNAPSHOT_DIR)


def _frozen(mapping: dict) -> MappingProxyType:
    """Unpickling half of the snapshot's read-only mappings."""
    return MappingProxyType(mapping)


def _reduce_proxy(proxy: MappingProxyType) -> tuple:
    return _frozen, (dict(proxy),)


def _pickler(out: io.BufferedIOBase) -> pickle.Pickler:
    """A pickler that also writes ``MappingProxyType`` (the snapshot's frozen mappings),
    which plain pickle refuses."""
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_proxy}
    return pickler


def _prune(directory: Path, pk: int, kind: str) -> None:
    stale = time.time() - 600
    for temp in directory.glob(".tmp-*.pickle"):  # left by a process killed mid-write
        try:
            if temp.stat().st_mtime < stale:
                temp.unlink(missing_ok=True)
        except OSError:
            continue
    for old in directory.glob(f"{pk}-*-*.pickle"):
        if old.stem.count("-") == 2:  # "pk-revision-created": named before kinds, never read
            old.unlink(missing_ok=True)
    mine: list[tuple[float, int, Path]] = []
    for path in directory.glob(f"{pk}-*-{kind}.pickle"):
        try:
            _, revision, created, _kind = path.stem.split("-", 3)
            mine.append((float(created), int(revision), path))
        except ValueError:
            continue
    for *_, path in sorted(mine, reverse=True)[DISK_KEEP:]:
        path.unlink(missing_ok=True)
