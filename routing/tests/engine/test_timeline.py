"""Disruption timeline (issue 14): timing defaults with their sources, the demo story,
each event kind, established connections, recommendations re-run, and bad input.

Demo cluster (cluster/fixtures/demo.json): ``shop/checkout`` is a LoadBalancer with
externalTrafficPolicy=Local and four pods — one alone on node-a1, three on node-b1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.simulate import Question, simulate
from routing.engine.timeline import (
    LB_PRESETS,
    TimelineError,
    TimelineRequest,
    Timing,
    parse_event,
    run_timeline,
)
from routing.engine.timeline.codes import (
    CONNECTIONS_RESET,
    ENDPOINT_NOT_ACCEPTING,
    LB_HEALTH_CHECK_LAG,
    NODE_DOWN,
)
from routing.engine.timeline.timing import DEFAULT_SYNC_S
from routing.tests.engine.core_builders import (
    endpoint_obj,
    node_obj,
    pod_obj,
    service_obj,
    slice_obj,
)

DEMO = Path(__file__).resolve().parents[3] / "cluster" / "fixtures" / "demo.json"
SVC = "shop/checkout"


@pytest.fixture(scope="module")
def demo():
    return snapshot_from_objects(json.loads(DEMO.read_text())["items"])


def timeline(
    snapshot,
    event: str,
    *,
    preset: str = "aws-nlb",
    overrides=None,
    exhaustive: bool = False,
    **fields,
):
    timing = Timing().with_probe(preset=preset).with_fields(fields)
    return run_timeline(
        snapshot,
        TimelineRequest(
            service=SVC,
            event=event,
            timing=timing,
            overrides=overrides or {},
            exhaustive=exhaustive,
        ),
    )


def windows(out: dict, source: str, code: str | None = None) -> list[dict]:
    return [
        w for w in out["windows"] if w["source"] == source and (code is None or w["code"] == code)
    ]


# --- the timing model's defaults, each with where it comes from ---------------------------

PRESET_SOURCES = [
    # kubernetes/cloud-provider-aws pkg/providers/v1/aws_loadbalancer.go (var block "Defaults for
    # ELB Healthcheck"): defaultNlbHealthCheckInterval = 30, defaultNlbHealthCheckThreshold = 3,
    # used for both HealthyThreshold and UnhealthyThreshold in buildTargetGroupHealthCheck.
    ("aws-nlb", 30, 3, 3),
    # same file: defaultElbHCInterval = 10, defaultElbHCUnhealthyThreshold = 6,
    # defaultElbHCHealthyThreshold = 2.
    ("aws-elb", 10, 6, 2),
    # kubernetes/cloud-provider-gcp (legacy-cloud-providers/gce gce_loadbalancer_external.go, and
    # ingress-gce pkg/healthchecksl4): gceHcCheckIntervalSeconds = 8, gceHcUnhealthyThreshold = 3
    # ("3 * 8 = 24 seconds before the LB will steer traffic away"), gceHcHealthyThreshold = 1.
    ("gcp", 8, 3, 1),
    # kubernetes-sigs/cloud-provider-azure pkg/consts/consts.go:
    # HealthProbeDefaultProbeInterval = 5, HealthProbeDefaultNumOfProbe = 2
    # (https://learn.microsoft.com/azure/load-balancer/load-balancer-custom-probe-overview:
    # a probe that succeeds once puts the instance back in rotation).
    ("azure", 5, 2, 1),
]


@pytest.mark.parametrize(("preset", "interval", "unhealthy", "healthy"), PRESET_SOURCES)
def test_lb_presets_carry_the_cloud_defaults(preset, interval, unhealthy, healthy):
    probe = LB_PRESETS[preset]
    assert (probe.interval_s, probe.unhealthy_threshold, probe.healthy_threshold) == (
        interval,
        unhealthy,
        healthy,
    )
    assert probe.out_after_s == interval * unhealthy and probe.source


def test_kube_proxy_and_control_plane_defaults():
    # kubernetes/kubernetes pkg/proxy/apis/config/v1alpha1/defaults.go
    # SetDefaults_KubeProxyConfiguration: IPTables.MinSyncPeriod = 1s; IPVS.MinSyncPeriod is
    # not defaulted there (0). nftables shares the iptables default (NFTables.MinSyncPeriod,
    # converted from the generic MinSyncPeriod).
    assert (
        DEFAULT_SYNC_S["iptables"] == 1.0
        and DEFAULT_SYNC_S["nftables"] == 1.0
        and DEFAULT_SYNC_S["ipvs"] == 0.0
    )
    timing = Timing()
    # pkg/controller/nodelifecycle/config/v1alpha1/defaults.go: NodeMonitorGracePeriod = 40s.
    assert timing.node_monitor_grace_s == 40
    # plugin/pkg/admission/defaulttolerationseconds: not-ready/unreachable tolerationSeconds 300.
    assert timing.eviction_toleration_s == 300
    # pkg/apis/core/v1 (DefaultTerminationGracePeriodSeconds = 30); pkg/apis/apps/v1/defaults.go
    # SetDefaults_Deployment: maxSurge and maxUnavailable 25%.
    assert timing.grace_s == 30 and (timing.max_surge, timing.max_unavailable) == ("25%", "25%")
    # kube-controller-manager endpointsliceUpdatesBatchPeriod defaults to 0s (no batching;
    # pkg/controller/endpointslice config): the 1 s is the watch round trip we assume.
    assert timing.endpointslice_s == 1.0
    # pkg/apis/core/v1/defaults.go SetDefaults_Probe: PeriodSeconds = 10, the assumed time
    # from container start to Ready (one readiness probe period).
    assert timing.readiness_delay_s == 10.0 and timing.min_ready_s == 0
    # pkg/controller/deployment/util ResolveFenceposts: surge rounds up, unavailable down;
    # both zero -> maxUnavailable 1.
    assert timing.surge_unavailable(10) == (3, 2)
    assert Timing().with_fields({"max_surge": "0", "max_unavailable": "0%"}).surge_unavailable(
        4
    ) == (0, 1)


# --- the demo story ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(LB_PRESETS))
def test_drain_of_the_lone_pod_node_opens_an_lb_window_the_length_the_preset_implies(demo, preset):
    out = timeline(demo, "drain:node-a1", preset=preset)
    lag = windows(out, "lb", LB_HEALTH_CHECK_LAG)
    assert len(lag) == 1
    # healthCheckNodePort turns 503 once kube-proxy has synced (1 s slice + 1 s minSyncPeriod),
    # and the LB needs interval x unhealthy threshold to stop sending to node-a1.
    assert lag[0]["start"] == 2.0 and lag[0]["seconds"] == LB_PRESETS[preset].out_after_s
    # The LB spreads over the two nodes with a Ready checkout pod: node-a1's half is lost.
    assert lag[0]["share"] == 0.5 and "node-a1" in lag[0]["cause"]
    # Before that the app already refused at SIGTERM while the rules still named it.
    stale = windows(out, "lb", ENDPOINT_NOT_ACCEPTING)
    assert [(w["start"], w["end"]) for w in stale] == [(0.0, 2.0)]
    # Pods calling the ClusterIP lose node-a1's quarter for the same 2 s, no more.
    assert [(w["start"], w["end"], w["share"]) for w in windows(out, "pod")] == [(0.0, 2.0, 0.25)]

    prestop = next(r for r in out["recommendations"] if r["change"]["kind"] == "timing")
    assert prestop["windows_after"] == []
    sleep = prestop["change"]["set"]["prestop_s"]
    assert sleep >= LB_PRESETS[preset].out_after_s + 2
    assert "closes the window" in prestop["change"]["text"]
    # Re-run by hand: the recommended preStop really leaves no window for new connections.
    again = timeline(
        demo,
        "drain:node-a1",
        preset=preset,
        prestop_s=sleep,
        grace_s=prestop["change"]["set"]["grace_s"],
    )
    assert [w for w in again["windows"] if not w["source"].endswith(":established")] == []


def test_event_marks_say_what_happens_when(demo):
    marks = {
        m["t"]: m["text"] for m in timeline(demo, "drain:node-a1", preset="gcp")["event"]["marks"]
    }
    assert (
        "pod deleted" in marks[0.0]
        and "app stops at SIGTERM" in marks[0.0]
        and "pod created" in marks[0.0]
    )
    assert "pod Ready" in marks[10.0]  # readiness_delay_s
    assert marks[26.0] == "load balancer takes out: node-a1"  # 2 s + 3 x 8 s
    assert "load balancer sends to" in marks[20.0]  # the new pod's node: 10 + 2 + 1 x 8 s


def test_drain_with_cluster_policy_has_no_lb_window_but_loses_the_client_ip(demo):
    out = timeline(demo, "drain:node-a1", overrides={"externalTrafficPolicy": "Cluster"})
    assert windows(out, "lb", LB_HEALTH_CHECK_LAG) == []
    assert all(w["end"] is not None and w["end"] <= 2.0 for w in out["windows"])
    local = timeline(demo, "drain:node-a1")
    rec = next(r for r in local["recommendations"] if r["change"]["kind"] == "service")
    assert rec["change"]["set"] == {"externalTrafficPolicy": "Cluster"}
    assert (
        rec["change"]["client_ip_preserved"] is False
        and "loses the client IP" in rec["change"]["text"]
    )
    assert not [w for w in rec["windows_after"] if w["code"] == LB_HEALTH_CHECK_LAG]
    # The same answer simulate gives for the change on its own.
    ans = simulate(
        demo, Question(service=SVC, source="lb", overrides={"externalTrafficPolicy": "Cluster"})
    )
    assert ans.client_ip_preserved is False


def test_each_step_is_an_ordinary_snapshot_answer(demo):
    """After the drain settles, the pod->ClusterIP shares are simulate's on the drained snapshot."""
    out = timeline(demo, "drain:node-a1")
    last = [s for s in out["steps"] if s["source"] == "pod"][-1]
    drained = apply_scenario(demo, Scenario(nodes_drained=frozenset(["node-a1"])))
    answer = simulate(drained, Question(service=SVC, source="pod:node-b2")).to_json()
    assert last["shares"]["endpoints"] == {e["ip"]: e["share"] for e in answer["endpoints"]}
    assert last["dropped"] == 0 and last["failing"] == 0


def test_an_app_that_serves_until_exit_has_no_stale_rule_window(demo):
    out = timeline(demo, "drain:node-a1", on_sigterm="serve")
    assert windows(out, "pod") == []
    # The LB window remains: the node's health check fails as soon as the pod is terminating
    # (terminating endpoints are not Ready for healthCheckNodePort), but kube-proxy falls back
    # to the serving terminating local endpoint (KEP-1669) until the app exits at 30 s.
    assert windows(out, "lb", LB_HEALTH_CHECK_LAG)[0]["start"] == 32.0


def test_established_connections_are_told_apart(demo):
    out = timeline(demo, "drain:node-a1")
    reset = windows(out, "lb:established", CONNECTIONS_RESET)
    assert [(w["start"], w["share"]) for w in reset] == [(0.0, 0.5)]
    later = timeline(demo, "drain:node-a1", prestop_s=20, grace_s=30)
    assert [w["start"] for w in windows(later, "lb:established")] == [20.0]


# --- the other events -------------------------------------------------------------------------


def test_node_down_black_holes_until_the_node_controller_and_the_lb_notice(demo):
    out = timeline(demo, "node-down:node-b1", preset="gcp")
    pod = windows(out, "pod")
    # Three of four endpoints sit on node-b1: new pod connections fail until the node
    # controller marks them not ready (40 s) and kube-proxy has synced (2 s).
    assert (
        pod[0]["code"] == ENDPOINT_NOT_ACCEPTING
        and pod[0]["start"] == 0.0
        and pod[0]["end"] == 42.0
    )
    assert pod[0]["share"] == pytest.approx(0.75, abs=1e-6)
    lb = windows(out, "lb", NODE_DOWN)
    assert lb[0]["start"] == 0.0 and lb[0]["seconds"] == 24.0 and lb[0]["share"] == 0.5


def test_zone_down_covers_every_node_of_the_zone(demo):
    out = timeline(demo, "zone-down:eu-west-1b")
    assert windows(out, "lb", NODE_DOWN)[0]["share"] == 0.5
    with pytest.raises(TimelineError, match="no node in zone"):
        timeline(demo, "zone-down:mars-1a")


def test_rollout_follows_max_surge_and_max_unavailable(demo):
    out = timeline(demo, "rollout", on_sigterm="serve")
    # A rollout of an app that drains properly leaves pods calling the ClusterIP unharmed.
    assert windows(out, "pod") == []
    last = [s for s in out["steps"] if s["source"] == "pod"][-1]
    assert len(last["shares"]["endpoints"]) == 4
    assert not set(last["shares"]["endpoints"]) & {
        "10.244.1.11",
        "10.244.4.11",
        "10.244.4.12",
        "10.244.4.13",
    }
    stopping = timeline(demo, "rollout")
    assert windows(stopping, "pod", ENDPOINT_NOT_ACCEPTING)
    # Both old nodes lose their last Ready checkout pod; the one window names both.
    lag = windows(stopping, "lb", LB_HEALTH_CHECK_LAG)
    assert len(lag) == 1 and "node-a1" in lag[0]["cause"] and "node-b1" in lag[0]["cause"]


def test_scale_down_terminates_pods_like_a_deletion(demo):
    out = timeline(demo, "scale:2")
    assert windows(out, "pod", ENDPOINT_NOT_ACCEPTING)
    last = [s for s in out["steps"] if s["source"] == "pod"][-1]
    assert len(last["shares"]["endpoints"]) == 2


@pytest.mark.parametrize(
    "event",
    [
        "drain:node-a1",
        "drain:node-b1",
        "node-down:node-a1",
        "zone-down:eu-west-1b",
        "rollout",
        "scale:1",
        "scale:6",
        "scale-in:node-b1",
    ],
)
def test_shared_answers_equal_answering_every_node(demo, event):
    """The timeline answers identical nodes once; answering each node gives the same JSON."""
    assert timeline(demo, event) == timeline(demo, event, exhaustive=True)


def test_small_cluster_rollout_with_zero_unavailable():
    nodes = [node_obj(f"n{i}", zone="a", pod_cidr=f"10.{i}.0.0/24") for i in (1, 2, 3)]
    pods = [pod_obj(f"web-{i}", f"n{i}", f"10.{i}.0.5") for i in (1, 2)]
    eps = [endpoint_obj(f"10.{i}.0.5", f"n{i}", pod=f"default/web-{i}") for i in (1, 2)]
    snap = snapshot_from_objects(nodes + pods + [service_obj("web"), slice_obj("web", eps)])
    timing = Timing().with_fields({"max_surge": "1", "max_unavailable": "0", "on_sigterm": "serve"})
    out = run_timeline(snap, TimelineRequest(service="default/web", event="rollout", timing=timing))
    # maxUnavailable 0: the first old pod is deleted only once a new one is available
    # (10 s), and its connections end when it is killed 30 s later.
    assert [w for w in out["windows"] if not w["source"].endswith(":established")] == []
    assert [w["start"] for w in out["windows"]] == [40.0, 50.0]
    firsts = [s for s in out["steps"] if s["source"] == "pod"]
    assert len(firsts[0]["shares"]["endpoints"]) == 2


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reboot:n1", "is not drain:NODE"),
        ("drain", "needs a target"),
        ("scale:x", "whole number"),
        ("rollout:now", "takes no target"),
    ],
)
def test_bad_events(text, message):
    with pytest.raises(TimelineError, match=message):
        parse_event(text)


def test_bad_timing_and_targets(demo):
    with pytest.raises(TimelineError, match="unknown load-balancer preset"):
        Timing().with_probe(preset="oracle")
    with pytest.raises(TimelineError, match="unknown timing field"):
        Timing().with_fields({"speed": "1"})
    with pytest.raises(TimelineError, match=">= 0 seconds"):
        Timing().with_fields({"grace_s": "-1"})
    with pytest.raises(TimelineError, match="stop or serve"):
        Timing().with_fields({"on_sigterm": "maybe"})
    with pytest.raises(TimelineError, match="unknown node"):
        timeline(demo, "drain:node-zz")
    with pytest.raises(TimelineError, match="unknown service"):
        run_timeline(demo, TimelineRequest(service="shop/nope", event="rollout"))
    with pytest.raises(TimelineError, match="cannot override"):
        timeline(demo, "rollout", overrides={"type": "NodePort"})


def test_recommendations_re_run_gives_what_a_fresh_run_gives(demo):
    """Re-runs share answers with the first run; a fresh run with the change must agree."""
    for event in ("drain:node-a1", "rollout", "scale:2"):
        out = timeline(demo, event, preset="azure")
        assert out["recommendations"], event
        for rec in out["recommendations"]:
            change = rec["change"]
            if change["kind"] == "timing":
                fresh = timeline(demo, event, preset="azure", **change["set"])
            else:
                fresh = timeline(demo, event, preset="azure", overrides=change["set"])
            assert rec["windows_after"] == [
                w for w in fresh["windows"] if not w["source"].endswith(":established")
            ]


def test_rollout_places_new_pods_where_apply_scenario_would(demo):
    """The timeline's own placement follows scaling.py's rule: the same nodes as the
    what-if ``scale`` gives for the doubled owner (addresses may differ)."""
    from routing.engine.timeline.events import _members, base_lives, place

    service = demo.services[SVC]
    lives = base_lives(demo, service)
    owner, members = _members(demo, lives)
    mine = sorted(life.node for life in place(demo, service, owner, members, len(members)))
    scaled = apply_scenario(demo, Scenario(scale={owner: 2 * len(members)}))
    theirs = sorted(
        ep.node
        for ep in scaled.endpoints(SVC, "http")
        if ep.pod not in {life.key for life in members}
    )
    assert mine == theirs


def test_node_down_recommends_a_faster_health_check_and_checks_it(demo):
    out = timeline(demo, "node-down:node-a1")  # aws-nlb: out after 90 s
    rec = next(r for r in out["recommendations"] if "probe_interval" in r["change"]["set"])
    assert rec["change"]["set"] == {"probe_interval": 5.0, "unhealthy_threshold": 2}
    before = windows(out, "lb", NODE_DOWN)[0]
    after = [w for w in rec["windows_after"] if w["source"] == "lb" and w["code"] == NODE_DOWN]
    assert before["seconds"] == 90.0 and after[0]["seconds"] == 10.0
    fresh = run_timeline(
        demo,
        TimelineRequest(
            service=SVC,
            event="node-down:node-a1",
            timing=Timing().with_probe(interval_s=5, unhealthy_threshold=2),
        ),
    )
    assert rec["windows_after"] == [
        w for w in fresh["windows"] if not w["source"].endswith(":established")
    ]


@pytest.mark.parametrize(("version", "window"), [("1.29", (30.0, 54.0)), ("1.30", None)])
def test_scale_in_and_kube_proxy_healthz_for_a_node_being_removed(version, window):
    """Cluster autoscaler scale-in of node-a1 with eTP=Cluster and an app that serves until
    it exits (30 s). From 1.30 (KEP-3836, pkg/proxy/healthcheck/proxy_health.go SyncNode:
    the ToBeDeletedByClusterAutoscaler taint makes /healthz answer 503) the LB takes the
    node out 1 s + 24 s (gcp) after the taint, before the VM stops at 30 s; before 1.30
    the LB only notices once the node is gone."""
    snap = snapshot_from_objects(json.loads(DEMO.read_text())["items"], version=version)
    out = timeline(
        snap,
        "scale-in:node-a1",
        preset="gcp",
        on_sigterm="serve",
        overrides={"externalTrafficPolicy": "Cluster"},
    )
    down = windows(out, "lb", NODE_DOWN)
    if window is None:
        assert down == []
    else:
        assert [(w["start"], w["end"]) for w in down] == [window] and down[0][
            "share"
        ] == pytest.approx(0.1)
    assert windows(out, "pod") == []


def test_scale_in_waits_for_the_pods_and_the_node_delete_delay(demo):
    out = timeline(demo, "scale-in:node-a1", preset="gcp", node_delete_s=5)
    assert out["timing"]["node_delete_s"] == 5
    # The app stops at SIGTERM (t=0), so the node is deleted then and its VM stops 5 s later:
    # clients aiming at node-a1's NodePort fail from there.
    down = windows(out, "external", NODE_DOWN)
    assert down and down[0]["start"] == 5.0


@pytest.mark.parametrize("nodes", [("node-a1",), ("node-b1",), ("node-b1", "node-b2", "node-b3")])
def test_replacements_land_where_apply_scenario_reschedules(demo, nodes):
    """Drain / node / zone failure: the recreated pods go to the nodes
    ``apply_scenario(Scenario(nodes_drained=...))`` gives. (Addresses may differ: the what-if
    also recreates other Services' pods, which take addresses first.)"""
    from routing.engine.timeline.events import _replacements, base_lives

    service = demo.services[SVC]
    lives = base_lives(demo, service)
    mine = sorted(life.node for life in _replacements(demo, service, lives, frozenset(nodes), None))
    drained = apply_scenario(demo, Scenario(nodes_drained=frozenset(nodes)))
    theirs = sorted(ep.node for ep in drained.endpoints(SVC, "http") if ep.pod not in lives)
    assert mine == theirs and len(mine) == sum(1 for life in lives.values() if life.node in nodes)


def test_a_recommendation_reports_the_change_it_re_ran(demo):
    """scale:0 leaves no endpoint at all: no preStop closes that, and the recommendation
    says so with the very sleep and grace period whose re-run it shows."""
    out = timeline(demo, "scale:0")
    rec = next(r for r in out["recommendations"] if r["change"]["kind"] == "timing")
    assert "narrows" in rec["change"]["text"] and rec["windows_after"]
    fresh = timeline(demo, "scale:0", **rec["change"]["set"])
    assert rec["windows_after"] == [
        w for w in fresh["windows"] if not w["source"].endswith(":established")
    ]
    assert rec["change"]["set"]["grace_s"] >= rec["change"]["set"]["prestop_s"]


@pytest.mark.parametrize(("mode", "lag"), [("iptables", 2.0), ("nftables", 2.0), ("ipvs", 1.0)])
def test_kube_proxy_sync_delay_follows_the_mode(mode, lag):
    """The stale-rule window is the slice propagation (1 s) plus the mode's minSyncPeriod."""
    snap = snapshot_from_objects(json.loads(DEMO.read_text())["items"], proxy_mode=mode)
    out = timeline(snap, "drain:node-a1")
    assert out["timing"]["kube_proxy_sync_s"][mode] == lag - 1.0
    assert [(w["start"], w["end"]) for w in windows(out, "pod")] == [(0.0, lag)]
    lag_windows = windows(out, "lb", LB_HEALTH_CHECK_LAG)
    if mode == "ipvs":
        # IPVS: an empty Local set falls back to the Cluster set (kubernetes#97081, as
        # simulate models it), so what the LB still sends to node-a1 is forwarded.
        assert lag_windows == []
    else:
        assert lag_windows[0]["start"] == lag
    slow = timeline(snap, "drain:node-a1", **{f"sync_s.{mode}": 5})
    assert [(w["start"], w["end"]) for w in windows(slow, "pod")] == [(0.0, 6.0)]
