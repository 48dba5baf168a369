"""Upstream kube-proxy's packet-flow tables as data: every ``runPacketFlowTests`` case.

Sources (read through the project's code index, never fetched by the tests):

* ``NFT``: kubernetes/kubernetes ``pkg/proxy/nftables/proxier_test.go`` at commit
  81810de635aa13aa0a32992f6def3aa9d6025ebc.
* ``IPT``: kubernetes/kubernetes ``pkg/proxy/iptables/proxier_test.go`` as stored in the
  index (file id 191206484; the index gives no commit for it). Same era as ``NFT``
  (``ptr.To``, ``intstr.FromInt32``, ``testNodeIPs``).

Both files were read for ``runPacketFlowTests`` callers from end to end, except (iptables)
characters 32,000-56,000 (upstream's own ``iptablesTracer``) and 120,000-152,000
(``TestBuildServiceMap*``, ``TestUpdateEndpointsMap``), which hold no packet flows in the
nftables twin of the file either. Callers found: TestTracePacket (iptables only),
TestNoEndpointsReject, TestClusterIPGeneral, TestLoadBalancer, TestNodePorts,
TestHealthCheckNodePort (iptables only), TestExternalTrafficPolicyLocal/Cluster,
TestInternalTrafficPolicy, TestTerminatingEndpointsTrafficPolicyLocal/Cluster,
TestInternalExternalMasquerade.

Each ``Table`` is one upstream setup (test, subtest, phase) restated as a kubectl dump on
upstream's node ``test-node`` (192.168.0.2; pod CIDR 10.0.0.0/8 through the kube-proxy
ConfigMap's ``clusterCIDR``; other nodes named by the slices get made-up addresses), plus
the flows upstream runs against it: source IP, protocol, destination IP:port, expected
``output`` (DNAT destinations, "DROP", "REJECT", "ACCEPT" or "" for no match) and ``masq``.
A flow lists the files whose table holds it (``files``); where the two files disagree the
flow appears once per file. Upstream's host owns more addresses than the node's primary IP
(``testNodeIPs``): ``LOCAL_IPS`` below.

``UNPORTED`` lists upstream subtests that cannot be expressed as our inputs at all, with
the reason; they are counted, never run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NFT = "pkg/proxy/nftables/proxier_test.go@81810de635aa13aa0a32992f6def3aa9d6025ebc"
IPT = "pkg/proxy/iptables/proxier_test.go (index file 191206484)"
BOTH = (NFT, IPT)
MODE = {NFT: "nftables", IPT: "iptables"}

NODE = "test-node"
NODE_IP = "192.168.0.2"
NODE_IP_ALT = "192.168.1.2"
EXTERNAL_IP_LOCAL = "192.168.99.11"  # upstream testExternalIP: an address of the host
LOCAL_IPS = (NODE_IP, NODE_IP_ALT, EXTERNAL_IP_LOCAL)
EXTERNAL_CLIENT = "203.0.113.2"
EXTERNAL_CLIENT_BLOCKED = "203.0.113.130"
POD = "10.0.0.2"
CLUSTER_CIDR = "10.0.0.0/8"
SERVICE_CIDR = "172.30.0.0/16"  # the nftables fake proxier's serviceCIDRs

_OTHER_NODES = {
    "node0": "192.168.0.10",
    "node1": "192.168.0.11",
    "node2": "192.168.0.12",
    "node-1": "192.168.0.13",
    "another-node": "192.168.0.14",
    "remote": "192.168.0.15",
}


@dataclass(frozen=True)
class Flow:
    name: str
    src: str
    dst: str
    port: int
    output: str
    masq: bool = False
    protocol: str = "TCP"
    files: tuple[str, ...] = BOTH


@dataclass(frozen=True)
class Table:
    """One upstream setup and its flows."""

    test: str  # "TestName" or "TestName/subtest" (upstream t.Run names), "+ phase" when re-synced
    objects: tuple[dict, ...]
    flows: tuple[Flow, ...]
    #: snapshot_from_objects overrides (masquerade_all, local_detector)
    overrides: dict = field(default_factory=dict)
    #: RenderOptions fields the upstream fake proxier sets beyond the dump
    render: dict = field(default_factory=dict)
    note: str = ""


# ---- kubectl-shaped builders ----------------------------------------------------------


def _node(name: str, ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _configmap() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "kube-system", "name": "kube-proxy"},
        "data": {"config.conf": f"kind: KubeProxyConfiguration\nclusterCIDR: {CLUSTER_CIDR}\n"},
    }


def _port(
    name: str, port: int, protocol: str = "TCP", node_port: int = 0, target: int | None = None
) -> dict:
    out: dict = {"name": name, "port": port, "protocol": protocol, "targetPort": target or port}
    if node_port:
        out["nodePort"] = node_port
    return out


def _service(
    ns: str,
    name: str,
    cip: str,
    ports: list[dict],
    type_: str = "ClusterIP",
    *,
    lb: tuple[str, ...] = (),
    etp: str | None = None,
    itp: str | None = None,
    external_ips: tuple[str, ...] = (),
    hc_port: int = 0,
    source_ranges: tuple[str, ...] = (),
) -> dict:
    spec: dict = {"type": type_, "clusterIP": cip, "clusterIPs": [cip], "ports": ports}
    if etp:
        spec["externalTrafficPolicy"] = etp
    if itp:
        spec["internalTrafficPolicy"] = itp
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    if hc_port:
        spec["healthCheckNodePort"] = hc_port
    if source_ranges:
        spec["loadBalancerSourceRanges"] = list(source_ranges)
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in lb]}} if lb else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": ns, "name": name},
        "spec": spec,
        "status": status,
    }


def _ep(
    ip: str,
    node: str | None = None,
    ready: bool | None = None,
    serving: bool | None = None,
    terminating: bool | None = None,
) -> dict:
    out: dict = {"addresses": [ip]}
    if node:
        out["nodeName"] = node
    cond = {
        k: v
        for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if v is not None
    }
    if cond:
        out["conditions"] = cond
    return out


def _slice(ns: str, svc: str, endpoints: list[dict], ports: list[tuple[str, int, str]]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "namespace": ns,
            "name": f"{svc}-1",
            "labels": {"kubernetes.io/service-name": svc},
        },
        "endpoints": endpoints,
        "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
    }


def _dump(*objects: dict) -> tuple[dict, ...]:
    nodes = {
        e.get("nodeName") for o in objects if o["kind"] == "EndpointSlice" for e in o["endpoints"]
    }
    extra = [_node(n, _OTHER_NODES[n]) for n in sorted(n for n in nodes if n and n != NODE)]
    return (_node(NODE, NODE_IP), *extra, _configmap(), *objects)


P80 = [("p80", 80, "TCP")]


# ---- TestNoEndpointsReject ------------------------------------------------------------


def _no_endpoints_reject() -> list[Table]:
    svc = _service(
        "ns1",
        "svc1",
        "172.30.0.41",
        [_port("p80", 80, node_port=3001)],
        "LoadBalancer",
        lb=("1.2.3.4",),
        external_ips=(EXTERNAL_IP_LOCAL,),
    )
    flows = (
        Flow("pod to cluster IP with no endpoints", POD, "172.30.0.41", 80, "REJECT"),
        Flow(
            "external to external IP with no endpoints",
            EXTERNAL_CLIENT,
            EXTERNAL_IP_LOCAL,
            80,
            "REJECT",
        ),
        Flow("pod to NodePort with no endpoints", POD, NODE_IP, 3001, "REJECT"),
        Flow("external to NodePort with no endpoints", EXTERNAL_CLIENT, NODE_IP, 3001, "REJECT"),
        Flow("pod to LoadBalancer IP with no endpoints", POD, "1.2.3.4", 80, "REJECT"),
        Flow(
            "external to LoadBalancer IP with no endpoints",
            EXTERNAL_CLIENT,
            "1.2.3.4",
            80,
            "REJECT",
        ),
    )
    return [Table("TestNoEndpointsReject", _dump(svc), flows)]


# ---- TestClusterIPGeneral -------------------------------------------------------------


def _cluster_ip_general() -> list[Table]:
    svc1 = _service("ns1", "svc1", "172.30.0.41", [_port("http", 80)])
    svc2 = _service(
        "ns2",
        "svc2",
        "172.30.0.42",
        [
            _port("http", 80),
            _port("https", 443, target=8443),
            _port("dns-udp", 53, "UDP"),
            _port("dns-tcp", 53, target=5353),
            _port("dns-sctp", 53, "SCTP"),
        ],
    )
    sl1 = _slice("ns1", "svc1", [_ep("10.180.0.1", NODE)], [("http", 80, "TCP")])
    sl2 = _slice(
        "ns2",
        "svc2",
        [_ep("10.180.0.1", NODE), _ep("10.180.2.1", "node2")],
        [
            ("http", 80, "TCP"),
            ("https", 8443, "TCP"),
            ("dns-udp", 53, "UDP"),
            ("dns-tcp", 5353, "TCP"),
            ("dns-sctp", 53, "SCTP"),
        ],
    )
    both2 = "10.180.0.1:{p}, 10.180.2.1:{p}"
    flows = (
        Flow("simple clusterIP", "10.180.0.2", "172.30.0.41", 80, "10.180.0.1:80"),
        Flow("hairpin to cluster IP", "10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", masq=True),
        Flow(
            "clusterIP with multiple endpoints", "10.180.0.2", "172.30.0.42", 80, both2.format(p=80)
        ),
        Flow("clusterIP with TargetPort", "10.180.0.2", "172.30.0.42", 443, both2.format(p=8443)),
        Flow(
            "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            both2.format(p=5353),
        ),
        # nftables names this one "(TCP)" too (an upstream typo); iptables "(UDP)"
        Flow(
            "clusterIP with TCP, UDP, and SCTP on same port (UDP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            both2.format(p=53),
            protocol="UDP",
        ),
        Flow(
            "clusterIP with TCP, UDP, and SCTP on same port (SCTP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            both2.format(p=53),
            protocol="SCTP",
        ),
        Flow(
            "TCP-only port does not match UDP traffic",
            "10.180.0.2",
            "172.30.0.42",
            80,
            "REJECT",
            protocol="UDP",
            files=(NFT,),
        ),
        Flow(
            "TCP-only port does not match UDP traffic",
            "10.180.0.2",
            "172.30.0.42",
            80,
            "",
            protocol="UDP",
            files=(IPT,),
        ),
        Flow(
            "svc1 does not accept svc2's ports",
            "10.180.0.2",
            "172.30.0.41",
            443,
            "REJECT",
            files=(NFT,),
        ),
        Flow(
            "svc1 does not accept svc2's ports", "10.180.0.2", "172.30.0.41", 443, "", files=(IPT,)
        ),
        Flow(
            "packet to unallocated cluster ip",
            "10.180.0.2",
            "172.30.0.50",
            80,
            "DROP",
            files=(NFT,),
        ),
    )
    return [Table("TestClusterIPGeneral", _dump(svc1, svc2, sl1, sl2), flows)]


# ---- TestLoadBalancer -----------------------------------------------------------------


def _load_balancer() -> list[Table]:
    svc = _service(
        "ns1",
        "svc1",
        "172.30.0.41",
        [_port("p80", 80, node_port=3001)],
        "LoadBalancer",
        lb=("1.2.3.4", "5.6.7.8"),
        source_ranges=("192.168.0.0/24", " 203.0.113.0/25"),
    )
    sl = _slice("ns1", "svc1", [_ep("10.180.0.1")], P80)
    ep = "10.180.0.1:80"
    flows = (
        Flow("pod to cluster IP", POD, "172.30.0.41", 80, ep),
        Flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3001, ep, masq=True),
        Flow(
            "nodePort bypasses LoadBalancerSourceRanges",
            EXTERNAL_CLIENT_BLOCKED,
            NODE_IP,
            3001,
            ep,
            masq=True,
        ),
        Flow("accepted external to LB1", EXTERNAL_CLIENT, "1.2.3.4", 80, ep, masq=True),
        Flow("accepted external to LB2", EXTERNAL_CLIENT, "5.6.7.8", 80, ep, masq=True),
        Flow("blocked external to LB1", EXTERNAL_CLIENT_BLOCKED, "1.2.3.4", 80, "DROP"),
        Flow("blocked external to LB2", EXTERNAL_CLIENT_BLOCKED, "5.6.7.8", 80, "DROP"),
        Flow("pod to LB1 (blocked by LoadBalancerSourceRanges)", POD, "1.2.3.4", 80, "DROP"),
        Flow("pod to LB2 (blocked by LoadBalancerSourceRanges)", POD, "5.6.7.8", 80, "DROP"),
        Flow(
            "node to LB1 (allowed by LoadBalancerSourceRanges)",
            NODE_IP,
            "1.2.3.4",
            80,
            ep,
            masq=True,
        ),
        Flow(
            "node to LB2 (allowed by LoadBalancerSourceRanges)",
            NODE_IP,
            "5.6.7.8",
            80,
            ep,
            masq=True,
        ),
        Flow(
            "same node to LB1, SNATted to LB1 (implicitly allowed)",
            "1.2.3.4",
            "1.2.3.4",
            80,
            ep,
            masq=True,
        ),
        Flow(
            "same node to LB2, SNATted to LB2 (implicitly allowed)",
            "5.6.7.8",
            "5.6.7.8",
            80,
            ep,
            masq=True,
        ),
    )
    return [Table("TestLoadBalancer", _dump(svc, sl), flows)]


# ---- TestNodePorts --------------------------------------------------------------------


def _node_ports() -> list[Table]:
    svc = _service("ns1", "svc1", "172.30.0.41", [_port("p80", 80, node_port=3001)], "NodePort")
    sl = _slice("ns1", "svc1", [_ep("10.180.0.1"), _ep("10.180.2.1", NODE)], P80)
    out = "10.180.0.1:80, 10.180.2.1:80"
    basic = (
        Flow("pod to cluster IP", POD, "172.30.0.41", 80, out),
        Flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3001, out, masq=True),
        Flow("node to nodePort", NODE_IP, NODE_IP, 3001, out, masq=True),
    )
    return [
        Table(
            "TestNodePorts/ipv4",
            _dump(svc, sl),
            tuple(replace_files(f, (NFT,)) for f in basic)
            + (
                Flow(
                    "secondary nodeIP ignores NodePorts",
                    EXTERNAL_CLIENT,
                    NODE_IP_ALT,
                    3001,
                    "",
                    files=(NFT,),
                ),
            ),
            note=(
                "nftables: default --nodeport-addresses is the node IP (192.168.0.2/32 in the "
                "fake proxier)"
            ),
        ),
        Table(
            "TestNodePorts/ipv4, localhost-nodeports enabled",
            _dump(svc, sl),
            tuple(replace_files(f, (IPT,)) for f in basic)
            + (
                Flow(
                    "localhost to nodePort gets masqueraded",
                    "127.0.0.1",
                    "127.0.0.1",
                    3001,
                    out,
                    masq=True,
                    files=(IPT,),
                ),
                Flow(
                    "external to nodePort on secondary IP",
                    EXTERNAL_CLIENT,
                    NODE_IP_ALT,
                    3001,
                    out,
                    masq=True,
                    files=(IPT,),
                ),
            ),
        ),
        Table(
            "TestNodePorts/ipv4, localhost-nodeports disabled",
            _dump(svc, sl),
            tuple(replace_files(f, (IPT,)) for f in basic)
            + (
                Flow(
                    "localhost to nodePort is ignored",
                    "127.0.0.1",
                    "127.0.0.1",
                    3001,
                    "",
                    files=(IPT,),
                ),
                Flow(
                    "external to nodePort on secondary IP",
                    EXTERNAL_CLIENT,
                    NODE_IP_ALT,
                    3001,
                    out,
                    masq=True,
                    files=(IPT,),
                ),
            ),
            render={"localhost_nodeports": False},
        ),
    ]


def replace_files(flow: Flow, files: tuple[str, ...]) -> Flow:
    return Flow(
        flow.name, flow.src, flow.dst, flow.port, flow.output, flow.masq, flow.protocol, files
    )


# ---- TestHealthCheckNodePort (iptables only) -------------------------------------------


def _health_check_node_port() -> list[Table]:
    svc = _service(
        "ns1",
        "svc1",
        "172.30.0.42",
        [_port("p80", 80, node_port=3001)],
        "LoadBalancer",
        etp="Local",
        hc_port=30000,
    )
    note = (
        "the test's --nodeport-addresses=127.0.0.0/8 only moves the KUBE-NODEPORTS jump; "
        "neither flow meets it"
    )
    return [
        Table(
            "TestHealthCheckNodePort",
            _dump(svc),
            (
                Flow(
                    "firewall accepts HealthCheckNodePort",
                    "1.2.3.4",
                    NODE_IP,
                    30000,
                    "ACCEPT",
                    files=(IPT,),
                ),
            ),
            note=note,
        ),
        Table(
            "TestHealthCheckNodePort + service deleted",
            _dump(),
            (
                Flow(
                    "HealthCheckNodePort no longer has any rule",
                    "1.2.3.4",
                    NODE_IP,
                    30000,
                    "",
                    files=(IPT,),
                ),
            ),
            note=note,
        ),
    ]


# ---- TestTracePacket (iptables only) ----------------------------------------------------


def _trace_packet() -> list[Table]:
    """Upstream runs these over a fixed rule text: TestOverallIPTablesRules' output (plus the
    hook jumps). Here they run over our rendering of that test's objects, which
    test_upstream_fidelity holds equal to that output."""
    from routing.tests.engine.rules.upstream_cases import overall_objects

    flows = (
        Flow("no match", "10.0.0.2", "10.0.0.3", 80, "", files=(IPT,)),
        Flow("single endpoint", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", files=(IPT,)),
        Flow(
            "multiple endpoints",
            "10.0.0.2",
            "172.30.0.44",
            80,
            "10.180.0.4:80, 10.180.0.5:80",
            files=(IPT,),
        ),
        Flow(
            "LOCAL, KUBE-MARK-MASQ",
            NODE_IP,
            "192.168.99.22",
            80,
            "10.180.0.2:80",
            masq=True,
            files=(IPT,),
        ),
        Flow("DROP", EXTERNAL_CLIENT, "192.168.99.22", 80, "DROP", files=(IPT,)),
        Flow("ACCEPT (NodePortHealthCheck)", NODE_IP, NODE_IP, 30000, "ACCEPT", files=(IPT,)),
        Flow("REJECT", "10.0.0.2", "172.30.0.46", 80, "REJECT", files=(IPT,)),
    )
    return [
        Table(
            "TestTracePacket",
            tuple(overall_objects()),
            flows,
            note="rule text = TestOverallIPTablesRules' scenario rendered by us",
        )
    ]


# ---- TestExternalTrafficPolicyLocal / Cluster -----------------------------------------


def _etp(policy: str) -> list[Table]:
    svc = _service(
        "ns1",
        "svc1",
        "172.30.0.41",
        [_port("p80", 80, node_port=3001)],
        "LoadBalancer",
        lb=("1.2.3.4",),
        etp=policy,
        external_ips=(EXTERNAL_IP_LOCAL,),
        hc_port=30000 if policy == "Local" else 0,
    )
    sl = _slice("ns1", "svc1", [_ep("10.180.0.1"), _ep("10.180.2.1", NODE)], P80)
    both, local = "10.180.0.1:80, 10.180.2.1:80", "10.180.2.1:80"
    if policy == "Local":
        flows = (
            Flow(
                "pod to cluster IP hits both endpoints, unmasqueraded", POD, "172.30.0.41", 80, both
            ),
            Flow(
                "pod to external IP hits both endpoints, unmasqueraded",
                POD,
                EXTERNAL_IP_LOCAL,
                80,
                both,
            ),
            Flow(
                "external to external IP hits only local endpoint, unmasqueraded",
                EXTERNAL_CLIENT,
                EXTERNAL_IP_LOCAL,
                80,
                local,
            ),
            Flow("pod to LB IP hits only both endpoints, unmasqueraded", POD, "1.2.3.4", 80, both),
            Flow(
                "external to LB IP hits only local endpoint, unmasqueraded",
                EXTERNAL_CLIENT,
                "1.2.3.4",
                80,
                local,
            ),
            Flow("pod to NodePort hits both endpoints, unmasqueraded", POD, NODE_IP, 3001, both),
            Flow(
                "external to NodePort hits only local endpoint, unmasqueraded",
                EXTERNAL_CLIENT,
                NODE_IP,
                3001,
                local,
            ),
        )
    else:
        flows = (
            Flow(
                "pod to cluster IP hits both endpoints, unmasqueraded", POD, "172.30.0.41", 80, both
            ),
            Flow(
                "pod to external IP hits both endpoints, masqueraded",
                POD,
                EXTERNAL_IP_LOCAL,
                80,
                both,
                True,
            ),
            Flow(
                "external to external IP hits both endpoints, masqueraded",
                EXTERNAL_CLIENT,
                EXTERNAL_IP_LOCAL,
                80,
                both,
                True,
            ),
            Flow("pod to LB IP hits both endpoints, masqueraded", POD, "1.2.3.4", 80, both, True),
            Flow(
                "external to LB IP hits both endpoints, masqueraded",
                EXTERNAL_CLIENT,
                "1.2.3.4",
                80,
                both,
                True,
            ),
            Flow(
                "pod to NodePort hits both endpoints, masqueraded", POD, NODE_IP, 3001, both, True
            ),
            Flow(
                "external to NodePort hits both endpoints, masqueraded",
                EXTERNAL_CLIENT,
                NODE_IP,
                3001,
                both,
                True,
            ),
        )
    return [Table(f"TestExternalTrafficPolicy{policy}", _dump(svc, sl), flows)]


# ---- TestInternalTrafficPolicy --------------------------------------------------------


def _itp() -> list[Table]:
    cases = (
        (
            "internalTrafficPolicy is cluster",
            "Cluster",
            [("10.0.1.1", NODE), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")],
            Flow(
                "pod to ClusterIP hits all endpoints",
                POD,
                "172.30.1.1",
                80,
                "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
            ),
        ),
        (
            "internalTrafficPolicy is local and there is one local endpoint",
            "Local",
            [("10.0.1.1", NODE), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")],
            Flow("pod to ClusterIP hits only local endpoint", POD, "172.30.1.1", 80, "10.0.1.1:80"),
        ),
        (
            "internalTrafficPolicy is local and there are multiple local endpoints",
            "Local",
            [("10.0.1.1", NODE), ("10.0.1.2", NODE), ("10.0.1.3", "node2")],
            Flow(
                "pod to ClusterIP hits all local endpoints",
                POD,
                "172.30.1.1",
                80,
                "10.0.1.1:80, 10.0.1.2:80",
            ),
        ),
        (
            "internalTrafficPolicy is local and there are no local endpoints",
            "Local",
            [("10.0.1.1", "node0"), ("10.0.1.2", "node1"), ("10.0.1.3", "node2")],
            Flow("no endpoints", POD, "172.30.1.1", 80, "DROP"),
        ),
    )
    tables = []
    for name, policy, eps, flow in cases:
        svc = _service("ns1", "svc1", "172.30.1.1", [_port("", 80)], itp=policy)
        sl = _slice("ns1", "svc1", [_ep(ip, n, ready=True) for ip, n in eps], [("", 80, "TCP")])
        tables.append(Table(f"TestInternalTrafficPolicy/{name}", _dump(svc, sl), (flow,)))
        tables.append(
            Table(
                f"TestInternalTrafficPolicy/{name} + endpoints deleted",
                _dump(svc),
                (Flow("endpoints deleted", POD, "172.30.1.1", 80, "REJECT"),),
            )
        )
    return tables


# ---- TestTerminatingEndpointsTrafficPolicy{Local,Cluster} ------------------------------


def _terminating(policy: str) -> list[Table]:
    svc = _service(
        "ns1",
        "svc1",
        "172.30.1.1",
        [_port("", 80)],
        "LoadBalancer",
        lb=("1.2.3.4",),
        etp=policy,
        hc_port=30000,
    )
    other = "node-1"
    T, F = True, False
    if policy == "Local":
        cases = (
            (
                "ready endpoints exist",
                [
                    ("10.0.1.1", NODE, T, T, F),
                    ("10.0.1.2", NODE, T, T, F),
                    ("10.0.1.3", NODE, F, T, T),
                    ("10.0.1.4", NODE, F, F, T),
                    ("10.0.1.5", other, T, T, F),
                ],
                ("pod to clusterIP", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", F),
                ("external to LB", "10.0.1.1:80, 10.0.1.2:80", F),
            ),
            (
                "only terminating endpoints exist",
                [
                    ("10.0.1.2", NODE, F, T, T),
                    ("10.0.1.3", NODE, F, T, T),
                    ("10.0.1.4", NODE, F, F, T),
                    ("10.0.1.5", other, T, T, F),
                ],
                ("pod to clusterIP", "10.0.1.5:80", F),
                ("external to LB", "10.0.1.2:80, 10.0.1.3:80", F),
            ),
            (
                "terminating endpoints on remote node",
                [("10.0.1.5", other, F, T, T)],
                ("pod to clusterIP", "10.0.1.5:80", F),
                ("external to LB, no locally-usable endpoints", "DROP", F),
            ),
            (
                "no usable endpoints on any node",
                [("10.0.1.5", NODE, F, F, T), ("10.0.1.5", other, F, F, T)],
                ("pod to clusterIP, no usable endpoints", "REJECT", F),
                ("external to LB, no usable endpoints", "REJECT", F),
            ),
        )
    else:
        another = "another-node"
        cases = (
            (
                "ready endpoints exist",
                [
                    ("10.0.1.1", NODE, T, T, F),
                    ("10.0.1.2", NODE, T, T, F),
                    ("10.0.1.3", another, F, T, T),
                    ("10.0.1.4", another, F, F, T),
                    ("10.0.1.5", another, T, T, F),
                ],
                ("pod to clusterIP", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", F),
                ("external to LB", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", T),
            ),
            (
                "only terminating endpoints exist",
                [
                    ("10.0.1.2", NODE, F, T, T),
                    ("10.0.1.3", NODE, F, T, T),
                    ("10.0.1.4", another, F, F, T),
                    ("10.0.1.5", another, F, T, T),
                ],
                ("pod to clusterIP", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", F),
                ("external to LB", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", T),
            ),
            (
                "terminating endpoints on remote node",
                [("10.0.1.5", other, F, T, T)],
                ("pod to clusterIP", "10.0.1.5:80", F),
                ("external to LB", "10.0.1.5:80", T),
            ),
            (
                "no usable endpoints on any node",
                [("10.0.1.5", NODE, F, F, T), ("10.0.1.5", other, F, F, T)],
                ("pod to clusterIP", "REJECT", F),
                ("external to LB", "REJECT", F),
            ),
        )
    tables = []
    test = f"TestTerminatingEndpointsTrafficPolicy{policy}"
    for name, eps, (pod_name, pod_out, pod_masq), (ext_name, ext_out, ext_masq) in cases:
        sl = _slice(
            "ns1", "svc1", [_ep(ip, n, r, s, t) for ip, n, r, s, t in eps], [("", 80, "TCP")]
        )
        tables.append(
            Table(
                f"{test}/{name}",
                _dump(svc, sl),
                (
                    Flow(pod_name, POD, "172.30.1.1", 80, pod_out, pod_masq),
                    Flow(ext_name, EXTERNAL_CLIENT, "1.2.3.4", 80, ext_out, ext_masq),
                ),
            )
        )
        tables.append(
            Table(
                f"{test}/{name} + endpoints deleted",
                _dump(svc),
                (
                    Flow(
                        "pod to clusterIP after endpoints deleted", POD, "172.30.1.1", 80, "REJECT"
                    ),
                    Flow(
                        "external to LB after endpoints deleted",
                        EXTERNAL_CLIENT,
                        "1.2.3.4",
                        80,
                        "REJECT",
                    ),
                ),
            )
        )
    return tables


# ---- TestInternalExternalMasquerade ---------------------------------------------------


def _internal_external_masquerade() -> list[Table]:
    objects = []
    for n, (lb, etp, itp) in enumerate(
        (("1.2.3.4", None, None), ("5.6.7.8", "Local", None), ("9.10.11.12", None, "Local")),
        start=1,
    ):
        objects.append(
            _service(
                f"ns{n}",
                f"svc{n}",
                f"172.30.0.4{n}",
                [_port("p80", 80, node_port=3000 + n)],
                "LoadBalancer",
                lb=(lb,),
                hc_port=30000 + n,
                etp=etp,
                itp=itp,
            )
        )
        objects.append(
            _slice(
                f"ns{n}",
                f"svc{n}",
                [_ep(f"10.180.0.{n}", NODE), _ep(f"10.180.1.{n}", "remote")],
                P80,
            )
        )

    def both(n: int) -> str:
        return f"10.180.0.{n}:80, 10.180.1.{n}:80"

    base = (
        Flow("pod to ClusterIP", POD, "172.30.0.41", 80, both(1)),
        Flow("pod to NodePort", POD, NODE_IP, 3001, both(1), True),
        Flow("pod to LB", POD, "1.2.3.4", 80, both(1), True),
        Flow("node to ClusterIP", NODE_IP, "172.30.0.41", 80, both(1), True),
        Flow("node to NodePort", NODE_IP, NODE_IP, 3001, both(1), True),
        Flow("localhost to NodePort", "127.0.0.1", "127.0.0.1", 3001, both(1), True, files=(IPT,)),
        Flow("node to LB", NODE_IP, "1.2.3.4", 80, both(1), True),
        Flow("external to ClusterIP", EXTERNAL_CLIENT, "172.30.0.41", 80, both(1), True),
        Flow("external to NodePort", EXTERNAL_CLIENT, NODE_IP, 3001, both(1), True),
        Flow("external to LB", EXTERNAL_CLIENT, "1.2.3.4", 80, both(1), True),
        Flow("pod to ClusterIP with eTP:Local", POD, "172.30.0.42", 80, both(2)),
        Flow("pod to NodePort with eTP:Local", POD, NODE_IP, 3002, both(2)),
        Flow("pod to LB with eTP:Local", POD, "5.6.7.8", 80, both(2)),
        Flow("node to ClusterIP with eTP:Local", NODE_IP, "172.30.0.42", 80, both(2), True),
        # upstream sends this one to svc1's NodePort (3001): its output is svc1's
        Flow("node to NodePort with eTP:Local", NODE_IP, NODE_IP, 3001, both(1), True),
        Flow(
            "localhost to NodePort with eTP:Local",
            "127.0.0.1",
            "127.0.0.1",
            3002,
            both(2),
            True,
            files=(IPT,),
        ),
        Flow("node to LB with eTP:Local", NODE_IP, "5.6.7.8", 80, both(2), True),
        Flow(
            "external to ClusterIP with eTP:Local",
            EXTERNAL_CLIENT,
            "172.30.0.42",
            80,
            both(2),
            True,
        ),
        Flow(
            "external to NodePort with eTP:Local", EXTERNAL_CLIENT, NODE_IP, 3002, "10.180.0.2:80"
        ),
        Flow("external to LB with eTP:Local", EXTERNAL_CLIENT, "5.6.7.8", 80, "10.180.0.2:80"),
        Flow("pod to ClusterIP with iTP:Local", POD, "172.30.0.43", 80, "10.180.0.3:80"),
        Flow("pod to NodePort with iTP:Local", POD, NODE_IP, 3003, both(3), True),
        Flow("pod to LB with iTP:Local", POD, "9.10.11.12", 80, both(3), True),
        Flow("node to ClusterIP with iTP:Local", NODE_IP, "172.30.0.43", 80, "10.180.0.3:80", True),
        Flow("node to NodePort with iTP:Local", NODE_IP, NODE_IP, 3003, both(3), True),
        Flow(
            "localhost to NodePort with iTP:Local",
            "127.0.0.1",
            "127.0.0.1",
            3003,
            both(3),
            True,
            files=(IPT,),
        ),
        Flow("node to LB with iTP:Local", NODE_IP, "9.10.11.12", 80, both(3), True),
        Flow(
            "external to ClusterIP with iTP:Local",
            EXTERNAL_CLIENT,
            "172.30.0.43",
            80,
            "10.180.0.3:80",
            True,
        ),
        Flow("external to NodePort with iTP:Local", EXTERNAL_CLIENT, NODE_IP, 3003, both(3), True),
        Flow("external to LB with iTP:Local", EXTERNAL_CLIENT, "9.10.11.12", 80, both(3), True),
    )
    no_detector: dict[str, tuple[str | None, bool | None]] = {
        "node to ClusterIP": (None, False),
        "node to ClusterIP with eTP:Local": (None, False),
        "node to ClusterIP with iTP:Local": (None, False),
        "external to ClusterIP": (None, False),
        "external to ClusterIP with eTP:Local": (None, False),
        "external to ClusterIP with iTP:Local": (None, False),
        "pod to NodePort with eTP:Local": ("10.180.0.2:80", None),
        "pod to LB with eTP:Local": ("10.180.0.2:80", None),
    }
    masq_all: dict[str, tuple[str | None, bool | None]] = {
        "pod to ClusterIP": (None, True),
        "pod to ClusterIP with eTP:Local": (None, True),
        "pod to ClusterIP with iTP:Local": (None, True),
    }
    variants: tuple[tuple[str, dict[str, bool], dict[str, tuple[str | None, bool | None]]], ...] = (
        ("base", {}, {}),
        ("no LocalTrafficDetector", {"local_detector": False}, no_detector),
        ("masqueradeAll", {"masquerade_all": True}, masq_all),
        (
            "masqueradeAll, no LocalTrafficDetector",
            {"masquerade_all": True, "local_detector": False},
            {
                **masq_all,
                "pod to NodePort with eTP:Local": ("10.180.0.2:80", None),
                "pod to LB with eTP:Local": ("10.180.0.2:80", None),
            },
        ),
    )
    tables = []
    for name, overrides, changes in variants:
        flows = []
        for f in base:
            output, masq = changes.get(f.name, (None, None))
            flows.append(
                Flow(
                    f.name,
                    f.src,
                    f.dst,
                    f.port,
                    output or f.output,
                    f.masq if masq is None else masq,
                    f.protocol,
                    f.files,
                )
            )
        tables.append(
            Table(
                f"TestInternalExternalMasquerade/{name}",
                _dump(*objects),
                tuple(flows),
                overrides=overrides,
            )
        )
    return tables


TABLES: tuple[Table, ...] = tuple(
    _trace_packet()
    + _no_endpoints_reject()
    + _cluster_ip_general()
    + _load_balancer()
    + _node_ports()
    + _health_check_node_port()
    + _etp("Local")
    + _etp("Cluster")
    + _itp()
    + _terminating("Local")
    + _terminating("Cluster")
    + _internal_external_masquerade()
)

#: upstream subtests that cannot be expressed as our inputs: (file, test) -> (flows, reason)
UNPORTED: dict[tuple[str, str], tuple[int, str]] = {
    (NFT, "TestNodePorts/ipv4, multiple nodeport-addresses"): (
        4,
        "--nodeport-addresses is not an input (neither the snapshot nor RenderOptions carry it)",
    ),
    (NFT, "TestNodePorts/ipv6"): (4, "IPv6: the renderer programs the IPv4 table only"),
    (NFT, "TestNodePorts/ipv6, multiple nodeport-addresses"): (4, "IPv6 and --nodeport-addresses"),
    (IPT, "TestNodePorts/ipv4, localhost-nodeports disabled, localhost in nodeport-addresses"): (
        5,
        "--nodeport-addresses is not an input",
    ),
    (IPT, "TestNodePorts/ipv4, localhost-nodeports enabled, multiple nodeport-addresses"): (
        5,
        "--nodeport-addresses is not an input",
    ),
    (IPT, "TestNodePorts/ipv6, localhost-nodeports enabled"): (
        5,
        "IPv6: the renderer writes IPv4 rules only",
    ),
    (IPT, "TestNodePorts/ipv6, localhost-nodeports disabled"): (
        5,
        "IPv6: the renderer writes IPv4 rules only",
    ),
    (IPT, "TestNodePorts/ipv6, localhost-nodeports disabled, multiple nodeport-addresses"): (
        5,
        "IPv6 and --nodeport-addresses",
    ),
}
