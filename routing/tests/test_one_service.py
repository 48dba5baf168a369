"""The one-service path (``routing.snapshots.service_snapshot``: the node table plus one
Service's rows) answers exactly as the whole-cluster snapshot does.

Property test over clusters from ``cluster/generator.py`` (every Service type, traffic
policies, topology hints, session affinity, headless Services), one node's kube-proxy Pod
running another mode (a migration, read by ``kube_proxy_pods.node_settings``), and what-ifs
drawn by hypothesis: proxy mode and IPVS scheduler, traffic policies, nodes down or
cordoned, endpoints not ready. For every Service and every source kind the simulate
answers (or refusals) and the preview bodies are compared with the whole snapshot's.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.generator import Shape, generate_cluster
from cluster.models import Cluster
from cluster.services import cluster_import
from routing import snapshots
from routing.cache import StateCache, state_cache
from routing.selectors import InputError, simulate_answer, whatif_for
from routing.snapshots import (
    KIND,
    NODES_KIND,
    node_table_for_cluster,
    service_snapshot,
    snapshot_cache_clear,
    snapshot_for_cluster,
)
from routing.whatif.preview import preview

pytestmark = pytest.mark.django_db

SOURCES = ("pod", "host", "external")


def _kube_proxy_pod(node: str, mode: str) -> dict[str, Any]:
    """A kubeadm kube-proxy DaemonSet Pod whose flags set its node's mode."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"kube-proxy-{node}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-proxy"},
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "kube-proxy", "command": ["kube-proxy", f"--proxy-mode={mode}"]}
            ],
        },
        "status": {"phase": "Running"},
    }


def _cluster(seed: int, nodes: int, services: int) -> Cluster:
    out = io.StringIO()
    generate_cluster(
        shape=Shape(nodes=nodes, services=services, pods=services * 3, zones=3, seed=seed),
        out=out,
    )
    objects = json.loads(out.getvalue())["items"]
    first = next(o["metadata"]["name"] for o in objects if o["kind"] == "Node")
    objects.append(_kube_proxy_pod(first, "ipvs"))
    name = f"gen-{seed}-{nodes}-{services}"
    Cluster.objects.filter(name=name).delete()
    cluster_import(name=name, objects=objects)
    return Cluster.objects.get(name=name)


def _answer(snapshot: Any, **question: Any) -> Any:
    try:
        return simulate_answer(snapshot=snapshot, **question)
    except InputError as error:
        return ("refused", str(error), error.field)


def _preview(snapshot: Any, changes: dict[str, Any], key: str) -> Any:
    try:
        return preview(snapshot, whatif_for(changes), services=[key]).to_json()
    except Exception as error:  # an engine refusal: both paths must refuse alike
        return ("refused", type(error).__name__, str(error))


whatifs = st.fixed_dictionaries(
    {},
    optional={
        "proxy_mode": st.sampled_from(["iptables", "ipvs", "nftables"]),
        "ipvs_scheduler": st.sampled_from(["rr", "lc", "sh"]),
        "policies": st.fixed_dictionaries(
            {},
            optional={
                "externalTrafficPolicy": st.sampled_from(["Local", "Cluster"]),
                "internalTrafficPolicy": st.sampled_from(["Local", "Cluster"]),
            },
        ),
        "down": st.integers(min_value=0, max_value=3),
        "cordoned": st.integers(min_value=0, max_value=2),
        "not_ready": st.integers(min_value=0, max_value=2),
    },
)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    nodes=st.sampled_from([4, 12, 30]),
    services=st.integers(min_value=4, max_value=10),
    drawn=whatifs,
)
def test_one_service_path_answers_as_the_whole_snapshot(
    seed: int, nodes: int, services: int, drawn: dict[str, Any]
) -> None:
    snapshot_cache_clear()
    cluster = _cluster(seed, nodes, services)
    whole = snapshot_for_cluster(cluster=cluster)
    names = sorted(whole.nodes)
    pods = sorted(whole.pods)
    changes: dict[str, Any] = {}
    for setting in ("proxy_mode", "ipvs_scheduler"):
        if setting in drawn:
            changes[setting] = drawn[setting]
    if drawn.get("down"):
        changes["nodes_down"] = names[1 : 1 + drawn["down"]]
    if drawn.get("cordoned"):
        changes["nodes_cordoned"] = names[-drawn["cordoned"] :]
    if drawn.get("not_ready"):
        changes["endpoints_not_ready"] = [p for p in pods if not p.startswith("kube-system/")][
            : drawn["not_ready"]
        ]
    asked = 0
    for key, service in sorted(whole.services.items()):
        part = service_snapshot(cluster=cluster, services=[key], source_nodes=names)
        lean = service_snapshot(cluster=cluster, services=[key], with_pods=False)
        assert set(part.services) == {key} and not lean.pods
        assert part.nodes == whole.nodes and part.node_proxy == whole.node_proxy
        policies = {
            field: value
            for field, value in (drawn.get("policies") or {}).items()
            if service.type != "ClusterIP" or field == "internalTrafficPolicy"
        }
        keyed = {**changes, **({"services": {key: policies}} if policies else {})}
        assert _preview(part, keyed, key) == _preview(whole, keyed, key)
        sources = [f"{kind}:{node}" for kind in SOURCES for node in names[:4]] + ["lb"]
        for source in sources:
            question = {
                "service": key,
                "source": source,
                "overrides": policies,
                "proxy_mode": changes.get("proxy_mode"),
                "ipvs_scheduler": changes.get("ipvs_scheduler"),
            }
            assert _answer(part, **question) == _answer(whole, **question), (key, source)
            assert _answer(lean, **question) == _answer(whole, **question), (key, source)
            asked += 1
    assert asked == len(whole.services) * (3 * min(4, nodes) + 1)


def test_node_table_is_cached_per_state_and_small_beside_the_whole_snapshot() -> None:
    snapshot_cache_clear()
    cluster = _cluster(7, 12, 6)
    table = node_table_for_cluster(cluster=cluster)
    assert node_table_for_cluster(cluster=Cluster.objects.get(pk=cluster.pk)) is table
    assert not table.services and len(table.nodes) == 12
    assert state_cache.get(cluster.state_key, KIND) is None  # the whole cluster never built
    key = sorted(Cluster.objects.get(pk=cluster.pk).services.values_list("namespace", "name"))[0]
    part = service_snapshot(cluster=cluster, services=["/".join(key)])
    assert state_cache.get(cluster.state_key, KIND) is None
    assert state_cache.get(cluster.state_key, NODES_KIND) is table
    assert list(part.services) == ["/".join(key)]


def test_what_ifs_that_move_pods_and_stray_source_nodes_take_the_whole_snapshot() -> None:
    snapshot_cache_clear()
    cluster = _cluster(3, 4, 4)
    whole = snapshot_for_cluster(cluster=cluster)
    key = sorted(whole.services)[0]
    node = sorted(whole.nodes)[0]
    assert (
        service_snapshot(cluster=cluster, services=[key], changes={"nodes_drained": [node]})
        is whole
    )
    assert (
        service_snapshot(cluster=cluster, services=[key], source_nodes=["no-such-node"])
        is not whole
    )


def test_a_process_keeps_one_whole_snapshot_whatever_the_number_of_clusters(settings) -> None:
    """Memory does not grow as clusters x processes: the whole-cluster kind is kept in one
    state per process (``routing.cache.KIND_KEEP``), the node tables in
    ``ROUTESCOPE_NODE_TABLES_KEEP`` (here 3)."""
    settings.ROUTESCOPE_NODE_TABLES_KEEP = 3
    snapshot_cache_clear()
    clusters = [_cluster(seed, 4, 4) for seed in (11, 12, 13)]
    for cluster in clusters:
        snapshot_for_cluster(cluster=cluster)
        node_table_for_cluster(cluster=cluster)
    held = [state_cache.get(c.state_key, KIND) is not None for c in clusters]
    assert held == [False, False, True]
    assert all(state_cache.get(c.state_key, NODES_KIND) is not None for c in clusters)
    snapshot_for_cluster(cluster=clusters[0])  # loaded again (from its pickle), evicts the last
    assert [state_cache.get(c.state_key, KIND) is not None for c in clusters] == [
        True,
        False,
        False,
    ]


def test_a_repeated_one_service_question_reads_no_rows(django_assert_num_queries) -> None:
    snapshot_cache_clear()
    cluster = _cluster(5, 4, 4)
    key = sorted(node_table_for_cluster(cluster=cluster).nodes)[0] and "/".join(
        sorted(cluster.services.values_list("namespace", "name"))[0]
    )
    first = service_snapshot(cluster=cluster, services=[key])
    with django_assert_num_queries(0):
        assert service_snapshot(cluster=cluster, services=[key]) is first


def _first_service(cluster: Cluster) -> str:
    return "/".join(sorted(cluster.services.values_list("namespace", "name"))[0])


def _table(cluster: Cluster) -> Any:
    """The node table of ``cluster`` in this process's memory (it must be there)."""
    table = state_cache.get(cluster.state_key, NODES_KIND)
    assert table is not None
    return table


def _questions(cluster: Cluster, key: str) -> list[Any]:
    """Simulate from every node (host and pod) and the etp=Local preview of ``key``."""
    part = service_snapshot(cluster=cluster, services=[key])
    answers = [
        _answer(part, service=key, source=source)
        for node in sorted(part.nodes)
        for source in (f"host:{node}", f"pod:{node}")
    ]
    changes = {"services": {key: {"externalTrafficPolicy": "Local"}}}
    changed = service_snapshot(cluster=cluster, services=[key], changes=changes)
    return [*answers, _preview(changed, changes, key)]


def test_a_process_keeps_the_node_tables_of_n_clusters_and_answers_alike_after_eviction(
    settings, tmp_path
) -> None:
    """Issue 13: after one-Service questions about more clusters than
    ``ROUTESCOPE_NODE_TABLES_KEEP``, the process holds that many node tables (and only the
    one-Service snapshots laid over them); a cluster asked again gets the same answers from
    its table loaded again (pickle) or rebuilt (rows)."""
    settings.ROUTESCOPE_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.ROUTESCOPE_NODE_TABLES_KEEP = 2
    snapshot_cache_clear()
    clusters = [_cluster(seed, 5, 4) for seed in (21, 22, 23, 24)]
    first_answers = {}
    first_tables = {}
    for cluster in clusters:
        key = _first_service(cluster)
        first_answers[cluster.pk] = _questions(cluster, key)
        assert all("action" in answer for answer in first_answers[cluster.pk][:-1])
        first_tables[cluster.pk] = _table(cluster)
        held = state_cache.keys_holding(NODES_KIND)
        assert len(held) <= 2 and cluster.state_key in held
    assert state_cache.keys_holding(NODES_KIND) == {c.state_key for c in clusters[2:]}
    # the one-Service snapshots left are laid over the two tables kept, none over an evicted one
    kept = [first_tables[c.pk] for c in clusters[2:]]
    assert snapshots._PARTS
    assert all(any(p.nodes is t.nodes for t in kept) for p in snapshots._PARTS.values())
    assert {k[0] for k in snapshots._PARTS} == {c.state_key for c in clusters[2:]}

    evicted = clusters[0]
    assert _questions(evicted, _first_service(evicted)) == first_answers[evicted.pk]
    again = _table(evicted)
    assert again is not first_tables[evicted.pk]  # loaded again, not kept
    assert dict(again.nodes) == dict(first_tables[evicted.pk].nodes)
    assert state_cache.keys_holding(NODES_KIND) == {clusters[3].state_key, evicted.state_key}

    state_cache.forget(kind=NODES_KIND, disk=True)  # no pickle: rebuilt from the rows
    evicted = clusters[1]
    assert _questions(evicted, _first_service(evicted)) == first_answers[evicted.pk]
    assert len(state_cache.keys_holding(NODES_KIND)) == 1
    snapshot_cache_clear()


def test_a_one_service_snapshot_over_an_evicted_table_is_not_served(settings, tmp_path) -> None:
    """A node table asked outside the one-Service path can evict the table a cached
    one-Service snapshot lies over; asking that Service again lays it over the table in
    memory instead of keeping the evicted one alive."""
    settings.ROUTESCOPE_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.ROUTESCOPE_NODE_TABLES_KEEP = 1
    snapshot_cache_clear()
    one, other = _cluster(31, 4, 3), _cluster(32, 4, 3)
    key = _first_service(one)
    first = service_snapshot(cluster=one, services=[key])
    node_table_for_cluster(cluster=other)  # evicts one's table; its part is still cached
    again = service_snapshot(cluster=one, services=[key])
    table = _table(one)
    assert again is not first and again.nodes is table.nodes and first.nodes is not table.nodes
    source = f"pod:{sorted(table.nodes)[0]}"
    assert _answer(again, service=key, source=source) == _answer(first, service=key, source=source)
    assert "action" in _answer(again, service=key, source=source)
    assert [p.nodes is table.nodes for p in snapshots._PARTS.values()] == [True]
    snapshot_cache_clear()


def test_state_cache_keep_bounds_a_kind_least_recently_used_out() -> None:
    cache = StateCache(keep=8, kind_keep={})
    keys = [(pk, 1, 0.0) for pk in range(1, 5)]
    for key in keys[:3]:
        cache.put(key, "nodes", key[0], keep=2)
        cache.put(key, "other", key[0])
    assert cache.keys_holding("nodes") == {keys[1], keys[2]}
    assert cache.keys_holding("other") == set(keys[:3])  # other kinds are not bounded by it
    assert cache.get(keys[1], "nodes") == 2  # now the most recently used
    cache.put(keys[3], "nodes", 4, keep=2)
    assert cache.keys_holding("nodes") == {keys[1], keys[3]}
    cache.put(keys[0], "nodes", 1, keep=0)  # at least one
    assert cache.keys_holding("nodes") == {keys[0]}


def test_node_tables_keep_reads_the_setting(settings) -> None:
    settings.ROUTESCOPE_NODE_TABLES_KEEP = 5
    assert snapshots.node_tables_keep() == 5
    settings.ROUTESCOPE_NODE_TABLES_KEEP = 0
    assert snapshots.node_tables_keep() == 1


def test_the_parts_are_walked_only_after_the_state_cache_changed(monkeypatch):
    """Every one-service question prunes the parts; the walk (up to PARTS_KEEP keys) runs
    only when a value was put in or forgotten from the state cache since the last one."""
    walks = []
    real = state_cache.keys_holding
    monkeypatch.setattr(state_cache, "keys_holding", lambda kind: walks.append(kind) or real(kind))
    snapshots._parts_prune()
    snapshots._parts_prune()
    assert len(walks) <= 1  # the first may walk (whatever ran before changed the cache)
    walks.clear()
    snapshots._parts_prune()
    assert walks == []
    state_cache.put(("no-such-state", 0, 0.0), "other", object())
    snapshots._parts_prune()
    snapshots._parts_prune()
    assert walks == [NODES_KIND]
    state_cache.forget(kind="other")
    snapshots._parts_prune()
    assert walks == [NODES_KIND, NODES_KIND]
