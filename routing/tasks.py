"""Celery tasks of the routing app: the stored analysis' shards (``routing.analysis_jobs``).

Thin wrappers (STYLE §12-15): JSON ids in, one service call. A shard job runs only if its
row moves from queued to running, so a redelivered message is a no-op; a shard whose
worker died is re-queued by the jobs' heartbeat check (``jobs.services.job_reap_dead``).
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from jobs.models import Job
from jobs.services import job_finish

SHARD_SOFT_LIMIT, SHARD_HARD_LIMIT = 240, 300


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=SHARD_SOFT_LIMIT,
    time_limit=SHARD_HARD_LIMIT,
)
def analysis_shard_task(self, job_id: int) -> None:
    """Analyse one shard of Services of one cluster revision (a ``jobs.Job`` of kind
    ``analysis``); the last shard merges and stores the analysis."""
    from routing.analysis_jobs import analysis_shard_run

    try:
        analysis_shard_run(job_id=job_id, task_id=self.request.id or "")
    except SoftTimeLimitExceeded:
        _fail(job_id, "analysis shard exceeded its time limit")
    except Exception as error:
        _fail(job_id, f"internal error: {type(error).__name__}: {error}")
        raise


def _fail(job_id: int, message: str) -> None:
    from routing.analysis_jobs import analysis_fail

    job = Job.objects.filter(pk=job_id, state=Job.State.RUNNING).first()
    if job is not None:
        job_finish(job=job, state=Job.State.FAILED, error=message, message=message)
        analysis_fail(job=job, error=message)
