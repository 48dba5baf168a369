"""Object rows name their cluster without a database foreign key, and never outlive it.

The ``cluster`` columns of Node, Service, EndpointSlice, Endpoint and Pod carry no
constraint (``cluster.models.objects``: its check of every row at commit was a third of a
large import's); the relations between objects keep theirs. What keeps the rows honest is
that every writer holds the Cluster row while it writes: the import and sync
(``select_for_update``), ``cluster_delete``, and a watch batch (its revision update, read
back in the same transaction: a batch for a deleted cluster rolls back).
"""

from __future__ import annotations

import pytest
from django.db import connection

from cluster.models import Cluster, Endpoint, EndpointSlice, Node, Pod, Service
from cluster.services import cluster_delete, cluster_import
from cluster.tests import builders as b
from cluster.watch_events import events_apply

pytestmark = pytest.mark.django_db

#: The foreign keys the database still checks, per table: (column, referenced table).
KEPT = {
    Node: set(),
    Service: set(),
    EndpointSlice: {("service_id", "cluster_service")},
    Endpoint: {("slice_id", "cluster_endpointslice"), ("service_id", "cluster_service")},
    Pod: {("node_id", "cluster_node")},
}


@pytest.mark.parametrize("model", list(KEPT), ids=[m.__name__ for m in KEPT])
def test_only_the_cluster_column_lost_its_constraint(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    foreign = {
        (columns[0], info["foreign_key"][0])
        for info in constraints.values()
        if info["foreign_key"]
        for columns in [info["columns"]]
    }
    assert foreign == KEPT[model]


def test_a_watch_batch_for_a_deleted_cluster_stores_nothing():
    cluster_import(name="c", objects=b.small_cluster())
    cluster = Cluster.objects.get(name="c")
    cluster_delete(cluster=Cluster.objects.get(name="c"))
    with pytest.raises(Cluster.DoesNotExist):
        events_apply(cluster=cluster, events=[("ADDED", b.pod("web-9", node_name="n1"))])
    assert not Pod.objects.exists()
    assert not Node.objects.exists()


def test_a_watch_batch_still_stores_and_bumps_the_revision():
    cluster_import(name="c", objects=b.small_cluster())
    cluster = Cluster.objects.get(name="c")
    counts = events_apply(cluster=cluster, events=[("ADDED", b.pod("web-9", node_name="n1"))])
    assert counts["applied"] == 1
    assert Pod.objects.get(name="web-9").cluster_id == cluster.pk
    assert Cluster.objects.get(pk=cluster.pk).revision == cluster.revision + 1


def test_deleting_through_the_orm_still_cascades():
    cluster_import(name="gone", objects=b.small_cluster())
    cluster_import(name="kept", objects=b.small_cluster())
    Cluster.objects.get(name="gone").delete()
    for model in KEPT:
        assert set(model.objects.values_list("cluster__name", flat=True)) == {"kept"}
