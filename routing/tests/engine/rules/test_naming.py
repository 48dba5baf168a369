"""Chain names against names that appear in upstream kube-proxy's expected dumps.

Sources: pkg/proxy/iptables/proxier_test.go (TestOverallIPTablesRules) and
pkg/proxy/nftables/proxier_test.go (TestOverallNFTablesRules).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.rules import naming


@dataclass(frozen=True)
class Case:
    name: str
    got: str
    expected: str


CASES = (
    Case(
        "SVC for a named port", naming.svc_chain("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O"
    ),
    Case(
        "SVC for another service",
        naming.svc_chain("ns4/svc4:p80", "tcp"),
        "KUBE-SVC-4SW47YFZTEDKD3PK",
    ),
    Case(
        "EXT shares the SVC suffix",
        naming.ext_chain("ns2/svc2:p80", "tcp"),
        "KUBE-EXT-GNZBNJ2PO5MGZ6GT",
    ),
    Case(
        "FW shares the SVC suffix",
        naming.fw_chain("ns5/svc5:p80", "tcp"),
        "KUBE-FW-NUKIZ6OKUXPJNT4C",
    ),
    Case(
        "SVL shares the SVC suffix",
        naming.svl_chain("ns5/svc5:p80", "tcp"),
        "KUBE-SVL-NUKIZ6OKUXPJNT4C",
    ),
    Case(
        "protocol is lower-cased",
        naming.svc_chain("ns1/svc1:p80", "TCP"),
        "KUBE-SVC-XPGD46QRK7WJZT7O",
    ),
    Case(
        "SEP hashes ip:port",
        naming.sep_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
        "KUBE-SEP-SXIVWICOYRO3J4NJ",
    ),
    Case(
        "SEP with affinity endpoint",
        naming.sep_chain("ns5/svc5:p80", "tcp", "10.180.0.3:80"),
        "KUBE-SEP-I77PXRDZVX7PMWMN",
    ),
    Case(
        "unnamed port drops the colon",
        naming.svc_chain(naming.service_port_name("ns1", "svc1", ""), "tcp"),
        "KUBE-SVC-AQI2S6QIMU7PVVRP",
    ),
    Case(
        "nft service base",
        "service-" + naming.nft_service_base("ns1", "svc1", "tcp", "p80"),
        "service-ULMVA6XW-ns1/svc1/tcp/p80",
    ),
    Case(
        "nft endpoint base",
        "endpoint-" + naming.nft_endpoint_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80),
        "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
    ),
    Case(
        "nft affinity set",
        "affinity-" + naming.nft_endpoint_base("ns5", "svc5", "tcp", "p80", "10.180.0.3", 80),
        "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80",
    ),
    Case(
        "IPv6 endpoint string is bracketed", naming.endpoint_string("fd00::1", 80), "[fd00::1]:80"
    ),
    Case(
        "IPv6 colons become dots in nft names",
        naming.nft_endpoint_base("a", "b", "tcp", "p", "fd00::1", 80).split("-", 1)[1],
        "a/b/tcp/p__fd00..1/80",
    ),
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_chain_names_match_upstream(case: Case) -> None:
    assert case.got == case.expected


def test_long_nft_names_are_cut_to_240_with_an_ellipsis() -> None:
    base = naming.nft_service_base("n" * 63, "s" * 63, "sctp", "p" * 63)
    assert len(base) <= 240
    long = naming.nft_endpoint_base(
        "n" * 63, "s" * 63, "sctp", "p" * 63, "fd00:1111:2222:3333:4444:5555:6666:7777", 65535
    )
    assert len(long) == 240 and long.endswith("...")


def test_iptables_names_fit_the_28_character_limit() -> None:
    assert len(naming.sep_chain("x" * 200, "sctp", "1.2.3.4:5")) == 25


@pytest.mark.parametrize(
    "text", ["", "ns1/svc1:p80tcp", "kube-system/kube-dns:dns-tcptcp10.244.5.11:53", "x" * 300]
)
def test_fast_base32_prefix_equals_full_base32(text: str) -> None:
    import base64
    import hashlib

    full = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()
    assert naming._b32(text, 16) == full[:16]
    assert naming._b32(text, 8) == full[:8]
