"""Random small clusters (hypothesis): the rules our renderer writes, traced packet by
packet, send a new connection where ``simulate`` says it goes — same endpoints, same
shares, same DROP/REJECT, same masquerade — in iptables and nftables mode.

Covers what upstream's fixed tables do not combine: topology hints (zone and node), the
terminating fallbacks, both traffic policies, session affinity, ``masqueradeAll`` and a
missing LocalTrafficDetector, for pods, host processes and external clients reaching the
ClusterIP, the node's NodePort, the LB IP and an externalIP — the LB IP with or without
``loadBalancerSourceRanges`` admitting the client (``simulate`` is given the traced
packet's source as ``client_ip``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules.render import render_node_rules
from routing.engine.rules.trace import Packet, trace_text
from routing.engine.simulate import Question, QuestionError, simulate
from routing.tests.engine.core_builders import node_obj, service_obj, slice_obj
from routing.tests.engine.worlds import endpoint_objects, endpoint_strategy

NODES = ("n1", "n2", "n3")
ADDRESS = {"n1": "192.168.0.1", "n2": "192.168.0.2", "n3": "192.168.0.3"}
POD_SOURCE = "10.1.0.2"  # inside the cluster CIDR, never an endpoint
LB_IP, EXTERNAL_IP, CLUSTER_IP = "192.0.2.1", "198.51.100.7", "10.96.0.10"

endpoint_st = endpoint_strategy(NODES)

world_st = st.fixed_dictionaries(
    {
        "zones": st.tuples(*[st.sampled_from(["a", "b", None]) for _ in NODES]),
        "endpoints": st.lists(endpoint_st, max_size=6),
        "itp": st.sampled_from(["Cluster", "Local"]),
        "etp": st.sampled_from(["Cluster", "Local"]),
        "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        "external_ip": st.booleans(),
        "affinity": st.sampled_from([None, "ClientIP"]),
        "mode": st.sampled_from(["iptables", "nftables"]),
        "detector": st.booleans(),
        "masquerade_all": st.booleans(),
        "node": st.sampled_from(NODES),
        "source": st.sampled_from(["pod", "host", "external"]),
        "to": st.sampled_from(["clusterip", "nodeport", "loadbalancer", "externalip"]),
        # none; the external client's; the pods'; the nodes' network.
        "ranges": st.sampled_from([None, ["203.0.113.0/24"], ["10.0.0.0/8"], ["192.168.0.0/24"]]),
    }
)


def build(world: dict):
    nodes = []
    for name, zone in zip(NODES, world["zones"], strict=True):
        obj = node_obj(name, zone=zone)
        obj["status"]["addresses"] = [{"type": "InternalIP", "address": ADDRESS[name]}]
        nodes.append(obj)
    eps = endpoint_objects(world["endpoints"])
    service = service_obj(
        "web",
        type=world["type"],
        cluster_ip=CLUSTER_IP,
        itp=world["itp"],
        etp=world["etp"],
        lb_ips=[LB_IP] if world["type"] == "LoadBalancer" else None,
        hc_port=32000,
        affinity=world["affinity"],
        external_ips=[EXTERNAL_IP] if world["external_ip"] else None,
    )
    if world["ranges"]:
        service["spec"]["loadBalancerSourceRanges"] = world["ranges"]
    overrides: dict = {"proxy_mode": world["mode"], "masquerade_all": world["masquerade_all"]}
    if world["detector"]:
        overrides["cluster_cidrs"] = ("10.0.0.0/8",)
    else:
        overrides["local_detector"] = False
    return snapshot_from_objects(nodes + [service, slice_obj("web", eps)], **overrides)


def outcome_of_answer(answer):
    if answer.action != "forward":
        return answer.action.upper(), None, {}
    shares = {f"{e.ip}:{e.port}": s for e, s in answer.endpoint_shares.values() if s > 0}
    return ", ".join(sorted(shares)), not answer.client_ip_preserved, shares


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_st)
def test_rendered_rules_send_connections_where_simulate_says(world: dict) -> None:
    snap = build(world)
    node = world["node"]
    src = {"pod": POD_SOURCE, "host": ADDRESS[node], "external": "203.0.113.2"}[world["source"]]
    try:
        answer = simulate(
            snap,
            Question(
                service="default/web",
                source=f"{world['source']}:{node}",
                to=world["to"],
                client_ip=src,
            ),
        )
    except QuestionError:
        return  # a destination this Service does not have
    svc = snap.services["default/web"]
    sp = svc.ports[0]
    dst, port = {
        "clusterip": (CLUSTER_IP, sp.port),
        "nodeport": (ADDRESS[node], sp.node_port),
        "loadbalancer": (LB_IP, sp.port),
        "externalip": (EXTERNAL_IP, sp.port),
    }[world["to"]]
    text = render_node_rules(snap, node, world["mode"]).text
    t = trace_text(text, world["mode"], Packet(src, dst, port, sp.protocol), [ADDRESS[node]])
    want, want_masq, want_shares = outcome_of_answer(answer)
    if (
        t.output() == ""
        and world["source"] == "host"
        and world["to"] in ("loadbalancer", "externalip")
    ):
        # iptables only: with no endpoints kube-proxy writes the REJECT for these addresses in
        # KUBE-EXTERNAL-SERVICES, which INPUT and FORWARD jump to but OUTPUT does not, so
        # the host's packet leaves the node untouched (toward the LB / the address's owner)
        # and is refused where it arrives; simulate answers that end-to-end fate.
        assert world["mode"] == "iptables" and want == "REJECT", (t.matched, want)
        return
    if t.dropped or t.rejected or not t.endpoints:
        got, got_shares = t.output(), {}
    else:
        got, got_shares = ", ".join(sorted(t.endpoints)), t.endpoints
    assert got == want, (t.matched, answer.to_json()["explain"])
    if want_masq is not None:
        assert t.masquerade is want_masq, t.matched
    assert got_shares.keys() == want_shares.keys()
    assert all(abs(got_shares[k] - v) < 1e-9 for k, v in want_shares.items()), (
        got_shares,
        want_shares,
    )


POD_CIDR = {"n1": "10.1.1.0/24", "n2": "10.1.2.0/24", "n3": "10.1.3.0/24"}

via_world_st = st.fixed_dictionaries(
    {
        "zones": st.tuples(*[st.sampled_from(["a", "b", None]) for _ in NODES]),
        "endpoints": st.lists(endpoint_st, max_size=6),
        "etp": st.sampled_from(["Cluster", "Local"]),
        "mode": st.sampled_from(["iptables", "nftables"]),
        "detect": st.sampled_from(
            ["ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"]
        ),
        "masquerade_all": st.booleans(),
        "pair": st.sampled_from([(a, b) for a in NODES for b in NODES]),
        "source": st.sampled_from(["pod", "host"]),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(via_world_st)
def test_rendered_rules_of_the_called_node_agree_with_via_node(world: dict) -> None:
    """A pod (from its node's podCIDR) or host process (its node IP) on node A sending to
    node B's NodePort: B's rendered rules, traced with that source and B's own address as
    the only local one, land where ``simulate(via_node=B)`` says — same endpoints, shares,
    DROP/REJECT and masquerade — for every detectLocalMode
    (cmd/kube-proxy/app/server_linux.go getLocalDetectors). The packet from another node
    comes in on B's uplink; a pod of B itself (A = B) on its bridge / veth, which is what
    the interface detectors match (pkg/proxy/util/localdetector.go)."""
    nodes = []
    for name, zone in zip(NODES, world["zones"], strict=True):
        obj = node_obj(name, zone=zone, pod_cidr=POD_CIDR[name])
        obj["status"]["addresses"] = [{"type": "InternalIP", "address": ADDRESS[name]}]
        nodes.append(obj)
    eps = endpoint_objects(world["endpoints"])
    service = service_obj("web", type="NodePort", cluster_ip=CLUSTER_IP, etp=world["etp"])
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {
            "config.conf": (
                f"clusterCIDR: 10.0.0.0/8\ndetectLocalMode: {world['detect']}\n"
                "detectLocal:\n  bridgeInterface: cni0\n  interfaceNamePrefix: veth\n"
            )
        },
    }
    snap = snapshot_from_objects(
        [*nodes, service, slice_obj("web", eps), config],
        proxy_mode=world["mode"],
        masquerade_all=world["masquerade_all"],
    )
    a, b = world["pair"]
    if a == b and world["source"] == "host":
        return  # the node's own process: src-type LOCAL, covered by the test above
    iif = "eth0" if a != b else {"BridgeInterface": "cni0"}.get(world["detect"], "veth3f2a")
    src = f"10.1.{a[1]}.2" if world["source"] == "pod" else ADDRESS[a]
    answer = simulate(
        snap,
        Question(service="default/web", source=f"{world['source']}:{a}", to="nodeport", via_node=b),
    )
    sp = snap.services["default/web"].ports[0]
    text = render_node_rules(snap, b, world["mode"]).text
    t = trace_text(
        text, world["mode"], Packet(src, ADDRESS[b], sp.node_port, sp.protocol, iif), [ADDRESS[b]]
    )
    want, want_masq, want_shares = outcome_of_answer(answer)
    if t.dropped or t.rejected or not t.endpoints:
        got, got_shares = t.output(), {}
    else:
        got, got_shares = ", ".join(sorted(t.endpoints)), t.endpoints
    assert got == want, (t.matched, answer.to_json()["explain"])
    if want_masq is not None:
        assert t.masquerade is want_masq, t.matched
    assert got_shares.keys() == want_shares.keys()
    assert all(abs(got_shares[k] - v) < 1e-9 for k, v in want_shares.items())
