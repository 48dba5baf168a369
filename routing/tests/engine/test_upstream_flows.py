"""Upstream packet-flow tables, case by case (K/K pkg/proxy/nftables/proxier_test.go;
the iptables proxier_test.go has the same tables).

Each upstream flow "source -> destination: these endpoints, masquerade yes/no" becomes a
question to ``simulate`` on the same Services and EndpointSlices. Upstream's node is
``test-node``; "node to X" flows are our ``host:`` source.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

NODE = "test-node"


def masquerade_cluster(**overrides: object):
    """TestInternalExternalMasquerade's setupTest: svc1 plain, svc2 eTP=Local, svc3 iTP=Local."""
    objects = [node_obj(NODE), node_obj("remote")]
    for n, (name, etp, itp) in enumerate(
        (("svc1", None, None), ("svc2", "Local", None), ("svc3", None, "Local")), start=1
    ):
        ports = [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3000 + n}]
        lb = {1: "1.2.3.4", 2: "5.6.7.8", 3: "9.10.11.12"}[n]
        objects.append(
            service_obj(
                name,
                namespace=f"ns{n}",
                type="LoadBalancer",
                cluster_ip=f"172.30.0.{40 + n}",
                ports=ports,
                lb_ips=[lb],
                hc_port=30000 + n,
                etp=etp,
                itp=itp,
            )
        )
        objects.append(
            slice_obj(
                name,
                [
                    endpoint_obj(f"10.180.0.{n}", NODE, ready=None),
                    endpoint_obj(f"10.180.1.{n}", "remote", ready=None),
                ],
                namespace=f"ns{n}",
                ports=[{"name": "p80", "port": 80, "protocol": "TCP"}],
            )
        )
    return snapshot_from_objects(objects, **overrides)


@dataclass(frozen=True)
class Flow:
    name: str
    service: str
    source: str
    to: str
    output: str
    masq: bool


def both(n: int) -> str:
    return f"10.180.0.{n}:80, 10.180.1.{n}:80"


FLOWS = (
    Flow("pod to ClusterIP", "ns1/svc1", "pod", "clusterip", both(1), False),
    Flow("pod to NodePort", "ns1/svc1", "pod", "nodeport", both(1), True),
    Flow("pod to LB", "ns1/svc1", "pod", "loadbalancer", both(1), True),
    Flow("node to ClusterIP", "ns1/svc1", "host", "clusterip", both(1), True),
    Flow("node to NodePort", "ns1/svc1", "host", "nodeport", both(1), True),
    Flow("node to LB", "ns1/svc1", "host", "loadbalancer", both(1), True),
    Flow("external to ClusterIP", "ns1/svc1", "external", "clusterip", both(1), True),
    Flow("external to NodePort", "ns1/svc1", "external", "nodeport", both(1), True),
    Flow("external to LB", "ns1/svc1", "external", "loadbalancer", both(1), True),
    Flow("pod to ClusterIP with eTP:Local", "ns2/svc2", "pod", "clusterip", both(2), False),
    Flow("pod to NodePort with eTP:Local", "ns2/svc2", "pod", "nodeport", both(2), False),
    Flow("pod to LB with eTP:Local", "ns2/svc2", "pod", "loadbalancer", both(2), False),
    Flow("node to ClusterIP with eTP:Local", "ns2/svc2", "host", "clusterip", both(2), True),
    # upstream sends this flow to svc1's NodePort (3001); asked of svc2 it is the same rule
    Flow("node to NodePort with eTP:Local", "ns2/svc2", "host", "nodeport", both(2), True),
    Flow("node to LB with eTP:Local", "ns2/svc2", "host", "loadbalancer", both(2), True),
    Flow(
        "external to ClusterIP with eTP:Local", "ns2/svc2", "external", "clusterip", both(2), True
    ),
    Flow(
        "external to NodePort with eTP:Local",
        "ns2/svc2",
        "external",
        "nodeport",
        "10.180.0.2:80",
        False,
    ),
    Flow(
        "external to LB with eTP:Local",
        "ns2/svc2",
        "external",
        "loadbalancer",
        "10.180.0.2:80",
        False,
    ),
    Flow("pod to ClusterIP with iTP:Local", "ns3/svc3", "pod", "clusterip", "10.180.0.3:80", False),
    Flow("pod to NodePort with iTP:Local", "ns3/svc3", "pod", "nodeport", both(3), True),
    Flow("pod to LB with iTP:Local", "ns3/svc3", "pod", "loadbalancer", both(3), True),
    Flow(
        "node to ClusterIP with iTP:Local", "ns3/svc3", "host", "clusterip", "10.180.0.3:80", True
    ),
    Flow("node to NodePort with iTP:Local", "ns3/svc3", "host", "nodeport", both(3), True),
    Flow("node to LB with iTP:Local", "ns3/svc3", "host", "loadbalancer", both(3), True),
    Flow(
        "external to ClusterIP with iTP:Local",
        "ns3/svc3",
        "external",
        "clusterip",
        "10.180.0.3:80",
        True,
    ),
    Flow("external to NodePort with iTP:Local", "ns3/svc3", "external", "nodeport", both(3), True),
    Flow("external to LB with iTP:Local", "ns3/svc3", "external", "loadbalancer", both(3), True),
)

#: upstream testCases: name -> (snapshot overrides, {flow name: (output or None, masq or None)})
VARIANTS: dict[str, tuple[dict[str, object], dict[str, tuple[str | None, bool | None]]]] = {
    "base": ({}, {}),
    "no LocalTrafficDetector": (
        {"local_detector": False},
        {
            "node to ClusterIP": (None, False),
            "node to ClusterIP with eTP:Local": (None, False),
            "node to ClusterIP with iTP:Local": (None, False),
            "external to ClusterIP": (None, False),
            "external to ClusterIP with eTP:Local": (None, False),
            "external to ClusterIP with iTP:Local": (None, False),
            "pod to NodePort with eTP:Local": ("10.180.0.2:80", None),
            "pod to LB with eTP:Local": ("10.180.0.2:80", None),
        },
    ),
    "masqueradeAll": (
        {"masquerade_all": True},
        {
            "pod to ClusterIP": (None, True),
            "pod to ClusterIP with eTP:Local": (None, True),
            "pod to ClusterIP with iTP:Local": (None, True),
        },
    ),
}

CASES = [(variant, flow) for variant in VARIANTS for flow in FLOWS]


@pytest.mark.parametrize(("variant", "flow"), CASES, ids=[f"{v}: {f.name}" for v, f in CASES])
def test_internal_external_masquerade(variant: str, flow: Flow) -> None:
    """TestInternalExternalMasquerade (nftables and iptables proxier_test.go)."""
    overrides, changes = VARIANTS[variant]
    output, masq = changes.get(flow.name, (None, None))
    output = output or flow.output
    masq = flow.masq if masq is None else masq
    answer = simulate(
        masquerade_cluster(**overrides),
        Question(service=flow.service, source=f"{flow.source}:{NODE}", to=flow.to),
    ).to_json()
    assert answer["action"] == "forward"
    assert ", ".join(f"{e['ip']}:80" for e in answer["endpoints"]) == output
    assert answer["client_ip_preserved"] is (not masq)


def terminating_cluster(etp: str, endpoints: list[dict]):
    """TestTerminatingEndpointsTrafficPolicy{Local,Cluster}: svc1 LoadBalancer 1.2.3.4."""
    service = service_obj(
        "svc1",
        namespace="ns1",
        type="LoadBalancer",
        cluster_ip="172.30.1.1",
        etp=etp,
        ports=[{"name": "", "port": 80, "protocol": "TCP", "nodePort": 30080}],
        lb_ips=["1.2.3.4"],
        hc_port=30000,
    )
    return snapshot_from_objects(
        [
            node_obj(NODE),
            node_obj("node-1"),
            service,
            slice_obj(
                "svc1",
                endpoints,
                namespace="ns1",
                ports=[{"name": "", "port": 80, "protocol": "TCP"}],
            ),
        ]
    )


def cond(ip: str, node: str, ready: bool, serving: bool, terminating: bool) -> dict:
    return endpoint_obj(ip, node, ready=ready, serving=serving, terminating=terminating)


READY_EXIST = [
    cond("10.0.1.1", NODE, True, True, False),
    cond("10.0.1.2", NODE, True, True, False),
    cond("10.0.1.3", NODE, False, True, True),
    cond("10.0.1.4", NODE, False, False, True),
    cond("10.0.1.5", "node-1", True, True, False),
]
ONLY_TERMINATING_LOCAL = [
    cond("10.0.1.2", NODE, False, True, True),
    cond("10.0.1.3", NODE, False, True, True),
    cond("10.0.1.4", NODE, False, False, True),
    cond("10.0.1.5", "node-1", True, True, False),
]
REMOTE_TERMINATING = [cond("10.0.1.5", "node-1", False, True, True)]
NOTHING_USABLE = [
    cond("10.0.1.5", NODE, False, False, True),
    cond("10.0.1.5", "node-1", False, False, True),
]
CLUSTER_READY_EXIST = [
    cond("10.0.1.1", NODE, True, True, False),
    cond("10.0.1.2", NODE, True, True, False),
    cond("10.0.1.3", "another-node", False, True, True),
    cond("10.0.1.4", "another-node", False, False, True),
    cond("10.0.1.5", "another-node", True, True, False),
]
CLUSTER_ONLY_TERMINATING = [
    cond("10.0.1.2", NODE, False, True, True),
    cond("10.0.1.3", NODE, False, True, True),
    cond("10.0.1.4", "another-node", False, False, True),
    cond("10.0.1.5", "another-node", False, True, True),
]

TERMINATING = (
    # (upstream test, case, eTP, endpoints, pod->ClusterIP, external->LB, external masq)
    (
        "Local",
        "ready endpoints exist",
        READY_EXIST,
        "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
        "10.0.1.1:80, 10.0.1.2:80",
        False,
    ),
    (
        "Local",
        "only terminating endpoints exist",
        ONLY_TERMINATING_LOCAL,
        "10.0.1.5:80",
        "10.0.1.2:80, 10.0.1.3:80",
        False,
    ),
    (
        "Local",
        "terminating endpoints on remote node",
        REMOTE_TERMINATING,
        "10.0.1.5:80",
        "DROP",
        False,
    ),
    ("Local", "no usable endpoints on any node", NOTHING_USABLE, "REJECT", "REJECT", False),
    (
        "Cluster",
        "ready endpoints exist",
        CLUSTER_READY_EXIST,
        "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
        "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
        True,
    ),
    (
        "Cluster",
        "only terminating endpoints exist",
        CLUSTER_ONLY_TERMINATING,
        "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
        "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
        True,
    ),
    (
        "Cluster",
        "terminating endpoints on remote node",
        REMOTE_TERMINATING,
        "10.0.1.5:80",
        "10.0.1.5:80",
        True,
    ),
    ("Cluster", "no usable endpoints on any node", NOTHING_USABLE, "REJECT", "REJECT", True),
)


def _outcome(answer: dict) -> str:
    if answer["action"] != "forward":
        return answer["action"].upper()
    return ", ".join(f"{e['ip']}:80" for e in answer["endpoints"])


@pytest.mark.parametrize(
    ("etp", "case", "endpoints", "pod_out", "ext_out", "ext_masq"),
    TERMINATING,
    ids=[f"TestTerminatingEndpointsTrafficPolicy{t[0]}: {t[1]}" for t in TERMINATING],
)
def test_terminating_endpoints_traffic_policy(
    etp: str, case: str, endpoints: list[dict], pod_out: str, ext_out: str, ext_masq: bool
) -> None:
    snapshot = terminating_cluster(etp, endpoints)
    pod = simulate(snapshot, Question(service="ns1/svc1", source=f"pod:{NODE}")).to_json()
    ext = simulate(
        snapshot, Question(service="ns1/svc1", source=f"external:{NODE}", to="loadbalancer")
    ).to_json()
    assert _outcome(pod) == pod_out
    assert _outcome(ext) == ext_out
    if ext["action"] == "forward":
        assert ext["client_ip_preserved"] is (not ext_masq)
