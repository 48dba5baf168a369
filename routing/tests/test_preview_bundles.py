"""The preview's node bundles (``routing.whatif.preview.whatif_groups``): a Service with
endpoints on more than ``EACH_NODE_MAX`` nodes (a DaemonSet's) is asked once per bundle of
hosting nodes that answer alike, and every figure equals asking every node one by one.

Generated clusters (``cluster.generator``, 40 nodes), a DaemonSet laid over them as
``routescope check`` lays one (``routing.cli.workloads``), before and after what-ifs that
flip its traffic policies, add topology, or switch kube-proxy to IPVS.
"""

from __future__ import annotations

import io
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.generator import Shape, generate_cluster
from routing.cli import check as chk
from routing.cli import workloads as wl
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.simulate import QuestionError
from routing.engine.snapshot import Snapshot
from routing.whatif.preview import (
    EACH_NODE_MAX,
    Entry,
    SourceGroup,
    service_entries,
    whatif_groups,
)

NODES = 40


@cache
def _dump(seed: int) -> str:
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=NODES, services=12, pods=120, zones=3, seed=seed), out=out)
    return out.getvalue()


def daemon_cluster(seed: int, *, etp: str = "Cluster") -> tuple[Snapshot, str]:
    """A generated cluster with a DaemonSet on every node and a NodePort Service selecting
    it (plus the Service's own pods, so some nodes host two endpoints): (snapshot, key)."""
    objects = json.loads(_dump(seed))["items"]
    svc = next(o for o in objects if o["kind"] == "Service" and o["spec"]["type"] != "ClusterIP")
    svc["spec"]["externalTrafficPolicy"] = etp
    namespace, app = svc["metadata"]["namespace"], svc["spec"]["selector"]["app"]
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": []}},
        },
    }
    before = snapshot_from_objects(objects)
    laid = wl.lay(objects, [("change.yaml", daemon)], before).objects
    after = chk.after_snapshot(before, objects, laid)
    pods = [o for o in objects if o["kind"] == "Pod"]
    after, _ = wl.rederive(before, after, pods, [o for o in laid if o["kind"] == "Pod"], set())
    key = f"{namespace}/{svc['metadata']['name']}"
    hosting = {ep.node for eps in after.endpoint_index[key].values() for ep in eps}
    assert len(hosting) > EACH_NODE_MAX  # the DaemonSet reached the nodes
    return after, key


def every_node(snapshot: Snapshot) -> list[SourceGroup]:
    return [SourceGroup(n, (n,), snapshot.zone_of(n)) for n in snapshot.nodes]


def figures(entries: list[Entry]) -> list[dict[str, Any]]:
    """What a preview reports of each entry, node-weighted."""
    return [
        {
            "key": e.key,
            "dropped": e.dropped,
            "effective_dropped": e.effective_dropped,
            "latency_ms": e.latency_ms,
            "cost": e.cost_usd_per_month,
            "reaching": e.nodes_reaching,
            "total": e.nodes_total,
            "client_ip_lost": e.client_ip_lost,
            "shares": dict(sorted(e.endpoint_shares.items())),
        }
        for e in entries
    ]


def same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal figures (node-weighted sums in another order: equal to 1e-6)."""
    assert [e["key"] for e in got] == [e["key"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g["shares"].keys() == e["shares"].keys(), g["key"]
        assert g["shares"] == pytest.approx(e["shares"], abs=1e-6), g["key"]
        for name in ("dropped", "effective_dropped", "latency_ms", "cost"):
            if e[name] is None:
                assert g[name] is None, (g["key"], name)
            else:
                assert g[name] == pytest.approx(e[name], abs=1e-6), (g["key"], name)
        assert (g["reaching"], g["total"], g["client_ip_lost"]) == (
            e["reaching"],
            e["total"],
            e["client_ip_lost"],
        ), g["key"]


def bundled_equals_every_node(
    before: Snapshot, after: Snapshot, key: str, touched: Any = ()
) -> int:
    """Asserts the bundled figures equal every node's on both sides; returns the number of
    nodes asked in bundles."""
    pods = whatif_groups(before, after, key, touched, kind="pod")
    external = whatif_groups(before, after, key, touched, kind="external")
    for groups in (pods, external):  # every node counted once
        assert sorted(n for g in groups for n in g.nodes) == sorted(before.nodes)
    for snapshot in (before, after):
        try:
            grouped = service_entries(snapshot, key, groups=pods, external_groups=external)
        except QuestionError:
            continue
        whole = service_entries(snapshot, key, groups=every_node(snapshot))
        same(figures(grouped), figures(whole))
    return sum(len(g.nodes) for g in pods + external if "hosting" in g.label)


SCENARIOS: dict[str, dict[str, Any]] = {
    "same": {},
    "itp-local": {"service_overrides": {"KEY": {"internalTrafficPolicy": "Local"}}},
    "etp-local": {"service_overrides": {"KEY": {"externalTrafficPolicy": "Local"}}},
    "prefer-close": {"service_overrides": {"KEY": {"trafficDistribution": "PreferClose"}}},
    "ipvs": {"proxy_mode": "ipvs"},
    "nftables": {"proxy_mode": "nftables"},
    "node-down": {"nodes_down": ["node-00003"]},
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_bundled_hosting_nodes_answer_like_every_node(seed: int, name: str) -> None:
    snapshot, key = daemon_cluster(seed)
    changes = json.loads(json.dumps(SCENARIOS[name]).replace("KEY", key))
    if "nodes_down" in changes:
        changes["nodes_down"] = frozenset(changes["nodes_down"])
    after = apply_scenario(snapshot, Scenario(**changes)) if changes else snapshot
    touched = changes.get("nodes_down", ())
    bundled = bundled_equals_every_node(snapshot, after, key, touched)
    if name in ("same", "nftables", "node-down"):
        assert bundled > EACH_NODE_MAX  # Cluster policies both sides: bundles were used
    if name in ("prefer-close", "ipvs"):
        assert bundled == 0  # topology or IPVS on one side: every hosting node alone


def test_etp_local_bundles_the_pod_sources_only() -> None:
    snapshot, key = daemon_cluster(0, etp="Local")
    pods = whatif_groups(snapshot, snapshot, key, kind="pod")
    external = whatif_groups(snapshot, snapshot, key, kind="external")
    assert len(pods) < len(snapshot.nodes) // 2  # bundled
    assert len(external) == len(snapshot.nodes)  # each hosting node its own local answer
    bundled_equals_every_node(snapshot, snapshot, key)


def test_a_daemonset_service_is_asked_a_few_times_not_once_per_node() -> None:
    snapshot, key = daemon_cluster(1)
    groups = whatif_groups(snapshot, snapshot, key)
    # Nodes with one endpoint (the DaemonSet's) and nodes with more (the Service's own
    # pods too) per zone: a few bundles, not one question per node.
    assert len(groups) <= 3 * 6
    labels = [g.label for g in groups]
    assert len(labels) == len(set(labels))


@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2),
    etp=st.sampled_from(("Cluster", "Local")),
    down=st.lists(st.integers(0, NODES - 1), max_size=3),
    not_ready=st.lists(st.integers(0, 200), max_size=6),
    overrides=st.fixed_dictionaries(
        {},
        optional={
            "internalTrafficPolicy": st.sampled_from(("Cluster", "Local")),
            "externalTrafficPolicy": st.sampled_from(("Cluster", "Local")),
            "sessionAffinity": st.sampled_from(("None", "ClientIP")),
        },
    ),
    mode=st.sampled_from((None, "iptables", "nftables", "ipvs")),
)
def test_bundles_hold_under_generated_whatifs(
    seed: int,
    etp: str,
    down: list[int],
    not_ready: list[int],
    overrides: dict[str, str],
    mode: str | None,
) -> None:
    snapshot, key = daemon_cluster(seed, etp=etp)
    names = list(snapshot.nodes)
    ips = sorted({ep.ip for eps in snapshot.endpoint_index[key].values() for ep in eps})
    scenario = Scenario(
        service_overrides={key: overrides} if overrides else {},
        proxy_mode=mode,
        nodes_down=frozenset(names[i] for i in down),
        endpoints_not_ready=frozenset(ips[i % len(ips)] for i in not_ready),
    )
    after = apply_scenario(snapshot, scenario)
    bundled_equals_every_node(snapshot, after, key, scenario.nodes_down)
