"""Property: the grouped cluster-wide analysis equals ``simulate`` asked from every node.

Random small clusters (zones with and without labels, NotReady / excluded / deleting
nodes, several kube-proxy releases and modes, per-node mode migrations, every policy mix,
hints for zones and nodes, ready / serving / terminating conditions, endpoints on unknown
nodes) are analysed once, and every source class of every service port is compared with
the brute force of ``analysis_reference``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.kube_dump import read_objects
from routing.engine.analysis import analyze
from routing.engine.analysis.nodes import node_index
from routing.engine.analysis.ports import PortContext, analyze_port, simple_port, single_config
from routing.engine.costmodel import LOCALITIES
from routing.engine.kube import snapshot_from_objects
from routing.tests.engine.analysis_reference import brute_force
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

TOL = 1e-9
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[dict], dict]:
    """(kubectl objects, snapshot overrides) of a random small cluster."""
    names = [f"n{i}" for i in range(draw(st.integers(1, 6)))]
    objects = []
    versions = st.sampled_from([None, "v1.35.1", "v1.30.4", "v1.25.9", "v1.33.0"])
    # Half the clusters run one release everywhere (one kube-proxy configuration: the
    # analysis' closed-form path), half a mix.
    one_release = draw(st.booleans())
    same = draw(versions) if one_release else None
    for name in names:
        objects.append(
            node_obj(
                name,
                zone=draw(st.sampled_from(["a", "a", "b", "c", None])),
                ready=draw(st.sampled_from([True, True, True, False])),
                version=same if one_release else draw(versions),
                labels={EXCLUDE: ""} if draw(st.integers(0, 9)) == 0 else None,
                deleting=draw(st.integers(0, 14)) == 0,
            )
        )
    for s in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ClusterIP-ext"]))
        svc_type = "ClusterIP" if kind == "ClusterIP-ext" else kind
        objects.append(
            service_obj(
                f"s{s}",
                type=svc_type,
                cluster_ip=f"10.96.0.{s + 10}",
                itp=draw(st.sampled_from([None, "Cluster", "Local"])),
                etp=draw(st.sampled_from([None, "Cluster", "Local"])),
                lb_ips=[f"192.0.2.{s + 1}"] if svc_type == "LoadBalancer" else None,
                external_ips=[f"198.51.100.{s + 1}"] if kind == "ClusterIP-ext" else None,
                distribution=draw(st.sampled_from([None, None, "PreferClose"])),
            )
        )
        endpoints = []
        for e in range(draw(st.integers(0, 6))):
            cond = draw(
                st.sampled_from(
                    [
                        (True, None, None),
                        (None, None, None),
                        (False, False, False),
                        (False, True, True),
                        (False, False, True),
                        (True, True, True),
                        (False, True, False),
                    ]
                )
            )
            endpoints.append(
                endpoint_obj(
                    f"10.244.{s}.{e + 1}",
                    draw(st.sampled_from([*names, None, "ghost"])),
                    ready=cond[0],
                    serving=cond[1],
                    terminating=cond[2],
                    zone=draw(st.sampled_from([None, None, "a", "b"])),
                    zones=tuple(draw(st.sets(st.sampled_from(["a", "b", "c"]), max_size=2)))
                    if draw(st.booleans())
                    else (),
                    nodes=tuple(draw(st.sets(st.sampled_from(names), max_size=2)))
                    if draw(st.integers(0, 3)) == 0
                    else (),
                    pod=f"default/s{s}-pod-{e}",
                )
            )
        objects.append(slice_obj(f"s{s}", endpoints))
    overrides: dict = {
        "proxy_mode": draw(
            st.sampled_from(["iptables", "iptables", "nftables", "ipvs", "userspace"])
        )
    }
    if overrides["proxy_mode"] == "ipvs":
        overrides["ipvs_scheduler"] = draw(
            st.sampled_from(["rr", "wrr", "lc", "sh", "mh", "dh", "sed", "nq", "lblc"])
        )
    migrating = draw(
        st.dictionaries(
            st.sampled_from(names), st.sampled_from(["iptables", "ipvs", "nftables"]), max_size=2
        )
        if draw(st.booleans())
        else st.just({})
    )
    if migrating:
        overrides["node_proxy_modes"] = migrating
    if draw(st.integers(0, 5)) == 0:
        overrides["local_detector"] = False
    if draw(st.integers(0, 7)) == 0:
        overrides["masquerade_all"] = True
    return objects, overrides


def _assert_equal(stats, expected, where: str) -> None:
    shares = {f"{e.ip}:{e.port}": e.share for e in stats.endpoints}
    keys = set(shares) | {k for k, v in expected.shares.items() if v > TOL}
    for key in keys:
        assert shares.get(key, 0.0) == pytest.approx(
            expected.shares.get(key, 0.0), abs=TOL
        ), f"{where} share of {key}"
    assert stats.dropped == pytest.approx(expected.dropped, abs=TOL), f"{where} dropped"
    assert stats.refused == pytest.approx(expected.refused, abs=TOL), f"{where} refused"
    assert stats.effective_dropped == pytest.approx(
        expected.effective_dropped, abs=TOL
    ), f"{where} effective_dropped"
    forwarded = 1.0 - stats.dropped
    for name in LOCALITIES:
        assert stats.locality[name] * forwarded == pytest.approx(
            expected.locality[name], abs=TOL
        ), f"{where} {name}"
    if expected.preserved_exact:
        assert stats.client_ip_preserved * forwarded == pytest.approx(
            expected.preserved, abs=TOL
        ), f"{where} client IP"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_grouped_analysis_equals_simulate_from_every_node(cluster: tuple[list[dict], dict]) -> None:
    objects, overrides = cluster
    snapshot = snapshot_from_objects(objects, **overrides)
    report = analyze(snapshot)
    for row in report.rows:
        for stats in row.sources:
            expected = brute_force(snapshot, row.service, row.port, stats.source, stats.to)
            _assert_equal(stats, expected, f"{row.key} {stats.source}->{stats.to}")
            if stats.source != "lb":
                assert (
                    stats.forward_nodes == expected.actions["forward"]
                ), f"{row.key} {stats.source} forwarding nodes"
                assert (
                    stats.drop_nodes == expected.actions["drop"]
                ), f"{row.key} {stats.source} dropping nodes"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_shares_and_dropped_sum_to_one_per_source(cluster: tuple[list[dict], dict]) -> None:
    objects, overrides = cluster
    report = analyze(snapshot_from_objects(objects, **overrides))
    for row in report.rows:
        for stats in row.sources:
            if not stats.nodes:
                continue
            assert sum(e.share for e in stats.endpoints) + stats.dropped == pytest.approx(
                1.0, abs=1e-9
            )
            assert 0.0 <= stats.refused <= stats.dropped + 1e-12
            if stats.forward_nodes:
                assert sum(stats.locality.values()) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_local_never_leaves_the_node_and_cluster_never_drops(
    cluster: tuple[list[dict], dict],
) -> None:
    """iptables/nftables: iTP=Local pod calls are delivered on their own node only; with
    iTP=Cluster a pod call is never dropped while some endpoint is usable (semantics §3.1)."""
    objects, overrides = cluster
    overrides = {**overrides, "proxy_mode": "iptables", "node_proxy_modes": {}}
    snapshot = snapshot_from_objects(objects, **overrides)
    for row in analyze(snapshot).rows:
        pod = row.source("pod")
        assert pod is not None
        gates_on = all(
            snapshot.proxy_for(n).gates.service_internal_traffic_policy for n in snapshot.nodes
        )
        if row.internal_traffic_policy == "Local" and gates_on and pod.forward_nodes:
            assert pod.locality["same_node"] == pytest.approx(1.0)
        if row.internal_traffic_policy == "Cluster" and row.endpoints_ready:
            assert pod.dropped == 0.0


ROOT = Path(__file__).resolve().parents[3]
DUMPS = sorted(
    p for p in (ROOT / "tests" / "fixtures" / "real").glob("*") if p.suffix in (".json", ".yaml")
)
DUMPS.append(ROOT / "cluster" / "fixtures" / "demo.json")


@pytest.mark.parametrize("mode", ["iptables", "ipvs"])
@pytest.mark.parametrize("path", DUMPS, ids=[p.name for p in DUMPS])
def test_real_dumps_equal_simulate_from_every_node(path: Path, mode: str) -> None:
    """Dumps nobody here wrote (and the demo) agree with the brute force too."""
    snapshot = snapshot_from_objects(read_objects(path), proxy_mode=mode)
    report = analyze(snapshot)
    assert report.rows or not snapshot.services
    for row in report.rows:
        for stats in row.sources:
            _assert_equal(
                stats,
                brute_force(snapshot, row.service, row.port, stats.source, stats.to),
                f"{path.name} {row.key} {stats.source}",
            )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_closed_form_path_equals_the_grouping(cluster: tuple[list[dict], dict]) -> None:
    """Where the ClusterIP-only shortcut applies it gives exactly the general grouping's figures."""
    objects, overrides = cluster
    snapshot = snapshot_from_objects(objects, **overrides)
    index = node_index(snapshot)
    ctx = PortContext(snapshot, index)
    config = single_config(index)
    for service in snapshot.services.values():
        for port in service.ports:
            fast = simple_port(snapshot, index, config, service, port)
            if fast is None:
                continue
            (got,), (want,) = fast.sources, analyze_port(ctx, service, port).sources
            assert got.shares == pytest.approx(want.shares, abs=TOL)
            assert got.locality == pytest.approx(want.locality, abs=TOL)
            assert (got.actions, got.drop_reasons) == (want.actions, want.drop_reasons)
            assert (got.dropped, got.refused, got.preserved) == pytest.approx(
                (want.dropped, want.refused, want.preserved)
            )
            assert fast.hosting_nodes == analyze_port(ctx, service, port).hosting_nodes
            assert fast.topology_modes == analyze_port(ctx, service, port).topology_modes
