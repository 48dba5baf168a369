"""Our rendering of upstream's overall-rules scenario equals upstream's expected dumps,
up to the ordering upstream itself does not fix (see ``normalize``)."""

from __future__ import annotations

import re

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import RenderOptions, render_node_rules
from routing.tests.engine.rules.normalize import iptables_view, nft_view
from routing.tests.engine.rules.upstream_cases import CLUSTER_CIDR, NODE, overall_objects
from routing.tests.engine.rules.upstream_expected import IPTABLES_OVERALL, NFTABLES_OVERALL

# The flags of upstream's NewFakeProxier.
FAKE_IPTABLES = RenderOptions(
    cluster_cidr=CLUSTER_CIDR, nfacct=True, random_fully=False, include_jumps=False
)
FAKE_NFTABLES = RenderOptions(cluster_cidr=CLUSTER_CIDR, service_cidrs=("172.30.0.0/16",))


def test_iptables_matches_TestOverallIPTablesRules() -> None:
    snap = snapshot_from_objects(overall_objects())
    got = iptables_view(render_node_rules(snap, NODE, "iptables", options=FAKE_IPTABLES).text)
    want = iptables_view(IPTABLES_OVERALL)
    for table in ("filter", "nat"):
        assert got[table]["chains"] == want[table]["chains"], table
        assert got[table]["rules"] == want[table]["rules"], table
    assert got["nat"]["last"]["KUBE-SERVICES"] == want["nat"]["last"]["KUBE-SERVICES"]
    assert "KUBE-NODEPORTS" in got["nat"]["last"]["KUBE-SERVICES"]


def test_nftables_matches_TestOverallNFTablesRules() -> None:
    snap = snapshot_from_objects(overall_objects())
    got = nft_view(render_node_rules(snap, NODE, "nftables", options=FAKE_NFTABLES).text)
    want = nft_view(NFTABLES_OVERALL)
    assert got["decls"] == want["decls"]
    assert got["rules"] == want["rules"]


def test_nftables_declares_every_chain_before_it_is_referenced() -> None:
    text = render_node_rules(snapshot_from_objects(overall_objects()), NODE, "nftables").text
    declared: set[str] = set()
    for line in text.splitlines():
        words = re.sub(r'"[^"]*"', "", line).split()
        if line.startswith(("add chain", "add set")):
            declared.add(words[4])
        for i, word in enumerate(words):
            if word in ("goto", "jump") and i + 1 < len(words):
                assert words[i + 1] in declared, line
            if word.startswith("@"):
                assert word[1:] in declared or word[1:] in {
                    "cluster-ips",
                    "nodeport-ips",
                    "firewall-ips",
                    "no-endpoint-nodeports",
                    "no-endpoint-services",
                    "service-ips",
                    "service-nodeports",
                }, line


def test_large_cluster_mode_drops_endpoint_comments_only() -> None:
    """More than 1000 endpoints: SEP and SVC->SEP rules lose their comments (upstream
    largeClusterEndpointsThreshold / appendServiceCommentLocked)."""
    snap = snapshot_from_objects(overall_objects())
    opts = RenderOptions(cluster_cidr=CLUSTER_CIDR, large_cluster_threshold=3)
    text = render_node_rules(snap, NODE, "iptables", options=opts).text
    assert "-A KUBE-SEP-SXIVWICOYRO3J4NJ -s 10.180.0.1 -j KUBE-MARK-MASQ" in text
    assert "-A KUBE-SVC-XPGD46QRK7WJZT7O -j KUBE-SEP-SXIVWICOYRO3J4NJ" in text
    assert '--comment "ns1/svc1:p80 cluster IP"' in text
