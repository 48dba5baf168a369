"""API: scenarios — CRUD, preview (the what-if diff), apply (operators only), rules diff."""

from __future__ import annotations

import pytest

from routing.models import Scenario

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

CACHE_LOCAL = {"services": {"shop/cache": {"internalTrafficPolicy": "Cluster"}}}


def _create(client, **fields):
    body = {"name": "cache-cluster", "cluster": "small", "changes": CACHE_LOCAL, **fields}
    return client.post("/api/v1/scenarios", body, format="json")


def test_create_list_retrieve_scenario(reader_client, reader, small_cluster):
    created = _create(reader_client, description="Stop dropping cache calls")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == "reader"
    assert body["changes"] == CACHE_LOCAL
    stored = Scenario.objects.get(pk=body["id"])
    assert stored.changes == CACHE_LOCAL and stored.created_by == reader
    listing = reader_client.get("/api/v1/scenarios", {"cluster": "small"}).json()
    assert [s["name"] for s in listing["results"]] == ["cache-cluster"]
    assert reader_client.get(f"/api/v1/scenarios/{body['id']}").json()["name"] == "cache-cluster"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"services": {"shop/nope": {"internalTrafficPolicy": "Local"}}}, "changes.services"),
        (
            {"services": {"shop/web": {"internalTrafficPolicy": "Sideways"}}},
            "changes.services.shop/web.internalTrafficPolicy",
        ),
        ({"services": {"shop/web": {"replicas": "3"}}}, "changes.services.shop/web.replicas"),
        ({"nodes_down": ["n9"]}, "changes.nodes_down"),
        ({"proxy_mode": "ebpf"}, "changes.proxy_mode"),
        ({"scale": {"shop/web": -1}}, "changes.scale.shop/web"),
        ({"nodes_gone": ["n1"]}, "changes.nodes_gone"),
    ],
)
def test_bad_changes_are_refused_naming_the_field(reader_client, small_cluster, changes, field):
    response = _create(reader_client, changes=changes)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not Scenario.objects.exists()


def test_duplicate_name_and_unknown_cluster(reader_client, small_cluster):
    assert _create(reader_client).status_code == 201
    duplicate = _create(reader_client)
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["field"] == "name"
    unknown = _create(reader_client, name="x", cluster="nope")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "cluster"


def test_only_author_or_operator_may_change_or_delete(
    reader_client, operator_client, anon_client, small_cluster, django_user_model
):
    scenario_id = _create(reader_client).json()["id"]
    other = django_user_model.objects.create_user("other")
    from cluster.api.testing import _client

    other_client = _client(other, token=True)
    assert (
        other_client.patch(
            f"/api/v1/scenarios/{scenario_id}", {"description": "mine"}, format="json"
        ).status_code
        == 403
    )
    assert (
        anon_client.post(
            "/api/v1/scenarios", {"name": "a", "cluster": "small", "changes": {}}, format="json"
        ).status_code
        == 401
    )
    renamed = reader_client.patch(
        f"/api/v1/scenarios/{scenario_id}", {"name": "renamed"}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    moved = reader_client.patch(
        f"/api/v1/scenarios/{scenario_id}", {"cluster": "other"}, format="json"
    )
    assert moved.status_code == 400 and moved.json()["error"]["field"] == "cluster"
    assert operator_client.delete(f"/api/v1/scenarios/{scenario_id}").status_code == 204
    assert not Scenario.objects.exists()


def test_update_rechecks_changes(reader_client, small_cluster):
    scenario_id = _create(reader_client).json()["id"]
    bad = reader_client.patch(
        f"/api/v1/scenarios/{scenario_id}", {"changes": {"nodes_drained": ["ghost"]}}, format="json"
    )
    assert bad.status_code == 400
    assert Scenario.objects.get(pk=scenario_id).changes == CACHE_LOCAL


def test_preview_shows_cache_calls_stop_dropping(reader_client, small_cluster):
    scenario_id = _create(reader_client).json()["id"]
    response = reader_client.post(f"/api/v1/scenarios/{scenario_id}/preview", {}, format="json")
    assert response.status_code == 200, response.content
    preview = response.json()
    assert [s["service"] for s in preview["services"]] == ["shop/cache"]
    by_source = {q["source"]: q for q in preview["services"][0]["questions"]}
    # Every node is a source (a small cluster: each on its own, as on the what-if page);
    # n1 hosts the only cache endpoint.
    assert set(by_source) == {"pod:n1", "pod:n2", "pod:n3"}
    assert by_source["pod:n2"]["nodes"] == ["n2"] and by_source["pod:n2"]["weight"] == 1
    n3 = by_source["pod:n3"]
    assert n3["before"]["action"] == "drop" and n3["after"]["action"] == "forward"
    assert n3["diff"]["stops_dropping"] == 1.0
    assert n3["diff"]["moved"] == [{"ip": "10.244.1.6", "before": 0.0, "after": 1.0, "change": 1.0}]
    assert by_source["pod:n1"]["diff"]["moved"] == []
    assert preview["summary"]["questions_stop_dropping"] == 2
    assert preview["summary"]["questions_newly_dropping"] == 0
    # The node-weighted figure the page shows: 2 of 3 nodes dropped, none after.
    (pods,) = [e for e in preview["services"][0]["entries"] if e["entry"] == "pod"]
    assert pods["nodes"] == 3 and pods["dropped"] == {"before": round(2 / 3, 6), "after": 0.0}
    assert pods["stops_dropping"] == round(2 / 3, 6) and pods["newly_dropped"] == 0.0


def test_preview_node_down_and_explicit_sources(anon_client, reader_client, small_cluster):
    scenario_id = _create(reader_client, name="n1-down", changes={"nodes_down": ["n1"]}).json()[
        "id"
    ]
    response = anon_client.post(
        f"/api/v1/scenarios/{scenario_id}/preview",
        {"services": ["shop/web"], "sources": ["pod:n2"]},
        format="json",
    )
    assert response.status_code == 200
    (question,) = response.json()["services"][0]["questions"]
    before = {e["ip"] for e in question["before"]["endpoints"]}
    after = {e["ip"] for e in question["after"]["endpoints"]}
    assert "10.244.1.5" in before and "10.244.1.5" not in after
    bad = anon_client.post(
        f"/api/v1/scenarios/{scenario_id}/preview", {"services": ["shop/nope"]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "services"
    ghost = anon_client.post(
        f"/api/v1/scenarios/{scenario_id}/preview",
        {"services": ["shop/web"], "sources": ["pod:n9"]},
        format="json",
    )
    assert ghost.status_code == 400
    assert (ghost.json()["error"]["field"], ghost.json()["error"]["code"]) == ("sources", "unknown")


def test_apply_needs_an_operator_and_a_live_cluster(reader_client, operator_client, small_cluster):
    scenario_id = _create(reader_client).json()["id"]
    refused = reader_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    # The operator may, but "small" was imported from a dump: nothing to patch.
    imported = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert imported.status_code == 400
    assert imported.json()["error"]["field"] == "cluster"


def test_apply_refuses_what_if_only_changes(reader_client, operator_client, small_cluster):
    scenario_id = _create(reader_client, name="down", changes={"nodes_down": ["n1"]}).json()["id"]
    response = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "changes.nodes_down"


def test_apply_on_a_live_cluster_queues_a_job(
    reader_client, operator_client, operator, small_cluster
):
    from jobs.models import Job

    small_cluster.kubeconfig_path = "/nonexistent/kubeconfig"
    small_cluster.kube_context = "test"
    small_cluster.save()
    scenario_id = _create(reader_client).json()["id"]
    response = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    job = Job.objects.get(pk=body["job_id"])
    assert job.kind == "apply" and job.created_by == operator and job.cluster == small_cluster
    assert job.params["changes"] == [
        {
            "namespace": "shop",
            "name": "cache",
            "set": {"internalTrafficPolicy": "Cluster"},
            "expected_resource_version": "100",
        }
    ]
    assert body["url"].endswith(f"/api/v1/jobs/{job.pk}")
    assert response["Location"] == body["url"]


def test_proxy_change_needs_confirmation(reader_client, operator_client, small_cluster):
    small_cluster.kubeconfig_path = "/nonexistent/kubeconfig"
    small_cluster.save()
    scenario_id = _create(reader_client, name="ipvs", changes={"proxy_mode": "ipvs"}).json()["id"]
    response = operator_client.post(f"/api/v1/scenarios/{scenario_id}/apply", {}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "confirm_restart"
    assert "3 node(s)" in error["message"]
    confirmed = operator_client.post(
        f"/api/v1/scenarios/{scenario_id}/apply", {"confirm_restart": True}, format="json"
    )
    assert confirmed.status_code == 202


def test_rules_diff_under_a_scenario(reader_client, small_cluster):
    scenario_id = _create(reader_client).json()["id"]
    response = reader_client.get(
        f"/api/v1/scenarios/{scenario_id}/rules-diff", {"mode": "iptables", "node": "n2"}
    )
    assert response.status_code == 200, response.content
    diff = response.json()
    assert diff["services"] == ["shop/cache"]
    assert diff["nodes_total"] == 3
    changed = {n["node"] for n in diff["nodes"]}
    assert "n2" in changed
    assert "+" in diff["node_diff"] and "shop/cache" in diff["node_diff"]
    bad = reader_client.get(f"/api/v1/scenarios/{scenario_id}/rules-diff", {"node": "n9"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "node"
