"""Audit against upstream kube-proxy: cases the other tables did not cover, end to end
through ``snapshot_from_objects`` + ``simulate`` (each case cites what it derives from).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

NODES = (node_obj("n1", zone="a"), node_obj("n2", zone="a"), node_obj("n3", zone="b"))


def two_port_service(**kw) -> dict:
    return service_obj(
        "multi",
        ports=[
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": 30080},
            {
                "name": "metrics",
                "port": 9090,
                "protocol": "TCP",
                "targetPort": 9102,
                "nodePort": 30090,
            },
        ],
        type="LoadBalancer",
        lb_ips=["192.0.2.9"],
        **kw,
    )


def two_port_slices() -> list[dict]:
    # Named targetPort "web" resolves to 8080 on some pods and 8081 on others: the
    # EndpointSlice controller writes one slice per distinct port set.
    return [
        slice_obj(
            "multi",
            [endpoint_obj("10.1.0.1", "n1")],
            name="multi-a",
            ports=[
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9102, "protocol": "TCP"},
            ],
        ),
        slice_obj(
            "multi",
            [endpoint_obj("10.2.0.1", "n2")],
            name="multi-b",
            ports=[{"name": "http", "port": 8081, "protocol": "TCP"}],
        ),
    ]


def with_ingress(service: dict, ingress: list[dict]) -> dict:
    return {**service, "status": {"loadBalancer": {"ingress": ingress}}}


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    objects: tuple[dict, ...]
    expected: dict[str, float]
    service: str = "default/web"
    to: str | None = None
    port: str | None = None
    action: str = "forward"
    preserved: bool | None = None
    codes: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict)


WEB3 = [
    endpoint_obj("10.1.0.11", "n1"),
    endpoint_obj("10.2.0.21", "n2"),
    endpoint_obj("10.3.0.31", "n3"),
]

CASES = (
    # endpointslicecache.go endpointInfoByServicePort: endpoints are per service *port name*;
    # a named targetPort resolving differently per pod still lands in one port's list.
    Case(
        "named targetPort resolving to two numbers: both slices feed port http",
        "pod:n3",
        (*NODES, two_port_service(), *two_port_slices()),
        {"10.1.0.1": 0.5, "10.2.0.1": 0.5},
        service="default/multi",
        port="http",
    ),
    Case(
        "port metrics only has the pods exposing it",
        "pod:n3",
        (*NODES, two_port_service(), *two_port_slices()),
        {"10.1.0.1": 1.0},
        service="default/multi",
        port="metrics",
    ),
    # service_health.go / EndpointsMap.getLocalReadyEndpointIPs: the health check counts
    # local Ready IPs over *all* ports of the service, so n2 passes for port metrics too,
    # and the LB sends metrics clients to n2, where eTP=Local finds no local endpoint.
    Case(
        "health check is per service: n2 passes on its http pod, metrics clients there drop",
        "lb",
        (*NODES, two_port_service(etp="Local", hc_port=32100), *two_port_slices()),
        {"10.1.0.1": 0.5},
        service="default/multi",
        port="metrics",
        action="forward",
    ),
    # serviceport.go: loadBalancerSourceRanges apply to LB VIPs, never NodePorts.
    Case(
        "NodePort ignores loadBalancerSourceRanges",
        "external:n2",
        (
            *NODES,
            {
                **service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.1"]),
                "spec": {
                    **service_obj("web", type="LoadBalancer")["spec"],
                    "loadBalancerSourceRanges": ["203.0.113.0/24"],
                },
            },
            slice_obj("web", WEB3),
        ),
        {"10.1.0.11": 1 / 3, "10.2.0.21": 1 / 3, "10.3.0.31": 1 / 3},
        to="nodeport",
        preserved=False,
    ),
    # proxyutil.IsVIPMode: ipMode Proxy is not captured; a pod's packet leaves for the LB and
    # comes back through NodePorts (iptables TestLoadBalancerIngressRouteTypeProxy).
    Case(
        "ipMode Proxy ingress: pod traffic goes out and back through the LB's nodes",
        "pod:n1",
        (
            *NODES,
            with_ingress(
                service_obj("web", type="LoadBalancer"), [{"ip": "192.0.2.1", "ipMode": "Proxy"}]
            ),
            slice_obj("web", WEB3),
        ),
        {"10.1.0.11": 1 / 3, "10.2.0.21": 1 / 3, "10.3.0.31": 1 / 3},
        to="loadbalancer",
        codes=("LB_NOT_CAPTURED",),
    ),
    # ExternalPolicyLocal covers ClusterIP services with externalIPs (pkg/api/v1/service/util.go).
    Case(
        "externalIP with eTP=Local: external client at n2 gets n2's pod only, IP kept",
        "external:n2",
        (
            *NODES,
            service_obj("web", external_ips=["198.51.100.7"], etp="Local"),
            slice_obj("web", WEB3),
        ),
        {"10.2.0.21": 1.0},
        to="externalip",
        preserved=True,
    ),
    # UDP and SCTP ports are routed like TCP (one chain set per port and protocol).
    Case(
        "UDP port: uniform over its endpoints",
        "pod:n1",
        (
            *NODES,
            service_obj(
                "dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]
            ),
            slice_obj("dns", WEB3[:2], ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]),
        ),
        {"10.1.0.11": 0.5, "10.2.0.21": 0.5},
        service="default/dns",
    ),
    Case(
        "SCTP port: uniform over its endpoints",
        "pod:n1",
        (
            *NODES,
            service_obj(
                "sig",
                ports=[{"name": "sctp", "port": 3868, "protocol": "SCTP", "targetPort": 3868}],
            ),
            slice_obj("sig", WEB3[1:], ports=[{"name": "sctp", "port": 3868, "protocol": "SCTP"}]),
        ),
        {"10.2.0.21": 0.5, "10.3.0.31": 0.5},
        service="default/sig",
    ),
    # A Service without selector: kube-proxy only needs slices labelled with its name.
    Case(
        "selector-less service with a manual EndpointSlice",
        "pod:n1",
        (
            *NODES,
            {
                **service_obj("ext"),
                "spec": {k: v for k, v in service_obj("ext")["spec"].items() if k != "selector"},
            },
            slice_obj("ext", [endpoint_obj("192.168.50.10", None)]),
        ),
        {"192.168.50.10": 1.0},
        service="default/ext",
    ),
    # Dual-stack: the IPv6 slice feeds an IPv6-primary service; the IPv4 slice is the other
    # proxier's.
    Case(
        "IPv6-primary dual-stack service uses the IPv6 slice",
        "pod:n1",
        (
            *NODES,
            {
                **service_obj("v6", cluster_ip="fd00::10"),
                "spec": {
                    **service_obj("v6", cluster_ip="fd00::10")["spec"],
                    "clusterIPs": ["fd00::10", "10.96.0.60"],
                },
            },
            slice_obj("v6", [endpoint_obj("fd00:1::5", "n2")], name="v6-six", address_type="IPv6"),
            slice_obj("v6", [endpoint_obj("10.2.0.5", "n2")], name="v6-four"),
        ),
        {"fd00:1::5": 1.0},
        service="default/v6",
        codes=("DUAL_STACK_PRIMARY_FAMILY",),
    ),
    # topology.go: a node without a zone label never matches zone hints -> all endpoints.
    Case(
        "zone hints, node without zone label: hints ignored there",
        "pod:nz",
        (
            *NODES,
            node_obj("nz"),
            service_obj("web"),
            slice_obj(
                "web",
                [
                    endpoint_obj("10.1.0.11", "n1", zones=("a",)),
                    endpoint_obj("10.3.0.31", "n3", zones=("b",)),
                ],
            ),
        ),
        {"10.1.0.11": 0.5, "10.3.0.31": 0.5},
        codes=("HINTS_IGNORED_NODE_WITHOUT_ZONE",),
    ),
    # topology_test.go "PreferSameNode falls back to same-zone when no endpoint is on this node".
    Case(
        "node hints for other nodes only: falls back to zone hints",
        "pod:n2",
        (
            *NODES,
            service_obj("web"),
            slice_obj(
                "web",
                [
                    endpoint_obj("10.1.0.11", "n1", zones=("a",), nodes=("n1",)),
                    endpoint_obj("10.3.0.31", "n3", zones=("b",), nodes=("n3",)),
                ],
            ),
        ),
        {"10.1.0.11": 1.0},
        codes=("NODE_HINTS_IGNORED_NO_HINT_FOR_NODE", "TOPOLOGY_SAME_ZONE"),
    ),
    # iptables proxier.go: "has no endpoints" REJECT rules are written for every
    # destination (ClusterIP, externalIP, LB IP, NodePort), "has no local endpoints" DROP
    # for the external ones under eTP=Local (TestOnlyLocalNodePorts, TestLoadBalancer...).
    *(
        Case(
            f"no usable endpoint at all: {to} rejected",
            "external:n2",
            (
                *NODES,
                service_obj(
                    "web",
                    type="LoadBalancer",
                    lb_ips=["192.0.2.1"],
                    external_ips=["198.51.100.7"],
                    etp=etp,
                ),
                slice_obj("web", [endpoint_obj("10.1.0.11", "n1", ready=False, serving=False)]),
            ),
            {},
            to=to,
            action="reject",
            codes=("NO_ENDPOINTS_REJECT",),
        )
        for to in ("nodeport", "loadbalancer", "externalip")
        for etp in ("Local",)
    ),
    *(
        Case(
            f"eTP=Local, endpoints only elsewhere: {to} dropped",
            "external:n2",
            (
                *NODES,
                service_obj(
                    "web",
                    type="LoadBalancer",
                    lb_ips=["192.0.2.1"],
                    external_ips=["198.51.100.7"],
                    etp="Local",
                ),
                slice_obj("web", [endpoint_obj("10.1.0.11", "n1")]),
            ),
            {},
            to=to,
            action="drop",
            codes=("LOCAL_NO_ENDPOINT_ON_NODE",),
        )
        for to in ("nodeport", "loadbalancer", "externalip")
    ),
    # LB ingress with a hostname only (AWS ELB): nothing captured on nodes.
    Case(
        "hostname-only ingress: pod traffic comes back through NodePorts",
        "pod:n1",
        (
            *NODES,
            with_ingress(service_obj("web", type="LoadBalancer"), [{"hostname": "a1.elb.example"}]),
            slice_obj("web", WEB3),
        ),
        {"10.1.0.11": 1 / 3, "10.2.0.21": 1 / 3, "10.3.0.31": 1 / 3},
        to="loadbalancer",
        codes=("LB_NOT_CAPTURED",),
    ),
    # 1.33 kube-proxy: PreferSameTrafficDistribution is alpha (off) -> forNodes ignored.
    Case(
        "v1.33: node hints ignored, zone hints used",
        "pod:n1",
        (
            node_obj("n1", zone="a", version="v1.33.2"),
            node_obj("n2", zone="a", version="v1.33.2"),
            node_obj("n3", zone="b", version="v1.33.2"),
            service_obj("web"),
            slice_obj(
                "web",
                [
                    endpoint_obj("10.1.0.11", "n1", zones=("a",), nodes=("n1",)),
                    endpoint_obj("10.2.0.21", "n2", zones=("a",), nodes=("n2",)),
                    endpoint_obj("10.3.0.31", "n3", zones=("b",), nodes=("n3",)),
                ],
            ),
        ),
        {"10.1.0.11": 0.5, "10.2.0.21": 0.5},
        codes=("NODE_HINTS_IGNORED_GATE_OFF",),
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_audit_case(case: Case) -> None:
    snapshot = snapshot_from_objects(list(case.objects), **case.overrides)
    answer = simulate(
        snapshot, Question(service=case.service, source=case.source, to=case.to, port=case.port)
    )
    data = answer.to_json()
    got = {e["ip"]: e["share"] for e in data["endpoints"]}
    assert got == pytest.approx(case.expected, abs=1e-6)
    assert data["action"] == case.action
    if case.preserved is not None:
        assert data["client_ip_preserved"] is case.preserved
    codes = {r["code"] for r in data["reasons"]}
    for code in case.codes:
        assert code in codes, code


def test_health_check_node_port_answer_per_node() -> None:
    """service_health.go: 200 iff the node has a local Ready endpoint (any port of the
    service; terminating ones do not count); eTP=Cluster LBs probe kube-proxy's healthz,
    200 on every Ready node (KEP-3836). A NotReady node is taken as not answering."""
    from routing.engine.lb import lb_nodes

    nodes = (*NODES, node_obj("n4", zone="b", ready=False))
    eps = [
        endpoint_obj("10.1.0.11", "n1"),
        endpoint_obj("10.2.0.21", "n2", ready=False, serving=True, terminating=True),
        endpoint_obj("10.4.0.41", "n4"),
    ]
    for etp, expected in (
        ("Local", {"n1": 200, "n2": 503, "n3": 503, "n4": 503}),
        ("Cluster", {"n1": 200, "n2": 200, "n3": 200, "n4": 503}),
    ):
        service = service_obj(
            "web", type="LoadBalancer", lb_ips=["192.0.2.1"], etp=etp, hc_port=32000
        )
        snapshot = snapshot_from_objects([*nodes, service, slice_obj("web", eps)])
        svc = snapshot.services["default/web"]
        got = lb_nodes(snapshot, service=svc, port=svc.ports[0])
        assert got.health == expected, etp
        assert [name for name, _ in got.nodes] == sorted(
            n for n, code in expected.items() if code == 200
        )


def test_proxy_mode_lb_replaces_the_source_address() -> None:
    """KEP-1860 ipMode Proxy: the LB opens its own connection to a NodePort. Under eTP=Local
    a pod's call therefore is not short-circuited (its pod IP is gone): the healthy nodes
    serve it from their Local sets, per node; and no client IP survives. A hostname
    (pass-through) ingress keeps the pod source, so the short-circuit spreads per pod."""
    eps = [
        endpoint_obj("10.1.0.11", "n1"),
        endpoint_obj("10.1.0.12", "n1"),
        endpoint_obj("10.3.0.31", "n3"),
    ]

    def answer(ingress: dict, source: str) -> dict:
        service = with_ingress(
            service_obj("web", type="LoadBalancer", etp="Local", hc_port=32000), [ingress]
        )
        snapshot = snapshot_from_objects([*NODES, service, slice_obj("web", eps)])
        return simulate(
            snapshot, Question(service="default/web", source=source, to="loadbalancer")
        ).to_json()

    proxied = answer({"ip": "192.0.2.1", "ipMode": "Proxy"}, "pod:n2")
    assert {e["ip"]: e["share"] for e in proxied["endpoints"]} == {
        "10.1.0.11": 0.25,
        "10.1.0.12": 0.25,
        "10.3.0.31": 0.5,
    }
    assert proxied["client_ip_preserved"] is False
    assert "LB_PROXY_REPLACES_SOURCE" in {r["code"] for r in proxied["reasons"]}
    passthrough = answer({"hostname": "lb.example"}, "pod:n2")
    assert {e["ip"]: e["share"] for e in passthrough["endpoints"]} == pytest.approx(
        {"10.1.0.11": 1 / 3, "10.1.0.12": 1 / 3, "10.3.0.31": 1 / 3}, abs=1e-6
    )
    assert answer({"ip": "192.0.2.1", "ipMode": "Proxy"}, "lb")["client_ip_preserved"] is False
