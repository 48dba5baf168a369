"""The fake API server, spoken to by the official kubernetes client over a real socket."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client as k8s

from cluster.kube.client import check_kubeconfig, new_api_client
from cluster.kube.errors import KubeConfigError, KubeConflict, KubeError, KubeGone
from cluster.kube.resources import (
    BY_KIND,
    get_object,
    list_objects,
    patch_object,
    read_configmap,
    watch_objects,
)
from cluster.testing.fixtures import TOKEN, fake_api, kubeconfig
from cluster.testing.objects import node

NODES = BY_KIND["Node"]


@pytest.fixture
def api(kubeconfig):
    client = new_api_client(kubeconfig_path=str(kubeconfig), context="fake")
    yield client
    client.close()


def test_typed_client_models_deserialise_every_served_kind(api):
    # kubernetes 37 builds pydantic models: incomplete objects would fail here.
    core, discovery = k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
    assert [n.metadata.name for n in core.list_node(_request_timeout=5).items] == ["n1", "n2", "n3"]
    slices = discovery.list_endpoint_slice_for_all_namespaces(_request_timeout=5).items
    assert {s.address_type for s in slices} == {"IPv4"}
    assert len(core.list_pod_for_all_namespaces(_request_timeout=5).items) == 4
    assert core.read_namespaced_service("web", "shop", _request_timeout=5).spec.type == "NodePort"


def test_list_pages_with_limit_and_continue_and_adds_kind(api, fake_api):
    items, rv = list_objects(api, NODES, page_size=2)
    assert [o["metadata"]["name"] for o in items] == ["n1", "n2", "n3"]
    assert {(o["kind"], o["apiVersion"]) for o in items} == {("Node", "v1")}
    lists = [q for (_m, p, q) in fake_api.requests if p == "/api/v1/nodes"]
    assert [q.get("limit") for q in lists] == ["2", "2"]
    assert "continue" not in lists[0] and lists[1]["continue"]
    assert rv == str(fake_api.store.rv)


def test_continued_list_is_the_snapshot_of_its_first_page(api, fake_api):
    first = fake_api.store.list_page("nodes", None, 2, None)
    fake_api.store.upsert(node("n0", "z-a", ip="192.168.0.9"))
    _rv, rest, token, _left = fake_api.store.list_page("nodes", None, 2, first[2])
    assert token is None and len(rest) == 1 and b'"n3"' in rest[0]


def test_token_is_required_and_sent_from_the_kubeconfig(fake_api, tmp_path):
    path = fake_api.write_kubeconfig(tmp_path / "kc", context="fake", token="wrong")
    client = new_api_client(kubeconfig_path=str(path), context="fake")
    with pytest.raises(KubeError, match="HTTP 401") as caught:
        list_objects(client, NODES)
    assert TOKEN not in str(caught.value)
    client.close()


def test_unknown_context_and_missing_file_are_one_line_errors(kubeconfig, tmp_path):
    with pytest.raises(KubeConfigError, match=r"context 'prod' not found .*\(contexts: fake\)"):
        check_kubeconfig(path=kubeconfig, context="prod")
    with pytest.raises(KubeConfigError, match="cannot read kubeconfig"):
        check_kubeconfig(path=tmp_path / "nope", context="fake")


def test_dry_run_patch_validates_and_stores_nothing(api, fake_api):
    before = fake_api.store.rv
    result = patch_object(
        api, "Service", "shop", "api", {"spec": {"internalTrafficPolicy": "Local"}}, dry_run=True
    )
    assert result["spec"]["internalTrafficPolicy"] == "Local"
    assert "internalTrafficPolicy" not in get_object(api, "Service", "shop", "api")["spec"]
    assert fake_api.store.rv == before
    with pytest.raises(KubeError, match="HTTP 422 Invalid.*may only be set for externally"):
        patch_object(
            api,
            "Service",
            "shop",
            "api",
            {"spec": {"externalTrafficPolicy": "Local"}},
            dry_run=True,
        )


def test_patch_with_a_stale_resource_version_is_a_conflict(api, fake_api):
    rv = get_object(api, "Service", "shop", "web")["metadata"]["resourceVersion"]
    patch_object(api, "Service", "shop", "web", {"metadata": {"labels": {"x": "1"}}}, dry_run=False)
    with pytest.raises(KubeConflict, match="HTTP 409 Conflict: Operation cannot be fulfilled"):
        patch_object(
            api,
            "Service",
            "shop",
            "web",
            {"metadata": {"resourceVersion": rv}, "spec": {"sessionAffinity": "ClientIP"}},
            dry_run=False,
        )
    assert get_object(api, "Service", "shop", "web")["spec"]["sessionAffinity"] == "None"


def test_client_ip_affinity_gets_the_api_default_timeout(api):
    out = patch_object(
        api, "Service", "shop", "web", {"spec": {"sessionAffinity": "ClientIP"}}, dry_run=False
    )
    assert out["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_watch_streams_each_event_as_it_happens(api, fake_api):
    _items, rv = list_objects(api, NODES)
    seen = []

    def later():
        time.sleep(0.2)
        fake_api.store.upsert(node("n4", "z-b", ip="192.168.0.4"))
        time.sleep(0.3)
        fake_api.store.delete("nodes", "", "n1")

    threading.Thread(target=later).start()
    started = time.monotonic()
    for type_, obj in watch_objects(api, NODES, resource_version=rv, timeout_seconds=2):
        seen.append((type_, obj["metadata"]["name"], round(time.monotonic() - started, 1)))
        if len(seen) == 2:
            break
    # Each event arrives when it happens (chunked + flushed), not when the watch times out.
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "n4"), ("DELETED", "n1")]
    assert seen[0][2] < 0.45 and seen[1][2] < 0.8


def test_broken_watch_is_a_transient_error_and_old_versions_are_gone(api, fake_api):
    _items, rv = list_objects(api, NODES)
    threading.Timer(0.2, fake_api.break_watches).start()
    with pytest.raises(KubeError) as caught:
        list(watch_objects(api, NODES, resource_version=rv, timeout_seconds=5))
    assert caught.value.transient
    fake_api.store.upsert(node("n4", "z-b", ip="192.168.0.4"))
    fake_api.store.compact()
    with pytest.raises(KubeGone, match="HTTP 410 Expired: too old resource version"):
        list(watch_objects(api, NODES, resource_version=rv, timeout_seconds=5))


def test_server_errors_and_dropped_connections_are_transient(api, fake_api):
    fake_api.fail_next("nodes", 503)
    with pytest.raises(KubeError, match="HTTP 503") as caught:
        list_objects(api, NODES)
    assert caught.value.transient
    fake_api.fail_list_after("nodes", 1)
    with pytest.raises(KubeError, match="connection lost") as caught:
        list_objects(api, NODES, page_size=2)
    assert caught.value.transient
    assert read_configmap(api, "kube-system", "absent") is None


def test_watch_ends_with_a_bookmark_of_the_current_version(api, fake_api):
    _items, rv = list_objects(api, NODES)
    fake_api.store.upsert(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "other", "namespace": "default"},
        }
    )
    events = list(watch_objects(api, NODES, resource_version=rv, timeout_seconds=1))
    assert events == [
        (
            "BOOKMARK",
            {
                "kind": "Node",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(fake_api.store.rv)},
            },
        )
    ]


def test_every_call_has_an_explicit_read_timeout(api, fake_api, settings):
    settings.ROUTESCOPE_KUBE_READ_TIMEOUT = 0.3
    fake_api.set_delay("services", 1.0)  # a slow resource
    started = time.monotonic()
    with pytest.raises(KubeError, match="timed out") as caught:
        get_object(api, "Service", "shop", "web")
    assert caught.value.transient and time.monotonic() - started < 3


def test_namespaced_lists_and_unknown_paths(api, fake_api):
    core = k8s.CoreV1Api(api)
    assert len(core.list_namespaced_pod("shop", _request_timeout=5).items) == 4
    assert core.list_namespaced_pod("other", _request_timeout=5).items == []
    maps = core.list_namespaced_config_map("kube-system", _request_timeout=5).items
    assert [m.metadata.name for m in maps] == ["kube-proxy"]
    with pytest.raises(KubeError, match="HTTP 404"):
        get_object(api, "Service", "shop", "missing")
    ds = k8s.AppsV1Api(api).read_namespaced_daemon_set(
        "kube-proxy", "kube-system", _request_timeout=5
    )
    assert ds.spec.template.spec.containers[0].name == "kube-proxy"


def test_a_list_whose_continue_token_expires_starts_over(api, fake_api):
    pages = []

    def on_page(count):
        pages.append(count)
        if len(pages) == 1:
            fake_api.store.upsert(node("n0", "z-a", ip="192.168.0.9"))
            fake_api.expire_continue_tokens()  # compaction while the client pages

    items, rv = list_objects(api, NODES, page_size=2, on_page=on_page)
    assert [o["metadata"]["name"] for o in items] == ["n0", "n1", "n2", "n3"]
    assert rv == str(fake_api.store.rv) and pages == [2, 2, 4]
    with pytest.raises(KubeGone):
        list_objects(
            api,
            NODES,
            page_size=2,
            restarts=0,
            on_page=lambda count: fake_api.expire_continue_tokens(),
        )
