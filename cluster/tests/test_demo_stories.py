"""The demo's stories, told by the routing engine (the DESIGN.md simulate contract).

Each case is what a platform engineer should see when opening the demo: if the demo dump
or the engine drifts, the story stops being true and this fails.
"""

from __future__ import annotations

import pytest

from cluster.kube_dump import read_objects
from cluster.management.commands.load_demo import DEMO_DUMP
from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, simulate


@pytest.fixture(scope="module")
def snapshot():
    return snapshot_from_objects(read_objects(DEMO_DUMP))


def _ask(snapshot, service, source, **kwargs):
    return simulate(snapshot, Question(service=service, source=source, **kwargs)).to_json()


def _shares(answer):
    return {
        e["node"]: round(sum(x["share"] for x in answer["endpoints"] if x["node"] == e["node"]), 3)
        for e in answer["endpoints"]
    }


def test_checkout_local_lb_sends_half_the_traffic_to_one_pod(snapshot):
    answer = _ask(snapshot, "shop/checkout", "lb")
    assert answer["action"] == "forward" and answer["client_ip_preserved"] is True
    per_pod = sorted(round(e["share"], 3) for e in answer["endpoints"])
    assert per_pod == [0.167, 0.167, 0.167, 0.5]


def test_cache_local_drops_calls_from_nodes_without_a_cache_pod(snapshot):
    assert _ask(snapshot, "shop/cache", "pod:node-c1")["action"] == "drop"
    answer = _ask(snapshot, "shop/cache", "pod:node-a1")
    assert answer["action"] == "forward" and {e["node"] for e in answer["endpoints"]} == {"node-a1"}


def test_dns_stays_in_zone_except_on_the_zoneless_node(snapshot):
    in_zone = _ask(snapshot, "kube-system/kube-dns", "pod:node-a1", port="dns")
    assert {e["zone"] for e in in_zone["endpoints"]} == {"eu-west-1a"}
    zoneless = _ask(snapshot, "kube-system/kube-dns", "pod:edge-1", port="dns")
    assert len(zoneless["endpoints"]) == 3
    assert any("edge-1" in line and "zone" in line for line in zoneless["explain"])


def test_terminating_only_payments_still_answer_and_crashing_recommendations_reject(snapshot):
    payments = _ask(snapshot, "shop/payments", "pod:node-b2")
    assert payments["action"] == "forward" and len(payments["endpoints"]) == 2
    assert _ask(snapshot, "shop/recommendations", "pod:node-b2")["action"] == "reject"
