"""Jobs never wedge: a real worker killed (SIGKILL) mid-sync, then what happens next.

The broker's visibility timeout stays at its default (an hour): nothing here relies on the
message coming back. The heartbeat is what tells a dead job from a slow one.
"""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from cluster.sync_jobs import cluster_add_live, sync_request
from cluster.testing.fixtures import fake_api, kubeconfig
from cluster.testing.workers import (
    RedisServer,
    Worker,
    database_url_for_tests,
    publishing_to,
    wait_for,
)
from jobs.models import Job, SyncRun

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

LOST = 2.0  # seconds without a heartbeat that make a running job dead (here, and the worker's)
WORKER_ENV = {"JOB_HEARTBEAT_SECONDS": "0.3", "JOB_LOST_SECONDS": str(LOST)}


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _start_and_kill_mid_sync(broker, fake_api, kubeconfig):
    """A live cluster whose sync job's worker was killed while listing pods."""
    doomed = Worker(
        broker_url=broker.url, database_url=database_url_for_tests(), name="doomed", env=WORKER_ENV
    ).wait_ready()
    try:
        cluster = cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
        fake_api.set_delay("pods", 60)  # the sync hangs on the pod list ...
        job, _ = sync_request(cluster=cluster)
        wait_for(
            lambda: any(p == "/api/v1/pods" for (_m, p, _q) in fake_api.requests),
            what="the pod list",
        )
        started = Job.objects.get(pk=job.pk).heartbeat_at
        wait_for(lambda: Job.objects.get(pk=job.pk).heartbeat_at > started, what="a heartbeat")
    finally:
        doomed.kill()  # ... and its worker dies
    fake_api.set_delay("pods", 0)
    return cluster, job, time.monotonic()


@override_settings(ROUTESCOPE_JOB_LOST_SECONDS=LOST)
def test_foreground_sync_takes_over_a_job_whose_worker_was_killed(
    transactional_db, broker, fake_api, kubeconfig
):
    with publishing_to(broker.url):
        cluster, job, killed = _start_and_kill_mid_sync(broker, fake_api, kubeconfig)
        out = io.StringIO()
        call_command("sync_cluster", "live", "--wait-timeout", "60", stdout=out)
    took = time.monotonic() - killed
    text = out.getvalue()
    assert f"already running (job {job.pk}); waiting" in text
    assert "worker lost: no heartbeat" in text and f"running job {job.pk} here" in text
    assert "sync succeeded" in text
    assert took < LOST + 20, f"took {took:.1f}s after the kill"
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.attempts == 2
    runs = list(SyncRun.objects.filter(job=job).order_by("id"))
    assert [(r.status, r.error) for r in runs] == [("failed", "worker lost"), ("succeeded", "")]


@override_settings(ROUTESCOPE_JOB_LOST_SECONDS=LOST)
def test_a_new_request_never_joins_a_dead_job(transactional_db, broker, fake_api, kubeconfig):
    heir = None
    try:
        with publishing_to(broker.url):
            cluster, job, killed = _start_and_kill_mid_sync(broker, fake_api, kubeconfig)
            joined, created = sync_request(cluster=cluster)  # still beating a moment ago
            assert (joined.pk, created) == (job.pk, False)

            def found_dead():
                again, _ = sync_request(cluster=cluster)
                return Job.objects.get(pk=again.pk).state == Job.State.QUEUED

            wait_for(found_dead, timeout=LOST + 10, interval=0.2, what="the dead job found")
            detected = time.monotonic() - killed
            heir = Worker(
                broker_url=broker.url,
                database_url=database_url_for_tests(),
                name="heir",
                env=WORKER_ENV,
            ).wait_ready()
            wait_for(
                lambda: Job.objects.get(pk=job.pk).is_done,
                timeout=60,
                what="the re-queued job to finish",
            )
        job.refresh_from_db()
        assert job.state == Job.State.SUCCEEDED, job.error + heir.log()[-2000:]
        assert "worker lost: no heartbeat" in job.log and job.attempts == 2
        assert LOST - 0.5 <= detected < LOST + 8, f"found dead {detected:.1f}s after the kill"
        assert Job.objects.filter(kind=Job.Kind.SYNC).count() == 1  # re-queued, not doubled
    finally:
        if heir is not None:
            heir.stop()
