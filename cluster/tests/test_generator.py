"""The synthetic cluster generator: deterministic, importable, and realistically skewed."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.generator import MAX_PODS_PER_NODE, SLICE_SIZE, Shape, generate_cluster
from cluster.kube_dump import read_objects
from cluster.services import cluster_import

SHAPE = Shape(nodes=300, services=200, pods=4000, zones=3, seed=7)


def _generate(shape: Shape) -> str:
    out = io.StringIO()
    generate_cluster(shape=shape, out=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def objects():
    return read_objects(io.BytesIO(_generate(SHAPE).encode()))


def _kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def test_counts_match_the_shape(objects):
    counts = Counter(o["kind"] for o in objects)
    assert (counts["Node"], counts["Service"], counts["Pod"], counts["ConfigMap"]) == (
        300,
        200,
        4000,
        1,
    )
    zones = {
        o["metadata"]["labels"].get("topology.kubernetes.io/zone") for o in _kind(objects, "Node")
    }
    assert len(zones - {None}) == 3


def test_deterministic_per_seed():
    small = Shape(nodes=20, services=15, pods=200, seed=3)
    assert _generate(small) == _generate(small)
    assert _generate(small) != _generate(Shape(nodes=20, services=15, pods=200, seed=4))


def test_heavy_tailed_sizes_and_uneven_placement(objects):
    per_service = Counter(o["metadata"]["labels"]["app"] for o in _kind(objects, "Pod"))
    sizes = sorted(per_service.values(), reverse=True)
    assert sum(sizes[: len(sizes) // 10]) > 0.4 * SHAPE.pods  # top 10% own > 40% of pods
    per_node = Counter(o["spec"]["nodeName"] for o in _kind(objects, "Pod"))
    assert max(per_node.values()) <= MAX_PODS_PER_NODE
    assert max(per_node.values()) >= 3 * (SHAPE.pods / SHAPE.nodes)


def test_policies_hints_and_odd_states_are_present(objects):
    services = _kind(objects, "Service")
    specs = [s["spec"] for s in services]
    assert any(s.get("internalTrafficPolicy") == "Local" for s in specs)
    assert any(s.get("externalTrafficPolicy") == "Local" for s in specs)
    assert any(s.get("trafficDistribution") == "PreferClose" for s in specs)
    assert {"ClusterIP", "NodePort", "LoadBalancer"} <= {s["type"] for s in specs}
    endpoints = [e for s in _kind(objects, "EndpointSlice") for e in s["endpoints"]]
    assert any(e["conditions"]["terminating"] for e in endpoints)
    assert any(not e["conditions"]["serving"] for e in endpoints)
    assert any("hints" in e for e in endpoints)
    nodes = _kind(objects, "Node")
    assert any(n["status"]["conditions"][0]["status"] != "True" for n in nodes)
    assert any(n["spec"].get("unschedulable") for n in nodes)


def test_slices_agree_with_pods(objects):
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in _kind(objects, "Pod")}
    slices = _kind(objects, "EndpointSlice")
    assert all(len(s["endpoints"]) <= SLICE_SIZE for s in slices)
    assert sum(len(s["endpoints"]) for s in slices) == len(pods)
    for s in slices:
        for e in s["endpoints"]:
            pod = pods[(e["targetRef"]["namespace"], e["targetRef"]["name"])]
            assert (pod["status"]["podIP"], pod["spec"]["nodeName"]) == (
                e["addresses"][0],
                e["nodeName"],
            )
            assert ("deletionTimestamp" in pod["metadata"]) == e["conditions"]["terminating"]


@pytest.mark.django_db
def test_generated_cluster_imports(objects):
    summary = cluster_import(name="gen", objects=objects, source="generated")
    assert summary.counts["Pod"] == 4000 and not summary.flagged_slices


def test_command_writes_a_file_and_refuses_impossible_shapes(tmp_path):
    target = tmp_path / "gen.json"
    out = io.StringIO()
    call_command(
        "generate_cluster",
        "--nodes",
        "5",
        "--services",
        "4",
        "--pods",
        "30",
        "--seed",
        "1",
        "-o",
        str(target),
        stdout=out,
    )
    assert out.getvalue().startswith(f"Wrote {target}: 5 Node, 4 Service, ")
    assert Counter(o["kind"] for o in read_objects(target))["Pod"] == 30
    with pytest.raises(
        CommandError, match="1000 pods do not fit on 2 nodes of 110 pods each"
    ) as info:
        call_command("generate_cluster", "--nodes", "2", "--pods", "1000", "-o", str(target))
    assert info.value.returncode == 2
