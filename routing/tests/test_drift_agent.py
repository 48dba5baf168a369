"""End to end: ``check_node_rules`` for the demo cluster against a scratch network namespace
loaded with the predicted rules (in sync), then altered (drift); the stored report and
``GET /api/v1/clusters/demo/drift`` say so."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from cluster.models import Cluster
from routing.agent.tasks import AGENT_VERSION, NETNS_ENV, check_node_rules
from routing.engine.rules import render_node_rules
from routing.models import RulesDriftReport
from routing.reports import report_cache_clear
from routing.snapshots import snapshot_cache_clear, snapshot_for_cluster
from routing.tests.netns_helpers import load, scratch_namespace

pytest_plugins = ["cluster.api.testing"]
pytestmark = [pytest.mark.netns, pytest.mark.django_db]

URL = "/api/v1/clusters/demo/drift"


@pytest.fixture
def demo(db) -> Iterator[Cluster]:
    snapshot_cache_clear()
    report_cache_clear()
    call_command("load_demo", verbosity=0)
    yield Cluster.objects.get(name="demo")
    snapshot_cache_clear()


def _api_report(client, node: str) -> dict:
    body = client.get(URL, {"node": node}).json()
    assert body["nodes_reported"] == 1
    return body["reports"][0]


def test_iptables_node_in_sync_then_drifted(demo, anon_client, monkeypatch) -> None:
    expected = render_node_rules(snapshot_for_cluster(cluster=demo), "node-b1", "iptables")
    sep_rule = next(
        line
        for line in expected.text.splitlines()
        if line.startswith("-A KUBE-SEP-") and "DNAT" in line
    )
    with scratch_namespace() as ns:
        monkeypatch.setenv(NETNS_ENV, ns)
        assert load(ns, "iptables", expected.text).returncode == 0
        first = check_node_rules(demo.pk, "node-b1", "iptables")
        stored = RulesDriftReport.objects.get(pk=first["report"])
        assert (
            first["clean"]
            and stored.in_sync
            and (stored.missing_count, stored.unexpected_count) == (0, 0)
        )
        assert (stored.cluster, stored.node, stored.mode, stored.cluster_revision) == (
            demo,
            "node-b1",
            "iptables",
            demo.revision,
        )
        assert ns in stored.agent_hostname and stored.agent_version == AGENT_VERSION
        in_sync = _api_report(anon_client, "node-b1")
        assert in_sync["in_sync"] and in_sync["diff"] == "" and in_sync["current"]

        subprocess.run(
            ["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-D", *shlex.split(sep_rule)[1:]],
            check=True,
        )
        subprocess.run(
            ["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-N", "KUBE-SVC-STALESTALESTALE"],
            check=True,
        )
        second = check_node_rules(demo.pk, "node-b1", "iptables")
    drifted = RulesDriftReport.objects.get(pk=second["report"])
    assert not drifted.in_sync and (drifted.missing_count, drifted.unexpected_count) == (1, 1)
    chain = sep_rule.split()[1]
    lines = drifted.diff.splitlines()
    assert lines[0].startswith(f"- nat/{chain}:") and "--to-destination" in lines[0]
    assert lines[1:] == ["+ chain nat/KUBE-SVC-STALESTALESTALE"]
    shown = _api_report(anon_client, "node-b1")  # the latest report replaces the clean one
    assert (shown["in_sync"], shown["missing_count"], shown["unexpected_count"]) == (False, 1, 1)
    assert shown["diff"] == drifted.diff
    assert RulesDriftReport.objects.filter(cluster=demo, node="node-b1").count() == 2
    assert [r["node"] for r in anon_client.get(URL, {"in_sync": "false"}).json()["reports"]] == [
        "node-b1"
    ]


def test_nftables_node_missing_an_element(demo, anon_client, monkeypatch) -> None:
    expected = render_node_rules(snapshot_for_cluster(cluster=demo), "node-a1", "nftables")
    with scratch_namespace() as ns:
        monkeypatch.setenv(NETNS_ENV, ns)
        assert load(ns, "nftables", expected.text).returncode == 0
        assert check_node_rules(demo.pk, "node-a1", "nftables")["clean"]
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
        check_node_rules(demo.pk, "node-a1", "nftables")
    shown = _api_report(anon_client, "node-a1")
    assert (shown["mode"], shown["in_sync"], shown["missing_count"], shown["unexpected_count"]) == (
        "nftables",
        False,
        1,
        0,
    )
    assert shown["diff"] == "- element cluster-ips:10.96.0.13"


def test_check_drift_command_runs_the_check_and_stores_the_report(
    demo, monkeypatch, capsys
) -> None:
    expected = render_node_rules(snapshot_for_cluster(cluster=demo), "node-b1", "nftables")
    with scratch_namespace() as ns:
        monkeypatch.setenv(NETNS_ENV, ns)
        assert load(ns, "nftables", expected.text).returncode == 0
        call_command("check_drift", "--cluster", "demo", "--node", "node-b1", "--mode", "nftables")
    assert capsys.readouterr().out.strip() == "node-b1 (nftables): in sync"
    report = RulesDriftReport.objects.get(cluster=demo)
    assert (report.node, report.mode, report.in_sync) == ("node-b1", "nftables", True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cluster", "nope"], "no cluster called 'nope'"),
        (["--cluster", "demo", "--node", "node-zz"], "no node 'node-zz' in cluster demo"),
    ],
)
def test_check_drift_command_refuses_bad_input(demo, args, message) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("check_drift", *args)
    assert not RulesDriftReport.objects.exists()
