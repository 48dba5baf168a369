"""Every ``runPacketFlowTests`` case of upstream's iptables and nftables proxier_test.go
(data: ``upstream_tables``), answered twice and held to upstream's answer:

* by the tracer (``routing.engine.rules.trace``) over the rules our renderer writes for
  ``test-node`` in the file's mode — every case;
* by ``simulate`` — every case it can ask (a source kind and a Service port at the
  destination). ``KNOWN_SIMULATE_GAPS`` lists the cases ``simulate`` still answers
  differently because a feature is being built elsewhere; each must *still* disagree, so
  this test fails (and the entry must go) once the feature lands.

Upstream's tracers (iptables ``tracePacket``, nftables ``helpers_test.go``) report the
DNAT destinations, "DROP"/"REJECT" (or "ACCEPT", "" for no match) and one masquerade flag.
Ours also gives each destination's share; where ``simulate`` agrees, the shares must agree too.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules.plan import render_options
from routing.engine.rules.render import render_node_rules
from routing.engine.rules.trace import Packet, trace_text
from routing.engine.simulate import Question, simulate
from routing.engine.snapshot import Snapshot
from routing.tests.engine.packetflow.upstream_tables import (
    LOCAL_IPS,
    MODE,
    NFT,
    NODE,
    NODE_IP,
    SERVICE_CIDR,
    TABLES,
    UNPORTED,
    Flow,
    Table,
)

CASES = [(file, table, flow) for table in TABLES for flow in table.flows for file in flow.files]


def case_id(file: str, table: Table, flow: Flow) -> str:
    return f"{MODE[file]}:{table.test}:{flow.name}"


IDS = [case_id(*c) for c in CASES]

#: case id -> why simulate still answers differently (a feature being built elsewhere)
KNOWN_SIMULATE_GAPS: dict[str, str] = {}


_SNAPSHOTS: dict[str, Snapshot] = {}


def snapshot_for(table: Table) -> Snapshot:
    if table.test not in _SNAPSHOTS:
        _SNAPSHOTS[table.test] = snapshot_from_objects(list(table.objects), **table.overrides)
    return _SNAPSHOTS[table.test]


def traced(file: str, table: Table, flow: Flow):
    snap = snapshot_for(table)
    extra = dict(table.render)
    if file == NFT:
        extra["service_cidrs"] = (SERVICE_CIDR,)  # the nftables fake proxier's serviceCIDRs
    text = render_node_rules(
        snap, NODE, MODE[file], options=render_options(snap, NODE, **extra)
    ).text
    return trace_text(
        text, MODE[file], Packet(flow.src, flow.dst, flow.port, flow.protocol), LOCAL_IPS
    )


@pytest.mark.parametrize(("file", "table", "flow"), CASES, ids=IDS)
def test_tracer_matches_upstream(file: str, table: Table, flow: Flow) -> None:
    t = traced(file, table, flow)
    assert t.output() == flow.output, t.matched
    assert t.masquerade is flow.masq, t.matched
    shares = t.endpoints
    if shares:  # kube-proxy's iptables/nftables spread is uniform over the chosen endpoints
        assert all(abs(s - 1 / len(shares)) < 1e-9 for s in shares.values()), shares


# ---- simulate ---------------------------------------------------------------------------


def question_for(table: Table, flow: Flow) -> Question | str:
    """The simulate question for ``flow``, or why our inputs cannot ask it."""
    snap = snapshot_for(table)
    target = None
    for svc in snap.services.values():
        for sp in svc.ports:
            if sp.protocol != flow.protocol:
                continue
            if flow.dst in svc.cluster_ips and flow.port == sp.port:
                target = (svc, sp, "clusterip")
            elif flow.dst == NODE_IP and sp.node_port and flow.port == sp.node_port:
                target = (svc, sp, "nodeport")
            elif flow.dst in svc.lb_ips and flow.port == sp.port:
                target = (svc, sp, "loadbalancer")
            elif flow.dst in svc.external_ips and flow.port == sp.port:
                target = (svc, sp, "externalip")
    if target is None:
        return f"no Service port at {flow.dst}:{flow.port}/{flow.protocol} on the node's primary IP"
    svc, sp, to = target
    eps = {e.ip for ports in snap.endpoint_index.get(svc.key, {}).values() for e in ports}
    src = ipaddress.ip_address(flow.src)
    if flow.src in svc.lb_ips:
        return (
            "a host connection SNATted to the LB IP by something outside kube-proxy is not a "
            "source kind"
        )
    if src.is_loopback:
        return "a localhost source is not a source kind"
    if flow.src == NODE_IP:
        source = f"host:{NODE}"
    elif src in ipaddress.ip_network("10.0.0.0/8"):
        if flow.src in eps:
            return (
                "a pod calling itself (hairpin): our pod source is any pod on the node, not a "
                "given pod IP"
            )
        source = f"pod:{NODE}"
    else:
        source = f"external:{NODE}"
    # The flow's source address is the client loadBalancerSourceRanges are checked against.
    return Question(
        service=svc.key,
        source=source,
        to=to,
        port=sp.name or None,
        client_ip=flow.src if to == "loadbalancer" else None,
    )


SIM_CASES = [(f, t, fl) for f, t, fl in CASES if isinstance(question_for(t, fl), Question)]
SIM_IDS = [case_id(*c) for c in SIM_CASES]
NOT_ASKABLE = [
    (case_id(f, t, fl), question_for(t, fl))
    for f, t, fl in CASES
    if not isinstance(question_for(t, fl), Question)
]


def simulated(table: Table, flow: Flow):
    question = question_for(table, flow)
    assert isinstance(question, Question), question  # callers ask only askable flows
    answer = simulate(snapshot_for(table), question)
    if answer.action != "forward":
        return answer.action.upper(), False, {}
    shares = {
        f"{ep.ip}:{ep.port}": share for ep, share in answer.endpoint_shares.values() if share > 0
    }
    out = ", ".join(
        sorted(
            shares,
            key=lambda k: (ipaddress.ip_address(k.rpartition(":")[0]), int(k.rpartition(":")[2])),
        )
    )
    return out, not answer.client_ip_preserved, shares


@pytest.mark.parametrize(("file", "table", "flow"), SIM_CASES, ids=SIM_IDS)
def test_simulate_matches_upstream(file: str, table: Table, flow: Flow) -> None:
    output, masq, shares = simulated(table, flow)
    agrees = output == flow.output and (output in ("DROP", "REJECT") or masq is flow.masq)
    cid = case_id(file, table, flow)
    if cid in KNOWN_SIMULATE_GAPS:
        assert not agrees, f"{cid} now agrees with upstream: remove it from KNOWN_SIMULATE_GAPS"
        return
    assert (output, masq if output not in ("DROP", "REJECT") else flow.masq) == (
        flow.output,
        flow.masq,
    )
    traced_shares = traced(file, table, flow).endpoints
    assert traced_shares.keys() == shares.keys()
    assert all(abs(traced_shares[k] - shares[k]) < 1e-9 for k in shares)


def test_known_gaps_name_real_cases() -> None:
    assert set(KNOWN_SIMULATE_GAPS) <= set(SIM_IDS)


#: (file mode, upstream test) -> (flows through the tracer, of them asked of simulate, of them known
#: gaps)
EXPECTED_COUNTS = {
    ("iptables", "TestTracePacket"): (7, 5, 0),
    ("iptables", "TestNoEndpointsReject"): (6, 6, 0),
    ("iptables", "TestClusterIPGeneral"): (9, 6, 0),
    ("iptables", "TestLoadBalancer"): (13, 11, 0),
    ("iptables", "TestNodePorts"): (10, 6, 0),
    ("iptables", "TestHealthCheckNodePort"): (2, 0, 0),
    ("iptables", "TestExternalTrafficPolicyLocal"): (7, 7, 0),
    ("iptables", "TestExternalTrafficPolicyCluster"): (7, 7, 0),
    ("iptables", "TestInternalTrafficPolicy"): (8, 8, 0),
    ("iptables", "TestTerminatingEndpointsTrafficPolicyLocal"): (16, 16, 0),
    ("iptables", "TestTerminatingEndpointsTrafficPolicyCluster"): (16, 16, 0),
    ("iptables", "TestInternalExternalMasquerade"): (120, 108, 0),
    ("nftables", "TestNoEndpointsReject"): (6, 6, 0),
    ("nftables", "TestClusterIPGeneral"): (10, 6, 0),
    ("nftables", "TestLoadBalancer"): (13, 11, 0),
    ("nftables", "TestNodePorts"): (4, 3, 0),
    ("nftables", "TestExternalTrafficPolicyLocal"): (7, 7, 0),
    ("nftables", "TestExternalTrafficPolicyCluster"): (7, 7, 0),
    ("nftables", "TestInternalTrafficPolicy"): (8, 8, 0),
    ("nftables", "TestTerminatingEndpointsTrafficPolicyLocal"): (16, 16, 0),
    ("nftables", "TestTerminatingEndpointsTrafficPolicyCluster"): (16, 16, 0),
    ("nftables", "TestInternalExternalMasquerade"): (108, 108, 0),
}


def test_case_counts() -> None:
    """The per-test counts the closing note reports; unported subtests counted apart."""

    def test_of(file: str, table: Table) -> tuple[str, str]:
        return MODE[file], table.test.split("/")[0].split(" + ")[0]

    traced_n = Counter(test_of(f, t) for f, t, _ in CASES)
    asked = Counter(test_of(f, t) for f, t, _ in SIM_CASES)
    gaps = Counter(
        test_of(f, t) for f, t, fl in SIM_CASES if case_id(f, t, fl) in KNOWN_SIMULATE_GAPS
    )
    assert {k: (traced_n[k], asked[k], gaps[k]) for k in traced_n} == EXPECTED_COUNTS
    assert (
        sum(n for n, _ in UNPORTED.values()) == 37
    )  # TestNodePorts: IPv6 and --nodeport-addresses subtests
    assert len(NOT_ASKABLE) + len(SIM_CASES) == len(CASES) == 416
