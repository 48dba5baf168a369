"""The pages' question grouping: asking one node per group must give the same picture as
asking every node (pure: a generated cluster, no database)."""

from __future__ import annotations

import io
import json

import pytest

from cluster.generator import Shape, generate_cluster
from dashboard.answers import (
    EACH_NODE_MAX,
    SourceGroup,
    service_entries,
    source_groups,
    whatif_groups,
)
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import apply_scenario
from routing.engine.simulate import QuestionError
from routing.selectors import engine_scenario


@pytest.fixture(scope="module")
def snapshot():
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=60, services=40, pods=300, zones=3, seed=7), out=out)
    return snapshot_from_objects(json.loads(out.getvalue())["items"])


def every_node(snapshot) -> list[SourceGroup]:
    return [SourceGroup(n, (n,), snapshot.zone_of(n)) for n in snapshot.nodes]


def routable(snapshot) -> list[str]:
    return [
        k
        for k, s in sorted(snapshot.services.items())
        if s.type != "ExternalName" and not s.headless and s.ports
    ]


def test_a_big_cluster_is_asked_in_groups(snapshot) -> None:
    assert len(snapshot.nodes) > EACH_NODE_MAX
    key = routable(snapshot)[0]
    groups = source_groups(snapshot, key)
    assert len(groups) < len(snapshot.nodes)
    assert sorted(n for g in groups for n in g.nodes) == sorted(
        snapshot.nodes
    )  # every node counted once


@pytest.mark.parametrize(
    "override",
    [
        None,
        ("internalTrafficPolicy", "Local"),
        ("externalTrafficPolicy", "Local"),
        ("trafficDistribution", "PreferClose"),
    ],
    ids=["as-is", "itp-local", "etp-local", "prefer-close"],
)
def test_grouped_answers_equal_asking_every_node(snapshot, override) -> None:
    for key in routable(snapshot)[:12]:
        snap = snapshot
        if override:
            snap = apply_scenario(snapshot, engine_scenario({"services": {key: dict([override])}}))
        try:
            grouped = service_entries(snap, key)
        except QuestionError:
            continue
        full = service_entries(snap, key, groups=every_node(snap))
        for g, f in zip(grouped, full, strict=True):
            assert g.dropped == pytest.approx(f.dropped, abs=1e-9), (key, g.key)
            shares_g, shares_f = g.endpoint_shares, f.endpoint_shares
            assert shares_g.keys() == shares_f.keys(), (key, g.key)
            for ip in shares_f:
                assert shares_g[ip] == pytest.approx(shares_f[ip], abs=1e-9), (key, g.key, ip)


def test_whatif_groups_hold_after_nodes_go_down_and_the_mode_changes(snapshot) -> None:
    down = sorted(snapshot.nodes)[:3]
    changes = {
        "nodes_down": down,
        "nodes_drained": [sorted(snapshot.nodes)[5]],
        "proxy_mode": "ipvs",
    }
    after = apply_scenario(snapshot, engine_scenario(changes))
    for key in routable(snapshot)[:12]:
        groups = whatif_groups(snapshot, after, key, changes)
        assert len(groups) < len(snapshot.nodes)
        for snap in (snapshot, after):
            try:
                grouped = service_entries(snap, key, groups=groups)
            except QuestionError:
                continue
            full = service_entries(snap, key, groups=every_node(snap))
            for g, f in zip(grouped, full, strict=True):
                assert g.dropped == pytest.approx(f.dropped, abs=1e-9), (key, g.key)
                for ip, share in f.endpoint_shares.items():
                    assert g.endpoint_shares.get(ip, 0.0) == pytest.approx(share, abs=1e-9), (
                        key,
                        g.key,
                        ip,
                    )
