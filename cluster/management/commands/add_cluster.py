"""``manage.py add_cluster NAME [--kubeconfig PATH] [--context CTX]`` (or ``--in-cluster``).

Like kubectl: without ``--kubeconfig`` the file comes from ``KUBECONFIG`` (a list of files
is merged), else ``~/.kube/config``; without ``--context``, that kubeconfig's
current-context. ``--list-contexts`` prints the contexts (``*`` marks the current one).
In-cluster mode uses the service account of the pod Routescope runs in."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cluster.kube.client import current_context, default_kubeconfig, kubeconfig_contexts
from cluster.kube.errors import KubeConfigError
from cluster.sync_jobs import cluster_add_live


class Command(BaseCommand):
    help = (
        "Register a live cluster by kubeconfig and context (default: KUBECONFIG or "
        "~/.kube/config and its current context) or in-cluster config. Only the path and "
        "context name are stored, never credentials."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", default="")
        parser.add_argument(
            "--kubeconfig",
            default="",
            help="kubeconfig file(s) (default: $KUBECONFIG, else ~/.kube/config)",
        )
        parser.add_argument(
            "--context", default="", help="context name (default: the kubeconfig's current-context)"
        )
        parser.add_argument(
            "--list-contexts", action="store_true", help="list the kubeconfig's contexts and exit"
        )
        parser.add_argument(
            "--in-cluster",
            action="store_true",
            help="use the service account of the pod Routescope runs in",
        )
        parser.add_argument(
            "--sync-every",
            type=int,
            default=None,
            metavar="SECONDS",
            help="periodic sync interval (default ROUTESCOPE_SYNC_INTERVAL; " "0: none)",
        )

    def handle(
        self, *args, name, kubeconfig, context, list_contexts, in_cluster, sync_every, **options
    ):
        if sync_every is not None and sync_every < 0:
            raise CommandError(
                "--sync-every must be 0 (no periodic sync) or more seconds", returncode=2
            )
        if in_cluster and (kubeconfig or context):
            raise CommandError("--in-cluster takes no --kubeconfig or --context", returncode=2)
        try:
            if not in_cluster:
                kubeconfig, context = self._kubeconfig_and_context(
                    kubeconfig, context, list_contexts
                )
                if list_contexts:
                    return
            if not name:
                raise CommandError("give the cluster's NAME", returncode=2)
            every = settings.ROUTESCOPE_SYNC_INTERVAL if sync_every is None else sync_every
            cluster = cluster_add_live(
                name=name,
                kubeconfig_path=kubeconfig,
                context=context,
                in_cluster=in_cluster,
                sync_every_seconds=every,
            )
        except KubeConfigError as error:
            raise CommandError(str(error), returncode=2) from None
        where = "in-cluster config" if in_cluster else f"{cluster.kubeconfig_path} [{context}]"
        schedule = f", synced every {every}s" if every > 0 else ""
        self.stdout.write(
            f"Added cluster {name!r} ({where}{schedule}). " f"Run: manage.py sync_cluster {name}"
        )

    def _kubeconfig_and_context(
        self, kubeconfig: str, context: str, list_contexts: bool
    ) -> tuple[str, str]:
        if not kubeconfig:
            kubeconfig = default_kubeconfig()
            if not kubeconfig:
                raise CommandError(
                    f"no kubeconfig: {settings.ROUTESCOPE_KUBECONFIG_DEFAULT} does not exist "
                    "(give --kubeconfig PATH, set KUBECONFIG, or use --in-cluster)",
                    returncode=2,
                )
        if list_contexts:
            current = current_context(path=kubeconfig)
            for ctx in kubeconfig_contexts(path=kubeconfig):
                self.stdout.write(f"{'*' if ctx == current else ' '} {ctx}")
            return kubeconfig, context
        if not context:
            context = current_context(path=kubeconfig)
            if not context:
                raise KubeConfigError(
                    f"kubeconfig {kubeconfig} sets no current-context: give --context CTX"
                )
        return kubeconfig, context
