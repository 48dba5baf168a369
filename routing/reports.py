"""Django side of the cluster-wide analysis: the report of a stored cluster, cached per state."""

from __future__ import annotations

from cluster.models import Cluster
from routing.cache import state_cache
from routing.costs import cost_inputs
from routing.engine.analysis import Report, analyze
from routing.engine.scenario import Scenario, apply_scenario
from routing.snapshots import snapshot_for_cluster

KIND = "report"


def cluster_report(*, cluster: Cluster) -> Report:
    """The cluster-wide analysis of ``cluster`` at its current state under its cost model
    (computed once per state and cost inputs: saving the settings re-analyses)."""
    model = cost_inputs(cluster)
    return state_cache.get_or_build(
        cluster.state_key,
        f"{KIND}:{model.fingerprint()}",
        lambda: analyze(snapshot_for_cluster(cluster=cluster), model=model),
    )


def scenario_report(*, cluster: Cluster, scenario: Scenario) -> Report:
    """The analysis of ``cluster`` as it would be after ``scenario`` (not cached; the empty
    scenario gives the cached ``cluster_report``). Raises ``ScenarioError`` on a bad scenario."""
    if scenario.is_empty():
        return cluster_report(cluster=cluster)
    return analyze(
        apply_scenario(snapshot_for_cluster(cluster=cluster), scenario), model=cost_inputs(cluster)
    )


def report_cache_clear() -> None:
    """Forget every cached report (tests, or after bulk deletes)."""
    state_cache.forget(kind=KIND)
