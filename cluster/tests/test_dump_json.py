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
