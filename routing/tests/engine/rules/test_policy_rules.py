"""Behaviour table: which policy rules a node gets for iTP x eTP, per mode.

Scenario (semantics §3.4, §4; upstream TestInternalExternalMasquerade, TestOnlyLocalNodePorts)::

    n1 (zone a)            n2 (zone b)
    no endpoint            10.1.2.5:8080 ready

Service ns/web, ClusterIP 10.96.0.10:80, NodePort 30080.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import render_node_rules
from routing.engine.rules.ipvs import parse_ipvsadm
from routing.tests.engine.rules.upstream_cases import (
    ep,
    node,
    port,
    proxy_configmap,
    service,
    slice_,
    slice_port,
)


def objects(
    itp: str = "Cluster", etp: str = "Cluster", endpoints: list[dict] | None = None
) -> list[dict]:
    eps = endpoints if endpoints is not None else [ep("10.1.2.5", "n2")]
    return [
        node("n1", "192.168.10.1", "a"),
        node("n2", "192.168.10.2", "b"),
        proxy_configmap("10.1.0.0/16"),
        service(
            "ns",
            "web",
            "10.96.0.10",
            [port("http", 80, node_port=30080) | {"targetPort": 8080}],
            type="NodePort",
            internalTrafficPolicy=itp,
            externalTrafficPolicy=etp,
        ),
        slice_("ns", "web", eps, [slice_port("http", 8080)]),
    ]


def reasons(itp: str, etp: str, node_name: str, mode: str, endpoints=None) -> set[str]:
    rs = render_node_rules(
        snapshot_from_objects(objects(itp, etp, endpoints)), node_name, mode, service="ns/web"
    )
    return {r.split("|")[0] for _, svc, r in rs.rows if svc == "ns/web"}


@dataclass(frozen=True)
class Case:
    name: str
    itp: str
    etp: str
    node: str
    present: frozenset[str]
    absent: frozenset[str]


CASES = (
    Case(
        "Cluster/Cluster on the node without endpoints: forward everything, masquerade external",
        "Cluster",
        "Cluster",
        "n1",
        frozenset({"clusterip", "nodeport", "ext-masq", "pick", "dnat"}),
        frozenset({"drop-internal", "drop-external", "reject"}),
    ),
    Case(
        "iTP=Local without a local endpoint: ClusterIP DROP, NodePort still forwards",
        "Local",
        "Cluster",
        "n1",
        frozenset({"drop-internal", "nodeport", "ext-masq"}),
        frozenset({"clusterip", "drop-external"}),
    ),
    Case(
        "eTP=Local without a local endpoint: external DROP, pod short-circuit kept",
        "Cluster",
        "Local",
        "n1",
        frozenset({"drop-external", "ext-short-circuit", "clusterip"}),
        frozenset({"ext-masq", "drop-internal"}),
    ),
    Case(
        "Local/Local without a local endpoint: both DROPs, short-circuit to the Cluster set",
        "Local",
        "Local",
        "n1",
        frozenset({"drop-internal", "drop-external", "ext-short-circuit"}),
        frozenset({"clusterip", "reject"}),
    ),
    Case(
        "Local/Local on the endpoint's node: local dispatch, no drops",
        "Local",
        "Local",
        "n2",
        frozenset({"clusterip", "ext-policy", "ext-short-circuit"}),
        frozenset({"drop-internal", "drop-external"}),
    ),
)


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_policy_rules_per_node(case: Case, mode: str) -> None:
    got = reasons(case.itp, case.etp, case.node, mode)
    assert case.present <= got, case.present - got
    assert not (case.absent & got), case.absent & got


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_no_usable_endpoint_anywhere_rejects(mode: str) -> None:
    got = reasons(
        "Cluster",
        "Cluster",
        "n1",
        mode,
        endpoints=[ep("10.1.2.5", "n2", ready=False, serving=False)],
    )
    assert "reject" in got and "clusterip" not in got and "dnat" not in got


def test_serving_terminating_endpoint_is_used_when_none_is_ready() -> None:
    rs = render_node_rules(
        snapshot_from_objects(
            objects(endpoints=[ep("10.1.2.5", "n2", ready=False, serving=True, terminating=True)])
        ),
        "n1",
        "iptables",
        service="ns/web",
    )
    assert "--to-destination 10.1.2.5:8080" in rs.text


def test_drop_reason_reads_as_a_sentence_naming_the_node() -> None:
    rs = render_node_rules(
        snapshot_from_objects(objects("Local", "Cluster")), "n1", "iptables", service="ns/web"
    )
    drops = [line for line in rs.lines if line.reason == "drop-internal"]
    assert drops and all(line.text.endswith("-j DROP") for line in drops)
    assert "internalTrafficPolicy=Local" in drops[0].why and "n1" in drops[0].why


def test_statistic_probabilities_are_one_over_remaining() -> None:
    eps = [ep(f"10.1.2.{i}", "n2") for i in (9, 10, 11)]
    rs = render_node_rules(
        snapshot_from_objects(objects(endpoints=eps)), "n1", "iptables", service="ns/web"
    )
    picks = [line for line, _, r in rs.rows if r.startswith("pick")]
    # string order of ip:port: 10.1.2.10 < 10.1.2.11 < 10.1.2.9
    assert "--probability 0.3333333333" in picks[0] and "10.1.2.10:8080" in picks[0]
    assert "--probability 0.5000000000" in picks[1] and "10.1.2.11:8080" in picks[1]
    assert "statistic" not in picks[2] and "10.1.2.9:8080" in picks[2]


def test_ipvs_local_policy_falls_back_to_cluster_endpoints() -> None:
    """IPVS: eTP=Local on a node without local endpoints forwards to remote ones (#97081)."""
    rs = render_node_rules(
        snapshot_from_objects(objects("Cluster", "Local")), "n1", "ipvs", service="ns/web"
    )
    parsed = parse_ipvsadm(rs.text)
    assert parsed[("tcp", "192.168.10.1:30080")]["reals"] == ["10.1.2.5:8080"]
    assert any(r.startswith("ipvs-fallback") for _, _, r in rs.rows)
    assert "add KUBE-NODE-PORT-LOCAL-TCP 30080" in rs.companions["ipset"]


def test_ipvs_parse_rejects_a_real_server_without_virtual_server() -> None:
    with pytest.raises(ValueError, match="line 1"):
        parse_ipvsadm("-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1\n")


def test_unknown_node_or_mode_is_a_one_line_error() -> None:
    from routing.engine.rules import RulesError

    snap = snapshot_from_objects(objects())
    with pytest.raises(RulesError, match="unknown node 'n9'"):
        render_node_rules(snap, "n9", "iptables")
    with pytest.raises(RulesError, match="mode 'ebpf'"):
        render_node_rules(snap, "n1", "ebpf")
