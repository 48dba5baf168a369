"""``manage.py sync_cluster NAME [--async]``: sync a live cluster, showing progress.

When a sync of the cluster is already queued or running, the command follows that job
instead of starting a second one, but never forever: a job whose worker died (no
heartbeat for ``ROUTESCOPE_JOB_LOST_SECONDS``) or that no worker picks up within that time
is run here, and the whole wait is bounded by ``--wait-timeout``.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cluster.models import Cluster
from cluster.sync_jobs import TransientSyncError, sync_job_run, sync_request
from jobs.models import Job, SyncRun

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "List the cluster's objects from its API server and store them (one transaction)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="queue the sync for a worker and print the job id",
        )
        parser.add_argument(
            "--wait-timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="give up following another process's sync after this long "
            "(default: the sync task's hard time limit plus the "
            "heartbeat loss time)",
        )

    def handle(self, *args, name, run_async, wait_timeout=None, **options):
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"no cluster named {name!r}", returncode=2)
        if not cluster.in_cluster and not cluster.kubeconfig_path:
            raise CommandError(
                f"cluster {name!r} was imported, not added with add_cluster: "
                "it has no API server to sync from",
                returncode=2,
            )
        if run_async:
            job, created = sync_request(cluster=cluster)
            verb = "queued" if created else "already queued/running"
            self.stdout.write(f"sync of {name!r} {verb} as job {job.pk}")
            return
        job, created = self._claim(cluster)
        if not created:
            self.stdout.write(f"a sync of {name!r} is already running (job {job.pk}); waiting")
            if self._wait(job, timeout=wait_timeout):
                return
            self.stdout.write(f"running job {job.pk} here: {job.message}")
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

    def _wait(self, job, *, timeout=None):
        """Follow ``job`` to its end (True), or return False when this process should run
        it: its worker died, or no worker took it within the heartbeat loss time."""
        from cluster.tasks import SYNC_HARD_LIMIT
        from jobs.services import job_is_dead, job_reap_dead

        lost = float(settings.ROUTESCOPE_JOB_LOST_SECONDS)
        start = time.monotonic()
        deadline = start + (timeout if timeout is not None else SYNC_HARD_LIMIT + lost)
        last = None
        while True:
            job.refresh_from_db()
            if (job.progress, job.message) != last:
                self._show(job.progress, job.message)
                last = (job.progress, job.message)
            if job.is_done:
                break
            if job_is_dead(job):
                job_reap_dead(jobs=Job.objects.filter(pk=job.pk))
                continue
            if job.state == Job.State.QUEUED and time.monotonic() - start > lost:
                return False
            if time.monotonic() > deadline:
                raise CommandError(
                    f"gave up waiting for sync job {job.pk} after "
                    f"{time.monotonic() - start:.0f}s (state {job.state}: "
                    f"{job.message})"
                )
            time.sleep(POLL_SECONDS)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"sync failed: {job.error}")
        return True

    def _report(self, run):
        if run is None:
            raise CommandError("the sync job was taken by another process")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"sync failed: {run.error}")
        fetched = ", ".join(f"{n} {kind}" for kind, n in run.counts.get("fetched", {}).items())
        self.stdout.write(
            f"sync {run.status}: {fetched}; added {run.counts['added']}, changed "
            f"{run.counts['changed']}, removed {run.counts['removed']}; revision "
            f"{run.revision_after} ({run.fetch_seconds:.1f}s fetch, {run.apply_seconds:.1f}s store)"
        )
