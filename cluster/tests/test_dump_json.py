"""The fast JSON path (cluster.dump_json): taken for ordinary dumps, left to the exact
reader for whatever only it words, and bounded in memory by dropping and re-decoding."""

from __future__ import annotations

import io
import json
import os
import signal

import pytest

from cluster import dump_json
from cluster.bounds import DEFAULT_LIMITS, Limits
from cluster.kube_dump import DumpError, read_objects
from cluster.tests import builders as b


def _dump(*items) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)}).encode()


def _checked(data: bytes, limits: Limits = DEFAULT_LIMITS):
    seen: list[tuple[str, bool]] = []
    found = dump_json.fast_documents(
        data, limits, lambda item, where, walk: seen.append((where, walk))
    )
    return found, seen


def test_an_ordinary_dump_takes_the_fast_path_with_the_same_objects():
    data = _dump(*b.small_cluster())
    found, seen = _checked(data)
    assert found == [json.loads(data)]
    assert list(found[0]) == list(json.loads(data))  # keys in the text's order
    assert [where for where, _ in seen] == [
        f"top level, items[{i}]" for i in range(len(b.small_cluster()))
    ]
    assert read_objects(io.BytesIO(data)) == json.loads(data)["items"]


def _split_in_one_pass(monkeypatch) -> list[bool]:
    """Notes, per fast read, whether the List's items were found in one pass."""
    taken: list[bool] = []
    real = dump_json._decode_list

    def decode_list(data):
        try:
            found = real(data)
        except Exception:
            taken.append(False)
            raise
        taken.append(True)
        return found

    monkeypatch.setattr(dump_json, "_decode_list", decode_list)
    return taken


@pytest.mark.parametrize(
    "head",
    [
        {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}},
        {"kind": "PodList", "apiVersion": "v1"},
        {"apiVersion": "v1"},  # a List that lost its kind
        {},
    ],
)
def test_a_common_list_has_its_items_found_in_one_pass(monkeypatch, head):
    taken = _split_in_one_pass(monkeypatch)
    items = b.small_cluster()
    data = json.dumps({**head, "items": items}).encode()
    found, seen = _checked(data)
    assert taken == [True]
    # The same document (a List's own keys are not kept in the text's order: the caller
    # reads its items only).
    assert found == [json.loads(data)]
    assert [where for where, _ in seen] == [f"top level, items[{i}]" for i in range(len(items))]
    assert read_objects(io.BytesIO(data)) == items


@pytest.mark.parametrize(
    ("text", "whole", "split"),
    [
        # another key: the general way, keys in the text's order
        (b'{"kind": "List", "items": [{"kind": "Node"}], "extra": {"a": 1}}', False, False),
        # split, but no List: the general way, checked whole
        (b'{"items": [{"kind": "Node"}], "kind": "Node"}', True, True),
        (b'{"kind": "List", "items": null}', True, False),
        (b'{"kind": "List", "items": {"a": 1}}', True, False),
    ],
)
def test_any_other_document_with_items_is_read_the_general_way(monkeypatch, text, whole, split):
    taken = _split_in_one_pass(monkeypatch)
    found, seen = _checked(text)
    assert found == [json.loads(text)]
    assert list(found[0]) == list(json.loads(text))  # keys in the text's order
    assert ("top level", True) in seen if whole else seen == [("top level, items[0]", False)]
    assert taken == [split]


def test_repeated_items_keys_read_as_the_exact_reader_reads_them(monkeypatch):
    taken = _split_in_one_pass(monkeypatch)
    text = b'{"kind": "List", "items": [{"kind": "Node"}], "items": [{"kind": "Pod"}]}'
    found, _ = _checked(text)
    assert taken == [True]
    assert found == [json.loads(text)] == [{"kind": "List", "items": [{"kind": "Pod"}]}]


def test_a_bare_array_and_a_single_object_take_the_fast_path():
    node = b.node("n1")
    assert _checked(json.dumps([node]).encode())[0] == [[node]]
    found, seen = _checked(json.dumps(node).encode())
    assert found == [node] and seen == [("top level", True)]


@pytest.mark.parametrize(
    "text",
    [
        b'{"kind": "List", "items": [{"kind": "Node", "x": NaN}]}',
        b'{"kind": "List", "items": [{"kind": "Node", "x": "a\\u0000b"}]}',
        b'{"kind": "List", "items": [{"kind": "Node", "x": "\\ud800"}]}',
        b'{"kind": "List", "items": [{"kind": "Node", "x": 12345678901234567890}]}',
        b'{"kind": "List", "items": [{"kind": "Node", "x": 1.5}]} {"kind": "Node"}',
        b'\xef\xbb\xbf{"kind": "Node"}',
        b'{"kind": "Node", "name": "\xff"}',
        b'{"kind": "List", "items": [' + b"[]," * 2_000_000 + b"[]]}",
    ],
    ids=[
        "NaN",
        "NUL escape",
        "surrogate",
        "past 64 bits",
        "two documents",
        "BOM",
        "not UTF-8",
        "comma-dense",
    ],
)
def test_what_only_the_exact_reader_words_is_left_to_it(text):
    found, seen = _checked(text, Limits(max_string=100))
    assert found is None


def test_elements_whose_text_could_break_a_bound_are_walked():
    plain = b.node("n3")
    text = json.dumps(plain).encode()
    limits = Limits(max_depth=text.count(b"{") + text.count(b"[") + 2, max_string=len(text) + 300)
    deep = b.node("n1")
    deep["spec"]["x"] = json.loads("[" * limits.max_depth + "]" * limits.max_depth)
    long = b.node("n2")
    long["metadata"]["labels"] = {"a": "v" * 2000}
    # More brackets than the depth limit, but side by side: its text shows it shallow.
    wide = b.node("n4")
    wide["spec"]["x"] = [[] for _ in range(limits.max_depth)]
    # Brackets inside strings do not count; an escaped quote hides where strings end.
    quoted = b.node("n5")
    quoted["metadata"]["labels"] = {"a": "]" * 3, "b": "[" * limits.max_depth}
    escaped = b.node("n6")
    escaped["spec"]["x"] = [[] for _ in range(limits.max_depth)] + ['a"b']
    _, seen = _checked(_dump(deep, long, plain, wide, quoted, escaped), limits)
    assert [walk for _, walk in seen] == [True, True, False, False, False, True]


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b"[[], {}, [1]]", 2),
        (b'{"a": [1, {"b": []}], "c": "}}]]"}', 4),
        (b'{"a": "[[[[", "b": {"c": {}}}', 3),
        (b"[" * 50 + b"]" * 50, 11),  # past the most asked: most + 1
        (b'{"a": "x\\"y"}', 11),  # an escaped quote: past the most
    ],
)
def test_depth_is_read_off_the_text(text, depth):
    assert json.loads(text) is not None  # valid JSON
    assert dump_json._depth(text, 10) == depth


def test_past_the_memory_bound_elements_are_dropped_and_decoded_again(monkeypatch):
    monkeypatch.setattr(dump_json, "limit", lambda size: -1)  # nothing may be kept
    monkeypatch.setattr(dump_json, "_MEASURE_EVERY", 1)
    items = [b.node(f"n{i}") for i in range(5)]
    data = _dump(*items)
    kept: list[object] = []
    real = dump_json.Retention.keep

    def keep(self, nbytes):
        kept.append(real(self, nbytes))
        return kept[-1]

    monkeypatch.setattr(dump_json.Retention, "keep", keep)
    assert read_objects(io.BytesIO(data)) == items
    assert kept == [False] * 5


def test_a_bad_element_is_refused_after_the_dropped_ones_with_its_path(monkeypatch):
    monkeypatch.setattr(dump_json, "limit", lambda size: -1)
    monkeypatch.setattr(dump_json, "_MEASURE_EVERY", 1)
    bad = b.node("n9")
    bad["metadata"]["labels"] = {"a": "v" * 400}
    with pytest.raises(DumpError, match=r"items\[3\] \(Node n9\): metadata.labels.a is a string"):
        read_objects(
            io.BytesIO(_dump(*(b.node(f"n{i}") for i in range(3)), bad)),
            limits=Limits(max_string=300),
        )


class _Settle:
    """A settle that may hand the Pods to a child (``fork``), refusing objects named in
    ``bad``; notes which it checked here and which it was told of (``record``)."""

    def __init__(self, bad=(), error=DumpError, fork=True):
        self.bad, self.error, self.fork = set(bad), error, fork
        self.checked: list[int] = []
        self.recorded: list[int] = []

    def __call__(self, obj, index):
        if obj.get("metadata", {}).get("name") in self.bad:
            raise self.error(f"object {index + 1} refused")
        self.checked.append(index)

    def record(self, obj, index):
        assert obj["kind"] == "Pod"
        self.recorded.append(index)


class _Unpicklable(DumpError):
    def __init__(self, message):
        super().__init__(message)
        self.hook = lambda: None  # the child cannot send it back


def _read_aside(data: bytes, settle, limits: Limits = DEFAULT_LIMITS):
    return read_objects(io.BytesIO(data), limits=limits, settle=settle)


@pytest.fixture
def aside(monkeypatch):
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)


def _let_go(monkeypatch, start: int = 0) -> None:
    """Elements from ``start`` on are let go after their check and decoded again."""

    def keep(self, nbytes):  # counted per read (one Retention each)
        self.seen = getattr(self, "seen", 0) + 1
        self.keeping = self.keeping and self.seen <= start
        return self.keeping

    monkeypatch.setattr(dump_json.Retention, "keep", keep)


@pytest.fixture(params=[None, 0, 5], ids=["kept", "let-go", "let-go-from-5"])
def let_go(request, monkeypatch):
    """Every element kept, or let go (from the first, or from the sixth)."""
    if request.param is not None:
        _let_go(monkeypatch, request.param)
    return request.param


def _mixed(n: int = 10):
    """Nodes and Pods in turn: n0, p1, n2, p3..."""
    return [b.node(f"n{i}") if i % 2 == 0 else b.pod(f"p{i}", ip=f"10.0.0.{i}") for i in range(n)]


def test_a_child_checks_and_settles_the_pods(aside, let_go):
    items = _mixed()
    settle = _Settle()
    assert _read_aside(_dump(*items), settle) == items
    nodes = [0, 2, 4, 6, 8]
    # The Nodes let go are settled here; the Pods, all, by the child.
    assert settle.checked == ([] if let_go is None else [i for i in nodes if i >= let_go])
    assert settle.recorded == [1, 3, 5, 7, 9]


def _outcome(items, settle, limits=DEFAULT_LIMITS):
    """The refusal's line, or the indices settled and recorded."""
    try:
        _read_aside(_dump(*items), settle, limits)
    except DumpError as exc:
        return str(exc)
    return sorted(settle.checked + settle.recorded)


@pytest.mark.parametrize(
    "bad",
    [
        {"p5"},  # a bad Pod after good ones
        {"p3", "n6"},  # a bad Pod before a bad Node
        {"n2", "p7"},  # a bad Node before a bad Pod
        {"p9"},  # the last element
    ],
)
def test_the_callers_refusal_is_the_one_read_in_order(aside, let_go, bad):
    alone = _outcome(_mixed(), _Settle(bad=bad, fork=False))
    beside = _outcome(_mixed(), _Settle(bad=bad))
    if let_go is None:  # nothing let go, nothing settled by this process: no refusal
        assert alone == []
        assert beside == [i for i in (1, 3, 5, 7, 9) if f"p{i}" not in bad]
    else:
        first = min(int(name[1:]) for name in bad if int(name[1:]) >= let_go)
        assert alone == f"object {first + 1} refused"
        assert beside == alone


@pytest.mark.parametrize("where", [(3,), (2, 5), (5, 2), (9,)])
def test_a_bounds_refusal_is_the_one_read_in_order(aside, let_go, where):
    items = _mixed()
    for index in where:
        items[index]["metadata"]["labels"] = {"a": "v" * 400}
    limits = Limits(max_string=300)
    alone = _outcome(items, None, limits)
    assert f"items[{min(where)}]" in alone
    assert _outcome(items, _Settle(), limits) == alone
    # Against the caller's refusal: whichever a reader in order meets first.
    for bad in ({"p1"}, {"n8"}, {"p7"}):
        expected = _outcome(items, _Settle(bad=bad, fork=False), limits)
        assert _outcome(items, _Settle(bad=bad), limits) == expected


def test_the_callers_refusal_of_a_pod_is_raised_here(aside, monkeypatch):
    # The child names the Pods refused (whatever the exception): the one that counts is
    # settled again here, so even a refusal that does not pickle is raised as it was.
    _let_go(monkeypatch)
    settle = _Settle(bad={"p9"}, error=_Unpicklable)
    with pytest.raises(_Unpicklable, match="object 10 refused"):
        _read_aside(_dump(*_mixed()), settle)
    assert settle.recorded == []
    assert settle.checked == [0, 2, 4, 6, 8]  # the Pods in the child


@pytest.mark.parametrize("bad", [7, 2], ids=["Pod", "Node kept unchecked here"])
def test_a_refusal_the_child_cannot_send_is_read_here(aside, bad):
    """The child checks every element's bounds (the others than Pods are only decoded
    here, unless let go): without its word, this process checks them all."""
    items = _mixed()
    items[bad]["metadata"]["labels"] = {"a": "v" * 400}
    limits = Limits(max_string=300)
    real = dump_json._Aside._verdict
    answers = []

    def verdict(self):
        answers.append(real(self))
        return None  # as if the child's word were lost

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dump_json._Aside, "_verdict", verdict)
        here = _outcome(items, _Settle(), limits)
    assert f"items[{bad}]" in here and here == _outcome(items, None, limits)
    assert answers and answers[0] is not None and answers[0][0][0] == bad  # the child's word


def test_a_killed_child_leaves_the_pods_to_this_process(aside, let_go, monkeypatch):
    parent = os.getpid()
    real = dump_json._pod_text

    def killed(view):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(view)

    monkeypatch.setattr(dump_json, "_pod_text", killed)
    settle = _Settle()
    assert _read_aside(_dump(*_mixed()), settle) == _mixed()
    # Nothing recorded: what this process let go it settled itself.
    assert settle.recorded == []
    assert sorted(settle.checked) == ([] if let_go is None else list(range(let_go, 10)))
    if let_go is not None:
        alone = _outcome(_mixed(), _Settle(bad={"p5", "n8"}, fork=False))
        assert _outcome(_mixed(), _Settle(bad={"p5", "n8"})) == alone


def test_after_a_nested_list_no_later_pod_is_settled(aside, monkeypatch):
    _let_go(monkeypatch)
    items = [b.node("n0"), {"apiVersion": "v1", "kind": "List", "items": [b.node("m0")]}]
    items += _mixed()[1:]
    settle = _Settle()
    objects = _read_aside(_dump(*items), settle)
    assert [o["metadata"]["name"] for o in objects] == ["n0", "m0"] + [
        o["metadata"]["name"] for o in items[2:]
    ]
    # Only n0 (and the List itself) came before the nested List's objects: nothing after
    # it is settled by index, here or by the child.
    assert settle.checked == [0, 1] and settle.recorded == []


def test_without_fork_or_record_no_child(monkeypatch, aside):
    started = []
    real = dump_json._Aside.start.__func__

    def spy(cls, *args):
        found = real(cls, *args)
        started.append(found is not None)
        if found is not None:
            found.close()
        return None

    monkeypatch.setattr(dump_json._Aside, "start", classmethod(spy))
    items = _mixed()
    assert _read_aside(_dump(*items), _Settle(fork=False)) == items
    assert _read_aside(_dump(*items), lambda obj, index: None) == items
    assert started == [False, False]


@pytest.mark.parametrize(
    "odd",
    ['"a\\u0000b"', '"\\u0041"', "12345678901234567890"],
    ids=["NUL", "escaped letter", "past 64 bits"],
)
@pytest.mark.parametrize("child", ["answers", "killed"])
def test_with_a_pod_child_what_only_the_exact_reader_words_is_still_left_to_it(
    aside, monkeypatch, tmp_path, odd, child
):
    """The input's scans run in the Pod child, before anything is decoded (here, when the
    child gives no word): the exact reader reads the input all the same."""
    items = _mixed()
    items[7]["metadata"]["annotations"] = {"x": "ODD"}
    data = _dump(*items).replace(b'"ODD"', odd.encode())
    ran = tmp_path / "scans"
    parent, real = os.getpid(), dump_json._Scans.found

    def found(self):
        with ran.open("a") as out:
            out.write(f"{os.getpid()}\n")
        if child == "killed" and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self)

    monkeypatch.setattr(dump_json._Scans, "found", found)
    check = lambda item, where, walk: None  # noqa: E731
    assert dump_json.fast_documents(data, DEFAULT_LIMITS, check, _Settle()) is None
    pids = [int(line) for line in ran.read_text().split()]
    assert len(pids) == (1 if child == "answers" else 2)
    assert (pids[-1] == parent) == (child == "killed")
    # Without the odd value the child's scans find nothing: the fast path reads it.
    ran.unlink()
    plain = _dump(*_mixed())
    found_plain = dump_json.fast_documents(plain, DEFAULT_LIMITS, check, _Settle())
    assert found_plain == [json.loads(plain)]
