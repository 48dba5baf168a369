"""Probes and metrics against a live server (real HTTP), a real Redis, real workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cluster.models import Cluster
from cluster.testing.workers import RedisServer
from jobs.models import Job, SyncRun
from ops import health
from routing.models import RulesDriftReport
from routing.reports import report_cache_clear

REPO = Path(__file__).resolve().parents[1]


def _get(
    url: str, *, host: str | None = None, headers: dict | None = None
) -> tuple[int, str, dict]:
    request = urllib.request.Request(
        url, headers={**({"Host": host} if host else {}), **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_healthz_and_readyz_answer_a_kubelet_calling_by_pod_ip(live_server) -> None:
    # The kubelet sends Host: <pod IP>:<port>, which ALLOWED_HOSTS does not list.
    status, body, _ = _get(f"{live_server.url}/healthz", host="10.244.1.7:8000")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body, _ = _get(f"{live_server.url}/readyz", host="10.244.1.7:8000")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    # Any other path from that host is still refused by host validation.
    assert _get(f"{live_server.url}/", host="10.244.1.7:8000")[0] == 400


def test_readyz_checks_redis_when_configured(live_server, settings, tmp_path) -> None:
    redis = RedisServer(tmp_path).start()
    try:
        settings.REDIS_URL = redis.url
        status, body, _ = _get(f"{live_server.url}/readyz")
        assert (status, json.loads(body)["checks"]["redis"]) == (200, "ok")
    finally:
        redis.stop()
    status, body, _ = _get(f"{live_server.url}/readyz")
    assert status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "ok", "redis": "error: ConnectionError"},
    }


@pytest.mark.django_db
def test_readyz_is_unavailable_while_a_migration_is_not_applied() -> None:
    health._migrated.clear()
    latest = MigrationRecorder.Migration.objects.filter(app="jobs").order_by("-id").first()
    assert latest is not None  # the test database is migrated
    latest.delete()
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "error: 1 migration(s) not applied"
    health._migrated.clear()  # the deletion is rolled back with the test


def _series(text: str) -> dict[str, float]:
    """``name{label="v",...}`` (labels in sorted order) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_metrics_export_the_domain_gauges(live_server, settings) -> None:
    report_cache_clear()
    call_command("load_demo", verbosity=0)
    demo = Cluster.objects.get(name="demo")
    now = timezone.now()
    for minutes, run_status in ((30, SyncRun.Status.SUCCEEDED), (10, SyncRun.Status.FAILED)):
        run = SyncRun.objects.create(cluster=demo, status=run_status)
        SyncRun.objects.filter(pk=run.pk).update(finished_at=now - timedelta(minutes=minutes))
    Job.objects.create(kind=Job.Kind.SYNC, state=Job.State.QUEUED)
    for seconds in (2, 4):
        Job.objects.create(
            kind=Job.Kind.APPLY,
            state=Job.State.SUCCEEDED,
            started_at=now - timedelta(seconds=seconds),
            finished_at=now,
        )
    for node, in_sync in (("node-a1", True), ("node-b1", False)):
        RulesDriftReport.objects.create(
            cluster=demo,
            node=node,
            mode="iptables",
            checked_at=now - timedelta(hours=1),
            in_sync=not in_sync,
        )
        RulesDriftReport.objects.create(
            cluster=demo, node=node, mode="iptables", checked_at=now, in_sync=in_sync
        )

    status, body, headers = _get(f"{live_server.url}/metrics", host="10.244.1.7:8000")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    series = _series(body)
    assert series['routescope_jobs{kind="sync",state="queued"}'] == 1
    assert series['routescope_job_duration_seconds_count{kind="apply"}'] == 2
    assert series['routescope_job_duration_seconds_sum{kind="apply"}'] == pytest.approx(6.0)
    assert (
        30 * 60
        <= series['routescope_cluster_last_sync_age_seconds{cluster="demo"}']
        < 30 * 60 + 120
    )
    assert (
        series['routescope_nodes_drifted{cluster="demo"}'] == 1
    )  # the latest report per node decides
    assert series['routescope_nodes_reported{cluster="demo"}'] == 2
    assert series['routescope_cluster_analysis_failed{cluster="demo"}'] == 0
    dropped = {k: v for k, v in series.items() if k.startswith("routescope_service_dropped_share{")}
    from routing.reports import cluster_report

    expected = {
        (row.service, row.port, s.source): s.dropped
        for row in cluster_report(cluster=demo).rows
        for s in row.sources
        if s.dropped > 0
    }
    assert expected, "the demo cluster has Services that drop traffic"
    assert len(dropped) == len(expected)
    for (service, port, source), share in expected.items():
        namespace, name = service.split("/")
        key = (
            f'routescope_service_dropped_share{{cluster="demo",namespace="{namespace}",port="{port}",'
            f'service="{name}",source="{source}"}}'
        )
        assert dropped.get(key) == pytest.approx(share, abs=1e-6), sorted(dropped)
    assert any(k.startswith("routescope_service_imbalance{") for k in series)
    assert "process_resident_memory_bytes" in series

    settings.METRICS_TOKEN = "s3cret-scrape"
    assert _get(f"{live_server.url}/metrics")[0] == 401
    assert (
        _get(f"{live_server.url}/metrics", headers={"Authorization": "Bearer s3cret-scrape"})[0]
        == 200
    )


def _manage(*args: str, env: dict[str, str], clean: bool = False) -> subprocess.CompletedProcess:
    """``manage.py ARGS`` in a subprocess; ``clean``: with nothing of this process's environment
    but PATH, HOME and LANG (what a deployment has; test modules set variables of their own)."""
    base = (
        {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        if clean
        else dict(os.environ)
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "PYTHONPATH": str(REPO), **env},
    )


def test_json_logs() -> None:
    proc = _manage(
        "shell",
        "-c",
        "import logging; logging.getLogger('routescope.x').warning("
        "'sync of %s failed', 'prod', extra={'cluster': 'prod'})",
        env={"LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"], line["cluster"]) == (
        "WARNING",
        "routescope.x",
        "sync of prod failed",
        "prod",
    )
    assert line["time"].endswith("+00:00")


def test_production_settings_pass_check_deploy(tmp_path) -> None:
    proc = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        clean=True,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "k" * 20 + os.urandom(24).hex(),
            "ALLOWED_HOSTS": "routescope.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path}/check-deploy.sqlite3",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout
