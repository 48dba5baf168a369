"""Model-level guarantees: named constraints hold in the database, the permission exists."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction

from cluster.models import Cluster, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.services import cluster_import
from cluster.tests import builders as b

pytestmark = pytest.mark.django_db


def test_operate_permission_exists():
    permission = Permission.objects.get(codename="operate_cluster")
    assert (permission.content_type.app_label, permission.name) == (
        "cluster",
        "Can sync clusters and apply changes",
    )


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Node, {"name": "n1"}),
        (Service, {"namespace": "shop", "name": "web"}),
        (EndpointSlice, {"namespace": "shop", "name": "web-abc", "address_type": "IPv4"}),
        (Pod, {"namespace": "shop", "name": "web-1"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_one_object_per_cluster_and_name(model, fields):
    cluster_import(name="c1", objects=b.small_cluster())
    cluster_import(name="c2", objects=b.small_cluster())  # same names, other cluster: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(cluster=Cluster.objects.get(name="c1"), raw={}, **fields)


def test_one_kube_proxy_config_per_cluster():
    cluster_import(name="c1", objects=b.small_cluster())
    with pytest.raises(IntegrityError), transaction.atomic():
        KubeProxyConfig.objects.create(cluster=Cluster.objects.get(name="c1"))


def test_readable_names():
    cluster_import(name="c1", objects=b.small_cluster())
    cluster = Cluster.objects.get(name="c1")
    assert [
        str(cluster),
        str(cluster.nodes.first()),
        str(cluster.services.get()),
        str(cluster.pods.first()),
        str(cluster.endpoint_slices.get()),
        str(cluster.endpoints.first()),
        str(cluster.kube_proxy_config),
    ] == [
        "c1",
        "n1",
        "shop/web",
        "shop/web-1",
        "shop/web-abc",
        "10.244.1.5",
        "c1: iptables",
    ]
