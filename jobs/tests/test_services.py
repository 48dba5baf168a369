"""Job services: start-once, progress, log, finish, coalescing, requeue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from cluster.models import Cluster
from jobs.models import Job
from jobs.selectors import job_active_sync, job_list
from jobs.services import (
    job_cancel,
    job_create,
    job_create_sync,
    job_enqueue,
    job_finish,
    job_log,
    job_progress,
    job_requeue_stale,
    job_start,
)


@pytest.fixture
def cluster(db):
    return Cluster.objects.create(name="c1")


def test_a_job_starts_exactly_once(cluster):
    job = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    started = job_start(job_id=job.pk, celery_task_id="t-1")
    assert started.state == Job.State.RUNNING and started.attempts == 1
    assert started.started_at is not None and started.celery_task_id == "t-1"
    assert job_start(job_id=job.pk, celery_task_id="t-2") is None
    assert Job.objects.get(pk=job.pk).celery_task_id == "t-1"


def test_a_redelivered_message_takes_over_the_job_its_dead_worker_left(cluster):
    job = job_create(kind=Job.Kind.SYNC, cluster=cluster)
    job_start(job_id=job.pk, celery_task_id="t-1")
    retaken = job_start(job_id=job.pk, celery_task_id="t-1")  # acks_late redelivery
    assert retaken is not None and retaken.attempts == 2
    assert job_start(job_id=job.pk, celery_task_id="t-9") is None  # another message: no
    job_finish(job=retaken, state=Job.State.SUCCEEDED)
    assert job_start(job_id=job.pk, celery_task_id="t-1") is None  # finished: never again


def test_progress_is_clamped_and_log_lines_append(cluster):
    job = job_create(kind=Job.Kind.SYNC, cluster=cluster)
    job_progress(job=job, percent=140, message="x" * 400)
    job_log(job=job, line="first")
    job_log(job=job, line="second")
    job.refresh_from_db()
    assert job.progress == 100 and len(job.message) == 255
    lines = job.log.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["first", "second"]


def test_finish_needs_a_final_state(cluster):
    job = job_create(kind=Job.Kind.SYNC, cluster=cluster)
    with pytest.raises(ValueError, match="final state"):
        job_finish(job=job, state=Job.State.RUNNING)
    job_finish(job=job, state=Job.State.FAILED, error="boom", result={"a": 1})
    job.refresh_from_db()
    assert job.is_done and job.error == "boom" and job.result == {"a": 1} and job.finished_at


def test_one_active_sync_per_cluster_is_enforced_by_the_database(cluster):
    job_create(kind=Job.Kind.SYNC, cluster=cluster)
    with pytest.raises(IntegrityError), transaction.atomic():
        job_create(kind=Job.Kind.SYNC, cluster=cluster)
    other = Cluster.objects.create(name="c2")
    job_create(kind=Job.Kind.SYNC, cluster=other)  # another cluster: fine
    job_create(kind=Job.Kind.APPLY, cluster=cluster)  # another kind: fine


def test_sync_requests_coalesce_until_the_job_is_done(cluster):
    first, created = job_create_sync(cluster=cluster, task_args=lambda job: [job.pk])
    again, created_again = job_create_sync(cluster=cluster)
    assert created and not created_again and again.pk == first.pk
    assert first.task_args == [first.pk] and job_active_sync(cluster=cluster) == first
    job_finish(job=first, state=Job.State.SUCCEEDED)
    fresh, created_fresh = job_create_sync(cluster=cluster)
    assert created_fresh and fresh.pk != first.pk


def test_cancel_only_before_start(cluster):
    job = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    assert job_cancel(job=job)
    assert job_start(job_id=job.pk) is None
    running = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    job_start(job_id=running.pk)
    assert not job_cancel(job=running)


def test_requeue_resends_old_queued_jobs_and_fails_lost_ones(
    cluster, django_capture_on_commit_callbacks
):
    old = job_create(
        kind=Job.Kind.APPLY, cluster=cluster, task_name="cluster.tasks.rollback_task", task_args=[0]
    )
    young = job_create(
        kind=Job.Kind.APPLY, cluster=cluster, task_name="cluster.tasks.rollback_task"
    )
    inline = job_create(kind=Job.Kind.SYNC, cluster=cluster)  # run in-process: no task
    stuck = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    job_start(job_id=stuck.pk)
    past = timezone.now() - timedelta(hours=2)
    Job.objects.filter(pk__in=[old.pk, inline.pk]).update(created_at=past)
    Job.objects.filter(pk=stuck.pk).update(updated_at=past)
    published = job_create(
        kind=Job.Kind.APPLY, cluster=cluster, task_name="cluster.tasks.rollback_task"
    )
    Job.objects.filter(pk=published.pk).update(created_at=past, celery_task_id="sent-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = job_requeue_stale(
            older_than_seconds=60, republish_after_seconds=3 * 3600, lost_after_seconds=3600
        )
    assert counts == {"requeued": 1, "lost": 1} and len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = job_requeue_stale(older_than_seconds=60, republish_after_seconds=3600)
    assert counts["requeued"] == 2  # the published one too, once its message is long overdue
    assert "re-sending" in Job.objects.get(pk=old.pk).log
    assert Job.objects.get(pk=young.pk).log == ""
    assert Job.objects.get(pk=stuck.pk).state == Job.State.FAILED


def test_enqueue_sends_after_commit_and_records_the_task_id(
    cluster, django_capture_on_commit_callbacks
):
    job = job_create(
        kind=Job.Kind.ROLLBACK,
        cluster=cluster,
        task_name="cluster.tasks.rollback_task",
        task_args=[123456],
    )  # no such job: the (eager) task does nothing
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_enqueue(job=job)
        job.refresh_from_db()
        assert job.celery_task_id == ""  # nothing sent before the commit
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.celery_task_id


def test_job_list_filters(cluster):
    job_create(kind=Job.Kind.SYNC, cluster=cluster)
    job_create(kind=Job.Kind.APPLY, cluster=cluster)
    assert [j.kind for j in job_list(cluster=cluster, kind="apply")] == ["apply"]
    assert job_list(state="queued").count() == 2


def test_dead_jobs_are_requeued_or_failed_with_the_reason(
    cluster, settings, django_capture_on_commit_callbacks
):
    from jobs.models import SyncRun
    from jobs.services import job_is_dead, job_reap_dead

    settings.ROUTESCOPE_JOB_LOST_SECONDS = 30
    settings.ROUTESCOPE_JOB_MAX_ATTEMPTS = 2
    silent = timezone.now() - timedelta(seconds=45)
    sync = job_create(
        kind=Job.Kind.SYNC, cluster=cluster, task_name="cluster.tasks.sync_cluster_task"
    )
    apply = job_create(
        kind=Job.Kind.APPLY, cluster=cluster, task_name="cluster.tasks.apply_changes_task"
    )
    alive = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    for job in (sync, apply, alive):
        job_start(job_id=job.pk, celery_task_id=f"t-{job.pk}")
    run = SyncRun.objects.create(cluster=cluster, job=sync)
    Job.objects.filter(pk__in=[sync.pk, apply.pk]).update(heartbeat_at=silent)
    assert job_is_dead(Job.objects.get(pk=sync.pk)) and not job_is_dead(
        Job.objects.get(pk=alive.pk)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert job_reap_dead() == 2
    sync, apply = Job.objects.get(pk=sync.pk), Job.objects.get(pk=apply.pk)
    assert sync.state == Job.State.QUEUED and "worker lost: no heartbeat for 45s" in sync.message
    assert len(callbacks) == 1  # the sync's task is sent again; the apply waits for a person
    assert apply.state == Job.State.FAILED and apply.error.startswith("worker lost: no heartbeat")
    assert Job.objects.get(pk=alive.pk).state == Job.State.RUNNING
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.FAILED
    # Out of attempts, a sync fails too; and a new request then starts a fresh job.
    job_start(job_id=sync.pk, celery_task_id="t-again")
    Job.objects.filter(pk=sync.pk).update(heartbeat_at=silent)
    fresh, created = job_create_sync(cluster=cluster)
    assert created and fresh.pk != sync.pk
    assert Job.objects.get(pk=sync.pk).state == Job.State.FAILED


def test_the_periodic_task_finds_dead_jobs_within_a_minute_by_default(cluster, settings):
    from config.settings import base
    from jobs.services import job_requeue_stale

    schedule = base.CELERY_BEAT_SCHEDULE["requeue-stale-jobs"]
    assert schedule["task"] == "cluster.tasks.requeue_stale_jobs_task"
    assert base.ROUTESCOPE_JOB_LOST_SECONDS + schedule["schedule"] <= 60
    job = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=base.ROUTESCOPE_JOB_LOST_SECONDS + 1)
    )
    assert job_requeue_stale(older_than_seconds=60)["lost"] == 1  # what the task runs
    assert Job.objects.get(pk=job.pk).error.startswith("worker lost: no heartbeat")
