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
from routing.cache import state_cache
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


def test_a_process_keeps_one_whole_snapshot_whatever_the_number_of_clusters() -> None:
    """Memory does not grow as clusters x processes: the whole-cluster kind is kept in one
    state per process (``routing.cache.KIND_KEEP``), the small node tables in ``KEEP``."""
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
