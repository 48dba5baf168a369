"""snapshot_with_changes answers exactly like a full rebuild of the final objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine.incremental import NeedsFullRebuild, snapshot_with_changes
from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, QuestionError, simulate
from routing.engine.snapshot import Snapshot
from routing.tests.engine.core_builders import (
    endpoint_obj,
    node_obj,
    pod_obj,
    service_obj,
    slice_obj,
)

NODES = ("n1", "n2", "n3", "n4")
SERVICES = ("s1", "s2", "s3")
VERSIONS = (None, "v1.29.3", "v1.30.1")
Ident = tuple[str, str, str]


def ident(obj: Mapping) -> Ident:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", "") if obj["kind"] != "Node" else "", meta["name"]


node_st = st.builds(
    lambda name, zone, ready, version, cordon: node_obj(
        name, zone=zone, ready=ready, version=version, unschedulable=cordon
    ),
    st.sampled_from(NODES),
    st.sampled_from(("a", "b")),
    st.booleans(),
    st.sampled_from(VERSIONS),
    st.booleans(),
)

service_st = st.builds(
    lambda name, kind, itp, etp, dist, ip6: service_obj(
        name,
        type=kind,
        itp=itp,
        etp=etp if kind != "ClusterIP" else None,
        distribution=dist,
        cluster_ip=f"fd00::{SERVICES.index(name) + 1}"
        if ip6
        else f"10.96.0.{SERVICES.index(name) + 1}",
    ),
    st.sampled_from(SERVICES),
    st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer")),
    st.sampled_from(("Cluster", "Local")),
    st.sampled_from(("Cluster", "Local")),
    st.sampled_from((None, "PreferClose")),
    st.booleans(),
)

endpoint_st = st.builds(
    lambda last, node, ready, term, zone: endpoint_obj(
        f"10.1.0.{last}",
        node,
        ready=ready,
        serving=ready or term,
        terminating=term,
        zone=zone,
        zones=(zone,) if zone else (),
    ),
    st.integers(1, 6),
    st.sampled_from((*NODES, None)),
    st.booleans(),
    st.booleans(),
    st.sampled_from((None, "a", "b")),
)

slice_st = st.builds(
    lambda svc, suffix, eps, family: slice_obj(
        svc, eps, name=f"{svc}-{suffix}", address_type=family
    ),
    st.sampled_from(SERVICES),
    st.sampled_from(("x", "y")),
    st.lists(endpoint_st, max_size=4),
    st.sampled_from(("IPv4", "IPv4", "IPv6", "FQDN")),
)

pod_st = st.builds(
    lambda i, node: pod_obj(f"web-{i}", node, f"10.1.0.{i}"),
    st.integers(1, 6),
    st.sampled_from(NODES),
)

object_st = st.one_of(node_st, service_st, slice_st, pod_st)
# An event: an object to upsert, or an index into the current objects to delete.
event_st = st.one_of(object_st, st.integers(0, 50))


def base_objects() -> list[dict]:
    """A cluster that always indexes some endpoints (the incremental path's precondition)."""
    return [
        node_obj("n1", zone="a", version="v1.29.3"),
        node_obj("n2", zone="b", version="v1.29.3"),
        node_obj("n7", zone="b", version="v1.29.3"),
        node_obj("n8", zone="a", version="v1.29.3"),
        node_obj("n9", zone="b", version="v1.30.1"),
        service_obj("anchor", cluster_ip="10.96.1.1", type="NodePort", etp="Local"),
        slice_obj("anchor", [endpoint_obj("10.2.0.1", "n1"), endpoint_obj("10.2.0.2", "n9")]),
    ]


def answers(snapshot: Snapshot) -> list[object]:
    out: list[object] = []
    for key in sorted(snapshot.services):
        for source in [f"pod:{n}" for n in (*NODES, "n9")] + ["external:n1", "lb"]:
            try:
                out.append(simulate(snapshot, Question(service=key, source=source)).to_json())
            except QuestionError as error:
                out.append(str(error))
    return out


def structure(snapshot: Snapshot) -> tuple:
    return (
        dict(snapshot.nodes),
        dict(snapshot.services),
        dict(snapshot.pods),
        len(snapshot.pods),
        all(key in snapshot.pods for key in snapshot.pods),
        snapshot.proxy,
        dict(snapshot.node_proxy),
        snapshot.notes,
        dict(snapshot.node_services),
        {key: dict(ports) for key, ports in snapshot.endpoint_index.items()},
    )


def advance(snapshot: Snapshot, objects: dict[Ident, dict], batch: list) -> tuple[Snapshot, bool]:
    """Apply ``batch`` to ``objects`` (in place, keeping stored order) and to the snapshot."""
    final: dict[Ident, dict | None] = {}
    touched: set[str] = set()
    for event in batch:
        if isinstance(event, int):
            if not objects:
                continue
            key = list(objects)[event % len(objects)]
            old = objects.pop(key)
            if key[0] == "EndpointSlice":
                touched.add(f"{key[1]}/{old['metadata']['labels']['kubernetes.io/service-name']}")
            final[key] = None
        else:
            key = ident(event)
            existing = objects.get(key)
            if existing is not None and key[0] == "EndpointSlice":
                name = existing["metadata"]["labels"]["kubernetes.io/service-name"]
                touched.add(f"{key[1]}/{name}")
            objects[key] = event
            final[key] = event

    def service_slices(namespace: str, name: str) -> list[dict]:
        return [
            o
            for k, o in objects.items()
            if k[0] == "EndpointSlice"
            and k[1] == namespace
            and o["metadata"]["labels"]["kubernetes.io/service-name"] == name
        ]

    try:
        return snapshot_with_changes(
            snapshot,
            upserts=[o for o in final.values() if o is not None],
            deletes=[k for k, o in final.items() if o is None],
            service_slices=service_slices,
            touched_services=touched,
        ), True
    except NeedsFullRebuild:
        return snapshot_from_objects(list(objects.values())), False


@settings(
    derandomize=True, max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    initial=st.lists(object_st, max_size=8),
    batches=st.lists(st.lists(event_st, min_size=1, max_size=3), min_size=1, max_size=5),
)
def test_incremental_snapshot_answers_like_a_full_rebuild(
    initial: list[dict], batches: list[list]
) -> None:
    objects: dict[Ident, dict] = {}
    for obj in base_objects() + initial:
        objects[ident(obj)] = obj
    snapshot = snapshot_from_objects(list(objects.values()))
    for batch in batches:
        snapshot, _ = advance(snapshot, objects, batch)
        full = snapshot_from_objects(list(objects.values()))
        assert structure(snapshot) == structure(full)
        assert answers(snapshot) == answers(full)


def test_common_events_take_the_incremental_path() -> None:
    objects = {ident(o): o for o in base_objects()}
    snapshot = snapshot_from_objects(list(objects.values()))
    batches: list[list[Any]] = [
        [node_obj("n1", zone="a", version="v1.29.3", ready=False)],
        [service_obj("web", cluster_ip="10.96.0.7", itp="Local")],
        [
            slice_obj(
                "web", [endpoint_obj("10.1.0.1", "n2"), endpoint_obj("10.1.0.2", "n1", ready=False)]
            )
        ],
        [pod_obj("web-1", "n2", "10.1.0.1")],
        [node_obj("n3", zone="a", version="v1.30.1")],
        [("Node", "", "n2")],
        [("EndpointSlice", "default", "web-abc")],
    ]
    for batch in batches:
        if isinstance(batch[0], tuple):  # a delete, by identity
            batch = [list(objects).index(batch[0])]
        snapshot, incremental = advance(snapshot, objects, batch)
        assert incremental
        assert structure(snapshot) == structure(snapshot_from_objects(list(objects.values())))
    assert "default/web" not in snapshot.endpoint_index and "n2" not in snapshot.nodes
    assert snapshot.node_proxy["n3"].version == (1, 30)


@pytest.mark.parametrize(
    "change",
    [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {},
        },
        pod_obj("kube-proxy-abcde", "n1", "10.0.0.1", namespace="kube-system"),
        node_obj("n4", zone="a", version="v1.31.0"),
    ],
)
def test_cluster_wide_changes_ask_for_a_full_rebuild(change: dict) -> None:
    snapshot = snapshot_from_objects(base_objects())
    with pytest.raises(NeedsFullRebuild):
        snapshot_with_changes(
            snapshot, upserts=[change], deletes=[], service_slices=lambda ns, name: []
        )


def test_pod_changes_stack_then_fold_into_a_plain_mapping(monkeypatch) -> None:
    from routing.engine.incremental import PodOverlay

    monkeypatch.setattr(PodOverlay, "COMPACT_AT", 3)
    objects = {
        ident(o): o
        for o in base_objects() + [pod_obj(f"web-{i}", "n1", f"10.1.0.{i}") for i in range(4)]
    }
    snapshot = snapshot_from_objects(list(objects.values()))
    kinds = []
    batch: list[Any]
    for batch in (
        [pod_obj("web-9", "n2", "10.1.0.9")],
        [("Pod", "default", "web-1")],
        [pod_obj("web-1", "n1", "10.1.0.1")],
        [pod_obj("web-2", "n8", "10.1.0.2")],
        [pod_obj("web-3", "n8", "10.1.0.3")],
        [pod_obj("web-5", "n8", "10.1.0.5")],
        [pod_obj("web-6", "n8", "10.1.0.6")],
    ):
        if isinstance(batch[0], tuple):
            batch = [list(objects).index(batch[0])]
        snapshot, incremental = advance(snapshot, objects, batch)
        assert incremental
        kinds.append(type(snapshot.pods).__name__)
        full = snapshot_from_objects(list(objects.values()))
        assert structure(snapshot) == structure(full) and list(snapshot.pods) == list(full.pods)
    # web-1 deleted then re-created moves to the end (a plain mapping); later events stack again.
    assert kinds == [
        "PodOverlay",
        "PodOverlay",
        "mappingproxy",
        "PodOverlay",
        "PodOverlay",
        "PodOverlay",
        "mappingproxy",
    ]


def test_a_drain_what_if_on_an_advanced_snapshot_matches_the_full_rebuild() -> None:
    from routing.engine.scenario import Scenario, apply_scenario

    objects = {
        ident(o): o
        for o in base_objects() + [pod_obj(f"web-{i}", "n1", f"10.2.0.{i}") for i in (1, 3)]
    }
    snapshot = snapshot_from_objects(list(objects.values()))
    snapshot, incremental = advance(snapshot, objects, [pod_obj("web-4", "n9", "10.2.0.4")])
    assert incremental and type(snapshot.pods).__name__ == "PodOverlay"
    scenario = Scenario(nodes_drained=frozenset({"n1"}))
    drained, full = (
        apply_scenario(s, scenario)
        for s in (snapshot, snapshot_from_objects(list(objects.values())))
    )
    assert structure(drained) == structure(full) and answers(drained) == answers(full)
