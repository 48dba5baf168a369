"""Issue 11, item 9: a pod or host process on node A calling node B's NodePort
(``Question.via_node``). Each case names the upstream (kubernetes/kubernetes) file and
function it follows; the netns lab (routing/tests/test_lab.py) proves the same paths with
real packets."""

from __future__ import annotations

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, QuestionError, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

NODES = (
    node_obj("n1", zone="a", pod_cidr="10.244.1.0/24"),
    node_obj("n2", zone="a", pod_cidr="10.244.2.0/24"),
    node_obj("n3", zone="b", pod_cidr="10.244.3.0/24"),
)
# Two endpoints on n2, one on n3.
SLICE = slice_obj(
    "web",
    [
        endpoint_obj("10.244.2.5", "n2"),
        endpoint_obj("10.244.2.6", "n2"),
        endpoint_obj("10.244.3.5", "n3"),
    ],
)


def proxy_config(detect: str | None) -> list[dict]:
    """The kube-system/kube-proxy ConfigMap with ``detectLocalMode`` (None: no ConfigMap)."""
    if detect is None:
        return []
    text = f"mode: iptables\nclusterCIDR: 10.244.0.0/16\ndetectLocalMode: {detect}\n"
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": text},
        }
    ]


def ask(etp: str = "Local", detect: str | None = "ClusterCIDR", **kw) -> dict:
    objects = [
        *NODES,
        service_obj("web", type="NodePort", etp=etp, lb_ips=None, external_ips=["192.0.2.9"]),
        SLICE,
        *proxy_config(detect),
    ]
    question = Question(service="default/web", **{"source": "pod:n1", "to": "nodeport", **kw})
    return simulate(snapshot_from_objects(objects), question).to_json()


def shares(result: dict) -> dict[str, float]:
    return {e["ip"]: e["share"] for e in result["endpoints"]}


def codes(result: dict) -> list[str]:
    return [r["code"] for r in result["reasons"]]


def test_cluster_cidr_detector_short_circuits_a_pod_of_another_node_and_replies_bypass() -> None:
    # cmd/kube-proxy/app/server_linux.go getLocalDetectors: ClusterCIDR ->
    # pkg/proxy/util/localdetector.go NewDetectLocalByCIDR(clusterCIDR): n1's pod is inside.
    # pkg/proxy/iptables/proxier.go syncProxyRules: the external chain's "pod traffic for
    # <svc> external destinations" rule jumps to the Cluster chain without masquerade, so
    # n2 DNATs to every endpoint keeping the pod's address; the one on n3 answers n1
    # directly, bypassing n2's conntrack.
    result = ask(via_node="n2")
    assert result["via_node"] == "n2" and result["source"] == {"kind": "pod", "node": "n1"}
    assert result["action"] == "forward" and result["client_ip_preserved"] is True
    assert shares(result) == pytest.approx(
        {"10.244.2.5": 1 / 3, "10.244.2.6": 1 / 3, "10.244.3.5": 1 / 3}, abs=1e-6
    )
    assert result["outcome"] == "replies_lost"
    assert result["effective_dropped"] == pytest.approx(1 / 3, abs=1e-6)
    assert {"VIA_NODE", "VIA_NODE_POD_TRAFFIC", "VIA_NODE_REPLY_BYPASSES"} <= set(codes(result))
    assert "NODE_PROXY_MODE: node n2 runs" in result["explain"][0]


@pytest.mark.parametrize("detect", ["NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"])
def test_node_scoped_detectors_see_a_pod_of_another_node_as_external(detect: str) -> None:
    # server_linux.go getLocalDetectors: NodeCIDR -> NewDetectLocalByCIDR(n2's podCIDR);
    # BridgeInterface / InterfaceNamePrefix -> NewDetectLocalByBridgeInterface /
    # NewDetectLocalByInterfaceNamePrefix (match -i): the packet from n1 matches none, so
    # eTP=Local sends it to n2's Local set (KUBE-SVL) with the client address kept.
    result = ask(detect=detect, via_node="n2")
    assert shares(result) == {"10.244.2.5": 0.5, "10.244.2.6": 0.5}
    assert result["outcome"] == "ok" and result["client_ip_preserved"] is True
    assert "VIA_NODE_NOT_POD_TRAFFIC" in codes(result)


def test_node_scoped_detector_drops_at_a_node_without_local_endpoint() -> None:
    # proxier.go syncProxyRules: KUBE-SVL with no local endpoint -> DROP ("has no local endpoints").
    result = ask(detect="NodeCIDR", via_node="n1", source="pod:n3")
    assert result["action"] == "drop" and result["dropped"] == 1.0


def test_own_node_pod_still_short_circuits_under_node_cidr() -> None:
    # NodeCIDR matches the node's own pods: via_node = own node is the plain question.
    plain = ask(detect="NodeCIDR", source="pod:n2")
    same = ask(detect="NodeCIDR", source="pod:n2", via_node="n2")
    assert same["via_node"] is None and shares(same) == shares(plain)
    assert "SHORT_CIRCUIT_POD_TRAFFIC" in codes(plain)


def test_etp_cluster_masquerades_so_no_reply_is_lost() -> None:
    # proxier.go: eTP=Cluster's external chain marks every packet for masquerade first.
    result = ask(etp="Cluster", via_node="n2")
    assert result["outcome"] == "ok" and result["client_ip_preserved"] is False
    assert len(shares(result)) == 3


def test_host_process_through_another_node_is_external_there() -> None:
    # The source address is n1's node IP: outside every detector's CIDR and interface, and
    # not "--src-type LOCAL" on n2, so eTP=Local answers from n2's Local set.
    result = ask(source="host:n1", via_node="n2")
    assert shares(result) == {"10.244.2.5": 0.5, "10.244.2.6": 0.5}
    assert result["outcome"] == "ok"


def test_external_ip_is_captured_on_the_source_node() -> None:
    # proxier.go syncProxyRules: externalIPs are matched in KUBE-SERVICES on every node
    # ("-d <externalIP>"), so n1 NATs the connection before it could reach n2.
    result = ask(to="externalip", via_node="n2")
    plain = ask(to="externalip")
    assert shares(result) == shares(plain)
    assert codes(result)[:2] == ["NODE_PROXY_MODE", "VIA_NODE_CAPTURED_AT_SOURCE"]
    assert "node n1 runs" in result["explain"][0]


@pytest.mark.parametrize(
    ("kw", "field", "code"),
    [
        ({"via_node": "nope"}, "via_node", "unknown"),
        ({"via_node": "n2", "to": "clusterip"}, "via_node", "not_applicable"),
        ({"via_node": "n2", "source": "external:n1"}, "via_node", "not_applicable"),
    ],
)
def test_via_node_refusals(kw: dict, field: str, code: str) -> None:
    with pytest.raises(QuestionError) as err:
        ask(**kw)
    assert err.value.field == field and err.value.code == code


def test_the_called_node_s_proxy_mode_answers() -> None:
    # pkg/proxy/ipvs/proxier.go syncProxyRules: IPVS has no pod short-circuit for
    # eTP=Local (KUBE-NODE-PORT-LOCAL-TCP sends external traffic to the local set), so the
    # called node's mode, not the source's, decides: n2 in IPVS mode answers from its own
    # two endpoints and keeps the client address; replies pass back through n2.
    objects = [
        *NODES,
        service_obj("web", type="NodePort", etp="Local"),
        SLICE,
        *proxy_config("ClusterCIDR"),
    ]
    snapshot = snapshot_from_objects(objects, node_proxy_modes={"n2": "ipvs"})
    question = Question(service="default/web", source="pod:n1", to="nodeport", via_node="n2")
    result = simulate(snapshot, question).to_json()
    assert result["proxy_mode"] == "ipvs"
    assert shares(result) == {"10.244.2.5": 0.5, "10.244.2.6": 0.5}
    assert result["outcome"] == "ok" and result["client_ip_preserved"] is True
