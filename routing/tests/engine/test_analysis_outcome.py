"""The cluster-wide report speaks ``simulate``'s outcome: every source class's JSON carries
``outcome``, ``effective_dropped`` and ``replies_lost`` beside kube-proxy's ``dropped``,
equal to ``simulate`` asked from every node (issue 11: simulate, the API and the pages show
them consistently; the API serves this JSON at ``GET /api/v1/clusters/{name}/analysis``).

Demo cluster: ``shop/checkout`` is a LoadBalancer with externalTrafficPolicy=Local and
checkout pods on 2 of 10 nodes. Under iptables the other 8 nodes drop NodePort clients
(``LOCAL_NO_ENDPOINT_ON_NODE``); under IPVS they forward to the Cluster set without SNAT
(pkg/proxy/ipvs/proxier.go ``syncService``, kubernetes#97081) and the replies are lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.engine.analysis import analyze
from routing.engine.kube import snapshot_from_objects
from routing.tests.engine.analysis_reference import brute_force

DEMO = Path(__file__).resolve().parents[3] / "cluster" / "fixtures" / "demo.json"


def _external(mode: str) -> dict:
    report = analyze(snapshot_from_objects(read_objects(DEMO), proxy_mode=mode))
    row = next(r for r in report.rows if r.service == "shop/checkout")
    stats = row.source("external")
    assert stats is not None
    return stats.to_json()


def test_iptables_drops_are_dropped_not_working() -> None:
    external = _external("iptables")
    assert external["dropped"] == pytest.approx(0.8)
    assert external["replies_lost"] == 0.0
    assert external["effective_dropped"] == pytest.approx(0.8)
    assert external["outcome"] == "partly_dropped"


def test_ipvs_forwarding_with_lost_replies_is_not_working() -> None:
    external = _external("ipvs")
    assert external["actions"] == {"forward": 10, "drop": 0, "reject": 0}
    assert external["dropped"] == 0.0  # kube-proxy's own verdict: nothing dropped
    assert external["replies_lost"] == pytest.approx(0.8)
    assert external["effective_dropped"] == pytest.approx(0.8)
    assert external["outcome"] == "replies_lost"


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_every_source_class_equals_simulate_from_every_node(mode: str) -> None:
    snapshot = snapshot_from_objects(read_objects(DEMO), proxy_mode=mode)
    report = analyze(snapshot)
    for row in report.rows:
        body = row.to_json()
        for stats, data in zip(row.sources, body["sources"]):
            want = brute_force(snapshot, row.service, row.port, stats.source, stats.to)
            where = f"{mode} {row.key} {stats.source}"
            assert data["effective_dropped"] == pytest.approx(
                want.effective_dropped, abs=1e-6
            ), where
            assert data["replies_lost"] == pytest.approx(
                want.effective_dropped - want.dropped, abs=1e-6
            ), where
            if want.effective_dropped == 0:
                assert data["outcome"] == "ok", where
            elif set(want.actions) == {"reject"}:
                assert data["outcome"] == "refused", where
        assert body["effective_dropped"] == pytest.approx(
            max(s["effective_dropped"] for s in body["sources"]), abs=1e-6
        )
