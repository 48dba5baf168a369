"""JSON columns are written by msgspec and store what the standard library's text stored.

``cluster.bulk.json_text`` writes with msgspec and keeps its text only when decoding it
gives the value back; otherwise the standard library's encoder (compact, non-ASCII kept,
NaN refused — the writer's encoder before) decides, refusals included. Every value here
must decode, from the new text, to exactly what the old text decoded to: equal and of the
same types (``True`` is not ``1``, ``1`` is not ``1.0``), key order kept. Then a stored
import reads back the same values on this test database.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from django.db import connection

from cluster.bulk import json_text
from cluster.fields import ObjectError
from cluster.models import Cluster, Pod
from cluster.services import cluster_import
from cluster.tests import builders as b

OLD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _typed(value: Any, *, ordered: bool = True) -> Any:
    """``value`` with every scalar's type spelt out and (``ordered``) every mapping's key
    order kept."""
    if isinstance(value, dict):
        pairs = [(k, _typed(v, ordered=ordered)) for k, v in value.items()]
        return ["dict", pairs if ordered else sorted(pairs)]
    if isinstance(value, list):
        return ["list", [_typed(v, ordered=ordered) for v in value]]
    if isinstance(value, float) and value == 0:
        return ["float", math.copysign(1, value)]
    return [type(value).__name__, value]


def _as_stored(text: str) -> Any:
    """The value the test database gives back for JSON ``text`` (PostgreSQL's jsonb keeps
    numbers as numeric: 1e16 comes back as an int, -0.0 as 0 — whichever encoder wrote it)."""
    if connection.vendor != "postgresql":
        return json.loads(text)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [text])
        return json.loads(cursor.fetchone()[0])


def _same_as_json(value: Any) -> str:
    new, old = json_text(value), OLD(value)
    assert _typed(json.loads(new)) == _typed(json.loads(old)), (new, old)
    return new


VALUES: list[Any] = [
    {},
    [],
    {"a": 1, "b": [True, False, None], "c": {"d": "e"}},
    {"z": 1, "a": 2, "m": {"y": 1, "b": 2}},  # key order as inserted, not sorted
    {"name": "café ☕ 東京 \U0001f680", "é": "ü"},  # non-ASCII, astral plane
    {"ctl": "tab\there\nnew\r\x01\x1f\x7f", "q": 'say "hi" \\ /'},
    {"u2028": "a\u2028b\u2029c", "bom": "\ufeff"},
    {"f": [0.1, 1.5, -2.25, 1e16, 1e-7, 123456789.123, 5e-324, 1.7976931348623157e308]},
    {"zero": 0.0, "neg": -0.0, "int_like": 3.0},
    {"big": [2**63 - 1, -(2**63), 2**64, 10**30, -(10**40)]},
    {"ints": [0, -1, 1, 2**31, 65535]},
    {"nested": [[[[{"deep": [1, [2, [3]]]}]]]]},
    {"empty": ["", {}, []]},
    {"bools": [True, False], "one": 1, "true": True},
    "a plain string",
    42,
    [1, "two", 3.0, None],
    ("a", "tuple"),  # json writes a list: the stored value is that list
    {"t": (1, (2, 3))},
    {7: "int key", 2.5: "float key", 1e16: "float key written 1e+16"},
    {True: "bool key", None: "none key", "s": 1},
    {"text \\u0000 escaped": "backslash-u text, not a NUL"},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_stored_value_is_what_json_stored(value):
    _same_as_json(value)


def test_random_values_are_stored_as_json_stored_them():
    rng = random.Random(13)
    alphabet = 'aé☕\U0001f680"\\\n\t/\x00\x1f 0'

    def scalar() -> Any:
        return rng.choice(
            [
                lambda: rng.random() * 10 ** rng.randint(-30, 30),
                lambda: rng.randint(-(2**70), 2**70),
                lambda: rng.randint(-5, 5),
                lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))),
                lambda: rng.choice([True, False, None, 0.0, -0.0]),
            ]
        )()

    def value(depth: int) -> Any:
        if depth > 3 or rng.random() < 0.3:
            return scalar()
        if rng.random() < 0.5:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"k{rng.randint(0, 99)}{rng.choice(alphabet)}": value(depth + 1) for _ in range(4)}

    for _ in range(2000):
        _same_as_json(value(0))


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        (float("nan"), "Out of range float values"),
        ({"a": [float("inf")]}, "Out of range float values"),
        ({"a": -float("inf")}, "Out of range float values"),
        ({"a": {1, 2}}, "set is not JSON serializable"),
        ({"a": b"bytes"}, "bytes is not JSON serializable"),
        ({"a": frozenset()}, "frozenset is not JSON serializable"),
        ({(1, 2): "tuple key"}, "keys must be str"),
        ({"a": object()}, "object is not JSON serializable"),
    ],
)
def test_what_json_refuses_is_still_refused(value, refusal):
    """msgspec would write these (null, an array, base64...): json's refusal stands."""
    with pytest.raises((TypeError, ValueError), match=refusal):
        json_text(value)


def test_a_cycle_is_refused_as_json_refuses_it():
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        json_text(loop)


def test_the_fast_text_is_msgspecs_for_plain_values():
    # The common value takes msgspec's text (compact, UTF-8 kept): the fast way is used.
    assert json_text({"a": [1, "é", None]}) == '{"a":[1,"é",null]}'


@pytest.mark.django_db
def test_an_import_reads_back_what_it_was_given():
    pod = b.pod("web-1", node_name="n1", ip="10.244.1.5")
    pod["metadata"]["annotations"] = {"note": 'café ☕ \U0001f680 "q" \\ \u2028', "n": "x"}
    pod["metadata"]["labels"] = {"z": "1", "a": "2"}
    pod["spec"]["overhead"] = {"f": 0.1, "big": 2**64, "neg": -0.0, "e": 1e16}
    cluster_import(name="c", objects=[b.node(), pod])
    stored = Pod.objects.get(cluster=Cluster.objects.get(name="c"))
    # raw is json text on every database (cluster.models.jsontext): read back as written,
    # key order and number types included.
    assert _typed(stored.raw) == _typed(json.loads(OLD(pod)))
    ordered = connection.vendor != "postgresql"  # jsonb keeps its own key order
    labels = pod["metadata"]["labels"]
    assert _typed(stored.labels, ordered=ordered) == _typed(labels, ordered=ordered)


@pytest.mark.django_db
@pytest.mark.parametrize("value", [float("nan"), {1, 2}, b"x"], ids=["nan", "set", "bytes"])
def test_an_import_still_refuses_what_json_cannot_hold(value):
    pod = b.pod("web-1", node_name="n1", ip="10.244.1.5")
    pod["metadata"]["x-extra"] = value
    with pytest.raises(ObjectError, match=r"^Pod shop/web-1: raw is not JSON"):
        cluster_import(name="c", objects=[b.node(), pod])
    assert not Cluster.objects.exists()
