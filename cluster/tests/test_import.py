"""import_cluster on real dumps, odd dumps and bad files: summary, exit status 2, no traces."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.models import Cluster
from cluster.tests import builders as b
from cluster.tests.fixtures import ODD, REAL
from cluster.tests.state import database_state

pytestmark = pytest.mark.django_db

STORED = {"Node", "Service", "EndpointSlice", "Pod"}


def _kinds_in(path) -> Counter:
    """Count objects per kind by reading the file here, independently of the importer."""
    text = path.read_text()
    documents = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
    seen: dict[tuple, str] = {}

    def walk(doc):
        if doc is None:
            return
        if "items" in doc:
            for item in doc["items"]:
                walk(item)
            return
        meta = doc["metadata"]
        seen[(doc["kind"], meta.get("namespace", ""), meta["name"])] = doc["kind"]  # last one wins

    for document in documents:
        walk(document)
    return Counter(seen.values())


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_cluster", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_real_fixtures_are_present():
    assert len(REAL) >= 9


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_every_real_fixture_imports(path):
    out, _ = _run(str(path), "--name", "real")
    cluster = Cluster.objects.get(name="real")
    expected = _kinds_in(path)
    counts = cluster.import_summary["counts"]
    assert {k: counts[k] for k in STORED} == {k: expected.get(k, 0) for k in STORED}
    assert out.startswith("Imported cluster 'real' (revision 1): ")
    skipped = {k: n for k, n in expected.items() if k not in STORED}
    assert cluster.import_summary["skipped"] == skipped


def test_odd_fixtures_are_refused_with_one_line_naming_object_and_field():
    cluster_import_messages = {}
    for path in ODD:
        with pytest.raises(CommandError) as info:
            _run(str(path), "--name", "odd")
        assert info.value.returncode == 2
        cluster_import_messages[path.name] = str(info.value)
    assert cluster_import_messages == {
        "openshift-insights-gcp-3zone-nodes-obfuscated.json": (
            "Node ci-ln-d53y532-f76d1-2btqq-master-0: status.addresses[0].address 'xx.x.x.x'"
            " is not an IP address"
        ),
        "openshift-insights-gcp-3zone-nodes.json": (
            "top level, items[0] (metadata.name ci-ln-ywdpkbt-f76d1-vw6lz-master-0): missing kind"
        ),
    }
    assert not Cluster.objects.exists()


def test_multi_document_stream_reports_replaced_objects():
    argo = next(p for p in REAL if p.name.startswith("argo"))
    out, _ = _run(str(argo), "--name", "argo")
    assert "Replaced by a later document with the same name: Service argocd/argocd-server" in out
    service = Cluster.objects.get(name="argo").services.get(name="argocd-server")
    assert service.type == "LoadBalancer"  # the later of the two documents


def test_summary_names_skipped_kinds_and_flagged_slices(tmp_path):
    dump = {
        "apiVersion": "v1",
        "kind": "List",
        "items": b.small_cluster()
        + [
            b.endpoint_slice("lost-1", service_name="lost"),
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "web", "namespace": "shop"},
            },
        ],
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    out, _ = _run(str(path), "--name", "c")
    assert out.splitlines() == [
        "Imported cluster 'c' (revision 1): 2 Node, 1 Service, 2 EndpointSlice, 3 Endpoint,"
        " 2 Pod, 0 ConfigMap",
        "Skipped (not used by Routescope): 1 Endpoints",
        "Flagged EndpointSlice shop/lost-1 (Service shop/lost not found)",
    ]


def test_stdin(monkeypatch):
    dump = json.dumps({"apiVersion": "v1", "kind": "List", "items": b.small_cluster()})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(dump.encode())))
    out, _ = _run("-", "--name", "piped")
    assert Cluster.objects.get(name="piped").nodes.count() == 2


BAD_FILES = [
    (
        "not-json",
        '{"kind": "List", "items": [}',
        "invalid JSON at line 1, column 28: Expecting value",
    ),
    ("not-yaml", "kind: Pod\nmetadata: {name: [x}\n", "invalid YAML at line 2, column 20:"),
    (
        "not-kubernetes",
        "# notes\nhello: world\n",
        "document 1 is not a Kubernetes object: it has no kind and no apiVersion",
    ),
    (
        "bad-field",
        json.dumps(b.service(ports=[{"port": "http"}])),
        "Service shop/web: spec.ports[0].port must be an integer, got a string",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_exit_2_and_change_nothing(tmp_path, text, message):
    _run(str(REAL[0]), "--name", "keep")
    before = database_state()
    path = tmp_path / "bad"
    path.write_text(text)
    for name in ("keep", "new"):
        with pytest.raises(CommandError) as info:
            _run(str(path), "--name", name)
        assert info.value.returncode == 2
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert database_state() == before


def test_huge_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: 3 GB on disk costs nothing, and is never read
        handle.truncate(3 * 1024**3)
    with pytest.raises(
        CommandError,
        match=r"huge\.json is too large: 3,221,225,472 bytes, the limit is 2,147,483,648 bytes",
    ):
        _run(str(path), "--name", "huge")
    assert not Cluster.objects.exists()


def test_command_line_prints_one_line_and_exits_2(tmp_path, capsys):
    """The real entry point: no traceback, one line on stderr, status 2."""
    from django.core.management import ManagementUtility

    path = tmp_path / "bad.json"
    path.write_text('{"kind": "Service"}')
    with pytest.raises(SystemExit) as info:
        ManagementUtility(
            ["manage.py", "import_cluster", str(path), "--name", "x", "--skip-checks"]
        ).execute()
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == "CommandError: top level: missing apiVersion\n"


def test_dry_run_checks_everything_and_stores_nothing(tmp_path):
    _run(str(REAL[0]), "--name", "keep")
    before = database_state()
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": b.small_cluster()}))
    out, _ = _run(str(path), "--name", "keep", "--dry-run", "--replace")
    assert out.startswith("Dry run, nothing stored: Imported cluster 'keep' (revision 2): 2 Node")
    out, _ = _run(str(path), "--name", "new", "--dry-run")
    assert database_state() == before
    path.write_text(json.dumps(b.service(ports=[{"port": 0}])))
    with pytest.raises(CommandError, match=r"spec.ports\[0\].port 0 is not a port number"):
        _run(str(path), "--name", "keep", "--dry-run")


def test_database_errors_are_one_line(monkeypatch):
    from django.db import OperationalError

    def broken(**kwargs):
        raise OperationalError("no such table: cluster_cluster\nmore detail")

    monkeypatch.setattr("cluster.management.commands.import_cluster.cluster_import", broken)
    with pytest.raises(CommandError) as info:
        _run(str(REAL[0]), "--name", "x")
    assert (str(info.value), info.value.returncode) == (
        "database error, nothing imported: no such table: cluster_cluster",
        1,
    )
