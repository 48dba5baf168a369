"""API: clusters, nodes, services, endpoint slices, endpoints, pods (read-only lists)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cluster.services import cluster_import

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db


def _names(response, key="name"):
    return sorted(row[key] for row in response.json()["results"])


def test_cluster_list_and_detail_by_name(reader_client, small_cluster):
    listing = reader_client.get("/api/v1/clusters")
    assert listing.status_code == 200
    assert _names(listing) == ["small"]
    detail = reader_client.get("/api/v1/clusters/small")
    body = detail.json()
    assert body["revision"] == small_cluster.revision
    assert body["live"] is False
    assert body["kube_proxy"]["mode"] == "iptables"
    assert body["kube_proxy"]["cluster_cidr"] == "10.244.0.0/16"
    assert "kubeconfig_path" not in body


def test_unknown_cluster_is_a_404_in_the_error_shape(reader_client, small_cluster):
    response = reader_client.get("/api/v1/clusters/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_services_filter_by_effective_policy(reader_client, small_cluster):
    local = reader_client.get(
        "/api/v1/services", {"cluster": "small", "internal_traffic_policy": "Local"}
    )
    assert _names(local) == ["cache"]
    # An omitted policy is Cluster to kube-proxy, so it matches "Cluster".
    cluster = reader_client.get(
        "/api/v1/services", {"cluster": "small", "internal_traffic_policy": "Cluster"}
    )
    assert _names(cluster) == ["checkout", "web"]
    row = next(r for r in cluster.json()["results"] if r["name"] == "web")
    assert row["internal_traffic_policy"] == ""
    assert row["effective_internal_traffic_policy"] == "Cluster"
    assert row["key"] == "shop/web"
    assert "raw" not in row


def test_services_search_type_and_ordering(reader_client, small_cluster):
    assert _names(reader_client.get("/api/v1/services", {"q": "chec"})) == ["checkout"]
    lbs = reader_client.get("/api/v1/services", {"type": "LoadBalancer"})
    assert _names(lbs) == ["checkout"]
    ordered = reader_client.get("/api/v1/services", {"ordering": "-name"}).json()["results"]
    assert [r["name"] for r in ordered] == ["web", "checkout", "cache"]


def test_service_detail_has_raw_object(reader_client, small_cluster):
    service_id = reader_client.get("/api/v1/services", {"q": "cache"}).json()["results"][0]["id"]
    body = reader_client.get(f"/api/v1/services/{service_id}").json()
    assert body["raw"]["spec"]["internalTrafficPolicy"] == "Local"


def test_endpoints_filter_by_service_node_and_condition(reader_client, small_cluster):
    web = reader_client.get("/api/v1/endpoints", {"cluster": "small", "service": "shop/web"})
    assert _names(web, "address") == ["10.244.1.5", "10.244.2.5", "10.244.3.5"]
    on_n1 = reader_client.get("/api/v1/endpoints", {"cluster": "small", "node": "n1"})
    assert _names(on_n1, "address") == ["10.244.1.5", "10.244.1.6", "10.244.1.7"]
    row = web.json()["results"][0]
    assert row["service"] == "shop/web"
    assert row["target"].startswith("Pod/shop/web-")
    assert reader_client.get("/api/v1/endpoints", {"ready": "false"}).json()["count"] == 0


def test_nodes_slices_and_pods(reader_client, small_cluster):
    zone_a = reader_client.get("/api/v1/nodes", {"cluster": "small", "zone": "zone-a"})
    assert _names(zone_a) == ["n1", "n2"]
    not_ready = reader_client.get("/api/v1/nodes", {"ready": "false"})
    assert _names(not_ready) == ["n3"]
    slices = reader_client.get("/api/v1/endpoint-slices", {"service": "shop/cache"})
    assert _names(slices) == ["cache-abc"]
    pods = reader_client.get("/api/v1/pods", {"node": "n1", "ordering": "name"})
    assert [r["name"] for r in pods.json()["results"]] == ["cache-0", "checkout-0", "web-0"]


def test_pagination_limit_offset(reader_client, small_cluster):
    page = reader_client.get("/api/v1/pods", {"limit": 2, "offset": 1, "ordering": "name"}).json()
    assert page["count"] == 5
    assert [r["name"] for r in page["results"]] == ["checkout-0", "web-0"]
    assert page["next"] and page["previous"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"cluster": "nope"}, "cluster"),
        ({"service": "no-slash"}, "service"),
        ({"ready": "maybe"}, "ready"),
        ({"ordering": "raw"}, "ordering"),
    ],
)
def test_bad_filter_values_are_400_naming_the_field(reader_client, small_cluster, params, field):
    response = reader_client.get("/api/v1/endpoints", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nodes",
        "/api/v1/services",
        "/api/v1/endpoint-slices",
        "/api/v1/endpoints",
        "/api/v1/pods",
        "/api/v1/clusters",
    ],
)
def test_list_query_count_does_not_grow_with_rows(
    reader_client, small_cluster, small_objects, path, django_assert_num_queries
):
    # Token lookup (1) + count (1) + page (1); the cluster filter adds its lookup (1).
    cluster_import(name="other", objects=small_objects)
    params = {} if path.endswith("clusters") else {"cluster": "small"}
    with django_assert_num_queries(3 + len(params)):
        response = reader_client.get(path, params)
    assert response.status_code == 200
    assert response.json()["count"] >= 2 if path.endswith("clusters") else True


def test_anonymous_read_follows_the_setting(anon_client, small_cluster):
    assert anon_client.get("/api/v1/services").status_code == 200
    with override_settings(ROUTESCOPE_ANONYMOUS_READ=False):
        response = anon_client.get("/api/v1/services")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_root_lists_every_resource(reader_client):
    body = reader_client.get("/api/v1/").json()
    assert {"clusters", "nodes", "services", "endpoint-slices", "endpoints", "pods"} <= set(body)


def test_write_methods_are_not_allowed_on_state(operator_client, small_cluster):
    response = operator_client.delete("/api/v1/clusters/small")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_path_is_a_json_404(reader_client, method):
    response = getattr(reader_client, method)("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "/api/v1/no-such-thing" in response.json()["error"]["message"]


def test_hand_written_endpoint_rendering_equals_the_generic_one(small_cluster):
    from rest_framework import serializers

    from cluster.api.serializers import EndpointDetailSerializer, EndpointSerializer
    from cluster.models import Endpoint

    rows = Endpoint.objects.select_related("cluster", "slice").order_by("pk")
    assert rows
    for cls in (EndpointSerializer, EndpointDetailSerializer):
        serializer = cls()
        for row in rows:
            generic = serializers.ModelSerializer.to_representation(serializer, row)
            assert serializer.to_representation(row) == dict(generic)
