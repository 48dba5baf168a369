"""Contract: credentials never leave the kubeconfig, and only operators sync or apply.

A live cluster is added from a kubeconfig holding a bearer token; the token must appear in
no database row, export, API response, page, admin page or log line — also after a sync
that fails (the API server here is a closed loopback port). Anonymous users and readers
are refused ``sync`` and ``apply``; operators (``create_api_token --operator``) are not.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.contract import run

pytestmark = pytest.mark.django_db

SECRET = "SUPERSECRET-token-8f3a9c"
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: {SECRET}}}}}]
contexts: [{{name: ctx, context: {{cluster: c, user: u}}}}]
current-context: ctx
"""


@pytest.fixture
def live(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    result = run(
        "add_cluster", "live", "--kubeconfig", str(path), "--context", "ctx", "--sync-every", "0"
    )
    assert result.code == 0, result
    assert SECRET not in result.out + result.err
    return "live"


def _token(*args: str) -> str:
    result = run("create_api_token", *args)
    assert result.code == 0, result
    return result.out.strip()


def test_no_credential_in_database_export_api_pages_or_logs(live, caplog):
    caplog.set_level(logging.DEBUG)
    synced = run("sync_cluster", live)  # fails: nothing listens on 127.0.0.1:1
    assert synced.code != 0 and SECRET not in synced.out + synced.err
    dumped = io.StringIO()
    call_command("dumpdata", stdout=dumped)
    assert "live" in dumped.getvalue() and SECRET not in dumped.getvalue()
    exported = run("export_cluster", live)
    assert SECRET not in exported.out + exported.err
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    cluster_pk = json.loads(client.get("/api/v1/clusters/live").content).get("id")
    pages = [
        "/api/v1/clusters",
        "/api/v1/clusters/live",
        "/api/v1/jobs",
        "/api/v1/sync-runs",
        "/clusters/live/",
        "/jobs/",
        "/admin/cluster/cluster/",
    ]
    if cluster_pk:
        pages.append(f"/admin/cluster/cluster/{cluster_pk}/change/")
    for url in pages:
        response = client.get(url)
        assert response.status_code < 500, url
        assert SECRET.encode() not in response.content, url
    assert SECRET not in caplog.text


def test_only_operators_sync_and_apply(live):
    assert run("load_demo").code == 0
    reader, operator = _token("reader", "--create"), _token("op", "--create", "--operator")
    clients = {
        "anonymous": Client(),
        "reader": Client(HTTP_AUTHORIZATION=f"Token {reader}"),
        "operator": Client(HTTP_AUTHORIZATION=f"Token {operator}"),
    }
    created = clients["reader"].post(
        "/api/v1/scenarios",
        json.dumps(
            {
                "name": "flip",
                "cluster": "demo",
                "changes": {"services": {"shop/cache": {"internalTrafficPolicy": "Cluster"}}},
            }
        ),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    actions = [f"/api/v1/clusters/{live}/sync", f"/api/v1/scenarios/{created.json()['id']}/apply"]
    for who, client in clients.items():
        for url in actions:
            response = client.post(url, "{}", content_type="application/json")
            assert response.status_code < 500, (who, url, response.content)
            body = response.json()
            if who == "operator":
                assert response.status_code not in (401, 403), (who, url, body)
            else:
                assert response.status_code == (401 if who == "anonymous" else 403), (
                    who,
                    url,
                    body,
                )
                assert body["error"]["code"] in ("not_authenticated", "permission_denied")
