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


def _objects_with_node(name: str) -> list[dict]:
    return [node_obj(name, zone="a"), service_obj("web"), slice_obj("web", [endpoint_obj("10.0.0.1", name)])]


def test_a_recreated_cluster_with_the_same_pk_and_revision_is_not_served_stale():
    """SQLite hands a deleted cluster's pk out again and the revision restarts; the cache
    must tell the new cluster from the old one (state_key includes the creation time)."""
    snapshot_cache_clear()
    cluster_import(name="one", objects=_objects_with_node("n-old"))
    old = Cluster.objects.get(name="one")
    assert set(snapshot_for_cluster(cluster=old).nodes) == {"n-old"}
    pk, revision = old.pk, old.revision
    old.delete()
    # The clash a reused rowid produces: same pk, same revision, other objects.
    new = Cluster.objects.create(id=pk, name="two")
    cluster_replace_state(cluster=new, objects=_objects_with_node("n-new"))
    Cluster.objects.filter(pk=pk).update(revision=revision)
    new = Cluster.objects.get(name="two")
    assert (new.pk, new.revision) == (pk, revision)
    assert set(snapshot_for_cluster(cluster=new).nodes) == {"n-new"}
