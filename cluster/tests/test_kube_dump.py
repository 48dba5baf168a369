"""Reading kubectl dumps: every accepted shape, and one clear line for every bad one."""

from __future__ import annotations

import io
import json
import sys

import pytest

from cluster.kube_dump import DumpError, read_dump, read_objects

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "a"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}


def _read(text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return read_objects(io.BytesIO(data), **kwargs)


def _names(objects):
    return [o["metadata"]["name"] for o in objects]


def test_json_list_is_flattened_in_file_order():
    dump = {"apiVersion": "v1", "kind": "List", "items": [NODE, SVC, POD]}
    assert _names(_read(json.dumps(dump))) == ["n1", "web", "web-1"]


def test_nested_lists_are_flattened():
    inner = {"apiVersion": "v1", "kind": "List", "items": [SVC, POD]}
    dump = {"apiVersion": "v1", "kind": "List", "items": [NODE, inner]}
    assert _names(_read(json.dumps(dump))) == ["n1", "web", "web-1"]


def test_single_json_object():
    assert _read(json.dumps(SVC)) == [SVC]


def test_bare_json_array():
    assert _names(_read(json.dumps([NODE, POD]))) == ["n1", "web-1"]


def test_multi_document_yaml_with_empty_documents_and_a_list():
    text = (
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n---\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n"
        "  metadata: {name: web, namespace: a}\n"
    )
    assert _names(_read(text)) == ["n1", "web"]


def test_yaml_timestamps_stay_strings():
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
        "  creationTimestamp: 2024-05-01T10:00:00Z\n"
    )
    (pod,) = _read(text)
    assert pod["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


def test_typed_api_list_items_inherit_kind_and_api_version():
    dump = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSliceList",
        "items": [{"metadata": {"name": "web-abc", "namespace": "a"}, "addressType": "IPv4"}],
    }
    (obj,) = _read(json.dumps(dump))
    assert (obj["kind"], obj["apiVersion"]) == ("EndpointSlice", "discovery.k8s.io/v1")


def test_utf8_bom_is_accepted():
    assert _read(b"\xef\xbb\xbf" + json.dumps(SVC).encode()) == [SVC]


def test_path_and_stdin(tmp_path, monkeypatch):
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(SVC))
    assert read_objects(path) == [SVC]
    assert read_objects(str(path)) == [SVC]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(POD).encode())))
    assert read_objects("-") == [POD]


def test_a_regular_file_is_read_in_one_piece_a_gzip_one_inflated(tmp_path, monkeypatch):
    import gzip

    from cluster import kube_dump

    dump = json.dumps({"apiVersion": "v1", "kind": "List", "items": [NODE, SVC]}).encode()
    plain, packed, empty = tmp_path / "d.json", tmp_path / "d.json.gz", tmp_path / "e.json"
    plain.write_bytes(dump)
    packed.write_bytes(gzip.compress(dump))
    empty.write_bytes(b"")
    assert kube_dump._read_whole(plain) == dump
    assert kube_dump._read_whole(packed) is None  # left to the stream's inflater
    streamed: list[str] = []
    real = kube_dump._read_stream

    def stream(handle, **kwargs):
        streamed.append(kwargs["name"])
        return real(handle, **kwargs)

    monkeypatch.setattr(kube_dump, "_read_stream", stream)
    assert read_objects(plain) == read_objects(packed) == [NODE, SVC]
    assert streamed == [str(packed)]
    # A bound on the bytes keeps the bounded stream read.
    assert read_objects(plain, max_bytes=len(dump)) == [NODE, SVC]
    assert streamed == [str(packed), str(plain)]
    with pytest.raises(DumpError, match="empty input"):
        read_objects(empty)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"kind": "Service",\n "apiVersion": }',
            "invalid JSON at line 2, column 16: Expecting value",
        ),
        ("kind: Service\n  apiVersion: v1\n bad: [", "invalid YAML at line 2, column 13:"),
        ("", "empty input: no Kubernetes objects found"),
        ("---\n---\n", "empty input: no Kubernetes objects found"),
        (
            "just some words",
            "document 1 is not a Kubernetes object:"
            " expected a mapping with kind and apiVersion, got a string",
        ),
        (
            '{"name": "x", "value": 3}',
            "top level is not a Kubernetes object: it has no kind and no apiVersion",
        ),
        (
            '{"kind": "Service", "metadata": {"name": "web"}}',
            "top level (metadata.name web): missing apiVersion",
        ),
        ('{"kind": 3, "apiVersion": "v1"}', "top level: kind must be a string, got a number"),
        (
            '{"kind": "List", "apiVersion": "v1", "items": {"a": 1}}',
            "top level: items must be a list, got a mapping",
        ),
        (
            '{"apiVersion": "v1", "items": [{"metadata": {"name": "n9"}, "spec": {}}]}',
            "top level, items[0] (metadata.name n9): missing kind",
        ),
        (
            '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Node"},'
            ' {"metadata": {"name": "web", "namespace": "shop"}}]}',
            "top level, items[1] (metadata.name shop/web): missing kind",
        ),
    ],
    ids=[
        "bad-json",
        "bad-yaml",
        "empty",
        "only-separators",
        "plain-text",
        "json-not-k8s",
        "no-apiversion",
        "kind-not-string",
        "items-not-list",
        "list-without-kind",
        "list-item-without-kind",
    ],
)
def test_bad_input_is_one_line(text, message):
    with pytest.raises(DumpError) as info:
        _read(text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_not_utf8():
    with pytest.raises(DumpError, match="^input is not UTF-8 text"):
        _read(b"kind: \xff\xfe\n")


def test_file_over_the_limit_is_refused_by_size(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 5000 + json.dumps(SVC).encode())
    with pytest.raises(
        DumpError, match=r"big\.json is too large: 5,0\d\d bytes, the limit is 1,000 bytes"
    ):
        read_objects(path, max_bytes=1000)


def test_stream_over_the_limit_stops_reading():
    class Endless(io.RawIOBase):
        """A stream that never ends: the reader must stop at the limit."""

        reads = 0

        def readable(self):
            return True

        def read(self, size=-1):
            self.reads += 1
            return b" " * (size if size and size > 0 else 1024)

    stream = Endless()
    with pytest.raises(
        DumpError, match="is too large: more than that, the limit is 3,000,000 bytes"
    ):
        read_objects(stream, max_bytes=3_000_000)
    assert stream.reads <= 4


def test_missing_file():
    with pytest.raises(DumpError, match="^cannot read /nonexistent/dump.json: No such file"):
        read_objects("/nonexistent/dump.json")


def test_later_yaml_document_replaces_an_earlier_object():
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: a}\n"
        "spec: {type: ClusterIP}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: a}\n"
        "spec: {type: NodePort}\n"
    )
    dump = read_dump(io.BytesIO(text.encode()))
    assert [(o["kind"], o.get("spec", {}).get("type")) for o in dump.objects] == [
        ("Pod", None),
        ("Service", "NodePort"),
    ]
    assert dump.replaced == ("Service a/web",)


def test_repeats_inside_one_list_are_left_for_the_importer():
    dump = {"apiVersion": "v1", "kind": "List", "items": [SVC, SVC]}
    result = read_dump(io.BytesIO(json.dumps(dump).encode()))
    assert (len(result.objects), result.replaced) == (2, ())


def test_concatenated_json_documents_like_kubectl_watch():
    first = {**SVC, "spec": {"type": "ClusterIP"}}
    later = {**SVC, "spec": {"type": "NodePort"}}
    text = json.dumps(first, indent=2) + "\n" + json.dumps(POD) + json.dumps(later) + "\n"
    dump = read_dump(io.BytesIO(text.encode()))
    assert [(o["kind"], o.get("spec")) for o in dump.objects] == [
        ("Pod", None),
        ("Service", {"type": "NodePort"}),
    ]
    assert dump.replaced == ("Service a/web",)


def test_broken_second_json_document_names_its_line():
    with pytest.raises(DumpError, match=r"^invalid JSON at line 2, column 10: Expecting"):
        _read(json.dumps(SVC) + "\n" + '{"kind": }')


def test_gzip_compressed_dump(tmp_path):
    import gzip

    dump = json.dumps({"apiVersion": "v1", "kind": "List", "items": [NODE, SVC]}).encode()
    path = tmp_path / "dump.json.gz"
    path.write_bytes(gzip.compress(dump))
    assert _names(read_objects(path)) == ["n1", "web"]
    two_members = gzip.compress(b"kind: Node\napiVersion: v1\n") + gzip.compress(
        b"metadata: {name: n2}\n"
    )
    assert read_objects(io.BytesIO(two_members)) == [
        {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n2"}}
    ]


def test_gzip_bomb_is_refused_without_inflating_it():
    import gzip

    bomb = gzip.compress(b" " * 50_000_000, compresslevel=9)  # ~50 KB that inflates to 50 MB
    assert len(bomb) < 100_000
    with pytest.raises(
        DumpError, match="is too large: more than that, the limit is 1,000,000 bytes"
    ):
        read_objects(io.BytesIO(bomb), max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "input is not a valid gzip file"),
        (None, "input is a truncated gzip file"),
    ],
)
def test_broken_gzip(data, message):
    import gzip

    data = data or gzip.compress(json.dumps(SVC).encode())[:-12]
    with pytest.raises(DumpError, match=f"^{message}"):
        read_objects(io.BytesIO(data))


DEEP = "^input nests too deeply to be a Kubernetes dump$"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, DEEP),
        ('{"apiVersion": "v1", "kind": "List", "items": [' * 3000 + "]}" * 3000, DEEP),
        # libyaml stops at its own depth limit; the pure-Python loader would hit RecursionError.
        (
            "- " * 5000 + "x",
            "^(invalid YAML at line 1, column 1999: exceeded maximum nesting depth|"
            "input nests too deeply to be a Kubernetes dump)$",
        ),
    ],
    ids=["json-arrays", "nested-lists", "yaml-sequences"],
)
def test_hostile_nesting_is_one_line(text, message):
    with pytest.raises(DumpError, match=message):
        _read(text)


def test_yaml_flow_style_is_not_mistaken_for_broken_json():
    (obj,) = _read("{kind: Node, apiVersion: v1, metadata: {name: n1}}\n")
    assert obj == NODE


def test_odd_metadata_types_still_give_one_line():
    with pytest.raises(
        DumpError, match=r"^top level, items\[0\] \(metadata.name 5/7\): missing kind$"
    ):
        _read(
            '{"apiVersion": "v1", "kind": "List",'
            ' "items": [{"metadata": {"name": 7, "namespace": 5}}]}'
        )


def test_an_error_quoting_a_key_with_control_characters_stays_on_one_line() -> None:
    # Found by the import fuzz test: a label key "\n" made a two-line message.
    from cluster.fields import ObjectError

    error = ObjectError("EndpointSlice shop/web: metadata.labels.\n\t must be a string")
    assert str(error) == "EndpointSlice shop/web: metadata.labels.\\n\\t must be a string"
    assert isinstance(error, DumpError)
