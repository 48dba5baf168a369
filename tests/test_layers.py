"""The seams between the layers (ARCHITECTURE.md): what a lower app offers, the app above
plugs into, so no app imports one above it."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cluster.apply import rollback_request
from cluster.signals import state_advanced, watch_idle
from jobs import services as job_services


def test_the_jobs_api_rolls_back_through_the_cluster_apps_handler() -> None:
    assert job_services._rollback_handler is rollback_request


def test_the_snapshot_cache_listens_to_the_cluster_apps_watch_batches() -> None:
    for signal in (state_advanced, watch_idle):
        uids = [lookup_key[0] for lookup_key, *_ in signal.receivers]
        assert "routing.snapshots" in uids  # RoutingConfig.ready connects it under this uid


@pytest.mark.django_db
@override_settings(ROUTESCOPE_ANONYMOUS_READ=True)
def test_the_api_root_lists_every_apps_resource_lists(client) -> None:
    response = client.get("/api/v1/", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200
    assert list(response.json()) == [
        "clusters",
        "nodes",
        "services",
        "endpoint-slices",
        "endpoints",
        "pods",  # cluster
        "scenarios",
        "timelines",  # routing
        "jobs",
        "sync-runs",
        "audit-entries",  # jobs
    ]
    assert response.json()["jobs"] == "http://127.0.0.1/api/v1/jobs"
