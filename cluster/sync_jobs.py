"""Sync as background work: request (coalesced), run under a job row, schedule per cluster."""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.utils import timezone

from cluster.models import Cluster
from cluster.sync import cluster_sync
from jobs.models import Job, SyncRun
from jobs.services import (
    job_create_sync,
    job_enqueue,
    job_finish,
    job_heartbeat,
    job_log,
    job_progress,
    job_start,
)

logger = logging.getLogger(__name__)
SYNC_TASK = "cluster.tasks.sync_cluster_task"


class TransientSyncError(Exception):
    """A sync failed in a way a later attempt may fix (connection lost, 5xx, 429)."""


def sync_request(*, cluster: Cluster, user=None) -> tuple[Job, bool]:
    """Ask for a sync of ``cluster``: ``(job, created)``.

    When a sync of this cluster is already queued or running, that job is returned and
    nothing new is enqueued (duplicate requests coalesce).
    """
    job, created = job_create_sync(
        cluster=cluster,
        created_by=user,
        task_name=SYNC_TASK,
        task_args=lambda job: [cluster.pk, job.pk],
    )
    if created:
        job_enqueue(job=job)
    return job, created


def sync_job_run(
    *, job_id: int, task_id: str = "", final_attempt: bool = True, on_progress=None
) -> SyncRun | None:
    """Run a queued sync job; None when another delivery already took it.

    A transient failure with attempts left puts the job back in the queue and raises
    ``TransientSyncError`` (the task retries with backoff); otherwise the job ends failed.
    """
    job = job_start(job_id=job_id, celery_task_id=task_id)
    if job is None:
        logger.info("sync job %s is not queued any more: nothing to do", job_id)
        return None
    # A run left "running" by a worker that died before this delivery took the job over.
    SyncRun.objects.filter(job=job, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED, error="worker lost", finished_at=timezone.now()
    )

    def progress(percent: int, message: str) -> None:
        job_progress(job=job, percent=percent, message=message)
        if on_progress:
            on_progress(percent, message)

    with job_heartbeat(job_id=job.pk):  # a killed process stops beating: job_reap_dead
        assert job.cluster is not None  # sync jobs are created for a cluster
        run = cluster_sync(cluster=job.cluster, job=job, on_progress=progress)
    job_log(
        job=job,
        line=f"sync {run.status}: {json.dumps(run.counts, sort_keys=True)}"
        + (f" error: {run.error}" if run.error else ""),
    )
    result = {
        "sync_run": run.pk,
        "status": run.status,
        "counts": run.counts,
        "revision": run.revision_after,
    }
    if run.status != SyncRun.Status.FAILED:
        job_finish(
            job=job,
            state=Job.State.SUCCEEDED,
            result=result,
            message=f"sync {run.status} (revision {run.revision_after})",
        )
    elif run.error_transient and not final_attempt:
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.QUEUED, message="retrying: " + run.error[:200]
        )
        raise TransientSyncError(run.error)
    else:
        job_finish(
            job=job, state=Job.State.FAILED, error=run.error, result=result, message="sync failed"
        )
    return run


def sync_schedule(*, cluster: Cluster, every_seconds: int) -> None:
    """Create or update the cluster's periodic sync (django-celery-beat); 0 removes it."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    name = f"sync cluster {cluster.name}"
    if every_seconds <= 0:
        PeriodicTask.objects.filter(name=name).delete()
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every_seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": SYNC_TASK,
            "interval": interval,
            "enabled": True,
            "args": json.dumps([cluster.pk]),
        },
    )


def cluster_add_live(
    *,
    name: str,
    kubeconfig_path: str = "",
    context: str = "",
    in_cluster: bool = False,
    sync_every_seconds: int = 0,
) -> Cluster:
    """Register a live cluster: where its credentials are (never the credentials).

    Checks that the kubeconfig has ``context`` (or that in-cluster config is available)
    and, when ``sync_every_seconds`` > 0, schedules periodic syncs.
    """
    import os

    from cluster.kube.client import check_kubeconfig, kubeconfig_files, new_api_client
    from cluster.kube.errors import KubeConfigError
    from cluster.models import ClusterSource
    from cluster.services import CLUSTER_NAME

    if not CLUSTER_NAME.fullmatch(name or ""):
        raise KubeConfigError(
            f"cluster name {name!r} must be 1-253 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    if Cluster.objects.filter(name=name).exists():
        raise KubeConfigError(f"cluster {name!r} already exists")
    if in_cluster == bool(kubeconfig_path):
        raise KubeConfigError("give either a kubeconfig path and context, or in-cluster")
    if in_cluster:
        new_api_client(in_cluster=True).close()
    else:
        kubeconfig_path = os.pathsep.join(str(f) for f in kubeconfig_files(kubeconfig_path))
        check_kubeconfig(path=kubeconfig_path, context=context)
    with transaction.atomic():
        cluster = Cluster.objects.create(
            name=name,
            source=ClusterSource.SYNCED,
            kubeconfig_path=kubeconfig_path,
            kube_context=context,
            in_cluster=in_cluster,
        )
        sync_schedule(cluster=cluster, every_seconds=sync_every_seconds)
    return cluster
