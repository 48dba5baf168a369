"""API end to end on a live cluster (the fake Kubernetes API server over a real socket):
sync -> save a scenario -> preview -> apply -> audit -> rollback, and a refused apply."""

from __future__ import annotations

import pytest

from cluster.testing.fixtures import fake_api, kubeconfig, live_cluster

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

ETP_LOCAL = {"services": {"shop/web": {"externalTrafficPolicy": "Local"}}}


def _served_web(fake_api):
    return fake_api.store.get("services", "shop", "web")


@pytest.fixture
def synced(operator_client, live_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/api/v1/clusters/live/sync")
    assert response.status_code == 202
    assert operator_client.get(response.json()["url"]).json()["state"] == "succeeded"
    return live_cluster


def _scenario(client, changes=ETP_LOCAL):
    response = client.post(
        "/api/v1/scenarios",
        {"name": "web-etp-local", "cluster": "live", "changes": changes},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_preview_apply_audit_and_rollback(
    operator_client,
    synced,
    fake_api,
    django_capture_on_commit_callbacks,
):
    scenario_id = _scenario(operator_client)
    preview = operator_client.post(
        f"/api/v1/scenarios/{scenario_id}/preview", {}, format="json"
    ).json()
    external = {
        q["source"]: q
        for q in preview["services"][0]["questions"]
        if q["source"].startswith("external:")
    }
    # eTP=Local keeps the client IP but drops at nodes without a web pod (none here: every
    # node runs one), so the answer changes only in client IP preservation.
    assert all(
        q["diff"]["client_ip_preserved"] == {"before": False, "after": True}
        for q in external.values()
    )

    with django_capture_on_commit_callbacks(execute=True):
        applied = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert applied.status_code == 202, applied.content
    job = operator_client.get(applied.json()["url"]).json()
    assert job["state"] == "succeeded", job
    assert _served_web(fake_api)["spec"]["externalTrafficPolicy"] == "Local"
    audit = operator_client.get("/api/v1/audit-entries", {"job": job["id"]}).json()["results"]
    assert [(a["object_name"], a["result"], a["before"], a["after"]) for a in audit] == [
        ("web", "applied", {"externalTrafficPolicy": "Cluster"}, {"externalTrafficPolicy": "Local"})
    ]

    with django_capture_on_commit_callbacks(execute=True):
        rolled = operator_client.post(f"/api/v1/jobs/{job['id']}/rollback", {}, format="json")
    assert rolled.status_code == 202, rolled.content
    assert operator_client.get(rolled.json()["url"]).json()["state"] == "succeeded"
    assert _served_web(fake_api)["spec"]["externalTrafficPolicy"] == "Cluster"


def test_apply_after_a_concurrent_edit_is_refused(
    operator_client,
    synced,
    fake_api,
    django_capture_on_commit_callbacks,
):
    scenario_id = _scenario(operator_client)
    edited = _served_web(fake_api)
    fake_api.store.upsert({**edited, "spec": {**edited["spec"], "sessionAffinity": "ClientIP"}})
    with django_capture_on_commit_callbacks(execute=True):
        applied = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    job = operator_client.get(applied.json()["url"]).json()
    assert job["state"] == "failed"
    assert "changed since the preview" in job["error"]
    served = _served_web(fake_api)["spec"]
    assert served["externalTrafficPolicy"] == "Cluster" and served["sessionAffinity"] == "ClientIP"
