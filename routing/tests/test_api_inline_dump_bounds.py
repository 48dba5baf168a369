"""POST /api/v1/simulate: an inline ``cluster_dump`` goes through the importer's bounded
reader (issue 17) — hostile input is a 400 (a size bound a 413) in the API's error shape,
never a 500, and costs no more than its text."""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from cluster.tests.test_bounds import alias_bomb

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db


def small_cluster_dump():
    from cluster.api.testing import small_cluster_dump as dump  # loaded as a plugin below

    return dump()


def _ask(client, dump):
    body = json.dumps({"cluster_dump": dump, "service": "shop/web", "source": "pod:n1"})
    return client.post("/api/v1/simulate", body, content_type="application/json")


def _error(response, status=400):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field", "details"}
    assert "\n" not in body["error"]["message"] and len(body["error"]["message"]) < 1100
    return body["error"]


def _proxy_conf(dump, conf):
    for item in dump["items"]:
        if item["kind"] == "ConfigMap":
            item["data"]["config.conf"] = conf
    return dump


def test_alias_bomb_in_config_conf_is_a_quick_400(anon_client):
    started = time.perf_counter()
    response = _ask(
        anon_client, _proxy_conf(small_cluster_dump(), "mode: iptables\n" + alias_bomb(9))
    )
    error = _error(response)
    assert time.perf_counter() - started < 10
    assert error["field"] == "cluster_dump"
    assert error["message"] == (
        "cluster_dump: ConfigMap kube-system/kube-proxy: data.config.conf a1[0]"
        " is a YAML alias; anchors and aliases are not accepted in a dump"
    )


def test_a_long_integer_is_a_400_naming_object_and_path(reader_client):
    # (Surrogates, NUL and nesting past ROUTESCOPE_API_MAX_JSON_DEPTH are refused by the
    # API's body parser before the dump is read: config.api_limits.)
    dump = small_cluster_dump()
    dump["items"][0]["metadata"]["generation"] = 10**40
    error = _error(_ask(reader_client, dump))
    assert error["field"] == "cluster_dump"
    assert "(Node n1): metadata.generation is a number of more than 32 digits" in error["message"]


def test_deep_nesting_is_a_400_with_the_path(anon_client) -> None:
    dump = small_cluster_dump()
    deep: list = []
    for _ in range(20):
        deep = [deep]
    dump["items"][0].setdefault("spec", {})["x"] = deep
    with override_settings(ROUTESCOPE_DUMP_MAX_DEPTH=10):
        error = _error(_ask(anon_client, dump))
    assert error["field"] == "cluster_dump"
    assert (
        "(Node n1): spec.x[0][0]" in error["message"]
        and "nests more than 10 levels" in error["message"]
    )


def test_over_a_count_bound_is_a_413(anon_client):
    with override_settings(ROUTESCOPE_DUMP_MAX_OBJECTS=3):
        error = _error(_ask(anon_client, small_cluster_dump()), status=413)
    assert error["code"] == "too_large"
    assert (
        error["message"].startswith("cluster_dump: ") and "more than 3 objects" in error["message"]
    )


def test_a_dump_of_only_secrets_is_refused_like_an_empty_one(anon_client):
    dump = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}
        ],
    }
    error = _error(_ask(anon_client, dump))
    assert "holds none of the kinds Routescope stores" in error["message"]
