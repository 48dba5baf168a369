"""gunicorn config for bench_api.py: build the node table of every stored cluster (what
the one-Service simulate lays a Service's rows over) in the master (with ``--preload``) so
forked workers start with it in memory."""


def when_ready(server):
    """Runs in the master once the app is loaded, before the workers fork."""
    from django.db import connections

    from cluster.models import Cluster
    from routing.snapshots import node_table_for_cluster

    for cluster in Cluster.objects.all():
        node_table_for_cluster(cluster=cluster)
    # A forked worker must not share the master's database connection.
    connections.close_all()
