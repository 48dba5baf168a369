"""IPVS and userspace choice wired through ``simulate()`` (semantics §7.3, §7.4).

What the scheduler modules report must reach the answer: their ``"CODE: sentence"``
lines verbatim, refused connections (IPVS finds no available real server ->
ICMP port unreachable; userspace closes after its last dial), the backend dh pins for
the virtual server's own address, weight-0 real servers for terminating endpoints
(kube-proxy ipvs/graceful_termination.go, TCP only), and persistence for ClientIP.
"""

from __future__ import annotations

import ipaddress
import math

import pytest

from routing.engine.explain import Code
from routing.engine.ipvs import REASONS, SCHEDULERS
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj
from routing.tests.engine.test_simulate import snap

THREE = (node_obj("n1", zone="a"), node_obj("n2", zone="a"), node_obj("n3", zone="b"))
WEB = [
    endpoint_obj("10.1.0.11", "n1"),
    endpoint_obj("10.1.0.12", "n2"),
    endpoint_obj("10.3.0.31", "n3"),
]
DRAINING = endpoint_obj("10.1.0.9", "n1", ready=False, serving=False, terminating=True)


def kernel_dh_index(vip: str, count: int) -> int:
    """ip_vs_dh.c written out independently: bucket = hash_32(addr, 8) (golden ratio
    0x61C88647, top 8 bits), bucket i holds dest i mod n in list order."""
    value = int(ipaddress.ip_address(vip))
    bucket = ((value * 0x61C88647) & 0xFFFFFFFF) >> (32 - 8)
    return bucket % count


def codes(answer) -> list[str]:
    return [str(r.code) for r in answer.reasons]


def with_nodes_addresses(objects: tuple[dict, ...]) -> tuple[dict, ...]:
    out = []
    for i, obj in enumerate(objects, start=1):
        obj = {
            **obj,
            "status": {
                **obj["status"],
                "addresses": [{"type": "InternalIP", "address": f"172.16.0.{i}"}],
            },
        }
        out.append(obj)
    return tuple(out)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_answers_through_simulate(scheduler: str) -> None:
    s = snap(
        *THREE, services=[(service_obj("web"), WEB)], proxy_mode="ipvs", ipvs_scheduler=scheduler
    )
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    data = answer.to_json()
    assert data["proxy_mode"] == "ipvs" and data["action"] == "forward"
    assert math.isclose(
        sum(e["share"] for e in data["endpoints"]) + data["dropped"], 1.0, abs_tol=1e-9
    )
    assert {e["ip"] for e in data["endpoints"]} <= {"10.1.0.11", "10.1.0.12", "10.3.0.31"}
    # The scheduler's own explanation lines arrive verbatim, "CODE: sentence".
    ipvs_lines = [r for r in answer.reasons if str(r.code) in REASONS]
    assert ipvs_lines and all(r.message == REASONS[str(r.code)] for r in ipvs_lines)
    assert "IPVS_PER_NODE_STATE" in codes(answer)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_question_what_if_switches_every_scheduler(scheduler: str) -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)])
    data = simulate(
        s,
        Question(
            service="default/web", source="pod:n2", proxy_mode="ipvs", ipvs_scheduler=scheduler
        ),
    ).to_json()
    assert data["proxy_mode"] == "ipvs"
    assert f"CHOICE_IPVS: ipvs scheduler {scheduler}" in " ".join(data["explain"])


@pytest.mark.parametrize("cluster_ip", ["10.96.0.10", "10.96.7.201", "10.100.3.3"])
def test_dh_pins_the_backend_the_cluster_ip_hashes_to(cluster_ip: str) -> None:
    """semantics §7.3: dh hashes the destination; a ClusterIP is one address -> one backend."""
    s = snap(
        *THREE,
        services=[(service_obj("web", cluster_ip=cluster_ip), WEB)],
        proxy_mode="ipvs",
        ipvs_scheduler="dh",
    )
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    keys = sorted(["10.1.0.11:8080", "10.1.0.12:8080", "10.3.0.31:8080"])
    expected = keys[kernel_dh_index(cluster_ip, 3)].split(":")[0]
    assert [(e["ip"], e["share"]) for e in answer.to_json()["endpoints"]] == [(expected, 1.0)]
    assert Code.IPVS_PINNED in codes(answer)


def test_dh_on_a_node_port_hashes_the_node_ip() -> None:
    """Each node's NodePort virtual server has the node's own address: pinned per node."""
    nodes = with_nodes_addresses(THREE)
    service = service_obj("web", type="NodePort")
    s = snap(*nodes, services=[(service, WEB)], proxy_mode="ipvs", ipvs_scheduler="dh")
    keys = sorted(["10.1.0.11:8080", "10.1.0.12:8080", "10.3.0.31:8080"])
    for i, name in enumerate(("n1", "n2", "n3"), start=1):
        data = simulate(s, Question(service="default/web", source=f"external:{name}")).to_json()
        expected = keys[kernel_dh_index(f"172.16.0.{i}", 3)].split(":")[0]
        assert [(e["ip"], e["share"]) for e in data["endpoints"]] == [(expected, 1.0)], name


def test_terminating_endpoint_is_a_weight_zero_server_that_refuses_its_sh_clients() -> None:
    """graceful_termination.go: a removed TCP real server stays at weight 0; sh still
    hashes clients to it (kernel keeps last_weight) and, without the fallback flag
    kube-proxy never sets, IPVS answers them with ICMP port unreachable."""
    s = snap(
        *THREE,
        services=[(service_obj("web"), [*WEB, DRAINING])],
        proxy_mode="ipvs",
        ipvs_scheduler="sh",
    )
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    data = answer.to_json()
    assert data["action"] == "forward"
    assert 0.2 < data["dropped"] < 0.45  # one bucket in four; 1000 clients hashed
    assert data["rejected"] == pytest.approx(data["dropped"], abs=1e-6)
    assert data["drop_reason"] == "IPVS_SCHEDULER_REFUSED"
    assert "10.1.0.9" not in {e["ip"] for e in data["endpoints"]}
    assert {Code.IPVS_GRACEFUL_WEIGHT_ZERO, Code.IPVS_SCHEDULER_REFUSED} <= set(codes(answer))
    assert math.isclose(
        sum(e["share"] for e in data["endpoints"]) + data["dropped"], 1.0, abs_tol=1e-9
    )


def test_terminating_endpoint_at_weight_zero_takes_nothing_from_rr() -> None:
    s = snap(
        *THREE,
        services=[(service_obj("web"), [*WEB, DRAINING])],
        proxy_mode="ipvs",
        ipvs_scheduler="rr",
    )
    data = simulate(s, Question(service="default/web", source="pod:n1")).to_json()
    assert data["dropped"] == 0.0
    assert sorted(e["share"] for e in data["endpoints"]) == [0.333333, 0.333333, 0.333334]


def test_udp_real_servers_are_removed_at_once_not_quiesced() -> None:
    """graceful termination applies to TCP only: UDP servers go, so sh refuses nothing."""
    ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]
    slice_ports = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    objects = [*THREE, service_obj("dns", ports=ports)]
    from routing.engine.kube import snapshot_from_objects
    from routing.tests.engine.core_builders import slice_obj

    eps = [endpoint_obj("10.1.0.11", "n1"), endpoint_obj("10.1.0.12", "n2"), DRAINING]
    s = snapshot_from_objects(
        [*objects, slice_obj("dns", eps, ports=slice_ports)], proxy_mode="ipvs", ipvs_scheduler="sh"
    )
    answer = simulate(s, Question(service="default/dns", source="pod:n1"))
    assert answer.dropped == 0.0
    assert Code.IPVS_GRACEFUL_WEIGHT_ZERO not in codes(answer)


def test_serving_terminating_fallback_servers_keep_weight_one() -> None:
    """With no Ready endpoint the fallback set is programmed normally (weight 1): nothing
    refused."""
    eps = [
        endpoint_obj("10.1.0.11", "n1", ready=False, serving=True, terminating=True),
        endpoint_obj("10.1.0.12", "n2", ready=False, serving=True, terminating=True),
    ]
    s = snap(*THREE, services=[(service_obj("web"), eps)], proxy_mode="ipvs", ipvs_scheduler="sh")
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    assert answer.dropped == 0.0 and answer.action == "forward"
    assert Code.IPVS_GRACEFUL_WEIGHT_ZERO not in codes(answer)


def test_session_affinity_makes_the_virtual_server_persistent() -> None:
    service = service_obj("web", affinity="ClientIP")
    s = snap(*THREE, services=[(service, WEB)], proxy_mode="ipvs", ipvs_scheduler="lc")
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    assert answer.to_json()["session_affinity"] == {"timeout_seconds": 10800}
    assert {Code.IPVS_PERSISTENT, "IPVS_PERSISTENCE_PER_CLIENT"} <= set(codes(answer))
    assert math.isclose(
        sum(s for _, s in answer.endpoint_shares.values()) + answer.dropped, 1.0, abs_tol=1e-9
    )


def test_simulated_schedulers_are_reproducible_under_a_seed() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)], proxy_mode="ipvs", ipvs_scheduler="sed")
    first = simulate(s, Question(service="default/web", source="pod:n1", seed=7)).to_json()
    again = simulate(s, Question(service="default/web", source="pod:n1", seed=7)).to_json()
    assert first == again
    assert first["latency_ms"]["scheduler"] is not None


def test_userspace_answers_with_its_own_lines_and_loses_the_client_ip() -> None:
    s = snap(*THREE, services=[(service_obj("web"), WEB)], proxy_mode="userspace")
    answer = simulate(s, Question(service="default/web", source="pod:n1"))
    data = answer.to_json()
    assert data["proxy_mode"] == "userspace" and data["client_ip_preserved"] is False
    assert sorted(e["share"] for e in data["endpoints"]) == [0.333333, 0.333333, 0.333334]
    assert {"USERSPACE_ROUND_ROBIN", "USERSPACE_SOURCE_IP_LOST"} <= set(codes(answer))
    lines = [r for r in answer.reasons if str(r.code) == "USERSPACE_ROUND_ROBIN"]
    assert lines[0].message == REASONS["USERSPACE_ROUND_ROBIN"]


def test_lb_through_node_ports_pins_per_node_under_dh() -> None:
    """An uncaptured LB ingress arrives on each node's NodePort virtual server (the node's
    IP): dh pins per node, so over the LB's nodes the shares follow each node's pin."""
    nodes = with_nodes_addresses(THREE)
    service = {
        **service_obj("web", type="LoadBalancer"),
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}},
    }
    s = snap(*nodes, services=[(service, WEB)], proxy_mode="ipvs", ipvs_scheduler="dh")
    data = simulate(s, Question(service="default/web", source="lb")).to_json()
    keys = sorted(["10.1.0.11:8080", "10.1.0.12:8080", "10.3.0.31:8080"])
    expected: dict[str, float] = {}
    for i in (1, 2, 3):
        ip = keys[kernel_dh_index(f"172.16.0.{i}", 3)].split(":")[0]
        expected[ip] = expected.get(ip, 0.0) + 1 / 3
    assert {e["ip"]: e["share"] for e in data["endpoints"]} == pytest.approx(expected, abs=1e-6)


def test_dh_pinned_to_a_draining_server_refuses_everything() -> None:
    """ip_vs_dh_schedule: the VIP's bucket holds a weight-0 server -> "no destination
    available" for every new connection until kube-proxy deletes it. The cluster IP is
    picked (by the independent kernel formula) so that its bucket holds the draining pod."""
    keys = sorted(["10.1.0.11:8080", "10.1.0.12:8080", "10.3.0.31:8080", "10.1.0.9:8080"])
    cluster_ip = next(
        f"10.96.0.{i}"
        for i in range(1, 255)
        if keys[kernel_dh_index(f"10.96.0.{i}", 4)] == "10.1.0.9:8080"
    )
    s = snap(
        *THREE,
        services=[(service_obj("web", cluster_ip=cluster_ip), [*WEB, DRAINING])],
        proxy_mode="ipvs",
        ipvs_scheduler="dh",
    )
    data = simulate(s, Question(service="default/web", source="pod:n2")).to_json()
    assert (data["action"], data["dropped"], data["rejected"], data["endpoints"]) == (
        "reject",
        1.0,
        1.0,
        [],
    )
    assert data["drop_reason"] == "IPVS_SCHEDULER_REFUSED"


@pytest.mark.parametrize(
    ("overrides", "numpy"), [("", False), ("proxy_mode='ipvs', ipvs_scheduler='sed'", True)]
)
def test_the_analysis_imports_numpy_only_for_a_simulated_scheduler(
    overrides: str, numpy: bool
) -> None:
    """numpy (a tenth of a second to import) is the seeded simulation's alone: analysing
    an iptables cluster, as ``routescope analyze FILE`` mostly does, never imports it."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from routing.engine.analysis import analyze\n"
        "from routing.tests.engine.test_simulate import snap\n"
        "from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj\n"
        "web = (service_obj('web'), [endpoint_obj('10.1.0.1', 'n1')])\n"
        f"analyze(snap(node_obj('n1'), services=[web], {overrides}))\n"
        "print('numpy' in sys.modules)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == [str(numpy)]
