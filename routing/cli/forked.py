"""The cluster-wide analysis of a large dump over two processes (file mode, issue 13).

``routescope analyze FILE`` and ``manage.py analyze FILE`` build the whole snapshot, then
ask :func:`analyze_forked` instead of :func:`routing.engine.analysis.analyze`: with more
than :data:`FORK_MIN_SERVICES` Services and more than one CPU, one ``os.fork`` child
analyses the second half of the Services (the Celery shards' split,
``key_shard(weights=)``, weight = ``SERVICE_WEIGHT`` + the Service's endpoints) while this
process analyses the first, both against the same snapshot (shared copy-on-write; the
cyclic GC stays paused, so its pages are not touched by collections); the child's
``Report`` comes back pickled through a pipe and the two are ``merge``d, which equals the
whole analysis (``routing/tests/test_analysis_shard_rows.py``). The rows' endpoints are
the snapshot's own objects, which both processes hold at the same addresses since the
fork: they are pickled by that address (a persistent id) rather than by value, half the
bytes. Should the child fail in any way, this process analyses its half itself: the same
report, or the same error.

``ROUTESCOPE_ANALYZE_PROCESSES=1`` forces one process.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections.abc import Mapping
from typing import IO, Any

from routing.engine.analysis import Report, ServiceTotals, analyze, key_shard, merge
from routing.engine.costmodel import DEFAULT_COST_MODEL, CostModel
from routing.engine.snapshot import Snapshot

#: Below this many Services one process answers (a fork costs ~10 ms and the pickle more).
FORK_MIN_SERVICES = 2000
#: Analysing a Service costs about as much as 8 of its endpoints (``routing.snapshots``).
SERVICE_WEIGHT = 8
#: The variable that caps the processes (1: never fork).
PROCESSES_ENV = "ROUTESCOPE_ANALYZE_PROCESSES"


def processes_for(snapshot: Snapshot) -> int:
    """How many processes analyse ``snapshot``: 2 for a large one on a multi-core box
    (``os.fork`` available), else 1; ``ROUTESCOPE_ANALYZE_PROCESSES`` caps it."""
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    try:
        cap = int(raw) if raw else 2
    except ValueError:
        cap = 2
    if cap < 2 or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return 1
    return 2 if len(snapshot.services) > FORK_MIN_SERVICES else 1


def service_weights(snapshot: Snapshot) -> dict[str, int]:
    """Key -> ``SERVICE_WEIGHT`` + the Service's endpoints (over its ports)."""
    endpoints: Mapping[str, Mapping[str, tuple[object, ...]]] = snapshot.endpoint_index
    return {
        key: SERVICE_WEIGHT + sum(len(eps) for eps in endpoints.get(key, {}).values())
        for key in snapshot.services
    }


def analyze_forked(
    snapshot: Snapshot, *, model: CostModel = DEFAULT_COST_MODEL, processes: int | None = None
) -> Report:
    """``analyze(snapshot, model=model)``, over two processes when ``processes`` (by
    default :func:`processes_for`) says 2."""
    if (processes_for(snapshot) if processes is None else processes) < 2:
        return analyze(snapshot, model=model)
    weights = service_weights(snapshot)
    mine, theirs = (key_shard(weights, shard, 2, weights=weights) for shard in (0, 1))
    totals = ServiceTotals.of(snapshot.services)
    shared = _shared(snapshot)
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its half, pickled down the pipe, then gone without clean-up
        status = 0
        try:
            os.close(read)
            part = analyze(snapshot, model=model, services=theirs, totals=totals)
            with os.fdopen(write, "wb") as out:
                _Pickler(out, shared).dump(part)
        except BaseException:  # the parent redoes the half (and raises)
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    try:
        first = analyze(snapshot, model=model, services=mine, totals=totals)
    finally:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    second = _part(data, shared) if os.waitstatus_to_exitcode(status) == 0 else None
    if second is None:
        second = analyze(snapshot, model=model, services=theirs, totals=totals)
    return merge([first, second])


def _shared(snapshot: Snapshot) -> dict[int, object]:
    """``id()`` -> object of the snapshot's endpoint tuples and endpoints (alive in both
    processes, at the same address, as long as this mapping holds them)."""
    out: dict[int, object] = {}
    tuples = [eps for ports in snapshot.endpoint_index.values() for eps in ports.values()]
    tuples += [eps for ports in snapshot.family_endpoints.values() for eps in ports.values()]
    tuples += list(snapshot.unserved_endpoints.values())
    for eps in tuples:
        out[id(eps)] = eps
        for ep in eps:
            out[id(ep)] = ep
    return out


class _Pickler(pickle.Pickler):
    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = shared

    def persistent_id(self, obj: object) -> int | None:
        return id(obj) if self.shared.get(id(obj), self) is obj else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid: Any) -> object:
        return self.shared[pid]


def _part(data: bytes, shared: dict[int, object]) -> Report | None:
    try:
        part = _Unpickler(io.BytesIO(data), shared).load()  # our own child's bytes
    except Exception:  # a torn pipe: the parent analyses that half
        return None
    return part if isinstance(part, Report) else None
