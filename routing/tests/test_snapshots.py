"""snapshot_for_cluster: the engine snapshot of a stored cluster, cached per revision."""
from __future__ import annotations

import pytest

from cluster.models import Cluster
from cluster.services import cluster_import, cluster_replace_state
from routing.engine.simulate import Question, simulate
from routing.snapshots import snapshot_cache_clear, snapshot_for_cluster
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

pytestmark = pytest.mark.django_db


def objects(*ready: bool) -> list[dict]:
    eps = [endpoint_obj(f"10.0.0.{i + 1}", "n1", ready=r) for i, r in enumerate(ready)]
    return [node_obj("n1", zone="a"), service_obj("web"), slice_obj("web", eps)]


def test_same_revision_same_snapshot_and_a_new_revision_rebuilds() -> None:
    snapshot_cache_clear()
    cluster_import(name="c1", objects=objects(True, True))
    cluster = Cluster.objects.get(name="c1")
    first = snapshot_for_cluster(cluster=cluster)
    assert snapshot_for_cluster(cluster=Cluster.objects.get(name="c1")) is first
    assert len(simulate(first, Question(service="default/web", source="pod:n1")).to_json()["endpoints"]) == 2

    cluster_replace_state(cluster=cluster, objects=objects(True, False))
    second = snapshot_for_cluster(cluster=Cluster.objects.get(name="c1"))
    assert second is not first
    assert [e["ip"] for e in simulate(second, Question(service="default/web", source="pod:n1")).to_json()["endpoints"]] == ["10.0.0.1"]
