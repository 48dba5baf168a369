"""What-if scenarios: validation, the control plane's follow-up, and answer diffs.

Behaviour table form: "from SOURCE to web under scenario S -> these endpoints". Cluster::

      zone a                 zone a           zone b
    | n1: web-1, web-2 |   | n2: -   |    | n3: web-3 |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from routing.engine.errors import ScenarioError
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario, diff_answers, sends_traffic
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import (
    endpoint_obj,
    node_obj,
    pod_obj,
    service_obj,
    slice_obj,
)
from routing.whatif.preview import preview
from routing.whatif.value import WhatIf


def cluster(version: str = "v1.35.0", distribution: str | None = None):
    nodes = [
        node_obj("n1", zone="a", version=version, pod_cidr="10.1.0.0/24"),
        node_obj("n2", zone="a", version=version, pod_cidr="10.2.0.0/24"),
        node_obj("n3", zone="b", version=version, pod_cidr="10.3.0.0/24"),
    ]
    pods = [
        pod_obj("web-1", "n1", "10.1.0.11"),
        pod_obj("web-2", "n1", "10.1.0.12"),
        pod_obj("web-3", "n3", "10.3.0.31"),
    ]
    eps = [
        endpoint_obj("10.1.0.11", "n1", pod="default/web-1"),
        endpoint_obj("10.1.0.12", "n1", pod="default/web-2"),
        endpoint_obj("10.3.0.31", "n3", pod="default/web-3"),
    ]
    lb = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"], distribution=distribution)
    return snapshot_from_objects(nodes + pods + [lb, slice_obj("web", eps)])


def lands(snapshot, source: str = "pod:n2", **question: Any) -> dict[str, float]:
    answer = simulate(
        snapshot, Question(service="default/web", source=source, **question)
    ).to_json()
    return {e["ip"]: e["share"] for e in answer["endpoints"]}


@dataclass(frozen=True)
class Case:
    name: str
    scenario: Scenario
    source: str
    lands_on: set[str]
    action: str = "forward"


CASES = (
    Case("no scenario: every pod", Scenario(), "pod:n2", {"10.1.0.11", "10.1.0.12", "10.3.0.31"}),
    Case(
        "n1 down: its pods turn not-ready",
        Scenario(nodes_down=frozenset({"n1"})),
        "pod:n2",
        {"10.3.0.31"},
    ),
    Case(
        "n3 cordoned: routing unchanged",
        Scenario(nodes_cordoned=frozenset({"n3"})),
        "pod:n2",
        {"10.1.0.11", "10.1.0.12", "10.3.0.31"},
    ),
    Case(
        "web-3 terminating: ready pods preferred",
        Scenario(endpoints_terminating=frozenset({"default/web-3"})),
        "pod:n2",
        {"10.1.0.11", "10.1.0.12"},
    ),
    Case(
        "every pod not ready: reject",
        Scenario(endpoints_not_ready=frozenset({"default/web-1", "default/web-2", "10.3.0.31"})),
        "pod:n2",
        set(),
        "reject",
    ),
    Case(
        "iTP=Local on n2 (no pod): drop",
        Scenario(service_overrides={"default/web": {"internalTrafficPolicy": "Local"}}),
        "pod:n2",
        set(),
        "drop",
    ),
    Case(
        "eTP=Local, external at n3: only web-3",
        Scenario(service_overrides={"default/web": {"externalTrafficPolicy": "Local"}}),
        "external:n3",
        {"10.3.0.31"},
    ),
    Case(
        "PreferClose: controller writes zone hints, n2 stays in zone a",
        Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}}),
        "pod:n2",
        {"10.1.0.11", "10.1.0.12"},
    ),
    Case(
        "PreferSameNode: n1 keeps to itself",
        Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferSameNode"}}),
        "pod:n1",
        {"10.1.0.11", "10.1.0.12"},
    ),
    Case(
        "ipvs everywhere, eTP=Local at n2 falls back to cluster",
        Scenario(
            proxy_mode="ipvs", service_overrides={"default/web": {"externalTrafficPolicy": "Local"}}
        ),
        "external:n2",
        {"10.1.0.11", "10.1.0.12", "10.3.0.31"},
    ),
    Case(
        "only n2 migrated to ipvs: same fallback there",
        Scenario(
            node_proxy_modes={"n2": "ipvs"},
            service_overrides={"default/web": {"externalTrafficPolicy": "Local"}},
        ),
        "external:n2",
        {"10.1.0.11", "10.1.0.12", "10.3.0.31"},
    ),
    Case(
        "scaled to 1: one pod left (crowded n1 loses first)",
        Scenario(scale={"default/web": 1}),
        "pod:n2",
        {"10.3.0.31"},
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_scenario_behaviour(case: Case) -> None:
    after = apply_scenario(cluster(), case.scenario)
    answer = simulate(after, Question(service="default/web", source=case.source)).to_json()
    assert {e["ip"] for e in answer["endpoints"]} == case.lands_on
    assert answer["action"] == case.action


def test_empty_scenario_is_the_same_snapshot() -> None:
    before = cluster()
    assert apply_scenario(before, Scenario()) is before


def test_scenario_never_mutates_its_input() -> None:
    before = cluster()
    apply_scenario(before, Scenario(nodes_drained=frozenset({"n1"}), scale={"default/web": 6}))
    assert lands(before) == lands(cluster())


def test_scale_up_places_new_pods_on_emptiest_nodes_with_node_cidr_addresses() -> None:
    after = apply_scenario(cluster(), Scenario(scale={"default/web": 5}))
    eps = after.endpoints("default/web", "http")
    assert len(eps) == 5
    new = [e for e in eps if e.pod and "whatif" in e.pod]
    # n2 has no replica; then n2 and n3 tie on one each and zone b (1) is emptier than zone a (3).
    assert sorted(str(e.node) for e in new) == ["n2", "n3"]
    assert all(e.ip.startswith(f"10.{str(e.node)[1]}.0.") for e in new)


def test_drain_moves_controller_pods_off_the_node() -> None:
    after = apply_scenario(cluster(), Scenario(nodes_drained=frozenset({"n1"})))
    eps = after.endpoints("default/web", "http")
    assert len(eps) == 3 and "n1" not in {e.node for e in eps}
    assert after.nodes["n1"].unschedulable


def test_prefer_same_node_needs_1_34() -> None:
    with pytest.raises(ScenarioError, match=r"needs Kubernetes 1.34\+"):
        apply_scenario(
            cluster(version="v1.31.2"),
            Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferSameNode"}}),
        )


def test_clearing_traffic_distribution_removes_controller_hints() -> None:
    before = cluster(distribution=None)
    hinted = apply_scenario(
        before, Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}})
    )
    cleared = apply_scenario(
        hinted, Scenario(service_overrides={"default/web": {"trafficDistribution": ""}})
    )
    assert all(not e.zone_hints for e in cleared.endpoints("default/web", "http"))
    assert len(lands(cleared)) == 3


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (
            Scenario(service_overrides={"default/web": {"internalTrafficPolicy": "Nearby"}}),
            "is not one of Cluster, Local",
        ),
        (
            Scenario(service_overrides={"default/web": {"type": "NodePort"}}),
            "cannot override 'type'",
        ),
        (
            Scenario(service_overrides={"default/nope": {"internalTrafficPolicy": "Local"}}),
            "unknown service",
        ),
        (Scenario(proxy_mode="ebpf"), "proxy mode 'ebpf'"),
        (Scenario(ipvs_scheduler="fastest"), "ipvs scheduler 'fastest'"),
        (Scenario(nodes_down=frozenset({"n9"})), "nodes_down: unknown node 'n9'"),
        (Scenario(scale={"default/web": -1}), "replicas must be"),
        (Scenario(scale={"default/ghost": 2}), "no pods owned"),
    ],
    ids=["bad value", "bad field", "service", "mode", "scheduler", "node", "negative", "owner"],
)
def test_bad_scenarios_fail_in_one_line(scenario: Scenario, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as err:
        apply_scenario(cluster(), scenario)
    assert "\n" not in str(err.value)


def test_diff_says_what_moved_and_what_now_drops() -> None:
    before_snap = cluster()
    after_snap = apply_scenario(
        before_snap, Scenario(service_overrides={"default/web": {"internalTrafficPolicy": "Local"}})
    )
    q = Question(service="default/web", source="pod:n2")
    diff = diff_answers(simulate(before_snap, q), simulate(after_snap, q)).to_json()
    assert diff["newly_dropped"] == 1.0 and diff["stops_dropping"] == 0.0
    assert diff["action"] == {"before": "forward", "after": "drop"}
    assert {m["ip"] for m in diff["moved"]} == {"10.1.0.11", "10.1.0.12", "10.3.0.31"}
    assert diff["cost_usd_per_month"]["after"] == 0.0 and diff["cost_usd_per_month"]["change"] < 0


def test_diff_of_preferclose_cuts_cross_zone_cost() -> None:
    before_snap = cluster()
    after_snap = apply_scenario(
        before_snap,
        Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}}),
    )
    q = Question(service="default/web", source="pod:n2")
    diff = diff_answers(simulate(before_snap, q), simulate(after_snap, q)).to_json()
    assert (
        diff["cross_zone"]["before"] == pytest.approx(1 / 3, abs=1e-6)
        and diff["cross_zone"]["after"] == 0.0
    )
    assert diff["latency_ms"]["change"] < 0


def test_rollout_midpoint_surges_one_and_terminates_none_of_three() -> None:
    """3 replicas: maxSurge ceil(0.75)=1 new (not ready yet), maxUnavailable floor(0.75)=0."""
    after = apply_scenario(cluster(), Scenario(rollouts=frozenset({"default/web"})))
    eps = after.endpoints("default/web", "http")
    assert len(eps) == 4
    assert [e.ready for e in eps if "whatif" in (e.pod or "")] == [False]
    assert all(e.ready for e in eps if "whatif" not in (e.pod or ""))
    assert len(lands(after)) == 3


def test_rollout_of_eight_terminates_two_old_pods_still_serving() -> None:
    before = apply_scenario(cluster(), Scenario(scale={"default/web": 8}))
    after = apply_scenario(before, Scenario(rollouts=frozenset({"default/web"})))
    eps = after.endpoints("default/web", "http")
    assert len(eps) == 10
    assert sum(1 for e in eps if e.terminating and e.serving and not e.ready) == 2
    assert sum(1 for e in eps if not e.ready and not e.serving) == 2
    assert len(lands(after)) == 6


def test_a_downed_node_sends_no_traffic_in_the_preview() -> None:
    """A node taken down is powered off or cut off: neither its pods (pod:n3) nor clients
    through its NodePort (external:n3) send anything after the what-if, while its
    endpoint web-3 turns not-ready (kubernetes pkg/controller/nodelifecycle,
    ``MarkPodsNotReady``) and the cloud LB leaves it by health check
    (pkg/proxy/healthcheck/service_health.go, ``ServeHTTP`` answers 503 once no local
    endpoint is ready; a dead node answers nothing)."""
    snapshot = cluster()
    whatif = WhatIf.from_changes({"nodes_down": ["n3"]})
    assert not sends_traffic(whatif.scenario(), "n3")
    assert sends_traffic(whatif.scenario(), "n1")
    row = preview(snapshot, whatif, services=["default/web"]).services[0]
    pods = next(d for d in row.compared if d.before.key == "pod")
    assert {p.group.label for p in pods.before.paths} == {"n1", "n2", "n3"}
    assert {p.group.label for p in pods.after.paths} == {"n1", "n2"}
    # Before, n3's pods sent a third of the pod traffic; after, nothing comes from n3 and
    # the two remaining sources split theirs over web-1 and web-2 only.
    assert pods.after.nodes_total == 2
    assert set(pods.after.endpoint_shares) == {"10.1.0.11", "10.1.0.12"}
    assert sum(pods.after.endpoint_shares.values()) == pytest.approx(1.0)
    nodeport = next(d for d in row.compared if d.before.key == "nodeport")
    assert "n3" not in {p.group.label for p in nodeport.after.paths}
    # Named sources too: asking from the downed node gives no entry after.
    named = preview(snapshot, whatif, services=["default/web"], sources=["pod:n3", "pod:n1"])
    after = named.services[0].compared[0].after
    assert [p.source for p in after.paths] == ["pod:n1"]


def test_a_cordoned_or_drained_node_still_sends() -> None:
    scenario = Scenario(nodes_cordoned=frozenset({"n1"}), nodes_drained=frozenset({"n3"}))
    assert sends_traffic(scenario, "n1") and sends_traffic(scenario, "n3")
