"""Drift checks, split between the node and the centre.

A check is a Celery chain: ``collect_node_rules`` on the node's own queue ``node.<NODE>``
(its agent, ``manage.py node_agent --node NODE``, reads the rules with nothing but the
broker: see ``routing.agent.node``), then ``compare_node_rules`` on the default queue,
where a central worker renders the rules predicted for that node from the stored cluster,
compares and stores the drift report. Without a broker both steps run in-process.
Applying refuses unless the agent was started with ``--allow-write``."""

from __future__ import annotations

from celery import chain, shared_task

from routing.agent.drift import rules_drift
from routing.agent.node import (
    # Those marked F401 are re-exported: the lab and the agent tests import them from here.
    AGENT_VERSION,  # noqa: F401
    NETNS_ENV,  # noqa: F401
    WRITE_ENV,  # noqa: F401
    agent_host,  # noqa: F401
    agent_netns,  # noqa: F401
    apply_node_rules,  # noqa: F401
    collect_node_rules,
    node_queue,
    unpack_rules,
)


@shared_task(
    name="routing.agent.compare_node_rules", acks_late=True, soft_time_limit=300, time_limit=360
)
def compare_node_rules(collected: dict, cluster_id: int, node: str) -> dict:
    """Compare what a node's agent collected with the rules predicted for that node; store
    and return the drift (central worker: needs the database)."""
    from cluster.models import Cluster
    from routing.engine.rules import render_node_rules
    from routing.services import drift_report_record
    from routing.snapshots import render_cache_for, snapshot_for_cluster

    cluster = Cluster.objects.get(pk=cluster_id)
    mode = collected["mode"]
    expected = render_node_rules(
        snapshot_for_cluster(cluster=cluster), node, mode, cache=render_cache_for(cluster=cluster)
    )
    drift = rules_drift(expected, unpack_rules(collected))
    result = {
        "cluster": cluster.name,
        "node": node,
        "revision": cluster.revision,
        **drift.to_json(),
    }
    report = drift_report_record(
        cluster=cluster,
        node=node,
        mode=mode,
        result=result,
        agent_hostname=collected.get("agent_host", ""),
        agent_version=collected.get("agent_version", ""),
    )
    return {**result, "report": report.pk}


def node_mode(*, cluster_id: int, node: str) -> str:
    """The kube-proxy mode ``node`` runs, per the stored cluster."""
    from cluster.models import Cluster
    from routing.snapshots import snapshot_for_cluster

    return snapshot_for_cluster(cluster=Cluster.objects.get(pk=cluster_id)).proxy_for(node).mode


def check_node_rules(cluster_id: int, node: str, mode: str | None = None) -> dict:
    """Both steps here, in this process, against this host's rules (or ``NETNS_ENV``'s)."""
    mode = mode or node_mode(cluster_id=cluster_id, node=node)
    return compare_node_rules(collect_node_rules(mode), cluster_id, node)


def drift_checks_queue(*, cluster_id: int, nodes: list[str], mode: str | None = None) -> list:
    """Queue one check chain per node (collect on ``node.<NODE>``, compare on the default
    queue); the chains' results (each the compare step's), in ``nodes`` order."""
    return [
        chain(
            collect_node_rules.si(mode or node_mode(cluster_id=cluster_id, node=node)).set(
                queue=node_queue(node)
            ),
            compare_node_rules.s(cluster_id, node),
        ).apply_async()
        for node in nodes
    ]
