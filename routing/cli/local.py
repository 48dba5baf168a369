"""File mode: the answers of ``routescope`` computed here, from a kubectl dump (no Django).

Each function returns exactly the JSON body the REST API returns for the same question,
with ``cluster`` and ``revision`` null (a file is no stored cluster).
"""

from __future__ import annotations

import operator
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from cluster.bounds import Limits
from cluster.dump_json import PodText
from cluster.dump_json import whole as whole_object
from cluster.kube_dump import read_objects
from cluster.plan import (
    KNOWN,
    Key,
    check_object,
    check_objects,
    named_key,
    passes_with_named,
    planned_pod,
    pod_text_checks_out,
)
from routing.cli.forked import may_fork
from routing.engine.kube import snapshot_with_pods_when_read
from routing.engine.scenario import apply_scenario
from routing.engine.snapshot import Snapshot
from routing.whatif.flags import whatif_from_flags
from routing.whatif.preview import ask
from routing.whatif.value import WhatIf


def env_limits() -> Limits:
    """The dump bounds from ``ROUTESCOPE_DUMP_MAX_*`` (as the server's settings read them)."""
    found = {}
    for item in fields(Limits):
        raw = os.environ.get(f"ROUTESCOPE_DUMP_{item.name.upper()}")
        if raw is not None:
            found[item.name] = int(raw)
    return Limits(**found)


def read_dump(path: str, limits: Limits | None = None) -> list[dict[str, Any]]:
    """The objects of a dump file (``-``: standard input), refused as the importer would
    (within ``limits``, by default :func:`env_limits`).

    The reader lets go of a large dump's later objects once ``check_object`` passed them
    (decoding them again at the end): ``check_objects`` then checks only what needs the
    other objects for those, not each again."""
    limits = limits or env_limits()
    objects, checked = _read_settled(path, limits)
    check_objects(objects, limits, checked=checked)
    return objects


def _read_settled(
    path: str, limits: Limits, settle: _Settle | None = None
) -> tuple[list[dict[str, Any]], set[int]]:
    """The dump's objects, read with ``check_object`` run on those the reader let go of,
    and the ``id()`` of those (still to be checked as a whole: ``check_objects``)."""
    settle = settle or _Settle(limits, fork=may_fork())
    settled = settle.settled
    try:
        objects = read_objects(
            sys.stdin.buffer if path == "-" else path, limits=limits, settle=settle
        )
    except BaseException:
        if settle.whole is not None:
            settle.whole.close()
        raise
    # While no earlier element was a nested List, an element's index is its object's: the
    # same object, decoded again (checked here all the same, by what it is).
    checked = settle.recorded
    for index, seen in settled.items():
        obj = objects[index] if index < len(objects) else None
        if obj is not None and _identity(obj) == seen:
            checked.add(id(obj))
    return objects, checked


class _Settle:
    """The dump reader's ``settle``: ``check_object`` on each object it lets go of, noted
    by index with what it is. ``fork``: the reader may have a child settle a large dump's
    Pods (``cluster.dump_json``); it then ``record``s each here, the very object it returns."""

    def __init__(
        self,
        limits: Limits,
        *,
        fork: bool,
        whole: bool = False,
        build: Callable[[list[dict[str, Any]]], Snapshot] | None = None,
    ) -> None:
        self.limits, self.fork = limits, fork
        if whole:  # the child checking the Pods then checks the dump as a whole too
            self.keep_whole_check = self._keep_whole_check
        #: The reader may keep Pods outside kube-system as their text (``PodText``):
        #: the snapshot reads them only when asked for its pods.
        self.pods_as_text = whole
        #: ``build(objects)``: the snapshot, built by :meth:`snapshot_of` (or before the
        #: reader waits for the Pod child, from the elements then in hand).
        self.build = build
        if build is not None:
            self.before_verdict = self._build_early
        self._early: tuple[list[dict[str, Any]], _Built] | None = None
        #: That child (``cluster.dump_json._Aside``), once the read passed.
        self.whole: Any = None
        #: index -> the identity of the object checked (decoded again later).
        self.settled: dict[int, Any] = {}
        #: ``id()`` of the objects ``record``ed (alive: the reader returns them, within
        #: its answer should it not be a List).
        self.recorded: set[int] = set()

    def __call__(self, obj: dict[str, Any], index: int) -> None:
        check_object(obj, index, self.limits)
        if _known(obj):
            self.settled[index] = _identity(obj)  # checked as it is (no kind filled in later)

    #: A v1 Pod's text that ``check_object`` passes (read by the child checking them).
    accepts_pod_text = staticmethod(pod_text_checks_out)

    def record(self, obj: dict[str, Any], index: int) -> None:
        if _known(obj):
            self.recorded.add(id(obj))

    def _keep_whole_check(self, whole: Any) -> None:
        self.whole = whole

    #: A Pod ``check_object`` passed, as much of it as ``check_objects`` reads then.
    planned_pod = staticmethod(planned_pod)

    def check_whole(self, objects: list[dict[str, Any]], checked: set[int]) -> None:
        """``check_objects`` (run by the child, on its own copy of the objects)."""
        check_objects(objects, self.limits, checked=checked)

    #: An element's name, when that is all ``check_objects`` reads of it (the child then
    #: leaves it out of its copy of the objects).
    named_key = staticmethod(named_key)

    def passes_with_named(
        self, objects: list[dict[str, Any]], named: list[Key], checked: set[int]
    ) -> bool:
        """True when ``check_objects`` passes ``objects`` and those ``named`` (run by the
        child; False: it calls ``check_whole`` with them all)."""
        return passes_with_named(objects, named, self.limits, checked=checked)

    def _build_early(self, elements: list[dict[str, Any]]) -> None:
        # (a copy: the reader may yet make a Pod whole in its list)
        self._early = (list(elements), self._built(elements))

    def snapshot_of(self, objects: list[dict[str, Any]]) -> _Built:
        """The snapshot of ``objects`` or the build's error: the one built before the
        Pod child's answer when it was built from these very objects, else built now."""
        early, self._early = self._early, None
        if (
            early is not None
            and len(early[0]) == len(objects)
            and all(map(operator.is_, early[0], objects))
        ):
            return early[1]
        return self._built(objects)

    def _built(self, objects: list[dict[str, Any]]) -> _Built:
        assert self.build is not None
        try:
            return self.build(objects), None
        except Exception as exc:  # the build trusts what the check refuses
            return None, exc


#: A snapshot, or the exception its build raised.
_Built = tuple[Snapshot | None, Exception | None]


def _known(obj: dict[str, Any]) -> bool:
    if type(obj) is PodText:
        return True
    return obj.get("kind") in KNOWN and obj.get("apiVersion") in KNOWN[obj["kind"]]


def _identity(obj: dict[str, Any]) -> tuple[Any, ...]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (obj.get("kind"), obj.get("apiVersion"), meta.get("namespace"), meta.get("name"))


def check_dump(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects fetched from a server, refused as the importer would refuse them."""
    check_objects(objects, env_limits())
    return objects


#: Set by ``routing.cli.main.console`` (``routescope`` run as a command): what a command
#: builds from a large dump (its objects, the snapshot, the report: millions of small
#: containers) is then held here until the process ends, which frees it all at once,
#: instead of being freed one object at a time (about half a second for nothing).
HOLD = False
HELD: list[object] = []


def held(value: Any) -> Any:
    """``value``, kept in :data:`HELD` until the process ends when :data:`HOLD` is set."""
    if HOLD:
        HELD.append(value)
    return value


def load_snapshot(
    path: str, limits: Limits | None = None, *, hold: bool = False, **overrides: object
) -> Snapshot:
    """A dump file as an engine snapshot, refused as :func:`read_dump` refuses it. For a
    large dump the whole check (``check_objects``) runs beside the build in the child the
    reader forked to check the Pods (``cluster.dump_json._Aside``, forked while the heap
    was small: no copy-on-write of the decoded objects); its refusal wins, as in order.
    The reader then keeps the Pods outside kube-system as their text
    (``cluster.dump_json.PodText``): the snapshot's pods are built from them when first
    read (``snapshot_with_pods_when_read``), which the analysis and ``simulate`` never do;
    and the snapshot is built while the child still checks the Pods, when the reader has
    every object in hand by then (``before_verdict``).
    ``hold``: the objects and the snapshot go to :data:`HELD` (when :data:`HOLD`); the
    caller keeps the cyclic GC off meanwhile."""
    with checked_when_done(path, limits, hold=hold, **overrides) as snapshot:
        return snapshot
    raise AssertionError("unreachable: the block returns, or the check raises")


@contextmanager
def checked_when_done(
    path: str, limits: Limits | None = None, *, hold: bool = False, **overrides: object
) -> Iterator[Snapshot]:
    """:func:`load_snapshot`'s snapshot, handed to the block while the child may still be
    checking the dump as a whole: its verdict is asked for when the block ends, and its
    refusal wins over whatever the block raised (what the snapshot is asked trusts what
    the check refuses), as in order. ``routescope analyze FILE`` analyses meanwhile."""
    limits = limits or env_limits()

    def build(objects: list[dict[str, Any]]) -> Snapshot:
        return snapshot_with_pods_when_read(objects, whole_pod=whole_object, **overrides)

    settle = _Settle(limits, fork=may_fork(), whole=True, build=build)
    objects, checked = _read_settled(path, limits, settle)
    aside = settle.whole
    if aside is None:
        check_objects(_whole(objects), limits, checked=checked)
        snapshot: Snapshot | None = build(objects)
        finish: Callable[[], None] = _nothing
    else:  # the child checks the dump as a whole meanwhile; its refusal wins, as in order

        def finish() -> None:
            verdict = aside.whole_verdict(objects)
            if verdict is None:  # no word from it: checked here
                check_objects(_whole(objects), limits, checked=checked)
            elif verdict[0] is not None:
                raise verdict[0]

        try:
            snapshot, error = settle.snapshot_of(objects)
        except BaseException:
            aside.close()
            raise
        if error is not None:
            finish()
            raise error
    assert snapshot is not None
    if hold:
        held(objects)
        held(snapshot)
    try:
        yield snapshot
    except Exception:
        finish()
        raise
    except BaseException:
        if aside is not None:
            aside.close()
        raise
    finish()


def _nothing() -> None:
    pass


def _whole(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` with each ``PodText`` decoded whole, for ``check_objects`` (the caller
    keeps ``objects`` alive meanwhile: the ``id()`` of its checked objects stay theirs)."""
    return [whole_object(obj) for obj in objects]


def simulate_body(
    snapshot: Snapshot,
    *,
    service: str,
    source: str,
    sets: Sequence[str],
    proxy_mode: str | None,
    ipvs_scheduler: str | None,
    **question: Any,
) -> dict[str, Any]:
    """``POST /api/v1/simulate``'s answer."""
    whatif = whatif_from_flags(
        snapshot,
        sets,
        services=[service] if sets else [],
        proxy_mode=proxy_mode,
        ipvs_scheduler=ipvs_scheduler,
    )
    return ask(snapshot, whatif, service=service, source=source, **question)


def analysis(
    snapshot: Snapshot,
    *,
    sets: Sequence[str],
    proxy_mode: str | None,
    ipvs_scheduler: str | None,
    query: Mapping[str, Any],
) -> dict[str, Any]:
    """``GET /api/v1/clusters/{name}/analysis``'s body (``--set`` on ``query``'s Service or
    on every Service)."""
    from routing.bodies import analysis_body
    from routing.cli.forked import analyze_forked

    service = query.get("service")
    whatif = whatif_from_flags(
        snapshot,
        sets,
        services=[service] if service else None,
        proxy_mode=proxy_mode,
        ipvs_scheduler=ipvs_scheduler,
    )
    report = analyze_forked(apply_scenario(snapshot, whatif.scenario()))
    held(report)
    return analysis_body(report, query, cluster=None, revision=None)


def whatif_preview(
    snapshot: Snapshot, whatif: WhatIf, *, services: Sequence[str], sources: Sequence[str] | None
) -> dict[str, Any]:
    """``POST /api/v1/scenarios/{id}/preview``'s body for ``whatif``."""
    from routing.whatif.preview import preview

    result = preview(
        snapshot, whatif, services=services, sources=list(sources) if sources else None
    )
    return {"cluster": None, "revision": None, **result.to_json(), "changes": whatif.changes()}


def rules(
    snapshot: Snapshot, *, node: str, mode: str | None, service: str | None, sets: Sequence[str]
) -> dict[str, Any]:
    """``GET /api/v1/clusters/{name}/rules``'s body (after the ``--set`` what-if)."""
    from routing.bodies import rules_body
    from routing.engine.rules import render_node_rules

    if sets:
        whatif = whatif_from_flags(snapshot, sets, services=[service] if service else None)
        snapshot = apply_scenario(snapshot, whatif.scenario())
    if node not in snapshot.nodes:
        raise ValueError(f"no node {node!r} in this cluster")
    ruleset = render_node_rules(
        snapshot, node, mode or snapshot.proxy_for(node).mode, service=service
    )
    return rules_body(ruleset, cluster=None, service=service)
