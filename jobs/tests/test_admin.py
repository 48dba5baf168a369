"""Admin pages for job rows: they load, and the audit trail cannot be edited."""

from __future__ import annotations

from cluster.models import Cluster
from jobs.models import AuditEntry, Job, SyncRun
from jobs.services import job_create


def test_admin_lists_and_details_load(admin_client, db):
    cluster = Cluster.objects.create(name="c1")
    job = job_create(kind=Job.Kind.APPLY, cluster=cluster)
    run = SyncRun.objects.create(cluster=cluster, job=job)
    entry = AuditEntry.objects.create(
        cluster=cluster,
        job=job,
        action="apply",
        object_kind="Service",
        object_name="web",
        result="applied",
    )
    for url in (
        "/admin/jobs/job/",
        f"/admin/jobs/job/{job.pk}/change/",
        "/admin/jobs/syncrun/",
        f"/admin/jobs/syncrun/{run.pk}/change/",
        "/admin/jobs/auditentry/",
        f"/admin/jobs/auditentry/{entry.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    response = admin_client.post(f"/admin/jobs/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and AuditEntry.objects.filter(pk=entry.pk).exists()
