"""The Kubernetes client behaves like kubectl: KUBECONFIG / ~/.kube/config and its
current-context by default, contexts listed, and every request names Routescope
(``routescope/<version>`` User-Agent; field manager ``routescope`` on every write)."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.kube.client import FIELD_MANAGER, USER_AGENT, new_api_client
from cluster.kube.resources import RESOURCES, list_objects, patch_object, watch_objects
from cluster.models import Cluster
from cluster.testing.fixtures import TOKEN, fake_api, kubeconfig
from core.version import VERSION

REPO = Path(__file__).resolve().parents[2]


def _two_context_kubeconfig(fake_api, path: Path, *, current: str) -> Path:
    config = json.loads(fake_api.write_kubeconfig(path, context="prod").read_text())
    config["contexts"].append(
        {"name": "staging", "context": {"cluster": "prod", "user": "prod-user"}}
    )
    config["current-context"] = current
    path.write_text(json.dumps(config))
    return path


def test_version_matches_pyproject() -> None:
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == VERSION
    assert f"routescope/{VERSION}" == USER_AGENT


@pytest.mark.django_db
def test_add_cluster_defaults_to_kubeconfig_env_and_current_context(
    fake_api, tmp_path, settings
) -> None:
    path = _two_context_kubeconfig(fake_api, tmp_path / "config", current="staging")
    settings.ROUTESCOPE_KUBECONFIG_DEFAULT = str(path)  # what KUBECONFIG=<path> sets
    out = io.StringIO()
    call_command("add_cluster", "--list-contexts", stdout=out)
    assert out.getvalue().splitlines() == ["  prod", "* staging"]
    call_command("add_cluster", "live", "--sync-every", "0", stdout=io.StringIO())
    cluster = Cluster.objects.get(name="live")
    assert (cluster.kubeconfig_path, cluster.kube_context) == (str(path), "staging")
    call_command(
        "add_cluster", "other", "--context", "prod", "--sync-every", "0", stdout=io.StringIO()
    )
    assert Cluster.objects.get(name="other").kube_context == "prod"


@pytest.mark.django_db
def test_add_cluster_merges_a_kubeconfig_list_and_falls_back_to_home(
    fake_api,
    tmp_path,
    settings,
    monkeypatch,
) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
    )  # the first file's setting wins
    second = _two_context_kubeconfig(fake_api, tmp_path / "b.yaml", current="staging")
    settings.ROUTESCOPE_KUBECONFIG_DEFAULT = f"{first}:{tmp_path / 'missing'}:{second}"
    call_command("add_cluster", "merged", "--sync-every", "0", stdout=io.StringIO())
    merged = Cluster.objects.get(name="merged")
    assert (merged.kubeconfig_path, merged.kube_context) == (f"{first}:{second}", "prod")

    monkeypatch.setenv("HOME", str(tmp_path))
    settings.ROUTESCOPE_KUBECONFIG_DEFAULT = "~/.kube/config"  # KUBECONFIG unset
    with pytest.raises(CommandError, match="no kubeconfig: ~/.kube/config does not exist"):
        call_command("add_cluster", "home")
    (tmp_path / ".kube").mkdir()
    _two_context_kubeconfig(fake_api, tmp_path / ".kube" / "config", current="prod")
    call_command("add_cluster", "home", "--sync-every", "0", stdout=io.StringIO())
    home = Cluster.objects.get(name="home")
    assert (home.kubeconfig_path, home.kube_context) == (str(tmp_path / ".kube" / "config"), "prod")


def test_every_request_names_routescope_and_every_patch_its_field_manager(
    fake_api, kubeconfig
) -> None:
    api = new_api_client(kubeconfig_path=str(kubeconfig), context="fake")
    try:
        items, version = list_objects(api, RESOURCES[1])
        target = next(s for s in items if s["metadata"]["name"] == "web")
        for dry_run in (True, False):
            patch_object(
                api,
                "Service",
                target["metadata"]["namespace"],
                "web",
                {"spec": {"internalTrafficPolicy": "Local"}},
                dry_run=dry_run,
            )
        # The watch stream (read line by line without the client's internal helper) sees the write.
        events = list(watch_objects(api, RESOURCES[1], resource_version=version, timeout_seconds=1))
        changed = [obj for kind, obj in events if kind == "MODIFIED"]
        assert changed and changed[-1]["spec"]["internalTrafficPolicy"] == "Local"
    finally:
        api.close()
    agents = {headers.get("User-Agent") for _m, _p, headers in fake_api.request_headers}
    assert agents == {f"routescope/{VERSION}"}
    patches = [q for m, _p, q in fake_api.requests if m == "PATCH"]
    assert len(patches) == 2 and all(q.get("fieldManager") == FIELD_MANAGER for q in patches)
    assert patches[0].get("dryRun") == "All" and "dryRun" not in patches[1]


def test_no_internal_client_helpers_are_imported() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "cluster").rglob("*.py"))
    assert not re.search(
        r"^\s*from kubernetes\.watch\.watch import|iter_resp_lines\(", sources, re.M
    )


@pytest.mark.django_db
def test_in_cluster_mode_uses_the_pods_service_account(tmp_path, settings, monkeypatch) -> None:
    """As in a pod: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount's token and CA; the API
    server speaks HTTPS with a certificate that CA signed."""
    import subprocess

    from cluster.testing.fake_apiserver import FakeApiServer
    from cluster.testing.fixtures import sample_cluster

    cert, key = tmp_path / "apiserver.crt", tmp_path / "apiserver.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_bytes(cert.read_bytes())
    server = FakeApiServer(sample_cluster(), token=TOKEN, tls=(str(cert), str(key))).start()
    try:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
        settings.ROUTESCOPE_SERVICEACCOUNT_DIR = str(account)
        call_command(
            "add_cluster", "incluster", "--in-cluster", "--sync-every", "0", stdout=io.StringIO()
        )
        cluster = Cluster.objects.get(name="incluster")
        assert cluster.in_cluster and not cluster.kubeconfig_path
        call_command("sync_cluster", "incluster", stdout=io.StringIO())
        cluster.refresh_from_db()
        assert cluster.last_synced_at is not None and cluster.nodes.count() > 0
    finally:
        server.stop()
    sent = [
        {k.lower(): v for k, v in headers.items()} for _m, _p, headers in server.request_headers
    ]
    assert sent and all(
        h.get("authorization", "").lower() == f"bearer {TOKEN}".lower() for h in sent
    )
    assert {h.get("user-agent") for h in sent} == {USER_AGENT}
