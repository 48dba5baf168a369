"""Bounded decoding (issue 17): hostile dumps are refused in one line naming object and path.

YAML aliases are never expanded (a "billion laughs" in a Node's spec or in the kube-proxy
ConfigMap's config.conf costs what its text costs), and nesting, string length, number
length, lone surrogates and object/value counts are bounded by ``ROUTESCOPE_DUMP_MAX_*``.
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc

import pytest
from django.test import override_settings

from cluster.bounds import Limits
from cluster.fields import ObjectError, Reader
from cluster.kube_dump import DumpError, DumpTooLarge, read_objects
from cluster.parsing import parse_kube_proxy_config
from cluster.tests import builders as b
from routing.engine.proxyconf import parse_proxy_config


def alias_bomb(levels: int, indent: str = "") -> str:
    """The "billion laughs": level N is nine aliases of level N-1 (9**levels leaves)."""
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"{indent}a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _read(text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return read_objects(io.BytesIO(data), **kwargs)


def _one_line(error: BaseException, limit: int = 400) -> str:
    text = str(error)
    assert "\n" not in text and len(text) <= limit, text[:500]
    return text


def _bounded(call):
    """Run ``call``; return (its exception, peak traced bytes, seconds)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
    except DumpError as exc:
        error = exc
    else:  # pragma: no cover - the assertion below reports it
        error = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak, time.perf_counter() - started


def test_alias_bomb_in_a_node_spec_is_refused_without_expanding():
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n"
        "  metadata:\n    name: n1\n  spec:\n" + alias_bomb(9, indent="    ")
    )
    error, peak, seconds = _bounded(lambda: _read(text))
    assert isinstance(error, DumpError)
    assert _one_line(error) == (
        "document 1, items[0] (Node n1): spec.a1[0] is a YAML alias;"
        " anchors and aliases are not accepted in a dump"
    )
    assert peak < 5 * 1024**2 and seconds < 5  # 9**9 leaves were never built


def _proxy_map(conf: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": conf},
    }


def test_alias_bomb_in_config_conf_is_refused_naming_the_configmap():
    conf = "mode: iptables\n" + alias_bomb(7)
    error, peak, seconds = _bounded(
        lambda: parse_kube_proxy_config(
            _proxy_map(conf), Reader("ConfigMap kube-system/kube-proxy")
        )
    )
    assert isinstance(error, ObjectError)
    assert _one_line(error) == (
        "ConfigMap kube-system/kube-proxy: data.config.conf a1[0] is a"
        " YAML alias; anchors and aliases are not accepted in a dump"
    )
    assert peak < 5 * 1024**2 and seconds < 5


def test_merge_keys_are_refused_before_they_copy_anything():
    text = (
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n" "base: &b {x: 1}\nspec:\n  <<: *b\n"
    )
    with pytest.raises(DumpError, match=r"^invalid YAML at line 7, column 3: merge keys \(<<\)"):
        _read(text)


def test_a_plain_anchor_without_alias_is_harmless():
    text = "apiVersion: v1\nkind: Node\nmetadata: &m\n  name: n1\n"
    assert _read(text)[0]["metadata"] == {"name": "n1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"apiVersion": "v1", "kind": "Node",'
            ' "metadata": {"name": "n1", "labels": {"a": "\\ud800"}}}',
            "top level (Node n1): metadata.labels.a holds a lone surrogate"
            " (\\ud800 at character 0),"
            " which is not text",
        ),
        # libyaml refuses the escape itself.
        (
            'apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    a: "\\ud800"\n',
            "invalid YAML at line 6, column 11: found invalid Unicode character escape code",
        ),
    ],
    ids=["json", "yaml"],
)
def test_lone_surrogate_is_refused_with_its_path(text, expected):
    with pytest.raises(DumpError) as info:
        _read(text)
    assert _one_line(info.value) == expected


@pytest.mark.parametrize(
    "template",
    [
        '{{"apiVersion": "v1", "kind": "Node", "metadata": {{"name": "n1", "generation": {}}}}}',
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  generation: {}\n",
    ],
    ids=["json", "yaml"],
)
@pytest.mark.parametrize("number", ["9" * 5000, "9" * 4301 + ".5", "-" + "1" * 40])
def test_overlong_numbers_are_refused_before_conversion(template, number):
    with pytest.raises(DumpError) as info:
        _read(template.format(number))
    assert "(Node n1): metadata.generation is a number" in _one_line(info.value)
    assert f"{len(number):,} characters long (the limit is 32)" in str(info.value)


def test_int64_sized_numbers_still_read():
    text = '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "generation": %d}}'
    assert _read(text % (2**63 - 1))[0]["metadata"]["generation"] == 2**63 - 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_json_non_finite_numbers_are_refused(value):
    text = '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"x": %s}}'
    with pytest.raises(DumpError, match=r"\(Node n1\): spec.x is .*not a finite number"):
        _read(text % value)


def test_deep_nesting_inside_an_object_names_the_path():
    deep = "[" * 150 + "]" * 150
    text = (
        '{"apiVersion": "v1", "kind": "Pod",'
        ' "metadata": {"name": "p", "namespace": "x"}, "spec": %s}'
    )
    with pytest.raises(DumpError) as info:
        _read(text % deep)
    assert _one_line(info.value).startswith(
        "top level (Pod x/p): spec" + "[0]" * 99 + " nests more than 100 levels deep"
    )


def test_nul_and_binary_values_are_refused():
    with pytest.raises(DumpError, match=r"\(Node n1\): metadata.labels.a holds a NUL"):
        _read(
            '{"apiVersion": "v1", "kind": "Node",'
            ' "metadata": {"name": "n1", "labels": {"a": "x\\u0000"}}}'
        )
    with pytest.raises(DumpError, match=r"\(Node n1\): spec.x is binary data \(YAML !!binary\)"):
        _read("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  x: !!binary aGk=\n")


def test_each_bound_is_a_parameter():
    obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"k": "v" * 50}},
    }
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj, obj, obj]})
    assert len(_read(text)) == 3
    with pytest.raises(
        DumpError, match=r"metadata.labels.k is a string of 50 characters \(the limit is 40\)"
    ):
        _read(text, limits=Limits(max_string=40))
    long_key = json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "k" * 50: 1}}
    )
    with pytest.raises(
        DumpError, match=r"\(Node n1\): metadata.k{50} key is a string of 50 characters"
    ):
        _read(long_key, limits=Limits(max_string=40))
    with pytest.raises(
        DumpError, match=r"^top level, items\[0\] \(Node n1\): metadata.labels nests more than 2"
    ):
        _read(text, limits=Limits(max_depth=2))
    with pytest.raises(DumpTooLarge, match=r"items\[2\]: the dump holds more than 2 objects"):
        _read(text, limits=Limits(max_objects=2))
    with pytest.raises(
        DumpTooLarge, match=r"items\[1\] \(Node n1\): the dump holds more than 10 values"
    ):
        _read(text, limits=Limits(max_values=10))


def test_a_megabyte_name_gives_a_short_line():
    obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n" * 1_000_000},
        "spec": {"x": "\ud800"},
    }
    with pytest.raises(DumpError) as info:
        _read(json.dumps(obj))
    assert "(1,000,000 characters)" in _one_line(info.value, limit=300)
    assert len(str(DumpError("x" * 5_000_000))) <= 1000


def test_engine_reader_survives_hostile_config_conf():
    # routing.engine.proxyconf must not raise on what the importer would refuse: deep JSON
    # (RecursionError) and overlong numbers fall back to the block reader.
    assert parse_proxy_config("[" * 100_000 + "]" * 100_000) == {}
    assert parse_proxy_config('{"mode": "ipvs", "x": %s}' % ("9" * 5000)) == {}
    assert parse_proxy_config('{"mode": "ipvs", "x": 5}') == {"mode": "ipvs"}


@pytest.mark.django_db
def test_import_reads_the_bounds_from_settings(tmp_path):
    from tests.contract import run

    path = tmp_path / "dump.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [b.node("n1"), b.node("n2"), b.node("n3")],
            }
        )
    )
    with override_settings(ROUTESCOPE_DUMP_MAX_OBJECTS=2):
        result = run("import_cluster", str(path), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert "the dump holds more than 2 objects" in result.err
    conf = tmp_path / "conf.json"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    conf.write_text(json.dumps([node, _proxy_map("mode: ipvs\na:\n  b:\n    c:\n      d: 1\n")]))
    with override_settings(ROUTESCOPE_DUMP_MAX_DEPTH=3):  # config.conf is held to them too
        result = run("import_cluster", str(conf), "--name", "c")
    assert (
        result.code == 2 and "data.config.conf a.b.c nests more than 3 levels" in result.err
    ), result
    assert run("import_cluster", str(conf), "--name", "c").code == 0


def test_yaml_aliases_are_never_expanded_across_list_items():
    # YAML Lists are built one item at a time: an alias to an earlier item's anchor must
    # not copy it (100,000 two-byte aliases of a 1 MB string would be 100 GB).
    big = "x" * 1_000_000
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        f"- {{apiVersion: v1, kind: Node, metadata: {{name: n1}}, spec: {{a: &big {big}}}}}\n"
        + "- {apiVersion: v1, kind: Node, metadata: {name: n2}, spec: {b: *big}}\n"
        * 1000
    )
    error, peak, _ = _bounded(lambda: _read(text))
    assert str(error) == (
        "document 1, items[1] (Node n2): spec.b is a YAML alias; anchors and"
        " aliases are not accepted in a dump"
    )
    assert peak < 40 * 1024**2


def test_explicitly_tagged_yaml_documents_are_checked_too():
    text = "--- !!map\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {x: !!binary aGk=}\n"
    with pytest.raises(DumpError, match=r"^document 1 \(Node n1\): spec.x is binary data"):
        _read(text)


def test_a_yaml_list_is_refused_at_its_first_bad_item():
    text = "apiVersion: v1\nkind: List\nitems:\n" + "- []\n" * 200_000
    error, peak, _ = _bounded(lambda: _read(text))
    assert str(error) == "document 1, items[0] is an empty list, not a Kubernetes object"
    assert peak < 20 * 1024**2


def test_a_yaml_list_refused_at_its_last_item_never_held_its_whole_node_graph():
    # PyYAML's composed node graph costs some 65 times the text; composed one item at a
    # time, a 0.1 MB List refused at its last item peaks near what its objects cost.
    import yaml

    items = [b.pod(f"web-{i}") for i in range(400)]
    items[-1]["metadata"]["labels"] = {"a": "\x00"}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump({"apiVersion": "v1", "kind": "List", "items": items}, Dumper=dumper)
    error, peak, _ = _bounded(lambda: _read(text))
    assert str(error).startswith(
        "document 1, items[399] (Pod shop/web-399): metadata.labels.a holds a NUL"
    )
    assert peak < 20 * len(text), (peak, len(text))  # before: 65 times


def test_a_gzip_bomb_is_refused_by_its_ratio_long_before_max_bytes():
    import gzip

    bomb = gzip.compress(b" " * (8 * 1024**2))  # 8 MiB of blanks: some 8 KiB compressed
    limits = Limits(gzip_allowance=1024**2)
    error, peak, _ = _bounded(lambda: _read(bomb, limits=limits, max_bytes=2 * 1024**3))
    assert isinstance(error, DumpTooLarge)
    assert str(error) == (
        "input decompresses to more than 100 times its size (the limit;"
        " ROUTESCOPE_DUMP_MAX_GZIP_RATIO): not a kubectl dump"
    )
    assert peak < 4 * 1024**2
    real = gzip.compress(json.dumps([b.node(f"n{i}") for i in range(3000)]).encode())
    assert len(_read(real, limits=limits)) == 3000  # a real dump compresses far less


def test_simulate_reads_dumps_through_the_same_bounds(tmp_path):
    from tests.contract import run

    path = tmp_path / "dump.json"
    path.write_text(json.dumps([b.node("n1"), _proxy_map("mode: ipvs\n" + alias_bomb(9))]))
    result = run("simulate", str(path), "--service", "shop/web", "--source", "lb", "--json")
    assert result.code == 2 and result.one_line_error, result
    assert "data.config.conf a1[0] is a YAML alias" in result.err
