"""A large dump's file-mode commands over two processes (issue 13): the cluster-wide
analysis in two halves. (The dump's check runs in the child the reader forks,
``cluster.dump_json._Aside``.)

``routescope analyze FILE`` and ``manage.py analyze FILE`` build the whole snapshot, then
ask :func:`analyze_forked` instead of :func:`routing.engine.analysis.analyze`: with more
than :data:`FORK_MIN_SERVICES` Services and more than one CPU, one ``os.fork`` child
analyses the last runs of the sorted Services (the Celery shards' split,
``key_shards(weights=)``, weight = ``service_weights``: ``SERVICE_WEIGHT`` + endpoints;
``CHILD_SHARE`` of the weight) while this process analyses the others, both against
the same snapshot (shared copy-on-write; the cyclic GC stays paused, so its pages are not
touched by collections); the child's
``Report`` comes back pickled through a pipe and the two are ``merge``d, which equals the
whole analysis (``routing/tests/test_analysis_shard_rows.py``). The rows' endpoints are
the snapshot's own objects, which both processes hold at the same addresses since the
fork: they are pickled by that address (``reducer_override``) rather than by value, half the
bytes. Should the child fail in any way, this process analyses its part itself: the same
report, or the same error.

Only when a core is free (:func:`may_fork`): on a busy box one process answers sooner.
``ROUTESCOPE_ANALYZE_PROCESSES=1`` forces one process, ``=2`` the children whatever the load.
"""

from __future__ import annotations

import os
import pickle
from typing import IO, TYPE_CHECKING, Any

from cluster.child import Child
from routing.engine.costmodel import DEFAULT_COST_MODEL, CostModel
from routing.engine.snapshot import Snapshot

if TYPE_CHECKING:  # imported where used: every file-mode command loads this module, and
    # the analysis engine is a third of ``routescope simulate``'s start-up
    from routing.engine.analysis import Report

#: Below this many Services one process answers (a fork costs ~10 ms and the pickle more).
FORK_MIN_SERVICES = 2000
#: The child's share of the analysis (by weight), in ``_RUNS`` runs of Services.
CHILD_SHARE = 0.42
_RUNS = 50
#: The variable that decides the processes (1: never fork; 2: fork whatever the load).
PROCESSES_ENV = "ROUTESCOPE_ANALYZE_PROCESSES"


def may_fork() -> bool:
    """True when a second process would run on a free core: two CPUs in this process's
    affinity, ``os.fork``, and (unless ``ROUTESCOPE_ANALYZE_PROCESSES`` says 2) a load
    average leaving one idle. ``ROUTESCOPE_ANALYZE_PROCESSES=1``: never.

    On a busy box the children only add their overhead (about a quarter more CPU time:
    copy-on-write pages, the pickles, work done twice) to cores that are not free: one
    process answers sooner there."""
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    try:
        wanted = int(raw) if raw else 0
    except ValueError:
        wanted = 0
    if wanted == 1 or not hasattr(os, "fork"):
        return False
    cpus = _cpus()
    if cpus < 2:
        return False
    return wanted >= 2 or _load() <= cpus - 0.5


def _load() -> float:
    """The one-minute load average (0 where the OS does not tell it)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def processes_for(snapshot: Snapshot) -> int:
    """How many processes analyse ``snapshot``: 2 for a large one when :func:`may_fork`,
    else 1."""
    return 2 if may_fork() and len(snapshot.services) > FORK_MIN_SERVICES else 1


def analyze_forked(
    snapshot: Snapshot, *, model: CostModel = DEFAULT_COST_MODEL, processes: int | None = None
) -> Report:
    """``analyze(snapshot, model=model)``, over two processes when ``processes`` (by
    default :func:`processes_for`) says 2."""
    from routing.engine.analysis import (
        Report,
        ServiceTotals,
        analyze,
        key_shards,
        merge,
        service_weights,
    )

    if (processes_for(snapshot) if processes is None else processes) < 2:
        return analyze(snapshot, model=model)
    weights = service_weights(snapshot)
    # The child's part is the smaller: pickling its report costs it about a third more.
    runs = key_shards(weights, _RUNS, weights=weights)
    cut = _RUNS - round(_RUNS * CHILD_SHARE)
    mine = [key for run in runs[:cut] for key in run]
    theirs = [key for run in runs[cut:] for key in run]
    totals = ServiceTotals.of(snapshot.services)
    shared = _shared(snapshot)
    child = Child.start(
        lambda: analyze(snapshot, model=model, services=theirs, totals=totals),
        write=lambda out, outcome: _Pickler(out, shared).dump(outcome),
    )
    try:
        first = analyze(snapshot, model=model, services=mine, totals=totals)
    finally:
        outcome = child.outcome(read=lambda pipe: _Unpickler(pipe, shared).load())
    part = outcome[1] if outcome is not None and outcome[0] else None
    if not isinstance(part, Report):  # the child failed in any way: its part is done here
        part = analyze(snapshot, model=model, services=theirs, totals=totals)
    return merge([first, part])


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
    """Pickles a shared object as its address (``reducer_override``: called only for
    objects other than the plain builtins, so strings, numbers and tuples cost no Python
    call each, as a ``persistent_id`` would)."""

    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = shared

    def reducer_override(self, obj: object) -> Any:
        if self.shared.get(id(obj), self) is obj:
            return _shared_object, (id(obj),)
        return NotImplemented


#: The shared objects while :class:`_Unpickler` loads (this process is single-threaded).
_LOADING: dict[int, object] = {}


def _shared_object(address: int) -> object:
    """A shared object by its address (what :class:`_Pickler` wrote for it)."""
    return _LOADING[address]


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file)
        self.shared = shared

    def load(self) -> Any:
        _LOADING.update(self.shared)  # _shared_object reads them
        try:
            return super().load()
        finally:
            _LOADING.clear()
