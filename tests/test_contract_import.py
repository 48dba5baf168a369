"""Contract: ``import_cluster FILE|- --name NAME`` and ``export_cluster NAME``.

Every real fixture imports (also from standard input) and round-trips; bad input of every
shape exits 2 with one line naming object and field, and leaves the stored cluster as it
was (its export and its revision are compared before and after).
"""

from __future__ import annotations

import json

import pytest

from cluster.models import Cluster
from tests.contract import ODD, REAL, export, run, small_dump, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(tmp_path):
    """Cluster "c" imported from the small dump; yields a check that it is unchanged."""
    result = run("import_cluster", write(tmp_path, small_dump(), "good.json"), "--name", "c")
    assert result.code == 0, result
    before, revision = export("c"), Cluster.objects.get(name="c").revision

    def unchanged() -> bool:
        return export("c") == before and Cluster.objects.get(name="c").revision == revision

    return unchanged


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_fixture_imports_from_stdin_and_round_trips(path, tmp_path):
    result = run("import_cluster", "-", "--name", "real", stdin=path.read_bytes())
    assert result.code == 0, result
    first = export("real")
    again = run("import_cluster", write(tmp_path, first, "export.json"), "--name", "again")
    assert again.code == 0, again
    assert export("again") == first


def test_yaml_export_imports_back_to_the_same_state(tmp_path):
    for path in REAL:  # each fixture replaces the last one's cluster: --replace
        assert run("import_cluster", str(path), "--name", "one", "--replace").code == 0
        as_yaml = run("export_cluster", "one", "--yaml")
        assert as_yaml.code == 0, as_yaml
        again = run(
            "import_cluster",
            write(tmp_path, as_yaml.out, "export.yaml"),
            "--name",
            "two",
            "--replace",
        )
        assert again.code == 0, (path.name, again)
        assert export("two") == export("one"), path.name


@pytest.mark.parametrize("path", ODD, ids=[p.name for p in ODD])
def test_odd_fixture_is_accepted_or_refused_in_one_line(path, stored):
    result = run("import_cluster", str(path), "--name", "c", "--replace")
    if result.code == 0:
        assert export("c") != ""
    else:
        assert result.code == 2 and result.one_line_error, result
        assert "metadata.name" in result.err or "address" in result.err
        assert stored()


BAD_FILES = {
    "empty file": (b"", "empty input"),
    "whitespace only": (b"  \n\n", "empty input"),
    "null": (b"null", "empty input"),
    # Found by this audit: `[]` and an empty List used to wipe the stored cluster.
    "empty JSON array": (b"[]", "no Kubernetes objects"),
    "empty List": (b'{"apiVersion": "v1", "kind": "List", "items": []}', "no Kubernetes objects"),
    "List with items null": (
        b'{"apiVersion": "v1", "kind": "List", "items": null}',
        "no Kubernetes objects",
    ),
    "array of numbers": (b"[1, 2]", "item 0 is not a Kubernetes object"),
    "a number": (b"42", "not a Kubernetes object"),
    "a string": (b'"hello"', "not a Kubernetes object"),
    "binary garbage": (bytes(range(256)) * 4, "not UTF-8"),
    "UTF-16 text": ('{"kind": "List", "items": []}'.encode("utf-16"), "not UTF-8"),
    "truncated JSON": (
        b'{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Service"',
        "invalid JSON",
    ),
    "YAML with tabs": (b"kind: List\nitems:\n\t- kind: Service\n", "invalid YAML"),
    "List whose items is a mapping": (
        b'{"kind": "List", "items": {"a": 1}}',
        "items must be a list",
    ),
    "not Kubernetes at all": (b"services:\n  web:\n    image: nginx\n", "no kind"),
    "python tag in YAML": (b'!!python/object/apply:os.system ["true"]\n', "invalid YAML"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    "NaN port": (
        b'{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "d"},'
        b' "spec": {"ports": [{"port": NaN}]}}',
        "spec.ports[0].port",
    ),
}


@pytest.mark.parametrize("content,expected", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_exits_2_in_one_line_and_changes_nothing(content, expected, stored, tmp_path):
    result = run("import_cluster", write(tmp_path, content, "bad"), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert expected in result.err
    assert stored()


def _set(path: str, value):
    """A mutation of the small dump: item index, then keys, e.g. "2.spec.ports.0.port"."""

    def mutate(dump):
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = dump["items"]
        for key in keys[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        return dump

    return mutate


_DELETE = object()

#: (mutation, object named in the message, field named in the message)
BAD_FIELDS = {
    "ports as a string": (_set("2.spec.ports", "80"), "Service default/web", "spec.ports"),
    "port as a string": (
        _set("2.spec.ports.0.port", "80"),
        "Service default/web",
        "spec.ports[0].port",
    ),
    "nodePort as a string": (
        _set("2.spec.ports.0.nodePort", "30080"),
        "Service default/web",
        "spec.ports[0].nodePort",
    ),
    "huge port": (_set("2.spec.ports.0.port", 10**30), "Service default/web", "spec.ports[0].port"),
    "labels as a list": (_set("0.metadata.labels", ["a"]), "Node n1", "metadata.labels"),
    "conditions as strings": (
        _set("0.status.conditions", ["Ready"]),
        "Node n1",
        "status.conditions[0]",
    ),
    "missing metadata.name": (_set("2.metadata.name", _DELETE), "Service", "metadata.name"),
    "slice without addressType": (
        _set("3.addressType", _DELETE),
        "EndpointSlice default/web-abc",
        "addressType",
    ),
    "slice endpoint conditions as a string": (
        _set("3.endpoints.0.conditions", "ready"),
        "EndpointSlice default/web-abc",
        "endpoints[0].conditions",
    ),
    "slice endpoint without addresses": (
        _set("3.endpoints.0.addresses", _DELETE),
        "EndpointSlice default/web-abc",
        "endpoints[0].addresses",
    ),
    "IPv6 address in an IPv4 slice": (
        _set("3.endpoints.0.addresses", ["fd00::5"]),
        "EndpointSlice default/web-abc",
        "endpoints[0].addresses[0]",
    ),
    # Found by this audit: the importer stored these and every later question crashed.
    "taint as a string": (_set("0.spec.taints", ["NoSchedule"]), "Node n1", "spec.taints[0]"),
    "load balancer ingress as a string": (
        _set("2.status.loadBalancer.ingress", ["203.0.113.5"]),
        "Service default/web",
        "status.loadBalancer.ingress[0]",
    ),
    "negative targetPort": (
        _set("2.spec.ports.0.targetPort", -1),
        "Service default/web",
        "spec.ports[0].targetPort",
    ),
    "ownerReferences as strings": (
        _set("4.metadata.ownerReferences", ["rs"]),
        "Pod default/web-1",
        "metadata.ownerReferences[0]",
    ),
    "container port as a string": (
        _set("4.spec.containers.0.ports.0.containerPort", "8080"),
        "Pod default/web-1",
        "spec.containers[0].ports[0].containerPort",
    ),
    "kube-proxy flags as a string": (
        _set("5.spec.containers.0.command", "kube-proxy --config=x"),
        "Pod kube-system/kube-proxy-abc",
        "spec.containers[0].command",
    ),
    "volumes as strings": (
        _set("5.spec.volumes", ["kube-proxy"]),
        "Pod kube-system/kube-proxy-abc",
        "spec.volumes[0]",
    ),
    "volume configMap as a string": (
        _set("5.spec.volumes.0.configMap", "kube-proxy"),
        "Pod kube-system/kube-proxy-abc",
        "spec.volumes[0].configMap",
    ),
    "volume configMap items as strings": (
        _set("5.spec.volumes.0.configMap.items", ["config.conf"]),
        "Pod kube-system/kube-proxy-abc",
        "spec.volumes[0].configMap.items[0]",
    ),
    "volumeMount name as a list": (
        _set("5.spec.containers.0.volumeMounts.0.name", ["x"]),
        "Pod kube-system/kube-proxy-abc",
        "spec.containers[0].volumeMounts[0].name",
    ),
    # Found by this audit: stored, then the services page crashed building its links.
    "empty metadata.name": (_set("2.metadata.name", ""), "Service", "metadata.name"),
    "unknown IPVS scheduler": (
        _set("6.data", {"config.conf": "mode: ipvs\nipvs:\n  scheduler: fastest\n"}),
        "ConfigMap kube-system/kube-proxy",
        "ipvs.scheduler",
    ),
    # Found by this audit: a database IntegrityError / OverflowError (exit 1, a traceback).
    "negative affinity timeout": (
        _set("2.spec.sessionAffinityConfig.clientIP.timeoutSeconds", -1),
        "Service default/web",
        "timeoutSeconds",
    ),
    "huge affinity timeout": (
        _set("2.spec.sessionAffinityConfig.clientIP.timeoutSeconds", 10**30),
        "Service default/web",
        "timeoutSeconds",
    ),
}


@pytest.mark.parametrize("mutate,obj,field", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_bad_field_is_named_with_its_object_and_nothing_changes(
    mutate, obj, field, stored, tmp_path
):
    result = run("import_cluster", write(tmp_path, mutate(small_dump())), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert obj in result.err and field in result.err, result.err
    assert stored()


def test_duplicate_object_is_refused_and_nothing_changes(stored, tmp_path):
    dump = small_dump()
    dump["items"].append(dump["items"][2])
    result = run("import_cluster", write(tmp_path, dump), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert "duplicate Service default/web" in result.err
    assert stored()


def test_single_object_multi_document_yaml_and_nested_lists_import(tmp_path):
    dump = small_dump()
    single = run("import_cluster", write(tmp_path, dump["items"][2], "svc.json"), "--name", "one")
    assert single.code == 0, single
    assert json.loads(export("one"))["items"][0]["metadata"]["name"] == "web"
    stream = "\n---\n".join(json.dumps(item) for item in dump["items"])  # JSON is YAML flow style
    multi = run("import_cluster", write(tmp_path, stream, "multi.yaml"), "--name", "multi")
    assert multi.code == 0, multi
    nested = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "List", "items": dump["items"][:3]},
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [{"apiVersion": "v1", "kind": "List", "items": dump["items"][3:]}],
            },
        ],
    }
    deep = run("import_cluster", write(tmp_path, nested, "nested.json"), "--name", "nested")
    assert deep.code == 0, deep
    assert export("nested") == export("multi")


def test_kube_proxy_configmap_mode_and_scheduler_are_kept(tmp_path):
    run("import_cluster", write(tmp_path, small_dump()), "--name", "c")
    proxy = Cluster.objects.get(name="c").kube_proxy_config
    assert (proxy.mode, proxy.ipvs_scheduler) == ("ipvs", "rr")


def test_dual_stack_service_imports(tmp_path):
    dump = small_dump()
    svc = dump["items"][2]["spec"]
    svc.update(
        clusterIPs=["10.96.0.10", "fd00:10:96::a"],
        ipFamilies=["IPv4", "IPv6"],
        ipFamilyPolicy="RequireDualStack",
    )
    dump["items"].append(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv6",
            "metadata": {
                "name": "web-v6",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["fd00:10:244:1::5"], "nodeName": "n1"}],
        }
    )
    result = run("import_cluster", write(tmp_path, dump), "--name", "dual")
    assert result.code == 0, result
    assert "fd00:10:244:1::5" in export("dual")


def test_export_of_unknown_cluster_exits_2():
    result = run("export_cluster", "nope")
    assert result.code == 2 and result.one_line_error and "nope" in result.err, result


def test_too_large_dump_is_refused_in_one_line_from_a_file_and_from_stdin(stored, tmp_path):
    content = json.dumps(small_dump()).encode()
    from_file = run("import_cluster", write(tmp_path, content), "--name", "c", "--max-bytes", "100")
    assert (
        from_file.code == 2 and from_file.one_line_error and "too large" in from_file.err
    ), from_file
    from_stdin = run("import_cluster", "-", "--name", "c", "--max-bytes", "100", stdin=content)
    assert (
        from_stdin.code == 2 and from_stdin.one_line_error and "too large" in from_stdin.err
    ), from_stdin
    assert stored()


def test_bad_input_on_stdin_changes_nothing(stored):
    result = run(
        "import_cluster",
        "-",
        "--name",
        "c",
        stdin=b'{"apiVersion": "v1", "kind": "List", "items": [',
    )
    assert result.code == 2 and result.one_line_error and "invalid JSON" in result.err, result
    assert stored()
