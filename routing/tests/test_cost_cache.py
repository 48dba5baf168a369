"""The cost model shared across requests (``routing.costs.cost_inputs``): keyed by the
cluster and its settings version, so every save is seen at once and nothing is re-read
while nothing changed. Committed transactions (``transaction=True``): the cache is only
filled outside a transaction, where a version cannot roll back."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from cluster.models import Cluster
from routing.costs import (
    SETTINGS_FIELDS,
    cost_inputs,
    cost_settings_save,
    service_traffic_save,
)
from routing.models import CostSettings

pytestmark = pytest.mark.django_db(transaction=True)


def _values(**changed: Any) -> dict[str, Any]:
    defaults = CostSettings()
    return {name: changed.get(name, getattr(defaults, name)) for name in SETTINGS_FIELDS}


def _fresh(name: str) -> Cluster:
    return Cluster.objects.get(name=name)  # a new instance: no per-request memo


def test_every_save_is_seen_and_nothing_is_read_again_meanwhile(django_assert_num_queries):
    cluster = Cluster.objects.create(name="costly")
    default = cost_inputs(_fresh("costly"))
    cost_settings_save(cluster=cluster, values=_values(price_per_gb=0.5))
    priced = cost_inputs(_fresh("costly"))
    assert priced.price_per_gb == 0.5 and default.price_per_gb != 0.5
    again = _fresh("costly")
    with django_assert_num_queries(1):  # the version only
        assert cost_inputs(again) is priced
    service_traffic_save(
        cluster=cluster,
        namespace="shop",
        name="cart",
        values={
            "request_rate": 7.0,
            "external_request_rate": 0.0,
            "request_bytes": 10,
            "response_bytes": 20,
        },
    )
    overridden = cost_inputs(_fresh("costly"))
    assert dict(overridden.services)["shop/cart"].request_rate == 7.0
    service_traffic_save(cluster=cluster, namespace="shop", name="cart", values=None)
    assert "shop/cart" not in dict(cost_inputs(_fresh("costly")).services)


def test_the_simulate_path_carries_the_version_and_reads_nothing(django_assert_num_queries):
    from routing.api.views import _cluster_named

    cluster = Cluster.objects.create(name="hot")
    cost_settings_save(cluster=cluster, values=_values(price_per_gb=0.25))
    first = cost_inputs(_cluster_named("hot"))
    assert first.price_per_gb == 0.25
    carried = _cluster_named("hot")
    with django_assert_num_queries(0):
        assert cost_inputs(carried) is first
    cost_settings_save(cluster=cluster, values=_values(price_per_gb=0.75))
    assert cost_inputs(_cluster_named("hot")).price_per_gb == 0.75


def test_a_cluster_made_again_under_a_reused_pk_gets_its_own_model():
    cluster = Cluster.objects.create(name="again")
    cost_settings_save(cluster=cluster, values=_values(price_per_gb=0.5))
    assert cost_inputs(_fresh("again")).price_per_gb == 0.5
    pk = cluster.pk
    cluster.delete()
    remade = Cluster.objects.create(pk=pk, name="again")  # SQLite hands out the pk again
    cost_settings_save(cluster=remade, values=_values(price_per_gb=0.125))  # version 1 again
    assert cost_inputs(_fresh("again")).price_per_gb == 0.125


def test_inside_a_transaction_the_model_is_read_not_shared(django_assert_num_queries):
    cluster = Cluster.objects.create(name="atomic")
    cost_settings_save(cluster=cluster, values=_values(price_per_gb=0.5))
    outside = cost_inputs(_fresh("atomic"))
    with transaction.atomic():
        inside = _fresh("atomic")
        with django_assert_num_queries(2):  # the settings row and the overrides
            model = cost_inputs(inside)
        assert model == outside and model is not outside
