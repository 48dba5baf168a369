"""API: jobs (state, progress, log, errors), the sync trigger, sync runs, audit entries."""

from __future__ import annotations

import logging

import pytest

from cluster.testing.fixtures import TOKEN, fake_api, kubeconfig, live_cluster
from jobs.models import AuditEntry, Job
from jobs.services import job_create, job_finish, job_log, job_progress

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db


def test_job_list_and_detail_show_progress_log_and_error(reader_client, small_cluster):
    job = job_create(kind=Job.Kind.SYNC, cluster=small_cluster)
    job_progress(job=job, percent=40, message="listing pods")
    job_log(job=job, line="listed 5 pods")
    job_finish(job=job, state=Job.State.FAILED, error="API server went away")
    listing = reader_client.get("/api/v1/jobs", {"cluster": "small"}).json()
    (row,) = listing["results"]
    assert row["state"] == "failed" and row["done"] is True
    assert row["error"] == "API server went away"
    assert "log" not in row  # lists stay small; the detail has the log
    detail = reader_client.get(row["url"]).json()
    assert "listed 5 pods" in detail["log"]
    assert detail["progress"] == 40


def test_job_filters(reader_client, small_cluster):
    job_create(kind=Job.Kind.SYNC, cluster=small_cluster)
    done = job_create(kind=Job.Kind.APPLY, cluster=small_cluster)
    job_finish(job=done, state=Job.State.SUCCEEDED)
    active = reader_client.get("/api/v1/jobs", {"active": "true"}).json()["results"]
    assert [j["kind"] for j in active] == ["sync"]
    applies = reader_client.get("/api/v1/jobs", {"kind": "apply", "state": "succeeded"})
    assert [j["id"] for j in applies.json()["results"]] == [done.pk]
    bad = reader_client.get("/api/v1/jobs", {"state": "exploded"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "state"


def test_job_list_query_count_is_fixed(reader_client, small_cluster, django_assert_num_queries):
    for _ in range(5):
        job_create(kind=Job.Kind.APPLY, cluster=small_cluster)
    with django_assert_num_queries(3):  # token, count, page (cluster and user joined)
        assert reader_client.get("/api/v1/jobs").json()["count"] == 5


def test_sync_of_an_imported_cluster_is_a_conflict(operator_client, small_cluster):
    response = operator_client.post("/api/v1/clusters/small/sync")
    assert response.status_code == 409
    assert "no connection settings" in response.json()["error"]["message"]


def test_only_operators_may_sync(reader_client, anon_client, live_cluster):
    assert reader_client.post("/api/v1/clusters/live/sync").status_code == 403
    assert anon_client.post("/api/v1/clusters/live/sync").status_code == 401
    assert not Job.objects.exists()


def test_sync_requests_coalesce_into_one_job(operator_client, live_cluster):
    first = operator_client.post("/api/v1/clusters/live/sync")
    assert first.status_code == 202
    second = operator_client.post("/api/v1/clusters/live/sync").json()
    assert first.json()["created"] is True and second["created"] is False
    assert second["job_id"] == first.json()["job_id"]
    assert Job.objects.filter(kind="sync").count() == 1


def test_sync_end_to_end_and_no_credential_in_any_response_or_log(
    operator_client,
    operator,
    live_cluster,
    kubeconfig,
    caplog,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        started = operator_client.post("/api/v1/clusters/live/sync")
    assert started.status_code == 202
    job = operator_client.get(started.json()["url"]).json()
    assert job["state"] == "succeeded", job
    assert job["created_by"] == "operator"
    runs = operator_client.get("/api/v1/sync-runs", {"cluster": "live"}).json()["results"]
    assert runs and runs[0]["status"] == "succeeded"
    services = operator_client.get("/api/v1/services", {"cluster": "live"}).json()
    assert services["count"] > 0
    api_token = operator_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    bodies = [
        started.content,
        operator_client.get(started.json()["url"]).content,
        operator_client.get("/api/v1/clusters/live").content,
        operator_client.get("/api/v1/clusters").content,
        operator_client.get("/api/v1/sync-runs").content,
        operator_client.get("/api/v1/jobs").content,
    ]
    secrets = [TOKEN, api_token, str(kubeconfig), kubeconfig.read_text()]
    for body in bodies:
        for secret in secrets:
            assert secret.encode() not in body
    for secret in (TOKEN, api_token):
        assert secret not in caplog.text


def test_rollback_is_for_operators_and_finished_applies(
    reader_client, operator_client, small_cluster
):
    job = job_create(kind=Job.Kind.SYNC, cluster=small_cluster)
    assert reader_client.post(f"/api/v1/jobs/{job.pk}/rollback").status_code == 403
    response = operator_client.post(f"/api/v1/jobs/{job.pk}/rollback", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "job"
    assert "not a finished apply job" in response.json()["error"]["message"]


def test_audit_entries_filter(reader_client, small_cluster):
    AuditEntry.objects.create(
        cluster=small_cluster,
        cluster_name="small",
        action="apply",
        object_kind="Service",
        object_namespace="shop",
        object_name="cache",
        result="applied",
        username="operator",
        before={"internalTrafficPolicy": "Local"},
        after={"internalTrafficPolicy": "Cluster"},
    )
    rows = reader_client.get("/api/v1/audit-entries", {"name": "cache"}).json()["results"]
    assert rows[0]["after"] == {"internalTrafficPolicy": "Cluster"}
    assert reader_client.get("/api/v1/audit-entries", {"name": "web"}).json()["count"] == 0
