"""Celery tasks: thin wrappers that re-read their rows and call one service (STYLE §12-15).

Arguments are JSON ids only. Every task is idempotent: a job runs only if its row moves
from queued to running (``jobs.services.job_start``), so a redelivered message is a no-op.
Only sync retries by itself, and only on transient errors (connection lost, 5xx, 429),
with exponential backoff, jitter and a bound. Apply and rollback never retry on their
own: a person decides after reading the conflict or the error.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready

from cluster.models import Cluster
from cluster.sync_jobs import TransientSyncError, sync_job_run, sync_request
from jobs.models import Job
from jobs.services import job_finish, job_heartbeat, job_requeue_stale

logger = logging.getLogger(__name__)

SYNC_SOFT_LIMIT, SYNC_HARD_LIMIT = 540, 600
APPLY_SOFT_LIMIT, APPLY_HARD_LIMIT = 240, 300


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(TransientSyncError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=4,
    soft_time_limit=SYNC_SOFT_LIMIT,
    time_limit=SYNC_HARD_LIMIT,
)
def sync_cluster_task(self, cluster_id: int, job_id: int | None = None) -> None:
    """Sync one cluster. Without ``job_id`` (the periodic schedule) it requests a sync,
    which coalesces with one already queued or running."""
    if job_id is None:
        cluster = Cluster.objects.filter(pk=cluster_id).first()
        if cluster is not None:
            sync_request(cluster=cluster)
        return
    try:
        # In eager mode (no broker) a retry would raise into the caller: one attempt only.
        final = self.request.is_eager or self.request.retries >= self.max_retries
        sync_job_run(job_id=job_id, task_id=self.request.id or "", final_attempt=final)
    except SoftTimeLimitExceeded:
        _fail(job_id, "sync exceeded its time limit")
    except TransientSyncError:
        raise
    except Exception as error:
        _fail(job_id, f"internal error: {type(error).__name__}: {error}")
        raise


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=APPLY_SOFT_LIMIT,
    time_limit=APPLY_HARD_LIMIT,
)
def apply_changes_task(self, job_id: int) -> None:
    """Apply the Service (or kube-proxy) changes recorded in an apply job."""
    from cluster.apply import apply_job_run

    try:
        with job_heartbeat(job_id=job_id):
            apply_job_run(job_id=job_id, task_id=self.request.id or "")
    except SoftTimeLimitExceeded:
        _fail(job_id, "apply exceeded its time limit")
    except Exception as error:
        _fail(job_id, f"internal error: {type(error).__name__}: {error}")
        raise


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=APPLY_SOFT_LIMIT,
    time_limit=APPLY_HARD_LIMIT,
)
def rollback_task(self, job_id: int) -> None:
    """Restore the before state of the apply job a rollback job points at."""
    from cluster.apply import rollback_job_run

    try:
        with job_heartbeat(job_id=job_id):
            rollback_job_run(job_id=job_id, task_id=self.request.id or "")
    except SoftTimeLimitExceeded:
        _fail(job_id, "rollback exceeded its time limit")
    except Exception as error:
        _fail(job_id, f"internal error: {type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True, ignore_result=True)
def requeue_stale_jobs_task(older_than_seconds: float = 60) -> dict:
    """Re-send queued jobs whose message was lost (broker down or restarted without
    persistence); re-queue or fail jobs whose worker died mid-run (no heartbeat)."""
    return job_requeue_stale(
        older_than_seconds=older_than_seconds, lost_after_seconds=SYNC_HARD_LIMIT * 2
    )


def _fail(job_id: int, message: str) -> None:
    job = Job.objects.filter(pk=job_id, state=Job.State.RUNNING).first()
    if job is not None:
        job_finish(job=job, state=Job.State.FAILED, error=message, message=message)


@worker_ready.connect
def _requeue_on_worker_start(sender=None, **kwargs) -> None:
    # Messages published while no broker was reachable exist only as queued rows.
    try:
        job_requeue_stale(older_than_seconds=10)
    except Exception:
        logger.exception("could not re-send stale jobs at worker start")
