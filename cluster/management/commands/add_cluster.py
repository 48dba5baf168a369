"""``manage.py add_cluster NAME --kubeconfig PATH --context CTX`` (or ``--in-cluster``)."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cluster.kube.errors import KubeConfigError
from cluster.sync_jobs import cluster_add_live


class Command(BaseCommand):
    help = ("Register a live cluster by kubeconfig path + context (or in-cluster config). "
            "Only the path and context name are stored, never credentials.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kubeconfig", default="", help="path to the kubeconfig file")
        parser.add_argument("--context", default="", help="context name in that kubeconfig")
        parser.add_argument("--in-cluster", action="store_true",
                            help="use the service account of the pod Routescope runs in")
        parser.add_argument("--sync-every", type=int, default=None, metavar="SECONDS",
                            help="periodic sync interval (default ROUTESCOPE_SYNC_INTERVAL; "
                                 "0: none)")

    def handle(self, *args, name, kubeconfig, context, in_cluster, sync_every, **options):
        if not in_cluster and not (kubeconfig and context):
            raise CommandError("give --kubeconfig PATH --context CTX, or --in-cluster", returncode=2)
        if sync_every is not None and sync_every < 0:
            raise CommandError("--sync-every must be 0 (no periodic sync) or more seconds", returncode=2)
        every = settings.ROUTESCOPE_SYNC_INTERVAL if sync_every is None else sync_every
        try:
            cluster = cluster_add_live(name=name, kubeconfig_path=kubeconfig, context=context,
                                       in_cluster=in_cluster, sync_every_seconds=every)
        except KubeConfigError as error:
            raise CommandError(str(error), returncode=2) from None
        where = "in-cluster config" if in_cluster else f"{cluster.kubeconfig_path} [{context}]"
        schedule = f", synced every {every}s" if every > 0 else ""
        self.stdout.write(f"Added cluster {name!r} ({where}{schedule}). "
                          f"Run: manage.py sync_cluster {name}")
