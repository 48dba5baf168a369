"""Issue 11, item 6: the cloud load balancer's health checks and node filter. Each case
names the upstream (kubernetes/kubernetes) file and function it follows; the analysis is
held to the same answer as ``simulate`` for the ``lb`` source."""

from __future__ import annotations

import pytest

from routing.engine.analysis import analyze
from routing.engine.kube import snapshot_from_objects
from routing.engine.lb import lb_nodes
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj


def lb_service(etp: str = "Cluster", lb_ips: list[str] | None = None) -> dict:
    return service_obj(
        "web",
        type="LoadBalancer",
        lb_ips=["192.0.2.1"] if lb_ips is None else lb_ips,
        etp=etp,
        hc_port=32000 if etp == "Local" else None,
    )


def proxy_pod(node: str, *, ready: bool) -> dict:
    """The kube-proxy DaemonSet Pod on ``node`` with its Ready condition."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"kube-proxy-{node}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-proxy"},
        },
        "spec": {"nodeName": node, "containers": [{"name": "kube-proxy", "image": "x"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def lb_answer(objects: list[dict]) -> tuple[dict, object]:
    """(simulate's lb answer, the analysis's lb source summary) for default/web."""
    snapshot = snapshot_from_objects(objects)
    answer = simulate(snapshot, Question(service="default/web", source="lb")).to_json()
    row = analyze(snapshot).row("default/web")
    assert row is not None
    return answer, row.source("lb")


def agree(answer: dict, summary) -> None:
    """The analysis's lb source says what simulate says."""
    assert summary.dropped == pytest.approx(answer["dropped"], abs=1e-6)
    assert summary.nodes == len(answer["ingress_nodes"])


def codes(answer: dict) -> list[str]:
    return [r["code"] for r in answer["reasons"]]


def test_health_check_counts_endpoints_of_slice_ports_the_service_does_not_name() -> None:
    # pkg/proxy/endpointschangetracker.go LocalReadyEndpoints / getLocalReadyEndpointIPs:
    # the local Ready IPs of every ServicePortName in the EndpointsMap, which holds the
    # slices' ports (endpointslicecache.go endpointInfoByServicePort), also "metrics" that
    # no Service port names. n2 therefore passes healthCheckNodePort although its Local
    # set for "http" is empty: the LB sends it half the clients and they are dropped.
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="a"),
        lb_service("Local"),
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")], name="web-http"),
        slice_obj(
            "web",
            [endpoint_obj("10.2.0.1", "n2")],
            name="web-metrics",
            ports=[{"name": "metrics", "port": 9090, "protocol": "TCP"}],
        ),
    ]
    answer, summary = lb_answer(objects)
    assert [n["node"] for n in answer["ingress_nodes"]] == ["n1", "n2"]
    assert answer["dropped"] == pytest.approx(0.5)
    assert {e["ip"]: e["share"] for e in answer["endpoints"]} == {"10.1.0.1": 0.5}
    agree(answer, summary)


def test_a_load_balancer_without_ingress_yet_receives_nothing() -> None:
    # cloud-provider controllers/service/controller.go syncLoadBalancerIfNeeded writes
    # status.loadBalancer once the cloud has made the LB: before that there is none.
    objects = [
        node_obj("n1"),
        lb_service(lb_ips=[]),
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")]),
    ]
    answer, summary = lb_answer(objects)
    assert answer["action"] == "drop" and answer["dropped"] == 1.0
    assert answer["drop_reason"] == "LB_NO_INGRESS" and answer["ingress_nodes"] == []
    assert "LB_NO_INGRESS" in codes(answer)
    # The analysis reports no lb source at all for it (nothing to spread) and no LB finding.
    assert summary is None
    findings = analyze(snapshot_from_objects(objects)).findings
    assert not [f for f in findings if f.source == "lb"]


@pytest.mark.parametrize(
    ("pod_ready", "passes", "cause"),
    [
        (True, True, "its kube-proxy Pod is Ready"),
        (None, False, "kube-proxy taken as not answering"),
    ],
)
def test_not_ready_node_stays_a_backend_and_kube_proxy_liveness_decides(
    pod_ready: bool | None, passes: bool, cause: str
) -> None:
    # cloud-provider controller.go stableNodeSetPredicates (1.27+, KEP-3458): no Ready
    # predicate. pkg/proxy/healthcheck/proxy_health.go healthzHandler: healthy (synced)
    # and nodeEligible — nothing about the node's Ready condition. A NotReady node whose
    # kube-proxy Pod is Ready passes; without the Pod the engine assumes it does not.
    objects = [
        node_obj("n1", version="v1.33.0"),
        node_obj("n2", ready=False, version="v1.33.0"),
        lb_service(),
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")]),
    ]
    if pod_ready is not None:
        objects.append(proxy_pod("n2", ready=pod_ready))
    answer, summary = lb_answer(objects)
    assert ("n2" in {n["node"] for n in answer["ingress_nodes"]}) is passes
    agree(answer, summary)
    if not passes:
        health = [r["message"] for r in answer["reasons"] if r["code"] == "LB_NODE_HEALTH"]
        assert len(health) == 1 and "node n2: 503" in health[0] and cause in health[0]


def test_ready_node_with_a_failing_kube_proxy_fails_the_health_check() -> None:
    # proxy_health.go healthzHandler: kube-proxy's own health, apart from node readiness.
    objects = [
        node_obj("n1"),
        node_obj("n2"),
        proxy_pod("n2", ready=False),
        lb_service(),
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")]),
    ]
    answer, summary = lb_answer(objects)
    assert [n["node"] for n in answer["ingress_nodes"]] == ["n1"]
    assert any("its kube-proxy Pod is not Ready" in r for r in answer["explain"])
    agree(answer, summary)


def test_not_ready_node_before_1_27_is_dropped_by_the_cloud_node_filter() -> None:
    # controller.go allNodePredicates (StableLoadBalancerNodeSet off before 1.27):
    # nodeReadyPredicate removes it from the LB whatever kube-proxy answers.
    objects = [
        node_obj("n1", version="v1.26.5"),
        node_obj("n2", ready=False, version="v1.26.5"),
        proxy_pod("n2", ready=True),
        lb_service(),
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")]),
    ]
    answer, summary = lb_answer(objects)
    assert [n["node"] for n in answer["ingress_nodes"]] == ["n1"]
    excluded = [r["message"] for r in answer["reasons"] if r["code"] == "LB_NODE_EXCLUDED"]
    assert excluded and "nodeReadyPredicate" in excluded[0]
    agree(answer, summary)


def test_deletion_cause_is_named_and_health_check_node_port_ignores_eligibility() -> None:
    # controller.go nodeUnTaintedPredicate: the ToBeDeletedByClusterAutoscaler taint
    # excludes a node in every release. Before 1.27 nodeNotDeletedPredicate is not in the
    # set: a node being deleted stays, its /healthz answers 503 (proxy_health.go SyncNode,
    # KEP-3836) while healthCheckNodePort (service_health.go hcHandler.ServeHTTP:
    # IsHealthy, not NodeEligible) still answers 200 where a local endpoint is Ready.
    tainted = node_obj("n3", version="v1.26.5")
    tainted["spec"]["taints"] = [{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]
    nodes = [
        node_obj("n1", version="v1.26.5"),
        node_obj("n2", deleting=True, version="v1.26.5"),
        tainted,
    ]
    eps = slice_obj("web", [endpoint_obj("10.1.0.1", "n1"), endpoint_obj("10.2.0.1", "n2")])
    cluster = snapshot_from_objects([*nodes, lb_service("Cluster"), eps])
    svc = cluster.services["default/web"]
    got = lb_nodes(cluster, service=svc, port=svc.ports[0])
    assert got.health == {"n1": 200, "n2": 503}
    messages = [r.message for r in got.reasons]
    assert any("n3: tainted ToBeDeletedByClusterAutoscaler" in m for m in messages)
    assert any("node n2: 503 (the node is being deleted" in m for m in messages)
    local = snapshot_from_objects([*nodes, lb_service("Local"), eps])
    svc = local.services["default/web"]
    got = lb_nodes(local, service=svc, port=svc.ports[0])
    assert got.health == {"n1": 200, "n2": 200}
