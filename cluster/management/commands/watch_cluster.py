"""``manage.py watch_cluster NAME [--seconds N]``: list once, then follow watch events."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from cluster.models import Cluster
from cluster.watch import cluster_watch
from jobs.models import Job
from jobs.services import job_create_sync, job_finish, job_heartbeat, job_start


class Command(BaseCommand):
    help = (
        "Keep a live cluster's stored state current: one full list, then watch events "
        "applied as they arrive (relisting on 410 Gone). Runs as the cluster's sync job, "
        "so periodic syncs coalesce into it while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--seconds",
            type=float,
            default=None,
            help="stop after this long (default: until interrupted)",
        )

    def handle(self, *args, name, seconds, **options):
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"no cluster named {name!r}")
        if not cluster.in_cluster and not cluster.kubeconfig_path:
            raise CommandError(f"cluster {name!r} has no API server (it was imported)")
        job, created = job_create_sync(cluster=cluster)
        if not created:
            raise CommandError(f"a sync of {name!r} is already queued or running (job {job.pk})")
        job = job_start(job_id=job.pk)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"watching {name!r} (job {job.pk}); Ctrl-C stops")
        with job_heartbeat(job_id=job.pk):  # alive even through a long relist
            stats = cluster_watch(
                cluster=cluster,
                job=job,
                stop=stop,
                max_seconds=seconds,
                on_batch=lambda events: self._show(events),
            )
        state = Job.State.FAILED if stats.error else Job.State.SUCCEEDED
        job_finish(
            job=job,
            state=state,
            error=stats.error,
            message=f"watched: {sum(stats.events.values())} events, {stats.relists} relists",
        )
        if stats.error:
            raise CommandError(f"watch failed: {stats.error}")
        self.stdout.write(
            f"stopped: {sum(stats.events.values())} events applied, "
            f"{stats.relists} relists, {stats.resumes} resumed streams"
        )

    def _show(self, events):
        for type_, obj in events:
            meta = obj.get("metadata") or {}
            where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
            self.stdout.write(f"{type_:8} {obj.get('kind')} {where}{meta.get('name')}")
