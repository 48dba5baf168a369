"""Every rendered rule set loads into the real kernel (iptables-restore / nft -f) inside a
network namespace the test creates, for every node and every iTP x eTP combination of the
demo cluster and of the small upstream-derived cases. IPVS cannot run here (no ip_vs), so
its text is parsed back and checked instead.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import render_node_rules
from routing.engine.rules.ipvs import parse_ipvsadm
from routing.engine.scenario import Scenario, apply_scenario
from routing.tests.engine.rules.test_policy_rules import objects as policy_objects
from routing.tests.engine.rules.upstream_cases import NODE, overall_objects
from routing.tests.netns_helpers import load, saved, scratch_namespace

pytestmark = pytest.mark.netns

DEMO = Path(__file__).resolve().parents[2] / "cluster" / "fixtures" / "demo.json"
COMBOS = [(i, e) for i in ("Cluster", "Local") for e in ("Cluster", "Local")]


def demo_variants():
    snap = snapshot_from_objects(read_objects(DEMO))
    for itp, etp in COMBOS:
        overrides = {
            key: {"internalTrafficPolicy": itp, "externalTrafficPolicy": etp}
            for key in snap.services
        }
        yield f"iTP={itp},eTP={etp}", apply_scenario(snap, Scenario(service_overrides=overrides))


def _kube_nat_rules(text: str) -> set[str]:
    """Rule lines of the nat table touching kube chains, normalised the way iptables-save prints."""
    out, table = set(), None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif table == "nat" and line.startswith("-A KUBE-"):
            out.add(re.sub(r"\s+", " ", line.strip()))
    return out


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_demo_rules_load_for_every_node_and_policy_combination(mode: str) -> None:
    loaded = expected = 0
    with scratch_namespace() as ns:
        for label, snap in demo_variants():
            expected += len(snap.nodes)
            for node in sorted(snap.nodes):
                text = render_node_rules(snap, node, mode).text
                proc = load(ns, mode, text)
                assert proc.returncode == 0, f"{label} {node}: {proc.stderr.strip()[:300]}"
                loaded += 1
    assert loaded == expected >= 4 * 2


def test_loaded_iptables_rules_read_back_identically() -> None:
    """The kernel holds the nat rules we rendered: same rule count per chain and the same
    DNAT targets per endpoint chain (iptables-save reorders match options, so not text)."""
    snap = snapshot_from_objects(read_objects(DEMO))
    text = render_node_rules(snap, "node-b1", "iptables").text
    with scratch_namespace() as ns:
        assert load(ns, "iptables", text).returncode == 0
        back = saved(ns, "iptables")

    def shape(rules: set[str]) -> tuple[Counter, set]:
        per_chain = Counter(r.split()[1] for r in rules)
        dnat = {
            (r.split()[1], r.split("--to-destination ")[1])
            for r in rules
            if "--to-destination" in r
        }
        return per_chain, dnat

    want, got = shape(_kube_nat_rules(text)), shape(_kube_nat_rules(back))
    assert sum(want[0].values()) > 50
    assert got == want


def test_loaded_nftables_ruleset_has_every_service_chain() -> None:
    snap = snapshot_from_objects(read_objects(DEMO))
    text = render_node_rules(snap, "node-a1", "nftables").text
    chains = {line.split()[4] for line in text.splitlines() if line.startswith("add chain")}
    with scratch_namespace() as ns:
        assert load(ns, "nftables", text).returncode == 0
        listing = saved(ns, "nftables")
    listed = set(re.findall(r"^\s*chain (\S+) \{", listing, re.M))
    assert chains == listed


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_small_cases_load(mode: str) -> None:
    cases = [("upstream overall", snapshot_from_objects(overall_objects()), [NODE])]
    for itp, etp in COMBOS:
        cases.append(
            (f"policy {itp}/{etp}", snapshot_from_objects(policy_objects(itp, etp)), ["n1", "n2"])
        )
    with scratch_namespace() as ns:
        for label, snap, nodes in cases:
            for node in nodes:
                proc = load(ns, mode, render_node_rules(snap, node, mode).text)
                assert proc.returncode == 0, f"{label} {node}: {proc.stderr.strip()[:300]}"


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize(
    ("detect", "match"),
    [
        ("BridgeInterface", {"iptables": "-i cni0", "nftables": 'iifname "cni0"'}),
        ("InterfaceNamePrefix", {"iptables": "-i veth+", "nftables": 'iifname "veth*"'}),
    ],
)
def test_interface_detectors_render_interface_matches_the_kernel_loads(
    mode: str, detect: str, match: dict
) -> None:
    """pkg/proxy/util/localdetector.go NewDetectLocalByBridgeInterface /
    NewDetectLocalByInterfaceNamePrefix: the short-circuit and the off-cluster masquerade
    match the input interface (``-i cni0`` / ``-i veth+``, ``iifname``), not a CIDR."""
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {
            "config.conf": f"clusterCIDR: 10.0.0.0/8\ndetectLocalMode: {detect}\n"
            "detectLocal:\n  bridgeInterface: cni0\n  interfaceNamePrefix: veth\n"
        },
    }
    snap = snapshot_from_objects([*policy_objects("Cluster", "Local"), config])
    text = render_node_rules(snap, "n1", mode).text
    assert match[mode] in text and "10.0.0.0/8" not in text
    with scratch_namespace() as ns:
        proc = load(ns, mode, text)
    assert proc.returncode == 0, proc.stderr.strip()[:300]


def test_a_broken_ruleset_is_refused_by_the_kernel() -> None:
    """The loader really checks: a rule jumping to an undeclared chain fails."""
    with scratch_namespace() as ns:
        proc = load(
            ns,
            "iptables",
            "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-NOPE\nCOMMIT\n",
        )
    assert proc.returncode != 0


def test_ipvs_text_parses_back_for_every_demo_node() -> None:
    for label, snap in demo_variants():
        for node in sorted(snap.nodes):
            rs = render_node_rules(snap, node, "ipvs")
            parsed = parse_ipvsadm(rs.text)
            vs = [line for line in rs.text.splitlines() if line.startswith("-A ")]
            assert len(parsed) == len(vs), f"{label} {node}"
            assert all(v["scheduler"] == "rr" for v in parsed.values())
