"""``manage.py check_drift --cluster NAME [--node NODE ...] [--mode MODE] [--wait SECONDS]`` —
ask node agents to compare their node's rules with the prediction.

Each check goes to its node's queue (``node.<NODE>``), where ``manage.py node_agent --node
NODE`` runs it and stores a drift report (pages: overview and rules; API:
``/api/v1/clusters/NAME/drift``). Without a broker (no ``REDIS_URL``) the check runs in
this process against this host's rules."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from routing.services import DRIFT_MODES


class Command(BaseCommand):
    help = "Queue a rules drift check on each node agent's queue (all nodes unless --node)."

    def add_arguments(self, parser):
        parser.add_argument("--cluster", required=True)
        parser.add_argument(
            "--node",
            action="append",
            dest="nodes",
            metavar="NODE",
            help="only this node (repeatable); default every node of the cluster",
        )
        parser.add_argument(
            "--mode", choices=DRIFT_MODES, help="default: the node's kube-proxy mode"
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="wait this long for each agent's answer and print it",
        )

    def handle(self, *args, **opts):
        from cluster.models import Cluster
        from routing.agent.tasks import drift_checks_queue
        from routing.snapshots import snapshot_for_cluster

        cluster = Cluster.objects.filter(name=opts["cluster"]).first()
        if cluster is None:
            raise CommandError(f"no cluster called {opts['cluster']!r}", returncode=2)
        known = snapshot_for_cluster(cluster=cluster).nodes
        nodes = opts["nodes"] or sorted(known)
        unknown = [n for n in nodes if n not in known]
        if unknown:
            raise CommandError(f"no node {unknown[0]!r} in cluster {cluster.name}", returncode=2)
        failed = 0
        for node in nodes:
            try:
                result = drift_checks_queue(cluster_id=cluster.pk, nodes=[node], mode=opts["mode"])[
                    0
                ]
                if not (result.ready() or opts["wait"]):
                    self.stdout.write(f"{node}: queued on node.{node} (task {result.id})")
                    continue
                answer = result.get(timeout=opts["wait"] or None)
            except Exception as error:  # one node's failure must not hide the others' answers
                failed += 1
                self.stderr.write(f"{node}: check failed: {' '.join(str(error).split())[:300]}")
                continue
            state = (
                "in sync"
                if answer["clean"]
                else f"DRIFT: {len(answer['missing'])} missing, {len(answer['extra'])} unexpected"
            )
            self.stdout.write(f"{node} ({answer['mode']}): {state}")
        if failed:
            raise CommandError(f"{failed} of {len(nodes)} check(s) failed", returncode=1)
