"""``manage.py sync_cluster NAME [--async]``: sync a live cluster, showing progress."""
import time

from django.core.management.base import BaseCommand, CommandError

from cluster.models import Cluster
from cluster.sync_jobs import TransientSyncError, sync_job_run, sync_request
from jobs.models import Job, SyncRun

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "List the cluster's objects from its API server and store them (one transaction)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--async", dest="run_async", action="store_true",
                            help="queue the sync for a worker and print the job id")

    def handle(self, *args, name, run_async, **options):
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"no cluster named {name!r}", returncode=2)
        if not cluster.in_cluster and not cluster.kubeconfig_path:
            raise CommandError(f"cluster {name!r} was imported, not added with add_cluster: "
                               "it has no API server to sync from", returncode=2)
        if run_async:
            job, created = sync_request(cluster=cluster)
            verb = "queued" if created else "already queued/running"
            self.stdout.write(f"sync of {name!r} {verb} as job {job.pk}")
            return
        job, created = self._claim(cluster)
        if not created:
            self.stdout.write(f"a sync of {name!r} is already running (job {job.pk}); waiting")
            self._wait(job)
            return
        try:
            run = sync_job_run(job_id=job.pk, on_progress=self._show)
        except TransientSyncError:  # pragma: no cover - final_attempt=True never raises it
            raise CommandError("sync failed") from None
        self._report(run)

    def _claim(self, cluster):
        from jobs.services import job_create_sync

        return job_create_sync(cluster=cluster)

    def _show(self, percent, message):
        self.stdout.write(f"[{percent:3d}%] {message}")

    def _wait(self, job):
        last = None
        while True:
            job.refresh_from_db()
            if (job.progress, job.message) != last:
                self._show(job.progress, job.message)
                last = (job.progress, job.message)
            if job.is_done:
                break
            time.sleep(POLL_SECONDS)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"sync failed: {job.error}")

    def _report(self, run):
        if run is None:
            raise CommandError("the sync job was taken by another process")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"sync failed: {run.error}")
        fetched = ", ".join(f"{n} {kind}" for kind, n in run.counts.get("fetched", {}).items())
        self.stdout.write(
            f"sync {run.status}: {fetched}; added {run.counts['added']}, changed "
            f"{run.counts['changed']}, removed {run.counts['removed']}; revision "
            f"{run.revision_after} ({run.fetch_seconds:.1f}s fetch, {run.apply_seconds:.1f}s store)")
