"""simulate(): the DESIGN.md answer contract, the cloud-LB model, locality, cost, imbalance."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from routing.engine.costmodel import CostModel, Traffic
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import diff_answers
from routing.engine.simulate import Question, QuestionError, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

CONTRACT_KEYS = {
    "service",
    "port",
    "source",
    "to",
    "proxy_mode",
    "action",
    "dropped",
    "drop_reason",
    "client_ip_preserved",
    "endpoints",
    "explain",
}


def snap(*nodes: dict, services: list[tuple[dict, list[dict]]], **overrides: object):
    objects = list(nodes)
    for service, endpoints in services:
        objects += [service, slice_obj(service["metadata"]["name"], endpoints)]
    return snapshot_from_objects(objects, **overrides)


THREE = (node_obj("n1", zone="a"), node_obj("n2", zone="a"), node_obj("n3", zone="b"))
WEB = [
    endpoint_obj("10.1.0.11", "n1"),
    endpoint_obj("10.1.0.12", "n1"),
    endpoint_obj("10.3.0.31", "n3"),
]


def test_answer_has_exactly_the_documented_shape() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    answer = simulate(s, Question(service="default/web", source="pod:n1")).to_json()
    assert set(answer) >= CONTRACT_KEYS
    assert answer["source"] == {"kind": "pod", "node": "n1"}
    assert (
        answer["to"] == "clusterip"
        and answer["port"] == "http"
        and answer["proxy_mode"] == "iptables"
    )
    assert all(set(e) == {"ip", "node", "zone", "share"} for e in answer["endpoints"])
    assert [e["ip"] for e in answer["endpoints"]] == sorted(e["ip"] for e in answer["endpoints"])
    assert math.isclose(
        sum(e["share"] for e in answer["endpoints"]) + answer["dropped"], 1.0, abs_tol=1e-9
    )
    assert all(isinstance(line, str) and ": " in line for line in answer["explain"])


def test_thirds_are_rounded_to_six_decimals_and_still_sum_to_one() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    shares = [
        e["share"]
        for e in simulate(s, Question(service="default/web", source="pod:n2")).to_json()[
            "endpoints"
        ]
    ]
    assert sorted(shares) == [0.333333, 0.333333, 0.333334]
    assert round(sum(shares) * 1_000_000) == 1_000_000


def test_lb_with_local_policy_balances_per_node_not_per_pod() -> None:
    """upstream docs create-external-load-balancer "Caveats": n1 (2 pods) and n3 (1 pod) each get
    half."""
    service = service_obj(
        "web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.1"], hc_port=32000
    )
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]), Question(service="default/web", source="lb")
    ).to_json()
    assert {e["ip"]: e["share"] for e in answer["endpoints"]} == {
        "10.1.0.11": 0.25,
        "10.1.0.12": 0.25,
        "10.3.0.31": 0.5,
    }
    assert answer["imbalance"] == 1.5
    assert [n["node"] for n in answer["ingress_nodes"]] == ["n1", "n3"]
    assert answer["client_ip_preserved"] is True and answer["locality"]["same_node"] == 1.0


def test_lb_with_cluster_policy_uses_every_ready_node_and_snats() -> None:
    service = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"])
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]), Question(service="default/web", source="lb")
    ).to_json()
    assert len(answer["ingress_nodes"]) == 3
    assert sorted(e["share"] for e in answer["endpoints"]) == [0.333333, 0.333333, 0.333334]
    assert answer["client_ip_preserved"] is False


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (node_obj("n2", zone="a", ready=False), {"n1", "n3"}),
        (
            node_obj(
                "n2",
                zone="a",
                labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""},
            ),
            {"n1", "n3"},
        ),
        (node_obj("n2", zone="a", deleting=True), {"n1", "n3"}),
        (node_obj("n2", zone="a", unschedulable=True), {"n1", "n2", "n3"}),
    ],
    ids=[
        "NotReady fails kube-proxy healthz",
        "exclusion label",
        "being deleted",
        "cordoned stays in",
    ],
)
def test_lb_node_set(node: dict, expected: set[str]) -> None:
    service = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"])
    s = snap(THREE[0], node, THREE[2], services=[(service, WEB)])
    answer = simulate(s, Question(service="default/web", source="lb")).to_json()
    assert {n["node"] for n in answer["ingress_nodes"]} == expected


def test_lb_health_check_ignores_terminating_local_endpoints() -> None:
    """service_health.go counts Ready local endpoints only: a node whose pod is terminating
    fails."""
    service = service_obj(
        "web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.1"], hc_port=32000
    )
    eps = [
        endpoint_obj("10.1.0.11", "n1", ready=False, serving=True, terminating=True),
        endpoint_obj("10.3.0.31", "n3"),
    ]
    answer = simulate(
        snap(*THREE, services=[(service, eps)]), Question(service="default/web", source="lb")
    ).to_json()
    assert [n["node"] for n in answer["ingress_nodes"]] == ["n3"]
    assert [e["ip"] for e in answer["endpoints"]] == ["10.3.0.31"]


def test_lb_fails_open_when_no_node_passes() -> None:
    service = service_obj(
        "web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.1"], hc_port=32000
    )
    eps = [endpoint_obj("10.1.0.11", "n1", ready=False, serving=True, terminating=True)]
    answer = simulate(
        snap(*THREE, services=[(service, eps)]), Question(service="default/web", source="lb")
    ).to_json()
    assert len(answer["ingress_nodes"]) == 3
    # n1 still routes to its terminating pod; n2 and n3 drop.
    assert answer["endpoints"][0]["ip"] == "10.1.0.11"
    assert answer["dropped"] == pytest.approx(2 / 3, abs=1e-6) and answer["action"] == "forward"
    assert any(line.startswith("LB_NO_HEALTHY_NODE") for line in answer["explain"])


def test_locality_latency_and_cost_follow_the_model() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    model = CostModel(
        same_node_ms=1,
        same_zone_ms=2,
        cross_zone_ms=10,
        traffic=Traffic(request_rate=10, request_bytes=500, response_bytes=500),
        price_per_gb=1.0,
    )
    answer = simulate(s, Question(service="default/web", source="pod:n2"), model=model).to_json()
    assert answer["locality"] == {
        "same_node": 0.0,
        "same_zone": 0.666667,
        "cross_zone": 0.333333,
        "unknown": 0.0,
    }
    assert answer["latency_ms"]["expected"] == pytest.approx((2 * 2 + 10) / 3, abs=1e-3)
    assert answer["cost"]["cross_zone_bytes_per_s"] == pytest.approx(10 * 1000 / 3, abs=1e-3)
    assert answer["cost"]["usd_per_month"] == pytest.approx(
        10 * 1000 / 3 * 30 * 24 * 3600 / 1e9, abs=1e-4
    )
    assert answer["zones"] == {"a": 0.666667, "b": 0.333333}


def test_session_affinity_keeps_shares_and_says_why() -> None:
    s = snap(*THREE, services=[(service_obj("web", affinity="ClientIP"), WEB)])
    answer = simulate(s, Question(service="default/web", source="pod:n2")).to_json()
    assert len(answer["endpoints"]) == 3
    assert answer["session_affinity"] == {"timeout_seconds": 10800}
    assert any(line.startswith("SESSION_AFFINITY") for line in answer["explain"])


def test_question_overrides_apply_only_to_that_answer() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    local = simulate(
        s,
        Question(
            service="default/web", source="pod:n2", overrides={"internalTrafficPolicy": "Local"}
        ),
    )
    assert local.action == "drop"
    assert simulate(s, Question(service="default/web", source="pod:n2")).action == "forward"


def test_mixed_mode_cluster_uses_each_nodes_mode() -> None:
    s = snap(
        *THREE,
        services=[(service_obj("web", type="NodePort", etp="Local"), WEB)],
        node_proxy_modes={"n2": "ipvs"},
    )
    ipvs = simulate(s, Question(service="default/web", source="external:n2")).to_json()
    iptables = simulate(s, Question(service="default/web", source="external:n1")).to_json()
    assert ipvs["proxy_mode"] == "ipvs" and ipvs["action"] == "forward"
    assert iptables["proxy_mode"] == "iptables"


def test_version_from_nodes_decides_hint_rules() -> None:
    """Before 1.31 the topology annotation was required (KEP-4444); nodes say 1.29 here."""
    nodes = (
        node_obj("n1", zone="a", version="v1.29.4"),
        node_obj("n3", zone="b", version="v1.29.4"),
    )
    eps = [
        endpoint_obj("10.1.0.11", "n1", zones=("a",)),
        endpoint_obj("10.3.0.31", "n3", zones=("b",)),
    ]
    s = snap(*nodes, services=[(service_obj("web"), eps)])
    assert (
        len(simulate(s, Question(service="default/web", source="pod:n1")).to_json()["endpoints"])
        == 2
    )
    s135 = snap(*nodes, services=[(service_obj("web"), eps)], version="1.35")
    assert [
        e["ip"]
        for e in simulate(s135, Question(service="default/web", source="pod:n1")).to_json()[
            "endpoints"
        ]
    ] == ["10.1.0.11"]


@pytest.mark.parametrize(
    ("question", "message"),
    [
        (Question(service="default/nope", source="pod:n1"), "unknown service"),
        (Question(service="default/web", source="pod:n9"), "unknown node"),
        (Question(service="default/web", source="pod:n1", port="grpc"), "has no port"),
        (Question(service="default/web", source="mars"), "is not pod:NODE"),
        (Question(service="default/web", source="pod:n1", to="wormhole"), "destination"),
        (Question(service="default/web", source="pod:n1", to="nodeport"), "no nodePort"),
        (Question(service="default/web", source="lb"), "not LoadBalancer"),
    ],
    ids=["service", "node", "port", "source", "dest", "no nodeport", "no lb"],
)
def test_bad_questions_raise_one_line(question: Question, message: str) -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    with pytest.raises(QuestionError, match=message) as err:
        simulate(s, question)
    assert "\n" not in str(err.value)


def test_pod_to_uncaptured_lb_comes_back_through_node_ports() -> None:
    """semantics §1.1: hostname / ipMode Proxy ingress gets no node rules; the LB sends the
    packet to a NodePort, where the pod source IP matches the short-circuit rule."""
    service = service_obj("web", type="LoadBalancer", etp="Local", hc_port=32000)
    service["status"]["loadBalancer"]["ingress"] = [{"hostname": "web.elb.example.com"}]
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]),
        Question(service="default/web", source="pod:n2", to="loadbalancer"),
    ).to_json()
    assert {e["ip"] for e in answer["endpoints"]} == {"10.1.0.11", "10.1.0.12", "10.3.0.31"}
    assert answer["source"] == {"kind": "pod", "node": "n2"}
    assert any(line.startswith("LB_NOT_CAPTURED") for line in answer["explain"])


@pytest.mark.parametrize(
    ("service", "question", "code"),
    [
        (
            service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"]) | {},
            Question(service="default/web", source="lb"),
            None,
        ),
        (
            service_obj("web"),
            # observed, not a what-if: the dump says userspace on 1.35 (a what-if is refused)
            Question(service="default/web", source="pod:n1"),
            "MODE_NOT_IN_RELEASE",
        ),
        (
            service_obj("web", type="NodePort", etp="Local"),
            Question(service="default/web", source="external:n2", proxy_mode="ipvs"),
            "IPVS_FALLBACK_REPLY_LOST",
        ),
    ],
    ids=["no ranges, no note", "userspace on 1.35", "ipvs fallback for an outsider"],
)
def test_context_notes(service: dict, question: Question, code: str | None) -> None:
    overrides = {"proxy_mode": "userspace"} if code == "MODE_NOT_IN_RELEASE" else {}
    snapshot = snap(*THREE, services=[(service, WEB)], **overrides)
    explain = simulate(snapshot, question).to_json()["explain"]
    notes = {line.split(":")[0] for line in explain}
    if code is None:
        assert not notes & {"LB_SOURCE_RANGES", "MODE_NOT_IN_RELEASE", "IPVS_FALLBACK_REPLY_LOST"}
    else:
        assert code in notes


def test_lb_source_ranges_are_mentioned() -> None:
    service = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"])
    service["spec"]["loadBalancerSourceRanges"] = ["203.0.113.0/24 "]
    explain = simulate(
        snap(*THREE, services=[(service, WEB)]), Question(service="default/web", source="lb")
    ).to_json()["explain"]
    assert any(line.startswith("LB_SOURCE_RANGES") and "203.0.113.0/24" in line for line in explain)


def test_external_default_destination_is_the_address_the_port_has() -> None:
    service = service_obj("web", external_ips=["198.51.100.7"], etp="Local")
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]),
        Question(service="default/web", source="external:n3"),
    ).to_json()
    assert answer["to"] == "externalip"
    assert [e["ip"] for e in answer["endpoints"]] == ["10.3.0.31"]


def test_ten_equal_shares_sum_to_one_in_float_arithmetic() -> None:
    """0.1 * 10 sums to 0.9999999999999999 in floats; the answer moves one millionth."""
    eps = [endpoint_obj(f"10.0.0.{i}", "n1") for i in range(1, 11)]
    answer = simulate(
        snap(*THREE, services=[(service_obj("web"), eps)]),
        Question(service="default/web", source="pod:n1"),
    ).to_json()
    shares = [e["share"] for e in answer["endpoints"]]
    assert sum(shares) + answer["dropped"] == 1.0
    assert all(abs(s - 0.1) <= 1.0000001e-6 for s in shares)


def test_lb_without_any_backend_node_drops_everything() -> None:
    excluded = {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}
    nodes = (node_obj("n1", zone="a", labels=excluded), node_obj("n3", zone="b", deleting=True))
    service = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"])
    answer = simulate(
        snap(*nodes, services=[(service, WEB)]), Question(service="default/web", source="lb")
    ).to_json()
    assert (answer["action"], answer["dropped"], answer["drop_reason"]) == (
        "drop",
        1.0,
        "LB_NO_BACKEND_NODE",
    )
    assert answer["endpoints"] == []


def test_mixed_mode_lb_reports_the_preserved_share() -> None:
    """n1 in iptables keeps the client IP (eTP=Local); n3 in userspace always loses it."""
    service = service_obj(
        "web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.1"], hc_port=32000
    )
    s = snap(*THREE, services=[(service, WEB)], node_proxy_modes={"n3": "userspace"})
    answer = simulate(s, Question(service="default/web", source="lb")).to_json()
    assert answer["client_ip_preserved"] is False
    assert answer["client_ip_preserved_share"] == 0.5


def test_adapter_assumptions_close_the_explanation() -> None:
    answer = simulate(
        snap(*THREE, services=[(service_obj("web"), WEB)]),
        Question(service="default/web", source="pod:n1"),
    ).to_json()
    assert answer["explain"][-1].startswith(
        "SNAPSHOT_ASSUMPTION: no kube-system/kube-proxy ConfigMap"
    )


# --- forwarded is not working: outcome and effective_dropped (issue 11 item 7) ---------------
# Upstream pkg/proxy/ipvs/proxier.go: with externalTrafficPolicy=Local external traffic is
# not masqueraded, and an empty Local set makes IPVS program the Cluster set instead
# (kubernetes#97081). A remote pod then replies to the client from its own IP: lost.


def test_ipvs_local_fallback_to_remote_endpoints_is_forwarded_but_not_working() -> None:
    service = service_obj("web", type="NodePort", etp="Local")
    ask = Question(service="default/web", source="external:n2", proxy_mode="ipvs")
    answer = simulate(snap(*THREE, services=[(service, WEB)]), ask).to_json()
    assert (answer["action"], answer["dropped"]) == ("forward", 0.0)  # kube-proxy's verdict
    assert (answer["outcome"], answer["effective_dropped"]) == ("replies_lost", 1.0)
    assert any(line.startswith("IPVS_FALLBACK_REPLY_LOST") for line in answer["explain"])
    # iptables drops the same connections outright: same effective share, other outcome.
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]), replace(ask, proxy_mode=None)
    ).to_json()
    assert (answer["action"], answer["outcome"], answer["effective_dropped"]) == (
        "drop",
        "dropped",
        1.0,
    )
    # The node with an endpoint of its own keeps the client IP and gets its replies.
    answer = simulate(
        snap(*THREE, services=[(service, WEB)]), replace(ask, source="external:n1")
    ).to_json()
    assert (answer["outcome"], answer["effective_dropped"]) == ("ok", 0.0)


def test_a_what_if_to_ipvs_never_says_stops_dropping_when_replies_are_lost() -> None:
    """iptables drops eTP=Local NodePort traffic at n2 (no local endpoint); IPVS forwards it
    to the Cluster set without SNAT (pkg/proxy/ipvs/proxier.go, kubernetes#97081), whose
    replies are lost: the what-if stops no failure."""
    service = service_obj("web", type="NodePort", etp="Local")
    snapshot = snap(*THREE, services=[(service, WEB)])
    ask = Question(service="default/web", source="external:n2")
    diff = diff_answers(
        simulate(snapshot, ask), simulate(snapshot, replace(ask, proxy_mode="ipvs"))
    ).to_json()
    assert diff["action"] == {"before": "drop", "after": "forward"}
    assert diff["outcome"] == {"before": "dropped", "after": "replies_lost"}
    assert (diff["stops_dropping"], diff["newly_dropped"]) == (0.0, 0.0)
