"""The rule-text tracer itself: branch shares, marks, chain semantics, refusals.

Upstream's packet-flow tables (routing/tests/engine/packetflow) exercise it on whole
rendered rule sets; these pin the netfilter semantics it relies on.
"""

from __future__ import annotations

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules.trace import DNAT, DROP, Packet, TraceError, trace, trace_text
from routing.tests.engine.rules.upstream_cases import (
    NODE,
    node,
    overall_objects,
    port,
    proxy_configmap,
    service,
    slice_port,
)
from routing.tests.engine.rules.upstream_cases import ep as endpoint
from routing.tests.engine.rules.upstream_cases import slice_ as eps_slice

POD = "10.0.0.2"


def three_endpoints(**spec: object):
    return snapshot_from_objects(
        [
            node(),
            proxy_configmap(),
            service("ns1", "svc1", "172.30.0.41", [port()], **spec),
            eps_slice(
                "ns1",
                "svc1",
                [endpoint("10.180.0.1"), endpoint("10.180.0.2"), endpoint("10.180.0.3")],
                [slice_port()],
            ),
        ]
    )


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_three_endpoints_get_a_third_each(mode: str) -> None:
    """iptables: statistic 1/3 then 1/2 then the rest; nftables: numgen mod 3."""
    t = trace(three_endpoints(), NODE, Packet(POD, "172.30.0.41", 80), mode)
    assert t.endpoints.keys() == {"10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"}
    assert all(abs(s - 1 / 3) < 1e-9 for s in t.endpoints.values())
    assert t.dropped == 0 and t.rejected == 0 and not t.masquerade


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_affinity_lookup_misses_for_a_first_connection(mode: str) -> None:
    snap = three_endpoints(
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}
    )
    t = trace(snap, NODE, Packet(POD, "172.30.0.41", 80), mode)
    assert len(t.endpoints) == 3 and all(abs(s - 1 / 3) < 1e-9 for s in t.endpoints.values())


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_load_balancer_source_ranges(mode: str) -> None:
    """TestOverall*Rules' svc5: 5.6.7.8 only from 203.0.113.0/25."""
    snap = snapshot_from_objects(overall_objects())
    allowed = trace(snap, NODE, Packet("203.0.113.2", "5.6.7.8", 80), mode)
    blocked = trace(snap, NODE, Packet("203.0.113.130", "5.6.7.8", 80), mode)
    assert allowed.output() == "10.180.0.3:80" and allowed.masquerade
    assert blocked.output() == "DROP" and blocked.dropped == 1.0


def test_default_local_ips_are_the_node_addresses() -> None:
    snap = snapshot_from_objects(overall_objects())
    t = trace(snap, NODE, Packet("192.168.0.2", "192.168.99.22", 80), "iptables")
    assert t.output() == "10.180.0.2:80" and t.masquerade  # LOCAL source: masqueraded short-circuit


IPT_SPLIT = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SPLIT - [0:0]
:SUB - [0:0]
:MASQ - [0:0]
-A PREROUTING -j SPLIT
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A MASQ -j MARK --or-mark 0x4000
-A SPLIT -m statistic --mode random --probability 0.2500000000 -j SUB
-A SPLIT -j DNAT --to-destination 10.9.9.9:80
-A SUB -j MASQ
-A SUB -j RETURN
-A SUB -j DNAT --to-destination 10.1.1.1:80
COMMIT
*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -d 10.9.9.9 -m statistic --mode random --probability 0.5000000000 -j DROP
COMMIT
"""


def test_iptables_branches_return_marks_and_filter_verdicts() -> None:
    """RETURN resumes the caller after a probabilistic jump (so SUB's DNAT is never
    reached); the mark set on that quarter masquerades only it; the filter table then
    drops half of every branch."""
    t = trace_text(IPT_SPLIT, "iptables", Packet(POD, "172.30.0.1", 80), ["192.168.0.2"])
    assert t.endpoints == {"10.9.9.9:80": pytest.approx(0.5)}
    assert t.dropped == pytest.approx(0.5)
    assert t.masquerade and t.masquerade_share == pytest.approx(0.125)
    assert "10.1.1.1:80" not in t.endpoints
    assert t.output() == "10.9.9.9:80, DROP"


NFT_GOTO = """add table ip kube-proxy
add chain ip kube-proxy pre { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy a
add chain ip kube-proxy b
add chain ip kube-proxy c
add rule ip kube-proxy pre jump a
add rule ip kube-proxy pre dnat to 10.2.2.2:80
add rule ip kube-proxy a goto b
add rule ip kube-proxy a dnat to 10.3.3.3:80
add rule ip kube-proxy b numgen random mod 4 vmap { 0 : goto c , 1 : drop , 2 : goto c , 3 : goto c }
add rule ip kube-proxy c return
"""  # noqa: E501 - nft rules kept one a line, as nft writes them


def test_nftables_goto_returns_to_the_caller_of_the_caller() -> None:
    """``goto b`` from ``a``: when ``b`` (or ``c``) returns, ``a`` is done too, so the
    packet resumes in ``pre`` (10.2.2.2), never reaching ``a``'s DNAT to 10.3.3.3."""
    t = trace_text(NFT_GOTO, "nftables", Packet(POD, "172.30.0.1", 80), [])
    assert t.endpoints == {"10.2.2.2:80": pytest.approx(0.75)}
    assert t.dropped == pytest.approx(0.25)
    assert {o.verdict for o in t.outcomes} == {DNAT, DROP}


def test_unknown_rule_text_is_refused() -> None:
    with pytest.raises(TraceError):
        trace_text(
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING --frobnicate 1 -j ACCEPT\nCOMMIT\n",
            "iptables",
            Packet(POD, "1.1.1.1", 80),
            [],
        )
    with pytest.raises(TraceError):
        trace_text(
            "add chain ip kube-proxy pre { type nat hook prerouting priority -100 ; }\n"
            "add rule ip kube-proxy pre frobnicate\n",
            "nftables",
            Packet(POD, "1.1.1.1", 80),
            [],
        )
    with pytest.raises(TraceError):
        trace_text("", "ipvs", Packet(POD, "1.1.1.1", 80), [])


# TestTracePacket's flows (pkg/proxy/iptables/proxier_test.go), run here over upstream's own
# expected output of TestOverall{IPTables,NFTables}Rules rather than over our rendering.
TRACE_PACKET_FLOWS = (
    ("no match", "10.0.0.2", "10.0.0.3", 80, "", False),
    ("single endpoint", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", False),
    ("multiple endpoints", "10.0.0.2", "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80", False),
    ("LOCAL, KUBE-MARK-MASQ", "192.168.0.2", "192.168.99.22", 80, "10.180.0.2:80", True),
    ("DROP", "203.0.113.2", "192.168.99.22", 80, "DROP", False),
    ("REJECT", "10.0.0.2", "172.30.0.46", 80, "REJECT", False),
    ("blocked by LoadBalancerSourceRanges", "203.0.113.130", "5.6.7.8", 80, "DROP", False),
)


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize(
    ("name", "src", "dst", "port", "output", "masq"),
    TRACE_PACKET_FLOWS,
    ids=[f[0] for f in TRACE_PACKET_FLOWS],
)
def test_upstream_expected_text(
    mode: str, name: str, src: str, dst: str, port: int, output: str, masq: bool
) -> None:
    from routing.tests.engine.rules.upstream_expected import IPTABLES_OVERALL, NFTABLES_OVERALL

    text = IPTABLES_OVERALL if mode == "iptables" else NFTABLES_OVERALL
    t = trace_text(
        text, mode, Packet(src, dst, port), ["192.168.0.2", "192.168.1.2", "192.168.99.11"]
    )
    assert t.output() == output
    assert t.masquerade is masq


def test_health_check_node_port_accepted_by_upstream_iptables_text() -> None:
    """TestTracePacket's "ACCEPT (NodePortHealthCheck)" (iptables only: nftables kube-proxy
    writes no accept rule for it)."""
    from routing.tests.engine.rules.upstream_expected import IPTABLES_OVERALL

    t = trace_text(
        IPTABLES_OVERALL, "iptables", Packet("192.168.0.2", "192.168.0.2", 30000), ["192.168.0.2"]
    )
    assert t.output() == "ACCEPT"
