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
touched by collections); the two are ``merge``d, which equals the whole analysis
(``routing/tests/test_analysis_shard_rows.py``). Of the child's ``Report`` only what
``merge`` takes comes back, pickled through a pipe as plain tuples (:func:`part_states`:
no Python call per object, unlike the dataclasses' own pickling) in pieces, each built
back straight into the slots (:func:`part_report`) while the child encodes the next: on
the 5,000-node dump ~0.05 CPU s there and ~0.07 here, against ~0.18 and ~0.13, one after
the other, for the ``Report`` pickled whole. The rows' endpoints are the snapshot's own
tuples, which both processes hold since the fork: each goes as the port name it is filed
under. Should the child fail in any way (an exception, no word, a piece missing), this
process analyses its whole part itself: the same report, or the same error.

Only when a core is free (:func:`may_fork`): on a busy box one process answers sooner.
``ROUTESCOPE_ANALYZE_PROCESSES=1`` forces one process, ``=2`` the children whatever the load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, replace
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from cluster.child import Child
from routing.engine.costmodel import DEFAULT_COST_MODEL, CostModel
from routing.engine.snapshot import Snapshot

if TYPE_CHECKING:  # imported where used: every file-mode command loads this module, and
    # the analysis engine is a third of ``routescope simulate``'s start-up
    from routing.engine.analysis import Report

#: Below this many Services one process answers (a fork costs ~10 ms and the transfer more).
FORK_MIN_SERVICES = 2000
#: The child's share of the analysis (by weight), in ``_RUNS`` runs of Services: about
#: half the analysis time on the generated 5,000-node dump (the first Services cost less
#: per weight), the child's encoding (~0.05 CPU s) overlapping this process's decoding
#: (~0.07) piece by piece. (There 0.42 and 0.48 measured ~0.02 and ~0.06 s slower.)
CHILD_SHARE = 0.44
_RUNS = 50
#: Rows per piece of the child's part (:func:`part_states`): this process builds one back
#: while the child encodes the next.
_PIECE_ROWS = 500
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
    from routing.engine.analysis import ServiceTotals, analyze, key_shards, merge, service_weights

    if (processes_for(snapshot) if processes is None else processes) < 2:
        return analyze(snapshot, model=model)
    weights = service_weights(snapshot)
    runs = key_shards(weights, _RUNS, weights=weights)
    cut = _RUNS - round(_RUNS * CHILD_SHARE)
    mine = [key for run in runs[:cut] for key in run]
    theirs = [key for run in runs[cut:] for key in run]
    totals = ServiceTotals.of(snapshot.services)
    child = Child.start_answers(
        lambda wait: part_states(
            analyze(snapshot, model=model, services=theirs, totals=totals), snapshot
        )
    )
    try:
        first = analyze(snapshot, model=model, services=mine, totals=totals)
        part = _part(child, first, snapshot)
    finally:
        child.close(wait=False)  # its end (~20 ms) overlaps the merge and the rendering
    if part is None:  # the child failed in any way: its part is done here
        part = analyze(snapshot, model=model, services=theirs, totals=totals)
    return merge([first, part])


#: One piece of a report as :func:`part_states` writes it: rows, and with the last piece
#: the findings (None before).
PartState = tuple[list[tuple[tuple[Any, ...], list[tuple[tuple[Any, ...], Any]]]], Any]


def part_states(report: Report, snapshot: Snapshot) -> Iterator[PartState]:
    """What ``merge`` takes of ``report`` (its rows and findings; the rest is every part's
    own), in pieces of :data:`_PIECE_ROWS` rows, the findings with the last: tuples,
    lists, dicts, strings and numbers, which pickle without a Python call each. Per row its
    fields but ``sources``, and per source its fields but ``port_endpoints``, with where
    those are: the name of the row's Service's port that holds that very tuple in
    ``snapshot.endpoint_index`` (the tuple itself, by value, in the one case it is not
    there)."""
    row_shape, source_shape, finding_shape = _shapes()
    index = snapshot.endpoint_index
    rows = report.rows
    for start in range(0, len(rows) or 1, _PIECE_ROWS):
        piece = []
        for row in rows[start : start + _PIECE_ROWS]:
            ports = index.get(row.service, {})
            sources = [
                (source_shape.values(source), _endpoints_ref(ports, source.port_endpoints))
                for source in row.sources
            ]
            piece.append((row_shape.values(row), sources))
        last = start + _PIECE_ROWS >= len(rows)
        yield piece, [finding_shape.values(f) for f in report.findings] if last else None


def part_report(pieces: Iterable[PartState], head: Report, snapshot: Snapshot) -> Report:
    """The rows and findings :func:`part_states` wrote, the rest ``head``'s; each source's
    endpoints are ``snapshot``'s own tuple again. ValueError when the pieces end before
    the last."""
    row_shape, source_shape, finding_shape = _shapes()
    index = snapshot.endpoint_index
    service = row_shape.names.index("service")
    rows = []
    for piece, findings in pieces:
        for values, sources in piece:
            ports = index.get(values[service], {})
            built = tuple(
                source_shape.build((*source, ports[ref] if isinstance(ref, str) else ref))
                for source, ref in sources
            )
            rows.append(row_shape.build((*values, built)))
        if findings is not None:
            built_findings = tuple(finding_shape.build(values) for values in findings)
            return replace(head, rows=tuple(rows), findings=built_findings)
    raise ValueError("the report's pieces ended before its findings")


def _part(child: Child, head: Report, snapshot: Snapshot) -> Report | None:
    """The child's part of the report, built here piece by piece as the child sends them
    (it encodes the next meanwhile); None when it has none."""
    try:
        return part_report(_answers(child), head, snapshot)
    except Exception:  # no more word, or not what part_states writes: the caller does it
        return None


def _answers(child: Child) -> Iterator[Any]:
    """The child's answers until it gives no more word or raised."""
    while (outcome := child.next()) is not None and outcome[0]:
        yield outcome[1]


def _endpoints_ref(ports: Mapping[str, tuple[Any, ...]], endpoints: tuple[Any, ...]) -> Any:
    """The name ``endpoints`` is held under in ``ports`` (that very tuple), else itself."""
    return next((name for name, held in ports.items() if held is endpoints), endpoints)


class _Shape:
    """A frozen slotted dataclass's fields but one (``left``): read as one tuple (C's
    ``attrgetter``), and an instance built from them and the one left, straight into its
    slots, no frozen ``__init__`` (as ``routing.engine.types.make_endpoint``)."""

    def __init__(self, cls: type, left: str | None = None) -> None:
        self.cls = cls
        self.names = [item.name for item in fields(cls) if item.name != left]
        self.values = attrgetter(*self.names)
        self.setters = tuple(
            getattr(cls, name).__set__ for name in (*self.names, *([left] if left else []))
        )

    def build(self, values: tuple[Any, ...]) -> Any:
        """An instance of the values :attr:`values` read, then the one left (if any)."""
        obj: Any = object.__new__(self.cls)
        for setter, value in zip(self.setters, values, strict=True):
            setter(obj, value)
        return obj


@cache
def _shapes() -> tuple[_Shape, _Shape, _Shape]:
    """The shapes of a row (but its sources), a source (but its endpoints), a finding."""
    from routing.engine.analysis import Finding, ServiceRow, SourceStats

    return _Shape(ServiceRow, "sources"), _Shape(SourceStats, "port_endpoints"), _Shape(Finding)
