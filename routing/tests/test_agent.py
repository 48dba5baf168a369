"""Node agents: drift between a node's real rules and the prediction, read from a network
namespace the test creates; the write path refuses without the explicit flag."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.agent.drift import read_actual, rules_drift
from routing.agent.tasks import NETNS_ENV, WRITE_ENV, apply_node_rules, check_node_rules, node_queue
from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import render_node_rules
from routing.tests.netns_helpers import load, scratch_namespace

pytestmark = pytest.mark.netns

DEMO = Path(__file__).resolve().parents[2] / "cluster" / "fixtures" / "demo.json"


@pytest.fixture(scope="module")
def demo():
    return snapshot_from_objects(read_objects(DEMO))


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_freshly_programmed_node_has_no_drift(demo, mode: str) -> None:
    expected = render_node_rules(demo, "node-b1", mode)
    with scratch_namespace() as ns:
        assert load(ns, mode, expected.text).returncode == 0
        drift = rules_drift(expected, read_actual(mode, netns=ns))
    assert drift.clean, (drift.missing[:3], drift.extra[:3])


def test_deleted_iptables_rule_and_foreign_chain_are_reported(demo) -> None:
    expected = render_node_rules(demo, "node-b1", "iptables")
    sep_rule = next(
        line
        for line in expected.text.splitlines()
        if line.startswith("-A KUBE-SEP-") and "DNAT" in line
    )
    with scratch_namespace() as ns:
        assert load(ns, "iptables", expected.text).returncode == 0
        subprocess.run(
            ["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-D", *shlex.split(sep_rule)[1:]],
            check=True,
        )
        subprocess.run(
            ["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-N", "KUBE-SVC-STALESTALESTALE"],
            check=True,
        )
        drift = rules_drift(expected, read_actual("iptables", netns=ns))
    chain = sep_rule.split()[1]
    assert any(m.startswith(f"nat/{chain}:") and "--to-destination" in m for m in drift.missing)
    assert drift.extra == ["chain nat/KUBE-SVC-STALESTALESTALE"]


def test_missing_nftables_element_is_reported(demo) -> None:
    expected = render_node_rules(demo, "node-b1", "nftables")
    with scratch_namespace() as ns:
        assert load(ns, "nftables", expected.text).returncode == 0
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "nft",
                "delete",
                "element",
                "ip",
                "kube-proxy",
                "cluster-ips",
                "{ 10.96.0.13 }",
            ],
            check=True,
        )
        drift = rules_drift(expected, read_actual("nftables", netns=ns))
    assert drift.missing == ["element cluster-ips:10.96.0.13"] and not drift.extra


@pytest.mark.django_db
def test_check_task_reports_drift_for_a_stored_cluster(monkeypatch) -> None:
    from cluster.services import cluster_import

    summary = cluster_import(name="demo-agent", objects=read_objects(DEMO))
    from cluster.models import Cluster

    cluster = Cluster.objects.get(name="demo-agent")
    assert summary is not None
    with scratch_namespace() as ns:
        monkeypatch.setenv(NETNS_ENV, ns)
        result = check_node_rules(cluster.pk, "node-a1", "nftables")
        assert not result["clean"] and any(
            m.startswith("chain service-") for m in result["missing"]
        )
        monkeypatch.setenv(WRITE_ENV, "1")
        text = render_node_rules(
            snapshot_from_objects(read_objects(DEMO)), "node-a1", "nftables"
        ).text
        apply_node_rules("nftables", text)
        assert check_node_rules(cluster.pk, "node-a1", "nftables")["clean"]


def test_apply_refuses_without_the_write_flag(monkeypatch) -> None:
    monkeypatch.delenv(WRITE_ENV, raising=False)
    with pytest.raises(PermissionError, match="read-only"):
        apply_node_rules("iptables", "*nat\nCOMMIT\n")
    assert node_queue("node-a1") == "node.node-a1"


def test_apply_is_idempotent_and_keeps_other_rules(demo, monkeypatch) -> None:
    """Applying twice leaves each hook once; a rule of other software survives."""
    expected = render_node_rules(demo, "node-a1", "iptables")
    with scratch_namespace() as ns:
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "iptables",
                "-A",
                "INPUT",
                "-p",
                "tcp",
                "--dport",
                "22",
                "-j",
                "ACCEPT",
            ],
            check=True,
        )
        monkeypatch.setenv(NETNS_ENV, ns)
        monkeypatch.setenv(WRITE_ENV, "1")
        apply_node_rules("iptables", expected.text)
        apply_node_rules("iptables", expected.text)
        saved = read_actual("iptables", netns=ns)
    assert rules_drift(expected, saved).clean
    assert sum(1 for line in saved.splitlines() if line.startswith("-A PREROUTING")) == 1
    assert "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in saved


def test_agent_reads_the_iptables_backend_kube_proxy_uses(demo, monkeypatch) -> None:
    """A node whose kube-proxy programs the legacy backend (its canary chain in mangle): the
    agent reads iptables-legacy-save, the nf_tables side (empty) is not mistaken for it, and the
    canary chain is no drift."""
    from routing.agent.node import collect_node_rules, iptables_save_command, unpack_rules

    expected = render_node_rules(demo, "node-b1", "iptables")
    with scratch_namespace() as ns:
        restore = subprocess.run(
            ["ip", "netns", "exec", ns, "iptables-legacy-restore"],
            input=expected.text + "*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n",
            text=True,
            capture_output=True,
        )
        assert restore.returncode == 0, restore.stderr
        try:
            assert iptables_save_command(ns) == ["iptables-legacy-save"]
            monkeypatch.setenv(NETNS_ENV, ns)
            assert rules_drift(expected, unpack_rules(collect_node_rules("iptables"))).clean
        finally:
            for table in ("nat", "filter", "mangle"):
                subprocess.run(
                    ["ip", "netns", "exec", ns, "iptables-legacy", "-t", table, "-F"],
                    capture_output=True,
                )
                subprocess.run(
                    ["ip", "netns", "exec", ns, "iptables-legacy", "-t", table, "-X"],
                    capture_output=True,
                )
