"""Tasks end to end: a real Redis broker and real ``celery worker`` processes.

The worker subprocess opens the same test database (file SQLite or PostgreSQL test DB);
the tests use ``transactional_db`` so what they write is committed and visible to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection

from cluster.apply import apply_request, rollback_request
from cluster.sync_jobs import cluster_add_live, sync_request
from cluster.tasks import requeue_stale_jobs_task, sync_cluster_task
from cluster.testing.fixtures import fake_api, kubeconfig
from cluster.testing.workers import (
    RedisServer,
    Worker,
    database_url_for_tests,
    publishing_to,
    wait_for,
)
from jobs.models import AuditEntry, Job, SyncRun

# The module's tests share one worker (module-scoped): under pytest-xdist they run on one
# xdist worker, so it starts once.
pytestmark = [pytest.mark.worker, pytest.mark.timeout(120), pytest.mark.xdist_group("test_tasks")]


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory) -> Iterator[RedisServer]:
    """A private redis-server for the module's worker: a fixed DB of the machine's Redis
    would be shared with any other pytest process (xdist workers, another checkout's run),
    whose flush or whose worker would take this module's messages."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(module_broker, django_db_setup, django_db_blocker):
    """One worker on the module's private Redis for the module's tests."""
    with django_db_blocker.unblock():
        url = database_url_for_tests()
    process = Worker(broker_url=module_broker.url, database_url=url).wait_ready()
    with publishing_to(module_broker.url):
        yield process
    process.stop()


@pytest.fixture
def cluster(transactional_db, kubeconfig):
    yield cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
    # A sync's new revision queues the analysis' shard jobs on the worker: let them finish
    # before the database is flushed, or the flush's TRUNCATE and a shard's transaction
    # can deadlock (seen on PostgreSQL), failing this test's teardown and the next setup.
    wait_for(
        lambda: not Job.objects.filter(
            kind=Job.Kind.ANALYSIS, state__in=Job.ACTIVE_STATES
        ).exists(),
        timeout=120,
        what="the analysis jobs a sync queued",
    )


def _done(job, timeout=30):
    def finished():
        job.refresh_from_db()
        return job.is_done

    wait_for(finished, timeout=timeout, what=f"job {job.pk} to finish")
    return job


def test_sync_runs_on_a_real_worker(worker, cluster):
    job, created = sync_request(cluster=cluster)
    job = _done(job)
    assert created and job.state == Job.State.SUCCEEDED, job.error + worker.log()[-2000:]
    assert job.celery_task_id and job.attempts == 1 and job.progress == 100
    run = SyncRun.objects.get(job=job)
    assert run.status == SyncRun.Status.SUCCEEDED and run.counts["added"] == 12


def test_simultaneous_sync_requests_run_one_sync(worker, cluster, fake_api):
    fake_api.set_delay("nodes", 0.3)
    results, barrier = [], threading.Barrier(3)

    def request():
        barrier.wait()
        results.append(sync_request(cluster=cluster))
        connection.close()

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync_cluster_task.delay(cluster.pk)  # the periodic schedule asks too: coalesced
    assert len({job.pk for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    _done(results[0][0])
    wait_for(lambda: not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists(), what="idle")
    assert Job.objects.filter(kind=Job.Kind.SYNC).count() <= 2
    # Only one sync ran while the first one was in flight; a later periodic one may follow.
    assert SyncRun.objects.filter(status="succeeded").count() == 1


def test_transient_api_errors_are_retried_with_backoff(worker, cluster, fake_api):
    fake_api.fail_next("nodes", 503)
    job = _done(sync_request(cluster=cluster)[0], timeout=40)
    assert job.state == Job.State.SUCCEEDED and job.attempts == 2, worker.log()[-2000:]
    runs = list(SyncRun.objects.filter(job=job).order_by("id"))
    assert [r.status for r in runs] == ["failed", "succeeded"]
    assert "HTTP 503" in runs[0].error


def test_apply_and_rollback_run_on_the_worker(worker, cluster, fake_api):
    user = User.objects.create_user("ops")
    user.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    user = User.objects.get(pk=user.pk)
    rv = fake_api.store.get("services", "shop", "api")["metadata"]["resourceVersion"]
    before = fake_api.store.get("services", "shop", "api")["spec"]
    applied = _done(
        apply_request(
            cluster=cluster,
            user=user,
            changes=[
                {
                    "namespace": "shop",
                    "name": "api",
                    "set": {"internalTrafficPolicy": "Local"},
                    "expected_resource_version": rv,
                }
            ],
        )
    )
    assert applied.state == Job.State.SUCCEEDED, applied.error
    assert fake_api.store.get("services", "shop", "api")["spec"]["internalTrafficPolicy"] == "Local"
    rolled = _done(rollback_request(apply_job=applied, user=user))
    assert rolled.state == Job.State.SUCCEEDED, rolled.error
    assert fake_api.store.get("services", "shop", "api")["spec"] == before
    assert AuditEntry.objects.filter(result="applied").count() == 2


def test_redis_restart_loses_no_job_and_runs_none_twice(
    transactional_db,
    kubeconfig,
    fake_api,
    tmp_path,
):
    broker = RedisServer(tmp_path).start()
    process = Worker(
        broker_url=broker.url, database_url=database_url_for_tests(), name="restart"
    ).wait_ready()
    try:
        with publishing_to(broker.url):
            cluster = cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
            broker.stop()
            job, _ = sync_request(cluster=cluster)  # the broker is down: the message is lost
            job.refresh_from_db()
            assert job.state == Job.State.QUEUED and "broker unreachable" in job.log
            broker.start()
            # What the periodic requeue does every minute: re-send queued jobs.
            requeue_stale_jobs_task.apply_async(args=[0])
            job = _done(job, timeout=60)
            assert job.state == Job.State.SUCCEEDED, process.log()[-3000:]
            # A duplicate delivery of the same job message has no effect.
            sync_cluster_task.apply_async(args=[cluster.pk, job.pk])
            marker, _ = sync_request(cluster=cluster)
            _done(marker)
            assert SyncRun.objects.filter(job=job).count() == 1
            assert SyncRun.objects.count() == 2 and Job.objects.get(pk=job.pk).attempts == 1
    finally:
        process.stop()
        broker.stop()


def test_a_worker_killed_mid_sync_is_replaced_and_the_job_completes(
    transactional_db,
    kubeconfig,
    fake_api,
    tmp_path,
):
    broker = RedisServer(tmp_path).start()
    quick = {"CELERY_VISIBILITY_TIMEOUT": "2"}  # redeliver unacknowledged messages fast
    first = Worker(
        broker_url=broker.url, database_url=database_url_for_tests(), name="doomed", env=quick
    ).wait_ready()
    second = None
    try:
        with publishing_to(broker.url):
            cluster = cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
            fake_api.set_delay("pods", 30)  # the sync hangs on the pod list ...
            job, _ = sync_request(cluster=cluster)
            wait_for(
                lambda: any(p == "/api/v1/pods" for (_m, p, _q) in fake_api.requests),
                what="the pod list",
            )
            first.kill()  # ... and its worker dies
            fake_api.set_delay("pods", 0)
            # Let the visibility timeout pass first, so the heir restores the unacknowledged
            # message when it starts instead of waiting for a periodic restore (flaky under load).
            time.sleep(float(quick["CELERY_VISIBILITY_TIMEOUT"]) + 1)
            second = Worker(
                broker_url=broker.url, database_url=database_url_for_tests(), name="heir", env=quick
            ).wait_ready()
            job = _done(job, timeout=120)
            assert job.state == Job.State.SUCCEEDED, second.log()[-3000:]
            assert job.attempts == 2
            runs = list(SyncRun.objects.filter(job=job).order_by("id"))
            assert [(r.status, r.error) for r in runs] == [
                ("failed", "worker lost"),
                ("succeeded", ""),
            ]
    finally:
        first.stop()
        if second is not None:
            second.stop()
        broker.stop()
