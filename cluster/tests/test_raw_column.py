"""Each object's ``raw`` column reads back as written, on SQLite and on PostgreSQL.

On PostgreSQL it is ``json`` (``cluster.models.jsontext.WholeJSONField``), not ``jsonb``:
the text is kept as sent, so keys keep their order and numbers their type, as on SQLite;
what reads ``raw`` by key path (the sync's resourceVersion lookup) keeps working, and so do
the ORM's own writes (a watch's update).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection, models
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.redact import pod_redacted
from cluster.selectors import cluster_objects
from cluster.services import cluster_import
from cluster.tests import builders as b

pytestmark = pytest.mark.django_db

MODELS = (Node, Service, EndpointSlice, Endpoint, Pod)


def _column_type(model: type[models.Model], column: str = "raw") -> str:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = %s AND column_name = %s",
                [table, column],
            )
            return cursor.fetchone()[0]
        cursor.execute(f"SELECT type FROM pragma_table_info('{table}') WHERE name = '{column}'")
        return cursor.fetchone()[0].lower()


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_raw_is_json_not_jsonb(model):
    expected = "json" if connection.vendor == "postgresql" else "text"
    assert _column_type(model) == expected
    # The other JSON columns stay jsonb on PostgreSQL (labels are searched with `?`).
    if connection.vendor == "postgresql":
        assert _column_type_of(model, "labels" if model is not Endpoint else "addresses") == "jsonb"


def test_the_kube_proxy_configmaps_are_json_too():
    expected = "json" if connection.vendor == "postgresql" else "text"
    assert _column_type(KubeProxyConfig) == expected
    assert _column_type(KubeProxyConfig, "extra_config_maps") == expected


def _column_type_of(model: type[models.Model], column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = %s AND column_name = %s",
            [model._meta.db_table, column],
        )
        return cursor.fetchone()[0]


def _unsorted(obj: dict) -> dict:
    """``obj`` with its keys in an order neither sorted nor jsonb's (shortest first)."""
    obj = {"zzz-first": {"long-key": 1.0, "k": -0.0, "e": 1e16}, **obj}
    obj["metadata"] = {"uid": "u-1", **obj["metadata"], "annotations": {"bb": "1", "a": "2"}}
    return obj


def _typed(value):
    """``value`` with every mapping's key order and every scalar's type spelt out."""
    if isinstance(value, dict):
        return ["dict", [(k, _typed(v)) for k, v in value.items()]]
    if isinstance(value, list):
        return ["list", [_typed(v) for v in value]]
    return [type(value).__name__, value]


def test_an_import_stores_each_object_as_written():
    slice_ = _unsorted(b.endpoint_slice(endpoints=[b.endpoint("10.244.1.5")]))
    slice_["endpoints"][0] = {"zone": "z-a", **slice_["endpoints"][0], "b": 1.0}
    objects = [
        _unsorted(b.node("n1", zone="z-a", ip="10.0.0.1")),
        _unsorted(b.service("web")),
        slice_,
        _unsorted(b.pod("web-1", node_name="n1", ip="10.244.1.5")),
        _unsorted(b.kube_proxy_configmap("mode: ipvs\n")),
    ]
    cluster_import(name="c", objects=objects)
    cluster = Cluster.objects.get(name="c")
    node, service, stored_slice, pod, proxy = objects
    read = {
        Node: [node],
        Service: [service],
        EndpointSlice: [stored_slice],
        Endpoint: [slice_["endpoints"][0]],
        Pod: [pod_redacted(pod)],
    }
    for model, expected in read.items():
        raws = list(model.objects.filter(cluster=cluster).values_list("raw", flat=True))
        assert [_typed(r) for r in raws] == [_typed(e) for e in expected], model.__name__
    # export reads the same rows (and the kube-proxy ConfigMap): back key for key
    exported = cluster_objects(cluster=cluster)
    expected = [node, service, stored_slice, pod_redacted(pod), proxy]
    assert json.dumps(exported) == json.dumps(expected)


def test_key_lookups_and_orm_writes_work_on_raw():
    cluster_import(name="c", objects=b.small_cluster())
    cluster = Cluster.objects.get(name="c")
    pod = Pod.objects.get(cluster=cluster, name="web-1")
    raw = {"kind": "Pod", "metadata": {"resourceVersion": "42", "name": "web-1"}, "a": [1, 2.5]}
    Pod.objects.filter(pk=pod.pk).update(raw=raw)  # as a watch event writes it
    created = Node.objects.create(cluster=cluster, name="n9", raw={"b": 1, "a": {"y": 0.0}})
    version = KeyTextTransform("resourceVersion", KeyTransform("metadata", "raw"))
    assert Pod.objects.annotate(rv=version).values_list("rv", flat=True).get(pk=pod.pk) == "42"
    assert _typed(Pod.objects.get(pk=pod.pk).raw) == _typed(raw)
    assert _typed(Node.objects.get(pk=created.pk).raw) == _typed({"b": 1, "a": {"y": 0.0}})


def test_raw_is_read_as_text_and_decoded_once():
    """On PostgreSQL the column is selected as text (JSONField decodes it: psycopg's own
    json loader took three to four times as long); either way the object comes back."""
    cluster_import(name="c", objects=b.small_cluster())
    query = Pod.objects.values_list("raw", flat=True)
    as_text = '("cluster_pod"."raw")::text' in str(query.query)
    assert as_text == (connection.vendor == "postgresql")
    assert sorted(raw["metadata"]["name"] for raw in query) == ["web-1", "web-2"]


def test_bulk_create_stores_raw_as_written():
    """The ORM's multi-row insert (a watch batch's endpoints; UNNEST of a json[] on
    PostgreSQL) keeps each object as written too."""
    cluster = Cluster.objects.create(name="c")
    raws = [{"zz": 1, "a": {"y": 0.5, "b": [1, "x"]}}, {"b": None, "aa": "é"}]
    Node.objects.bulk_create(
        [Node(cluster=cluster, name=f"n{i}", raw=raw) for i, raw in enumerate(raws)]
    )
    stored = Node.objects.filter(cluster=cluster).order_by("name").values_list("raw", flat=True)
    assert [_typed(r) for r in stored] == [_typed(r) for r in raws]
