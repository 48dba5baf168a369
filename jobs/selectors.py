"""Reads of job, sync-run and audit rows for pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import AuditEntry, Job, SyncRun


def job_list(*, cluster=None, kind: str | None = None, state: str | None = None) -> QuerySet[Job]:
    """Jobs newest first, optionally for one cluster / kind / state (without the big log)."""
    jobs = Job.objects.select_related("cluster", "created_by").defer("log")
    if cluster is not None:
        jobs = jobs.filter(cluster=cluster)
    if kind:
        jobs = jobs.filter(kind=kind)
    if state:
        jobs = jobs.filter(state=state)
    return jobs


def job_get(*, job_id: int) -> Job:
    """One job with its log (raises ``Job.DoesNotExist``)."""
    return Job.objects.select_related("cluster", "created_by", "parent").get(pk=job_id)


def job_active_sync(*, cluster) -> Job | None:
    """The cluster's queued or running sync job, if any."""
    return Job.objects.filter(
        cluster=cluster, kind=Job.Kind.SYNC, state__in=Job.ACTIVE_STATES
    ).first()


def sync_run_list(*, cluster=None) -> QuerySet[SyncRun]:
    """Sync runs newest first, optionally for one cluster."""
    runs = SyncRun.objects.select_related("cluster", "job")
    return runs.filter(cluster=cluster) if cluster is not None else runs


def sync_run_latest(*, cluster, mode: str | None = None) -> SyncRun | None:
    """The cluster's most recent sync run (of ``mode``, when given)."""
    runs = SyncRun.objects.filter(cluster=cluster)
    if mode:
        runs = runs.filter(mode=mode)
    return runs.first()


def audit_entry_list(*, cluster=None, job: Job | None = None) -> QuerySet[AuditEntry]:
    """Audit entries newest first, optionally for one cluster or job."""
    entries = AuditEntry.objects.select_related("user", "cluster", "job")
    if cluster is not None:
        entries = entries.filter(cluster=cluster)
    if job is not None:
        entries = entries.filter(job=job)
    return entries
