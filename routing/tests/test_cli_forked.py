"""``routing.cli.forked.analyze_forked``: the file mode's analysis over two processes gives
exactly the one-process report, also when its child fails; and when it forks at all."""

from __future__ import annotations

import io
import json
import os
import pickle
from dataclasses import fields, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.fields import ObjectError
from cluster.generator import Shape, generate_cluster
from cluster.tests import builders as b
from routing.cli import forked
from routing.engine.analysis import analyze
from routing.engine.kube import snapshot_from_objects
from routing.engine.snapshot import Snapshot
from routing.engine.types import Endpoint


def _snapshot(nodes: int, services: int, pods: int, seed: int) -> Snapshot:
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=nodes, services=services, pods=pods, seed=seed), out=out)
    return snapshot_from_objects(json.loads(out.getvalue())["items"])


def _json(report: object) -> str:
    return json.dumps(report.to_json(endpoints=True), sort_keys=True)  # type: ignore[attr-defined]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.integers(1, 12),
    services=st.integers(0, 30),
    pods_per_service=st.integers(0, 4),
    seed=st.integers(0, 10_000),
)
def test_two_processes_give_the_one_process_report(nodes, services, pods_per_service, seed):
    pods = min(services * pods_per_service, nodes * 20)
    snapshot = _snapshot(nodes, services, pods, seed)
    whole = analyze(snapshot)
    split = forked.analyze_forked(snapshot, processes=2)
    assert split == whole
    assert _json(split) == _json(whole)


def test_the_childs_endpoints_come_back_as_the_snapshots_own_tuples():
    snapshot = _snapshot(6, 40, 120, 5)
    split = forked.analyze_forked(snapshot, processes=2)
    second_half = split.rows[len(split.rows) * 2 // 3 :]
    sources = [(row, s) for row in second_half for s in row.sources if s.port_endpoints]
    assert sources
    for row, source in sources:
        ports = snapshot.endpoint_index[row.service]
        assert any(held is source.port_endpoints for held in ports.values())


class _NoObjects(pickle.Pickler):
    """Refuses anything but the builtins pickle writes without a Python call."""

    def reducer_override(self, obj):
        raise AssertionError(f"a {type(obj).__name__} in the state")


@pytest.mark.parametrize("piece_rows", [1, 7, 500])
def test_the_childs_part_goes_as_builtins_and_comes_back_equal(monkeypatch, piece_rows):
    monkeypatch.setattr(forked, "_PIECE_ROWS", piece_rows)
    snapshot = _snapshot(8, 30, 90, 7)
    report = analyze(snapshot)
    pieces = list(forked.part_states(report, snapshot))
    assert len(pieces) == -(-len(report.rows) // piece_rows)
    assert [findings is None for _, findings in pieces] == [True] * (len(pieces) - 1) + [False]
    for piece in pieces:
        _NoObjects(io.BytesIO()).dump(piece)
    head = replace(report, rows=(), findings=())
    back = forked.part_report(pickle.loads(pickle.dumps(pieces)), head, snapshot)
    assert back == report and _json(back) == _json(report)
    for mine, theirs in zip(back.rows, report.rows, strict=True):
        for got, sent in zip(mine.sources, theirs.sources, strict=True):
            assert got.port_endpoints is sent.port_endpoints
    with pytest.raises(ValueError, match="ended before"):
        forked.part_report(pieces[:-1], head, snapshot)
    # One source whose endpoints are not the snapshot's tuple: sent by value.
    row = report.rows[0]
    foreign = (*row.sources[0].port_endpoints, Endpoint("10.9.9.9", 9))
    odd = replace(row, sources=(replace(row.sources[0], port_endpoints=foreign),))
    with_odd = replace(report, rows=(odd, *report.rows[1:]))
    back = forked.part_report(forked.part_states(with_odd, snapshot), head, snapshot)
    assert back == with_odd and back.rows[0].sources[0].port_endpoints == foreign


def test_a_part_without_rows_is_one_piece():
    snapshot = _snapshot(3, 0, 0, 1)
    report = analyze(snapshot)
    assert report.rows == ()
    pieces = list(forked.part_states(report, snapshot))
    assert len(pieces) == 1
    assert forked.part_report(pieces, report, snapshot) == report


def _fails_in_the_child(monkeypatch):
    real = forked.part_states
    here = os.getpid()

    def states(report, snapshot):  # raises only in the child
        if os.getpid() != here:
            raise RuntimeError("torn")
        yield from real(report, snapshot)

    monkeypatch.setattr(forked, "part_states", states)


def _dies_in_the_child(monkeypatch):
    monkeypatch.setattr(forked, "part_states", lambda report, snapshot: os._exit(3))


def _dies_after_its_first_piece(monkeypatch):
    monkeypatch.setattr(forked, "_PIECE_ROWS", 5)
    real = forked.part_states

    def states(report, snapshot):
        pieces = real(report, snapshot)
        yield next(pieces)
        os._exit(0)

    monkeypatch.setattr(forked, "part_states", states)


def _unreadable_here(monkeypatch):
    def broken(pieces, head, snapshot):
        raise KeyError("not what part_states writes")

    monkeypatch.setattr(forked, "part_report", broken)


@pytest.mark.parametrize(
    "failure",
    [_fails_in_the_child, _dies_in_the_child, _dies_after_its_first_piece, _unreadable_here],
)
def test_a_failed_child_is_redone_here(monkeypatch, failure):
    snapshot = _snapshot(6, 40, 100, 3)
    failure(monkeypatch)
    calls = []
    from routing.engine import analysis as engine_analysis  # analyze_forked imports it there

    real = engine_analysis.analyze

    def counted(*args, **kwargs):
        calls.append((os.getpid(), tuple(kwargs.get("services") or ())))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_analysis, "analyze", counted)
    split = forked.analyze_forked(snapshot, processes=2)
    assert split == real(snapshot) and _json(split) == _json(real(snapshot))
    # This process analysed both halves (the child's count stayed in the child).
    assert [pid for pid, _ in calls] == [os.getpid(), os.getpid()]
    assert sorted(key for _, keys in calls for key in keys) == sorted(snapshot.services)


def test_halves_are_weighted_by_endpoints():
    snapshot = _snapshot(4, 10, 60, 1)
    from routing.engine.analysis import SERVICE_WEIGHT, service_weights

    weights = service_weights(snapshot)
    assert set(weights) == set(snapshot.services)
    for key, weight in weights.items():
        endpoints = sum(len(eps) for eps in snapshot.endpoint_index.get(key, {}).values())
        assert weight == SERVICE_WEIGHT + endpoints


@pytest.mark.parametrize(
    ("services", "env", "cpus", "load", "expected"),
    [
        (forked.FORK_MIN_SERVICES + 1, None, 2, 0.3, 2),
        (forked.FORK_MIN_SERVICES + 1, None, 2, 1.5, 2),  # one core free
        (forked.FORK_MIN_SERVICES + 1, None, 2, 1.6, 1),  # busy box: one process
        (forked.FORK_MIN_SERVICES + 1, "2", 2, 6.0, 2),  # forced, whatever the load
        (forked.FORK_MIN_SERVICES, None, 2, 0.3, 1),  # small: one process
        (forked.FORK_MIN_SERVICES + 1, "1", 2, 0.3, 1),  # forced
        (forked.FORK_MIN_SERVICES + 1, "x", 2, 0.3, 2),  # not a number: by the load
        (forked.FORK_MIN_SERVICES + 1, "2", 1, 0.0, 1),  # one CPU
    ],
)
def test_when_it_forks(monkeypatch, services, env, cpus, load, expected):
    assert forked._cpus() >= 1 and forked._load() >= 0
    if env is None:
        monkeypatch.delenv(forked.PROCESSES_ENV, raising=False)
    else:
        monkeypatch.setenv(forked.PROCESSES_ENV, env)
    monkeypatch.setattr(forked, "_cpus", lambda: cpus)
    monkeypatch.setattr(forked, "_load", lambda: load)
    snapshot = Snapshot(services={f"ns/s{i}": None for i in range(services)})
    assert forked.processes_for(snapshot) == expected
    assert forked.may_fork() == (cpus >= 2 and env != "1" and (env == "2" or load <= 1.5))


def test_the_command_process_prints_what_main_returns(capsys):
    """``python -m routing.cli.main`` (``console``: the process ends without freeing what
    it built) prints exactly ``main``'s answer, and refuses bad input the same way."""
    from routing.cli.main import main
    from routing.testing import ROOT, routescope_process

    demo = str(ROOT / "cluster" / "fixtures" / "demo.json")
    for args, code in ((["analyze", demo, "-o", "json"], 0), (["analyze", "/nonexistent"], 2)):
        assert main(args) == code
        mine = capsys.readouterr()
        assert routescope_process(*args) == (code, mine.out, mine.err)


class _Unpicklable(ObjectError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.hook = lambda: None  # pickle refuses a lambda: the child cannot send it


def _dump_file(tmp_path, objects) -> str:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


@pytest.fixture
def pod_child(monkeypatch) -> list[object]:
    """The Pod child from 4 elements on; its verdicts of the whole check, as taken here."""
    from cluster import dump_json
    from routing.cli import local

    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setattr(local, "may_fork", lambda: True)
    verdicts: list[object] = []
    real = dump_json._Aside.whole_verdict

    def spy(self, objects):
        verdicts.append(real(self, objects))
        return verdicts[-1]

    monkeypatch.setattr(dump_json._Aside, "whole_verdict", spy)
    return verdicts


@pytest.mark.parametrize("bad", [None, "Bad_Name", "duplicate"])
def test_load_snapshot_checks_in_the_pod_child_as_read_dump_checks(tmp_path, pod_child, bad):
    from routing.cli import local

    objects = b.small_cluster()
    if bad == "Bad_Name":
        objects[3]["metadata"]["name"] = "Bad_Name"
    elif bad == "duplicate":
        objects.append(json.loads(json.dumps(objects[2])))
    path = _dump_file(tmp_path, objects)
    if bad is None:
        mine, theirs = local.load_snapshot(path), snapshot_from_objects(local.read_dump(path))
        assert [getattr(mine, f.name) for f in fields(mine)] == [
            getattr(theirs, f.name) for f in fields(theirs)
        ]
        assert mine.services and mine.nodes
        assert pod_child == [(None,)]
    else:
        with pytest.raises(ObjectError) as in_order:
            local.read_dump(path)
        with pytest.raises(ObjectError) as beside:
            local.load_snapshot(path)
        assert str(beside.value) == str(in_order.value)
        assert len(pod_child) == 1 and str(pod_child[0][0]) == str(in_order.value)


def _failing_build(*args, **kwargs):
    raise KeyError("built from what the check refuses")


def test_the_whole_checks_refusal_wins_over_the_builds_error(tmp_path, pod_child, monkeypatch):
    from routing.cli import local

    monkeypatch.setattr(local, "snapshot_with_pods_when_read", _failing_build)
    objects = b.small_cluster()
    path = _dump_file(tmp_path, objects)
    with pytest.raises(KeyError, match="built from"):
        local.load_snapshot(path)
    objects[3]["metadata"]["name"] = "Bad_Name"
    path = _dump_file(tmp_path, objects)
    with pytest.raises(ObjectError, match="Bad_Name"):
        local.load_snapshot(path)
    assert [type(v[0]) for v in pod_child] == [type(None), ObjectError]


@pytest.mark.parametrize("bad", [None, "Bad_Name"])
@pytest.mark.parametrize("block", ["passes", "raises"])
def test_the_block_runs_before_the_whole_checks_verdict_which_wins(tmp_path, pod_child, bad, block):
    """``checked_when_done``: the snapshot is asked while the child may still check the
    dump; its refusal comes when the block ends and wins over the block's own error."""
    from routing.cli import local

    objects = b.small_cluster()
    if bad:
        objects[3]["metadata"]["name"] = bad
    path = _dump_file(tmp_path, objects)
    ran: list[int] = []
    with pytest.raises(Exception) as raised:  # (which one is the point)
        with local.checked_when_done(path) as snapshot:
            assert pod_child == []  # no verdict taken yet
            ran.append(len(snapshot.services))
            if block == "raises":
                raise KeyError("asked what the check refuses")
        raise LookupError("nothing refused")
    assert ran == [1] and len(pod_child) == 1
    if bad:
        assert isinstance(raised.value, ObjectError) and "Bad_Name" in str(raised.value)
    elif block == "raises":
        assert isinstance(raised.value, KeyError)
    else:
        assert type(raised.value) is LookupError and pod_child == [(None,)]


def test_a_whole_check_refusal_the_child_cannot_send_is_asked_here(
    tmp_path, pod_child, monkeypatch
):
    from routing.cli import local

    calls: list[int] = []

    def check(self, objects, checked):
        calls.append(os.getpid())
        raise _Unpicklable("bad field")

    monkeypatch.setattr(local._Settle, "check_whole", check)
    with pytest.raises(ObjectError, match="Bad_Name"):
        objects = b.small_cluster()
        objects[3]["metadata"]["name"] = "Bad_Name"
        local.load_snapshot(_dump_file(tmp_path, objects))
    assert pod_child == [None] and calls == []  # the child's call stayed in the child
