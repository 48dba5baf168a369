"""Behaviour tables: "a new connection from SOURCE to svc:port under S lands on these endpoints".

The cluster (zones a, a, b)::

      zone a                     zone a             zone b
    +--------------------+     +------------+     +--------------------+
    | n1                 |     | n2         |     | n3                 |
    |  web-1 10.1.0.11   |     |            |     |  web-3 10.3.0.31   |
    |  web-2 10.1.0.12   |     |  (no pods) |     |                    |
    +--------------------+     +------------+     +--------------------+

Each case cites the upstream proxier test whose rule it exercises (K/K
pkg/proxy/iptables/proxier_test.go unless noted; nftables mirrors them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

WEB = [
    endpoint_obj("10.1.0.11", "n1"),
    endpoint_obj("10.1.0.12", "n1"),
    endpoint_obj("10.3.0.31", "n3"),
]
ALL_WEB = {"10.1.0.11", "10.1.0.12", "10.3.0.31"}


def cluster(**snapshot_overrides: object):
    objects = [node_obj("n1", zone="a"), node_obj("n2", zone="a"), node_obj("n3", zone="b")]
    for name, kwargs, endpoints in (
        ("web", {}, WEB),
        (
            "web-lb-local",
            {"type": "LoadBalancer", "etp": "Local", "lb_ips": ["192.0.2.10"], "hc_port": 32000},
            WEB,
        ),
        ("web-lb", {"type": "LoadBalancer", "lb_ips": ["192.0.2.11"]}, WEB),
        ("web-itp-local", {"itp": "Local"}, WEB),
        ("web-both-local", {"type": "NodePort", "itp": "Local", "etp": "Local"}, WEB),
        ("web-extip-local", {"etp": "Local", "external_ips": ["198.51.100.7"]}, WEB),
        (
            "draining",
            {"type": "NodePort", "etp": "Local"},
            [
                endpoint_obj("10.1.0.11", "n1", ready=False, serving=True, terminating=True),
                endpoint_obj("10.3.0.31", "n3"),
            ],
        ),
        (
            "all-terminating",
            {},
            [
                endpoint_obj("10.1.0.11", "n1", ready=False, serving=True, terminating=True),
                endpoint_obj("10.3.0.31", "n3", ready=False, serving=False, terminating=True),
            ],
        ),
        (
            "dead",
            {"type": "NodePort", "etp": "Local"},
            [endpoint_obj("10.1.0.11", "n1", ready=False, serving=False)],
        ),
    ):
        objects.append(service_obj(name, **kwargs))
        objects.append(slice_obj(name, endpoints))
    return snapshot_from_objects(objects, **snapshot_overrides)


@dataclass(frozen=True)
class Case:
    name: str
    service: str
    source: str
    to: str | None
    lands_on: set[str]
    action: str = "forward"
    preserved: bool = True
    mode: str | None = None
    snapshot: dict = field(default_factory=dict)
    drop_reason: str | None = None


CASES = (
    # TestInternalTrafficPolicy: iTP=Cluster uses every endpoint.
    Case("pod on n2 -> ClusterIP, iTP=Cluster: every endpoint", "web", "pod:n2", None, ALL_WEB),
    # TestInternalTrafficPolicy "internalTrafficPolicy is local and there are local endpoints"
    Case(
        "pod on n1 -> ClusterIP, iTP=Local: only n1's endpoints",
        "web-itp-local",
        "pod:n1",
        None,
        {"10.1.0.11", "10.1.0.12"},
    ),
    # TestInternalTrafficPolicy "... and there is no local endpoint": DROP, not REJECT
    Case(
        "pod on n2 -> ClusterIP, iTP=Local, nothing on n2: drop",
        "web-itp-local",
        "pod:n2",
        None,
        set(),
        action="drop",
        drop_reason="LOCAL_NO_ENDPOINT_ON_NODE",
    ),
    # TestOnlyLocalNodePorts: eTP=Local NodePort from outside reaches local endpoints, no SNAT
    Case(
        "external at n1 -> NodePort, eTP=Local: local endpoints, client IP kept",
        "web-lb-local",
        "external:n1",
        "nodeport",
        {"10.1.0.11", "10.1.0.12"},
    ),
    Case(
        "external at n2 -> NodePort, eTP=Local, nothing on n2: drop",
        "web-lb-local",
        "external:n2",
        "nodeport",
        set(),
        action="drop",
        drop_reason="LOCAL_NO_ENDPOINT_ON_NODE",
    ),
    # TestInternalExternalMasquerade: eTP=Cluster external traffic is masqueraded
    Case(
        "external at n2 -> LB IP, eTP=Cluster: every endpoint, SNAT",
        "web-lb",
        "external:n2",
        "loadbalancer",
        ALL_WEB,
        preserved=False,
    ),
    # TestInternalExternalMasquerade "pod to NodePort/LB of eTP=Local": short-circuit, not
    # masqueraded
    Case(
        "pod on n2 -> own NodePort, eTP=Local: short-circuit to cluster set",
        "web-lb-local",
        "pod:n2",
        "nodeport",
        ALL_WEB,
    ),
    Case(
        "pod on n2 -> LB IP, eTP=Local: short-circuit",
        "web-lb-local",
        "pod:n2",
        "loadbalancer",
        ALL_WEB,
    ),
    Case(
        "pod on n2 -> externalIP, eTP=Local: short-circuit",
        "web-extip-local",
        "pod:n2",
        "externalip",
        ALL_WEB,
    ),
    # semantics §3.3: short-circuit wins even with iTP=Local
    Case(
        "pod on n2 -> NodePort, iTP=Local + eTP=Local: still the cluster set",
        "web-both-local",
        "pod:n2",
        "nodeport",
        ALL_WEB,
    ),
    # TestInternalExternalMasquerade "no LocalTrafficDetector": the pod is treated as external
    Case(
        "no cluster CIDR: pod on n2 -> NodePort eTP=Local drops like an outsider",
        "web-lb-local",
        "pod:n2",
        "nodeport",
        set(),
        action="drop",
        snapshot={"local_detector": False},
    ),
    # TestInternalExternalMasquerade: pod -> NodePort of an eTP=Cluster service is masqueraded
    Case(
        "pod on n2 -> LB IP, eTP=Cluster: SNAT",
        "web-lb",
        "pod:n2",
        "loadbalancer",
        ALL_WEB,
        preserved=False,
    ),
    # --masquerade-all
    Case(
        "masqueradeAll: pod -> ClusterIP loses its IP",
        "web",
        "pod:n1",
        None,
        ALL_WEB,
        preserved=False,
        snapshot={"masquerade_all": True},
    ),
    # TestTerminatingEndpointsTrafficPolicyLocal: local serving-terminating endpoint used when no
    # local ready one
    Case(
        "external at n1 -> NodePort eTP=Local, only a terminating pod on n1: used",
        "draining",
        "external:n1",
        "nodeport",
        {"10.1.0.11"},
    ),
    # TestTerminatingEndpointsTrafficPolicyCluster: cluster set ignores terminating while a ready
    # one exists
    Case(
        "pod on n1 -> ClusterIP, a ready pod elsewhere: terminating one skipped",
        "draining",
        "pod:n1",
        None,
        {"10.3.0.31"},
    ),
    # TestTerminatingEndpointsTrafficPolicyCluster: all terminating -> serving ones only
    Case("all terminating: only the serving one", "all-terminating", "pod:n2", None, {"10.1.0.11"}),
    # TestOverallIPTablesRules "has no endpoints": REJECT on every address
    Case(
        "no usable endpoint: ClusterIP rejected",
        "dead",
        "pod:n1",
        None,
        set(),
        action="reject",
        drop_reason="NO_ENDPOINTS_REJECT",
    ),
    Case(
        "no usable endpoint: NodePort rejected, not dropped",
        "dead",
        "external:n2",
        "nodeport",
        set(),
        action="reject",
    ),
    # IPVS (pkg/proxy/ipvs/proxier.go syncEndpoint, kubernetes#97081): Local falls back to cluster
    Case(
        "ipvs: external at n2 eTP=Local without local pod goes remote",
        "web-lb-local",
        "external:n2",
        "nodeport",
        ALL_WEB,
        mode="ipvs",
    ),
    Case(
        "ipvs: iTP=Local internal-only with no local pod: empty virtual server, refused",
        "web-itp-local",
        "pod:n2",
        None,
        set(),
        action="reject",
        mode="ipvs",
    ),
    Case(
        "ipvs: pod -> NodePort eTP=Local uses local endpoints (no short-circuit)",
        "web-lb-local",
        "pod:n1",
        "nodeport",
        {"10.1.0.11", "10.1.0.12"},
        mode="ipvs",
    ),
    # userspace (removed 1.26): no policies, always proxied from the node
    Case(
        "userspace: iTP=Local ignored, client IP lost",
        "web-itp-local",
        "pod:n2",
        None,
        ALL_WEB,
        preserved=False,
        mode="userspace",
        # the last release with the userspace proxier (a newer one refuses the what-if)
        snapshot={"version": "1.25"},
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_behaviour(case: Case) -> None:
    answer = simulate(
        cluster(**case.snapshot),
        Question(
            service=f"default/{case.service}", source=case.source, to=case.to, proxy_mode=case.mode
        ),
    ).to_json()
    assert {e["ip"] for e in answer["endpoints"]} == case.lands_on
    assert answer["action"] == case.action
    if case.action == "forward":
        assert answer["client_ip_preserved"] is case.preserved
        assert answer["dropped"] == 0.0
    else:
        assert answer["dropped"] == 1.0
    if case.drop_reason:
        assert answer["drop_reason"] == case.drop_reason


HOST_CASES = (
    # semantics §3.3 "related paths" (iptables "masquerade LOCAL traffic" / "route LOCAL traffic")
    Case(
        "host process on n2 -> NodePort eTP=Local: cluster set, masqueraded",
        "web-lb-local",
        "host:n2",
        "nodeport",
        ALL_WEB,
        preserved=False,
    ),
    Case(
        "host process on n2 -> ClusterIP: masqueraded, iTP applies",
        "web-itp-local",
        "host:n2",
        None,
        set(),
        action="drop",
    ),
    Case(
        "host process on n1 -> ClusterIP iTP=Cluster: every endpoint, masqueraded",
        "web",
        "host:n1",
        None,
        ALL_WEB,
        preserved=False,
    ),
)


@pytest.mark.parametrize("case", HOST_CASES, ids=lambda c: c.name)
def test_host_network_source(case: Case) -> None:
    test_behaviour(case)
