"""Issue 11 ("Fidelity II"): the adapter and the answer read Services, slices, families and
topology exactly as kube-proxy's code does. Each case names the upstream file and function
(kubernetes/kubernetes) it follows.
"""

from __future__ import annotations

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, QuestionError, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

NODES = (node_obj("n1", zone="a"), node_obj("n2", zone="a"), node_obj("n3", zone="b"))


def answer(objects, source: str = "pod:n1", service: str = "default/web", **kw) -> dict:
    return simulate(
        snapshot_from_objects(list(objects)), Question(service=service, source=source, **kw)
    ).to_json()


def shares(result: dict) -> dict[str, float]:
    return {e["ip"]: e["share"] for e in result["endpoints"]}


def codes(result: dict) -> set[str]:
    return {r["code"] for r in result["reasons"]}


# -- item 3: a Service port is served by slice ports matching its name AND protocol ------------


def test_slice_port_of_another_protocol_does_not_serve_the_service_port() -> None:
    # pkg/proxy/endpointslicecache.go endpointInfoByServicePort: the key is
    # ServicePortName{NamespacedName, Port: name, Protocol}; serviceport.go keys the
    # Service side the same way, so a UDP slice port named "http" serves no TCP port "http".
    svc = service_obj("web")
    slices = [
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")], name="web-tcp"),
        slice_obj(
            "web",
            [endpoint_obj("10.2.0.1", "n2")],
            name="web-udp",
            ports=[{"name": "http", "port": 8080, "protocol": "UDP"}],
        ),
    ]
    result = answer((*NODES, svc, *slices))
    assert shares(result) == {"10.1.0.1": 1.0}


def test_service_with_tcp_and_udp_ports_of_one_number_reads_each_protocol() -> None:
    # pkg/proxy/endpointslicecache.go endpointInfoByServicePort (name + protocol key):
    # a DNS-like Service with "dns" UDP and "dns-tcp" TCP.
    svc = service_obj(
        "dns",
        ports=[
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ],
    )
    slices = [
        slice_obj(
            "dns",
            [endpoint_obj("10.1.0.1", "n1")],
            ports=[
                {"name": "dns", "port": 53, "protocol": "TCP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        )
    ]
    objs = (*NODES, svc, *slices)
    assert answer(objs, service="default/dns", port="dns")["action"] == "reject"
    assert shares(answer(objs, service="default/dns", port="dns-tcp")) == {"10.1.0.1": 1.0}


def test_slice_port_without_protocol_is_tcp() -> None:
    # The API defaults EndpointPort.protocol to TCP (discovery/v1 defaults), so kube-proxy
    # sees Protocol TCP in endpointInfoByServicePort.
    slices = [
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")], ports=[{"name": "http", "port": 8080}])
    ]
    assert shares(answer((*NODES, service_obj("web"), *slices))) == {"10.1.0.1": 1.0}


# -- item 4: IP families ---------------------------------------------------------------------


def dual_stack(**kw) -> dict:
    svc = service_obj("web", type="LoadBalancer", **kw)
    svc["spec"]["clusterIPs"] = ["10.96.0.10", "fd00::10"]
    svc["spec"]["ipFamilies"] = ["IPv4", "IPv6"]
    return svc


V6_SLICE = slice_obj(
    "web",
    [endpoint_obj("fd00:1::1", "n1"), endpoint_obj("fd00:2::1", "n2")],
    name="web-v6",
    address_type="IPv6",
)
V4_SLICE = slice_obj("web", [endpoint_obj("10.1.0.1", "n1")], name="web-v4")


def test_other_family_external_and_ingress_ips_are_not_programmed() -> None:
    # pkg/proxy/serviceport.go newBaseServiceInfo: externalIPs, loadBalancerSourceRanges
    # and VIP ingress IPs are filtered to the proxier's family (MapIPsByIPFamily).
    svc = service_obj(
        "web", type="LoadBalancer", lb_ips=["2001:db8::9"], external_ips=["2001:db8::7"]
    )
    snap = snapshot_from_objects([*NODES, svc, V4_SLICE])
    service = snap.services["default/web"]
    assert service.external_ips == () and service.lb_ips == ()
    with pytest.raises(
        QuestionError, match="2001:db8::7 are IPv6, and the Service has no IPv6 ClusterIP"
    ):
        simulate(snap, Question(service="default/web", source="external:n1", to="externalip"))
    with pytest.raises(QuestionError, match="2001:db8::9 are IPv6"):
        simulate(snap, Question(service="default/web", source="external:n1", to="loadbalancer"))


def test_dual_stack_service_answered_per_family() -> None:
    # pkg/proxy/servicechangetracker.go / serviceport.go: each family's proxier takes
    # GetClusterIPByFamily and the slices of its addressType (endpointslicecache.go
    # addEndpoints skips the other family).
    objs = (*NODES, dual_stack(lb_ips=["192.0.2.9", "2001:db8::9"]), V4_SLICE, V6_SLICE)
    v4 = answer(objs)
    v6 = answer(objs, family="IPv6")
    assert shares(v4) == {"10.1.0.1": 1.0} and v4["family"] == "IPv4"
    assert shares(v6) == {"fd00:1::1": 0.5, "fd00:2::1": 0.5} and v6["family"] == "IPv6"
    lb6 = answer(objs, source="external:n2", to="loadbalancer", family="IPv6")
    assert set(shares(lb6)) == {"fd00:1::1", "fd00:2::1"}
    only_v6_eip = (*NODES, dual_stack(external_ips=["2001:db8::7"]), V4_SLICE, V6_SLICE)
    with pytest.raises(QuestionError, match="ask for --family IPv6"):
        answer(only_v6_eip, source="external:n1", to="externalip")
    assert set(
        shares(answer(only_v6_eip, source="external:n1", to="externalip", family="IPv6"))
    ) == {"fd00:1::1", "fd00:2::1"}


def test_family_the_service_does_not_have_is_bad_input() -> None:
    # servicechangetracker.go: no ClusterIP of the family -> not in that proxier's map.
    with pytest.raises(QuestionError, match="IPv6"):
        answer((*NODES, service_obj("web"), V4_SLICE), family="IPv6")
    with pytest.raises(QuestionError, match="family"):
        answer((*NODES, service_obj("web"), V4_SLICE), family="IPv5")


def test_one_address_written_two_ways_is_one_endpoint() -> None:
    # The kernel (and IPVS, which keys real servers by the parsed address) sees one
    # destination; utilnet.ParseIPSloppy reads both spellings as the same IP.
    svc = service_obj("web", cluster_ip="fd00::10")
    slices = [
        slice_obj("web", [endpoint_obj("2001:db8::1", "n1")], name="a", address_type="IPv6"),
        slice_obj("web", [endpoint_obj("2001:0DB8:0:0::1", "n1")], name="b", address_type="IPv6"),
        slice_obj("web", [endpoint_obj("2001:db8::2", "n2")], name="c", address_type="IPv6"),
    ]
    assert shares(answer((*NODES, svc, *slices))) == {"2001:db8::1": 0.5, "2001:db8::2": 0.5}


# -- item 5: topology read as kube-proxy reads it -------------------------------------------------


def test_only_the_ga_zone_label_is_a_zone() -> None:
    # pkg/proxy/topology.go CategorizeEndpoints: zone := topologyLabels[v1.LabelTopologyZone];
    # the deprecated failure-domain.beta label is never read.
    nodes = [
        node_obj("n1", labels={"failure-domain.beta.kubernetes.io/zone": "a"}),
        node_obj("n2", zone="a"),
        node_obj("n3", zone="b"),
    ]
    eps = [
        endpoint_obj("10.1.0.1", "n1", zone="a", zones=("a",)),
        endpoint_obj("10.3.0.1", "n3", zone="b", zones=("b",)),
    ]
    result = answer((*nodes, service_obj("web"), slice_obj("web", eps)))
    # n1 has no zone for kube-proxy: no endpoint hinted for zone "", so no filtering.
    assert shares(result) == {"10.1.0.1": 0.5, "10.3.0.1": 0.5}
    assert "NODE_ONLY_BETA_ZONE" in codes(result)


def test_hint_values_are_taken_as_given() -> None:
    # pkg/proxy/endpointslicecache.go: every ForZones[].Name is inserted as is (no case
    # folding, no trimming), so hints "A" do not match zone "a".
    eps = [
        endpoint_obj("10.1.0.1", "n1", zones=("A",)),
        endpoint_obj("10.3.0.1", "n3", zones=("b",)),
    ]
    result = answer((*NODES, service_obj("web"), slice_obj("web", eps)), source="pod:n2")
    assert shares(result) == {"10.1.0.1": 0.5, "10.3.0.1": 0.5}
    assert "HINTS_IGNORED_NO_HINT_FOR_ZONE" in codes(result)


def test_empty_hint_name_counts_as_a_hint() -> None:
    # endpointslicecache.go inserts zone.Name even when empty: the endpoint *has* a zone
    # hint (the name ""), so "every ready endpoint has a hint" holds (topology.go
    # topologyModeFromHints) and zone "b" gets its own endpoint only.
    eps = [endpoint_obj("10.1.0.1", "n1"), endpoint_obj("10.3.0.1", "n3", zones=("b",))]
    eps[0]["hints"] = {"forZones": [{"name": ""}]}
    result = answer((*NODES, service_obj("web"), slice_obj("web", eps)), source="pod:n3")
    assert shares(result) == {"10.3.0.1": 1.0}


@pytest.mark.parametrize(
    ("version", "annotation", "filtered"),
    [
        # 1.24-1.26 read only service.kubernetes.io/topology-aware-hints (serviceport.go of
        # those releases: hintsAnnotation: service.Annotations[v1.AnnotationTopologyAwareHints]).
        ("1.26", {"service.kubernetes.io/topology-mode": "Auto"}, False),
        ("1.26", {"service.kubernetes.io/topology-aware-hints": "Auto"}, True),
        # 1.27+ read topology-aware-hints when present, else topology-mode (serviceport.go).
        ("1.27", {"service.kubernetes.io/topology-mode": "Auto"}, True),
        (
            "1.29",
            {
                "service.kubernetes.io/topology-aware-hints": "",
                "service.kubernetes.io/topology-mode": "Auto",
            },
            False,
        ),
    ],
)
def test_topology_annotation_read_by_release(
    version: str, annotation: dict, filtered: bool
) -> None:
    eps = [
        endpoint_obj("10.1.0.1", "n1", zones=("a",)),
        endpoint_obj("10.3.0.1", "n3", zones=("b",)),
    ]
    objs = [*NODES, service_obj("web", annotations=annotation), slice_obj("web", eps)]
    result = simulate(
        snapshot_from_objects(objs, version=version),
        Question(service="default/web", source="pod:n2"),
    ).to_json()
    assert shares(result) == ({"10.1.0.1": 1.0} if filtered else {"10.1.0.1": 0.5, "10.3.0.1": 0.5})


# -- item 5: what-if trafficDistribution imitates the EndpointSlice controller -------------------


def test_prefer_same_node_what_if_writes_node_hints_without_zone_labels() -> None:
    # staging/src/k8s.io/endpointslice/trafficdist/trafficdist.go preferCloseHeuristic.update:
    # forNodes = nodeName for PreferSameNode whether or not the endpoint has a zone.
    nodes = [node_obj("n1"), node_obj("n2"), node_obj("n3")]
    eps = [endpoint_obj("10.1.0.1", "n1"), endpoint_obj("10.2.0.1", "n2")]
    objs = (*nodes, service_obj("web"), slice_obj("web", eps))
    result = answer(objs, source="pod:n1", overrides={"trafficDistribution": "PreferSameNode"})
    assert shares(result) == {"10.1.0.1": 1.0}
    assert "TOPOLOGY_SAME_NODE" in codes(result)


def test_what_if_leaves_not_ready_endpoints_hints_alone() -> None:
    # trafficdist.go preferCloseHeuristic.update skips endpoints that are not Ready: their
    # old hints stay. A terminating endpoint hinted for zone b stays hinted for b only.
    eps = [endpoint_obj("10.1.0.1", "n1", zone="a"), endpoint_obj("10.3.0.1", "n3", zone="b")]
    objs = (*NODES, service_obj("web"), slice_obj("web", eps))
    snap = snapshot_from_objects(list(objs))
    from routing.engine.scenario import Scenario, apply_scenario

    after = apply_scenario(
        snap, Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}})
    )
    assert {ep.ip: ep.zone_hints for ep in after.endpoints("default/web", "http")} == {
        "10.1.0.1": frozenset({"a"}),
        "10.3.0.1": frozenset({"b"}),
    }
    term = [
        endpoint_obj("10.1.0.1", "n1", zone="a"),
        endpoint_obj(
            "10.3.0.1", "n3", zone="b", ready=False, serving=True, terminating=True, zones=("x",)
        ),
    ]
    snap = snapshot_from_objects([*NODES, service_obj("web"), slice_obj("web", term)])
    after = apply_scenario(
        snap, Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}})
    )
    assert {ep.ip: ep.zone_hints for ep in after.endpoints("default/web", "http")} == {
        "10.1.0.1": frozenset({"a"}),
        "10.3.0.1": frozenset({"x"}),
    }


def test_what_if_never_touches_slices_of_a_service_without_selector() -> None:
    # pkg/controller/endpointslice/endpointslice_controller.go syncService: a Service
    # without a selector gets no slices from the controller (they are hand-managed), so
    # setting trafficDistribution writes no hints.
    svc = service_obj("web")
    del svc["spec"]["selector"]
    eps = [endpoint_obj("10.1.0.1", "n1", zone="a"), endpoint_obj("10.3.0.1", "n3", zone="b")]
    result = answer(
        (*NODES, svc, slice_obj("web", eps)),
        source="pod:n2",
        overrides={"trafficDistribution": "PreferClose"},
    )
    assert shares(result) == {"10.1.0.1": 0.5, "10.3.0.1": 0.5}
    assert "TRAFFIC_DISTRIBUTION_WITHOUT_HINTS" in codes(result)


# -- item 2: Services kube-proxy does not handle ---------------------------------------------


def headless_objects() -> list[dict]:
    svc = service_obj("web")
    svc["spec"]["clusterIP"], svc["spec"]["clusterIPs"] = "None", ["None"]
    eps = [
        endpoint_obj("10.1.0.1", "n1"),
        endpoint_obj("10.3.0.1", "n3"),
        endpoint_obj("10.2.0.9", "n2", ready=False),
    ]
    sl = slice_obj("web", eps)
    sl["metadata"]["labels"]["service.kubernetes.io/headless"] = ""
    return [*NODES, svc, sl]


def test_headless_service_is_not_proxied_dns_returns_ready_endpoints() -> None:
    # pkg/proxy/servicechangetracker.go serviceToServiceMap skips Services without a
    # ClusterIP (ShouldSkipService); cluster DNS answers with the ready endpoints' addresses.
    result = answer(headless_objects())
    assert result["proxied"] is False and result["action"] == "forward" and result["dropped"] == 0.0
    assert result["dns"] == ["10.1.0.1", "10.3.0.1"]
    assert shares(result) == {"10.1.0.1": 0.5, "10.3.0.1": 0.5}
    assert codes(result) == {"NOT_PROXIED_HEADLESS"}
    assert result["explain"][0].startswith(
        "NOT_PROXIED_HEADLESS: not proxied by kube-proxy: DNS returns"
    )


def test_external_name_is_not_proxied_dns_returns_a_cname() -> None:
    # servicechangetracker.go: an ExternalName Service has no ClusterIP, kube-proxy skips it.
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    result = answer((*NODES, svc), service="default/db")
    assert result["proxied"] is False and result["action"] == "forward"
    assert result["endpoints"] == [
        {"ip": "db.example.com", "node": None, "zone": None, "share": 1.0}
    ]
    assert result["dns"] == ["db.example.com"] and codes(result) == {"NOT_PROXIED_EXTERNAL_NAME"}
    assert "DNS returns a CNAME to db.example.com" in result["explain"][0]


@pytest.mark.parametrize("value", ["cilium", ""])
def test_service_proxy_name_label_leaves_service_to_another_proxy(value: str) -> None:
    # cmd/kube-proxy/app/server.go ProxyServer.Run: informers select
    # !service.kubernetes.io/service-proxy-name (label present, whatever its value).
    svc = service_obj("web", type="NodePort")
    svc["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": value}
    objs = [*NODES, svc, slice_obj("web", [endpoint_obj("10.1.0.1", "n1")])]
    for source in ("pod:n1", "external:n2"):
        result = answer(objs, source=source)
        assert (
            result["proxied"] is False
            and result["action"] == "forward"
            and result["dropped"] == 0.0
        )
        assert codes(result) == {"NOT_PROXIED_OTHER_PROXY"} and result["dns"] == ["10.96.0.10"]
    from routing.engine.analysis import analyze
    from routing.engine.rules.plan import proxied_services

    snap = snapshot_from_objects(objs)
    report = analyze(snap)
    assert not report.rows
    assert [f.code for f in report.findings] == ["NOT_PROXIED_OTHER_PROXY"]
    assert proxied_services(snap) == []


def test_slices_labelled_for_another_proxy_are_ignored() -> None:
    # server.go: the same label selector applies to EndpointSlices, so a labelled slice of
    # an ordinary Service feeds nothing.
    other = slice_obj("web", [endpoint_obj("10.2.0.1", "n2")], name="web-other")
    other["metadata"]["labels"]["service.kubernetes.io/service-proxy-name"] = "foo"
    result = answer(
        (*NODES, service_obj("web"), slice_obj("web", [endpoint_obj("10.1.0.1", "n1")]), other)
    )
    assert shares(result) == {"10.1.0.1": 1.0}


def test_analysis_says_headless_is_not_proxied() -> None:
    from routing.engine.analysis import analyze

    report = analyze(snapshot_from_objects(headless_objects()))
    assert [(f.code, f.service) for f in report.findings] == [
        ("NOT_PROXIED_HEADLESS", "default/web")
    ]
    assert "DNS returns" in report.findings[0].message


def test_headless_service_without_ready_endpoints_fails_the_lookup() -> None:
    # DNS has no record to return (no ready endpoint, publishNotReadyAddresses unset): the
    # client fails at once, before any packet: counted as refused, not silently dropped.
    objs = headless_objects()
    for ep in objs[-1]["endpoints"]:
        ep["conditions"] = {"ready": False}
    result = answer(objs)
    assert result["proxied"] is False and result["action"] == "reject" and result["dropped"] == 1.0
    assert result["drop_reason"] == "NOT_PROXIED_HEADLESS" and result["dns"] == []


# -- item 1: loadBalancerSourceRanges in simulate and the analysis ---------------------------------


def ranged_nodes() -> list[dict]:
    out = []
    for i, (name, zone) in enumerate((("n1", "a"), ("n2", "a"), ("n3", "b")), start=1):
        node = node_obj(name, zone=zone, pod_cidr=f"10.244.{i}.0/24")
        node["status"]["addresses"] = [{"type": "InternalIP", "address": f"192.168.0.{i}"}]
        out.append(node)
    return out


def ranged_objects(ranges: list[str], *, endpoints: bool = True) -> list[dict]:
    svc = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.9"])
    svc["spec"]["loadBalancerSourceRanges"] = ranges
    eps = [endpoint_obj("10.244.1.5", "n1"), endpoint_obj("10.244.3.5", "n3")] if endpoints else []
    return [*ranged_nodes(), svc, slice_obj("web", eps)]


MODES_FW = ("iptables", "nftables", "ipvs")


@pytest.mark.parametrize("mode", MODES_FW)
def test_pod_outside_the_ranges_is_dropped_at_the_lb_ip(mode: str) -> None:
    # pkg/proxy/iptables/proxier.go syncProxyRules (KUBE-FW-* then KUBE-PROXY-FIREWALL DROP),
    # pkg/proxy/nftables/proxier.go (firewall chain "ip saddr != {…} drop"),
    # pkg/proxy/ipvs/proxier.go (KUBE-LOAD-BALANCER-FW / -SOURCE-CIDR, else KUBE-MARK-DROP):
    # the filter sits on the LB IP for every source, pods included.
    result = answer(
        ranged_objects(["203.0.113.0/24"]), source="pod:n1", to="loadbalancer", proxy_mode=mode
    )
    assert result["action"] == "drop" and result["dropped"] == 1.0 and result["endpoints"] == []
    assert result["drop_reason"] == "LB_SOURCE_RANGE_DROP"
    assert "LB_SOURCE_RANGE_DROP" in codes(result)
    inside = answer(
        ranged_objects(["10.244.0.0/16"]), source="pod:n1", to="loadbalancer", proxy_mode=mode
    )
    assert inside["action"] == "forward" and inside["dropped"] == 0.0
    assert "LB_SOURCE_RANGE_ALLOWED" in codes(inside)


@pytest.mark.parametrize("mode", MODES_FW)
def test_host_process_is_checked_by_its_node_ip(mode: str) -> None:
    # iptables/proxier.go: allowFromNode (node IP inside a range) also lets "-s LBIP"
    # through — a host's call to a local VIP — so a host process passes iff its node IP does.
    outside = answer(
        ranged_objects(["10.244.0.0/16"]), source="host:n2", to="loadbalancer", proxy_mode=mode
    )
    assert outside["action"] == "drop" and outside["drop_reason"] == "LB_SOURCE_RANGE_DROP"
    inside = answer(
        ranged_objects(["192.168.0.0/24"]), source="host:n2", to="loadbalancer", proxy_mode=mode
    )
    assert inside["action"] == "forward"


@pytest.mark.parametrize("mode", MODES_FW)
def test_external_and_lb_clients_are_checked_by_client_ip(mode: str) -> None:
    objs = ranged_objects(["203.0.113.0/24"])
    out = answer(
        objs, source="external:n2", to="loadbalancer", proxy_mode=mode, client_ip="198.51.100.7"
    )
    assert out["action"] == "drop" and out["dropped"] == 1.0
    assert "198.51.100.7 is outside loadBalancerSourceRanges" in " ".join(out["explain"])
    ok = answer(
        objs, source="external:n2", to="loadbalancer", proxy_mode=mode, client_ip="203.0.113.5"
    )
    assert ok["action"] == "forward" and ok["dropped"] == 0.0
    lb_out = answer(objs, source="lb", proxy_mode=mode, client_ip="198.51.100.7")
    assert (
        lb_out["action"] == "drop"
        and lb_out["dropped"] == 1.0
        and lb_out["drop_reason"] == "LB_SOURCE_RANGE_DROP"
    )
    unknown = answer(objs, source="lb", proxy_mode=mode)
    assert unknown["action"] == "forward" and "LB_SOURCE_RANGE_ASSUMED" in codes(unknown)


def test_node_port_and_other_family_ranges_are_not_filtered() -> None:
    # The filter is on the LB IP only (NodePorts go through KUBE-NODEPORTS); serviceport.go
    # keeps only the ranges of the proxier's family.
    objs = ranged_objects(["203.0.113.0/24"])
    assert (
        answer(objs, source="external:n2", to="nodeport", client_ip="198.51.100.7")["action"]
        == "forward"
    )
    v6_only = ranged_objects(["2001:db8::/64"])
    assert answer(v6_only, source="pod:n1", to="loadbalancer")["action"] == "forward"


def test_without_endpoints_iptables_rejects_before_the_firewall_nftables_drops() -> None:
    # iptables/proxier.go: usesFWChain := hasEndpoints && …, the REJECT for "has no
    # endpoints" applies; nftables/proxier.go filters in the firewall chain before that.
    objs = ranged_objects(["203.0.113.0/24"], endpoints=False)
    assert (
        answer(objs, source="pod:n1", to="loadbalancer", proxy_mode="iptables")["action"]
        == "reject"
    )
    assert (
        answer(objs, source="pod:n1", to="loadbalancer", proxy_mode="nftables")["action"] == "drop"
    )


def test_bad_client_ip_is_bad_input() -> None:
    with pytest.raises(QuestionError, match="client_ip"):
        answer(ranged_objects(["203.0.113.0/24"]), source="lb", client_ip="not-an-ip")


@pytest.mark.parametrize("mode", (*MODES_FW, "userspace"))
def test_analysis_pod_calls_to_the_lb_ip_agree_with_simulate(mode: str) -> None:
    # Same readings as above, aggregated: the analysis' pod-external class (a LoadBalancer
    # without NodePorts, so pods call the LB IP) equals simulate averaged over the nodes.
    from routing.engine.analysis import analyze
    from routing.tests.engine.analysis_reference import brute_force

    objs = ranged_objects(["10.244.1.0/24", "10.244.2.0/25"])
    del objs[3]["spec"]["ports"][0]["nodePort"]
    snap = snapshot_from_objects(objs, proxy_mode=mode)
    row = analyze(snap).row("default/web")
    assert row is not None
    stats = next(s for s in row.sources if s.source == "pod-external")
    assert stats.to == "loadbalancer"
    expected = brute_force(snap, "default/web", "http", "pod-external", "loadbalancer")
    assert stats.dropped == pytest.approx(expected.dropped)
    for share, ep in zip(stats.shares, stats.port_endpoints, strict=True):
        assert share == pytest.approx(expected.shares.get(ep.key, 0.0))
    # n1's pods pass; n2's /24 is only half inside (taken as inside); n3's are dropped.
    assert expected.dropped == pytest.approx(0.0 if mode == "userspace" else 1 / 3)


def test_v1_endpoints_fallback_matches_name_and_protocol_too() -> None:
    # Same ServicePortName key (name + protocol) when a dump has only v1 Endpoints
    # (pkg/proxy/endpointschangetracker.go of the releases that read them).
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [
            {
                "addresses": [{"ip": "10.1.0.1", "nodeName": "n1"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            },
            {
                "addresses": [{"ip": "10.2.0.1", "nodeName": "n2"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "UDP"}],
            },
        ],
    }
    assert shares(answer((*NODES, service_obj("web"), endpoints))) == {"10.1.0.1": 1.0}


def test_ipvs_nodeport_of_the_ipv6_proxier_is_the_nodes_ipv6_address() -> None:
    # pkg/proxy/ipvs/proxier.go syncService: NodePort virtual servers are made per node IP
    # of the proxier's family, so an IPv6 client's dh hash keys on the node's IPv6 address.
    nodes = [node_obj(n, zone="a") for n in ("n1", "n2")]
    for i, node in enumerate(nodes, start=1):
        node["status"]["addresses"] = [
            {"type": "InternalIP", "address": f"192.168.0.{i}"},
            {"type": "InternalIP", "address": f"fd00:ff::{i}"},
        ]
    objs = (*nodes, dual_stack(), V4_SLICE, V6_SLICE)
    v6 = answer(
        objs,
        source="external:n1",
        to="nodeport",
        family="IPv6",
        proxy_mode="ipvs",
        ipvs_scheduler="dh",
    )
    assert any("fd00:ff::1" in line for line in v6["explain"] if line.startswith("IPVS_PINNED"))
    v4 = answer(objs, source="external:n1", to="nodeport", proxy_mode="ipvs", ipvs_scheduler="dh")
    assert any("192.168.0.1" in line for line in v4["explain"] if line.startswith("IPVS_PINNED"))


@pytest.mark.parametrize(
    ("annotation", "rewritten"), [("Auto", False), ("auto", False), ("AUTO", True)]
)
def test_what_if_hints_under_a_topology_annotation(annotation: str, rewritten: bool) -> None:
    # endpointslice_controller.go hintsEnabled: exactly "Auto"/"auto" hands the hints to the
    # topology cache (trafficDistribution is then not what writes them); any other value
    # leaves them to trafficdist.go.
    eps = [endpoint_obj("10.1.0.1", "n1", zone="a"), endpoint_obj("10.3.0.1", "n3", zone="b")]
    svc = service_obj("web", annotations={"service.kubernetes.io/topology-mode": annotation})
    from routing.engine.scenario import Scenario, apply_scenario

    snap = snapshot_from_objects([*NODES, svc, slice_obj("web", eps)])
    after = apply_scenario(
        snap, Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferClose"}})
    )
    hinted = any(ep.zone_hints for ep in after.endpoints("default/web", "http"))
    assert hinted is rewritten


def test_analysis_names_the_dual_stack_services_it_reports_for_one_family() -> None:
    # pkg/proxy/serviceport.go newBaseServiceInfo: one ServicePort per family's proxier;
    # the analysis keeps one row per Service port (the primary family's) and says so.
    from routing.engine.analysis import analyze

    dual = service_obj("web")
    dual["spec"]["clusterIPs"] = ["10.96.0.10", "fd00::10"]
    single = service_obj("api", cluster_ip="10.96.0.11")
    objs = [*NODES, dual, single, slice_obj("web", [endpoint_obj("10.1.0.1", "n1")])]
    report = analyze(snapshot_from_objects(objs))
    assert [n for n in report.notes if "dual-stack" in n] == [
        "1 dual-stack Service(s) (e.g. default/web) are reported for their primary family "
        "only; simulate --family answers the other family's proxier"
    ]
    assert not any(
        "dual-stack" in n for n in analyze(snapshot_from_objects([*NODES, single])).notes
    )
