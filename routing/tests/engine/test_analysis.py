"""Cluster-wide analysis: behaviour tables (aggregates and findings on small clusters).

Expected figures are worked out by hand from the picture in each case's docstring and the
upstream rule it cites; ``test_analysis_properties`` separately holds every aggregate equal
to ``simulate`` asked from each node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from routing.engine.analysis import Report, analyze
from routing.engine.analysis.text import render_text
from routing.engine.kube import snapshot_from_objects
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


def nodes(count: int, zones: tuple[str, ...] = ("a", "b", "c"), **kw: Any) -> list[dict]:
    """``n1``..``nN`` spread round-robin over ``zones``."""
    return [node_obj(f"n{i}", zone=zones[(i - 1) % len(zones)], **kw) for i in range(1, count + 1)]


def eps(*placements: tuple[str, str | None], **cond: Any) -> list[dict]:
    """Endpoints ``(pod name, node)``; IPs 10.0.0.1, 10.0.0.2, … in order."""
    return [
        endpoint_obj(f"10.0.0.{i}", node, pod=f"default/{pod}", **cond)
        for i, (pod, node) in enumerate(placements, 1)
    ]


@dataclass(frozen=True)
class Case:
    """One behaviour: a small cluster, the source class looked at, what must come out."""

    name: str
    cite: str
    objects: Callable[[], list[dict]]
    source: str = "pod"
    stats: dict = field(default_factory=dict)
    findings: tuple[tuple[str, str], ...] = ()
    absent: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict)


def _itp_local() -> list[dict]:
    """9 nodes, 3 zones; web pods only on n1, n2, n3.

    n1 n2 n3 | n4 … n9
    web web web | (none)  -> pods on n4..n9 calling web time out
    """
    return [
        *nodes(9),
        service_obj("web", itp="Local"),
        slice_obj("web", eps(("web-1", "n1"), ("web-2", "n2"), ("web-3", "n3"))),
    ]


def _etp_local_lb() -> list[dict]:
    """LoadBalancer, eTP=Local. n2 runs web-7; n5 runs web-1, web-2, web-3.

    LB -> n2 (1/2) -> web-7            = 1/2
       -> n5 (1/2) -> web-1/2/3 1/6 each -> web-7 takes 3x
    """
    return [
        *nodes(5),
        service_obj("web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.10"], hc_port=31000),
        slice_obj("web", eps(("web-7", "n2"), ("web-1", "n5"), ("web-2", "n5"), ("web-3", "n5"))),
    ]


def _no_ready() -> list[dict]:
    return [
        *nodes(3),
        service_obj("web"),
        slice_obj(
            "web",
            eps(("web-1", "n1"), ("web-2", "n2"), ready=False, serving=False, terminating=False),
        ),
    ]


def _only_terminating() -> list[dict]:
    return [
        *nodes(3),
        service_obj("web"),
        slice_obj(
            "web",
            eps(("web-1", "n1"), ("web-2", "n2"), ready=False, serving=True, terminating=True),
        ),
    ]


def _hint_missing() -> list[dict]:
    """PreferClose, but the ready endpoint on n2 carries no zone hint: no filtering anywhere."""
    return [
        *nodes(3),
        service_obj("web", distribution="PreferClose"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.0.0.1", "n1", zones=("a",), pod="default/web-1"),
                endpoint_obj("10.0.0.2", "n2", pod="default/web-2"),
            ],
        ),
    ]


def _hints_ok() -> list[dict]:
    """Two zones, every endpoint hinted for its own zone.

    zone a: n1 (web-1)  n3        zone b: n2 (web-2)  n4
    """
    return [
        *nodes(4, zones=("a", "b")),
        service_obj("web", distribution="PreferClose"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.0.0.1", "n1", zones=("a",), pod="default/web-1"),
                endpoint_obj("10.0.0.2", "n2", zones=("b",), pod="default/web-2"),
            ],
        ),
    ]


def _nodeport(etp: str) -> Callable[[], list[dict]]:
    def build() -> list[dict]:
        return [
            *nodes(3),
            service_obj("web", type="NodePort", etp=etp),
            slice_obj("web", eps(("web-1", "n1"), ("web-2", "n2"))),
        ]

    return build


def _cross_zone() -> list[dict]:
    """Zones a (n1, n3) and b (n2, n4); both pods on n1.

    n1: same node   n3: same zone   n2, n4: cross zone   -> 1/4, 1/4, 1/2
    """
    return [
        *nodes(4, zones=("a", "b")),
        service_obj("web"),
        slice_obj("web", eps(("web-1", "n1"), ("web-2", "n1"))),
    ]


def _lb_excluded() -> list[dict]:
    """eTP=Local; the only pod runs on n1, which is excluded from LB backends.

    No backend passes the health check -> the LB fails open to n2, n3, which drop.
    """
    return [
        node_obj("n1", zone="a", labels={EXCLUDE: ""}),
        node_obj("n2", zone="a"),
        node_obj("n3", zone="b"),
        service_obj("web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.10"]),
        slice_obj("web", eps(("web-1", "n1"))),
    ]


def _ipvs_local() -> list[dict]:
    return [
        *nodes(4),
        service_obj("web", type="NodePort", etp="Local"),
        slice_obj("web", eps(("web-1", "n1"))),
    ]


def _short_circuit() -> list[dict]:
    """eTP=Local and iTP=Local NodePort; one pod on n1. A pod on any node calling its own
    node's NodePort is short-circuited to the cluster-wide set, never dropped."""
    return [
        *nodes(4),
        service_obj("web", type="NodePort", etp="Local", itp="Local"),
        slice_obj("web", eps(("web-1", "n1"))),
    ]


CASES = (
    Case(
        "iTP=Local: calls from nodes without a local endpoint are dropped",
        "semantics §3.1; upstream TestInternalTrafficPolicyE2E",
        _itp_local,
        stats={
            "nodes": 9,
            "drop_nodes": 6,
            "forward_nodes": 3,
            "dropped": 6 / 9,
            "refused": 0.0,
            "drop_reason": "LOCAL_NO_ENDPOINT_ON_NODE",
            "client_ip_preserved": 1.0,
            "imbalance": 1.0,
        },
        findings=(("ITP_LOCAL_DROPS", "calls from pods on 6 of 9 nodes are dropped"),),
    ),
    Case(
        "eTP=Local: the load balancer splits per node, so one pod takes 3x",
        "web create-external-load-balancer 'Caveats'; semantics §5, §6.1",
        _etp_local_lb,
        source="lb",
        stats={
            "nodes": 2,
            "dropped": 0.0,
            "client_ip_preserved": 1.0,
            "imbalance": 2.0,
            "shares": {"10.0.0.1": 0.5, "10.0.0.2": 1 / 6, "10.0.0.3": 1 / 6, "10.0.0.4": 1 / 6},
        },
        findings=(
            (
                "ETP_LOCAL_IMBALANCE",
                "imbalance 2.00× (load-balancer clients): pod web-7 on n2 takes 50%",
            ),
        ),
        absent=("CLIENT_IP_LOST",),
    ),
    Case(
        "no ready endpoint anywhere: every connection is refused",
        "semantics §4; upstream iptables 'has no endpoints' REJECT rule",
        _no_ready,
        stats={
            "reject_nodes": 3,
            "dropped": 1.0,
            "refused": 1.0,
            "drop_reason": "NO_ENDPOINTS_REJECT",
        },
        findings=(
            ("NO_READY_ENDPOINTS", "none ready or serving-terminating): connections are refused"),
        ),
    ),
    Case(
        "only terminating endpoints: served by the terminating fallback",
        "semantics §2.2; upstream TestTerminatingEndpointsTrafficPolicyCluster",
        _only_terminating,
        stats={"dropped": 0.0, "shares": {"10.0.0.1": 0.5, "10.0.0.2": 0.5}},
        findings=(
            (
                "ONLY_TERMINATING_ENDPOINTS",
                "serving via the terminating fallback (2 serving-terminating",
            ),
        ),
    ),
    Case(
        "hints ignored when a ready endpoint has no zone hint",
        "TestCategorizeEndpoints 'missing hints, no filtering applied'",
        _hint_missing,
        stats={"shares": {"10.0.0.1": 0.5, "10.0.0.2": 0.5}},
        findings=(
            (
                "HINTS_IGNORED_ENDPOINT_WITHOUT_HINT",
                "hints ignored because ready endpoint 10.0.0.2:8080 has no zone hint",
            ),
        ),
    ),
    Case(
        "hints honoured: every call stays in its zone",
        "TestCategorizeEndpoints 'hints enabled, hints annotation == auto'",
        _hints_ok,
        stats={"locality": {"same_node": 0.5, "same_zone": 0.5, "cross_zone": 0.0, "unknown": 0.0}},
        absent=("HINTS_IGNORED_ENDPOINT_WITHOUT_HINT", "CROSS_ZONE_COST"),
    ),
    Case(
        "eTP=Cluster: client IP lost on every external path",
        "semantics §5 (2); upstream TestInternalExternalMasquerade",
        _nodeport("Cluster"),
        source="external",
        stats={"client_ip_preserved": 0.0, "dropped": 0.0},
        findings=(("CLIENT_IP_LOST", "client IP lost on every external path"),),
    ),
    Case(
        "eTP=Local NodePort: clients at nodes without a pod are dropped, client IP kept",
        "semantics §3.2; upstream TestOnlyLocalNodePorts",
        _nodeport("Local"),
        source="external",
        stats={"drop_nodes": 1, "dropped": 1 / 3, "client_ip_preserved": 1.0},
        findings=(("ETP_LOCAL_DROPS", "external connections on 1 of 3 nodes are dropped"),),
        absent=("CLIENT_IP_LOST",),
    ),
    Case(
        "IPVS iTP=Local ClusterIP: nodes without a local endpoint refuse (empty virtual server)",
        "semantics §7.3; candidates.path_for IPVS Local fallback",
        _itp_local,
        overrides={"proxy_mode": "ipvs"},
        stats={"drop_nodes": 0, "reject_nodes": 6, "dropped": 6 / 9, "refused": 6 / 9},
        findings=(("ITP_LOCAL_DROPS", "calls from pods on 6 of 9 nodes are refused"),),
    ),
    Case(
        "pods calling their own NodePort are short-circuited, even with iTP=Local",
        "semantics §3.3; upstream TestInternalExternalMasquerade",
        _short_circuit,
        source="pod-external",
        stats={"dropped": 0.0, "client_ip_preserved": 1.0, "shares": {"10.0.0.1": 1.0}},
    ),
    Case(
        "cross-zone share and its monthly bill",
        "costmodel defaults: 100 req/s x (2,048 + 16,384) B, 0.01 USD/GB, 30-day month",
        _cross_zone,
        stats={
            "locality": {"same_node": 0.25, "same_zone": 0.25, "cross_zone": 0.5, "unknown": 0.0},
            "cost_usd_per_month": 100 * 0.5 * 18432 * 2_592_000 / 1e9 * 0.01,
        },
        findings=(
            (
                "CROSS_ZONE_COST",
                "50% of pod calls cross a zone: this port's cross-zone bill is $23.89/month",
            ),
        ),
    ),
    Case(
        "LB with no healthy backend fails open and the Local nodes drop",
        "lb.py model (AWS NLB / GCP fail open); semantics §6.1",
        _lb_excluded,
        source="lb",
        stats={"nodes": 2, "dropped": 1.0, "lb_fail_open": True},
        findings=(("LB_NO_HEALTHY_NODE", "fails open to all 2 nodes"),),
    ),
    Case(
        "IPVS forwards eTP=Local traffic off-node instead of dropping",
        "semantics §7.3 (kubernetes#97081)",
        _ipvs_local,
        source="external",
        overrides={"proxy_mode": "ipvs"},
        # pkg/proxy/ipvs/proxier.go: no SNAT for eTP=Local, so the 3 fallback nodes' replies
        # are lost: forwarded (dropped 0) yet 75% effectively dropped, as simulate says.
        stats={
            "dropped": 0.0,
            "ipvs_fallback_nodes": 3,
            "shares": {"10.0.0.1": 1.0},
            "replies_lost": 0.75,
            "effective_dropped": 0.75,
        },
        findings=(
            ("IPVS_LOCAL_FALLBACK", "IPVS: 3 of 4 nodes have no local endpoint"),
            ("IPVS_LOCAL_FALLBACK", "75% of connections forwarded but not working"),
        ),
        absent=("ETP_LOCAL_DROPS",),
    ),
)


def _report(case: Case) -> Report:
    return analyze(snapshot_from_objects(case.objects(), **case.overrides))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_behaviour(case: Case) -> None:
    report = _report(case)
    row = report.row("default/web")
    assert row is not None
    stats = row.source(case.source)
    assert stats is not None, f"source {case.source} missing"
    for name, expected in case.stats.items():
        if name == "shares":
            got = {e.ip: e.share for e in stats.endpoints}
            assert got == pytest.approx(expected), name
        elif isinstance(expected, (float, dict)):
            assert getattr(stats, name) == pytest.approx(expected), name
        else:
            assert getattr(stats, name) == expected, name
    codes = {f.code: f for f in report.findings}
    for code, text in case.findings:
        assert code in codes, f"missing finding {code}; got {sorted(codes)}"
        assert text in codes[code].message
    for code in case.absent:
        assert code not in codes


def test_findings_are_ranked_by_impact() -> None:
    """A critical drop outranks an info about lost client IPs; ties are stable."""
    objects = [
        *nodes(3),
        service_obj("drops", itp="Local"),
        slice_obj("drops", eps(("d-1", "n1"))),
        service_obj("masq", type="NodePort", cluster_ip="10.96.0.11"),
        slice_obj("masq", eps(("m-1", "n1"), ("m-2", "n2"))),
    ]
    report = analyze(snapshot_from_objects(objects))
    impacts = [f.impact for f in report.findings]
    assert impacts == sorted(impacts, reverse=True)
    assert report.findings[0].code == "ITP_LOCAL_DROPS"
    assert report.findings[0].impact == pytest.approx(2 / 3)
    assert report.findings[-1].severity == "info"


def test_report_json_and_text_shapes() -> None:
    report = _report(CASES[0])
    data = report.to_json(endpoints=True)
    assert data["summary"]["nodes"] == 9 and data["summary"]["service_ports"] == 1
    (svc,) = data["services"]
    assert svc["service"] == "default/web" and svc["policies"]["internalTrafficPolicy"] == "Local"
    assert svc["endpoints"] == {"total": 3, "ready": 3, "terminating": 0}
    assert svc["nodes"] == {"hosting": 3, "covered": 3, "total": 9}
    pod = svc["sources"][0]
    assert pod["actions"] == {"forward": 3, "drop": 6, "reject": 0}
    assert [e["ip"] for e in pod["endpoints"]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert sum(e["share"] for e in pod["endpoints"]) + pod["dropped"] == pytest.approx(1.0)
    assert data["findings"][0]["code"] == "ITP_LOCAL_DROPS"
    text = render_text(report)
    assert "default/web:http" in text and "ITP_LOCAL_DROPS" in text and "3/9" in text
    # The head (what a paged body reads besides its rows) renders no row and equals
    # to_json's parts.
    fresh = _report(CASES[0])
    head = fresh.head_json()
    assert not fresh._rows_json
    assert head == {k: data[k] for k in ("summary", "cost_model", "notes")}


def test_headless_and_externalname_services_are_skipped() -> None:
    headless = service_obj("db", cluster_ip="None")
    external = service_obj("ext", cluster_ip="")
    external["spec"] = {"type": "ExternalName", "externalName": "example.com"}
    report = analyze(
        snapshot_from_objects(
            [
                *nodes(2),
                headless,
                external,
                service_obj("web", cluster_ip="10.96.0.12"),
                slice_obj("web", eps(("w", "n1"))),
            ]
        )
    )
    assert [r.service for r in report.rows] == ["default/web"]
    assert report.services == 3


def test_a_cluster_without_nodes_reports_the_lb_has_no_backend() -> None:
    report = analyze(
        snapshot_from_objects(
            [
                service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"]),
                slice_obj("web", eps(("w", None))),
            ]
        )
    )
    assert report.nodes == 0
    assert [f.code for f in report.findings] == ["LB_NO_BACKEND_NODE"]
    assert any("no Node in the snapshot" in n for n in report.notes)


def test_prefer_same_node_counts_nodes_per_topology_mode() -> None:
    """PreferSameNode hints (forNodes + forZones, KEP-3015): n1 and n2 are hinted by name and
    use same-node mode, n3 (zone a is hinted) same-zone mode, n4 (zone b, no hint) none.

    zone a: n1 (web-1)  n2 (web-2)  n3        zone b: n4
    """
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="a"),
        node_obj("n3", zone="a"),
        node_obj("n4", zone="b"),
        service_obj("web", distribution="PreferSameNode"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.0.0.1", "n1", zones=("a",), nodes=("n1",), pod="default/web-1"),
                endpoint_obj("10.0.0.2", "n2", zones=("a",), nodes=("n2",), pod="default/web-2"),
            ],
        ),
    ]
    row = analyze(snapshot_from_objects(objects)).row("default/web")
    assert row is not None
    assert row.topology == {"PreferSameNode": 2, "PreferSameZone": 1, "": 1}
    pod = row.source("pod")
    assert pod is not None
    # n1 -> web-1, n2 -> web-2 (same node); n3 -> both (same zone); n4 -> both (cross zone).
    assert pod.locality == pytest.approx(
        {"same_node": 0.5, "same_zone": 0.25, "cross_zone": 0.25, "unknown": 0.0}
    )


def test_narrowed_copies_do_not_share_the_rows_json_cache() -> None:
    from dataclasses import replace

    objects = [
        *nodes(2),
        service_obj("web"),
        slice_obj("web", eps(("w", "n1"))),
        service_obj("api", cluster_ip="10.96.0.11"),
        slice_obj("api", eps(("a", "n2"))),
    ]
    report = analyze(snapshot_from_objects(objects))
    assert len(report.to_json()["services"]) == 2
    narrowed = replace(report, rows=report.rows[:1])
    assert [s["service"] for s in narrowed.to_json()["services"]] == ["default/api"]
    assert len(report.to_json()["services"]) == 2
