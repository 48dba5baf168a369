"""The seams between the layers (ARCHITECTURE.md): what a lower app offers, the app above
plugs into, so no app imports one above it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings

from cluster import apply
from cluster.signals import state_advanced, watch_idle
from jobs import services as job_services


def test_the_jobs_api_rolls_back_through_the_cluster_apps_handler(monkeypatch) -> None:
    # The hook imports cluster.apply (and the Kubernetes client) only when called.
    calls = []

    def rollback_request(**kwargs):
        calls.append(kwargs)
        return "job"

    monkeypatch.setattr(apply, "rollback_request", rollback_request)
    assert job_services._rollback_handler is not None
    answer = job_services._rollback_handler(apply_job="j", user="u", confirm_restart=True)
    assert answer == "job"
    assert calls == [{"apply_job": "j", "user": "u", "confirm_restart": True}]


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


def test_django_start_up_leaves_the_kubernetes_client_unimported() -> None:
    """``import_cluster`` and the other commands start without it (over a CPU second)."""
    code = (
        "import sys, django; django.setup();"
        "from cluster.management.commands import import_cluster;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "SECRET_KEY": "x"}
    env["PYTHONPATH"] = str(settings.BASE_DIR)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
