"""The fast JSON path (cluster.dump_json): taken for ordinary dumps, left to the exact
reader for whatever only it words, and bounded in memory by dropping and re-decoding."""

from __future__ import annotations

import io
import json

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
    """A settle that may hand the later elements to a child (``fork``), refusing objects
    named in ``bad``; notes which it checked here and which it was told of (``record``)."""

    fork = True

    def __init__(self, bad=(), error=DumpError):
        self.bad, self.error = set(bad), error
        self.checked: list[int] = []
        self.recorded: list[int] = []

    def __call__(self, obj, index):
        if obj.get("metadata", {}).get("name") in self.bad:
            raise self.error(f"object {index + 1} refused")
        self.checked.append(index)

    def record(self, obj, index):
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
    # Nothing kept in this process: its part is settled here too.
    monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)


def test_a_child_checks_and_settles_the_later_elements(aside):
    items = [b.node(f"n{i}") for i in range(10)]
    settle = _Settle()
    assert _read_aside(_dump(*items), settle) == items
    split = len(settle.checked)
    assert 0 < split < len(items)
    assert settle.checked == list(range(split))  # this process's part, settled here
    assert settle.recorded == list(range(split, len(items)))  # the child's, recorded


@pytest.mark.parametrize("where", [2, 9])
def test_a_refusal_is_the_one_read_in_order(aside, monkeypatch, where):
    items = [b.node(f"n{i}") for i in range(10)]
    items[where]["metadata"]["labels"] = {"a": "v" * 400}
    limits = Limits(max_string=300)
    with pytest.raises(DumpError) as alone:
        _read_aside(_dump(*items), None, limits)
    with pytest.raises(DumpError) as beside:
        _read_aside(_dump(*items), _Settle(), limits)
    assert str(beside.value) == str(alone.value)
    assert f"items[{where}]" in str(beside.value)
    # The caller's own refusal too, and an earlier one wins over a later one.
    with pytest.raises(DumpError, match="object 10 refused"):
        _read_aside(_dump(*(b.node(f"n{i}") for i in range(10))), _Settle(bad={"n9"}))
    with pytest.raises(DumpError, match="object 2 refused"):
        _read_aside(_dump(*(b.node(f"n{i}") for i in range(10))), _Settle(bad={"n1", "n9"}))


def test_a_refusal_the_child_cannot_send_is_read_here(aside):
    settle = _Settle(bad={"n9"}, error=_Unpicklable)
    with pytest.raises(_Unpicklable, match="object 10 refused"):
        _read_aside(_dump(*(b.node(f"n{i}") for i in range(10))), settle)
    assert 9 not in settle.recorded


def test_after_a_nested_list_the_childs_part_is_read_here(aside):
    items = [b.node("n0"), {"apiVersion": "v1", "kind": "List", "items": [b.node("m0")]}]
    items += [b.node(f"n{i}") for i in range(1, 9)]
    settle = _Settle()
    objects = _read_aside(_dump(*items), settle)
    assert [o["metadata"]["name"] for o in objects] == ["n0", "m0"] + [f"n{i}" for i in range(1, 9)]
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
    items = [b.node(f"n{i}") for i in range(10)]
    plain = _Settle()
    plain.fork = False
    assert _read_aside(_dump(*items), plain) == items
    assert _read_aside(_dump(*items), lambda obj, index: None) == items
    assert started == [False, False]
