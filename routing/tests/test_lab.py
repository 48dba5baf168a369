"""The netns lab on the demo cluster: real connections agree with the engine's prediction
for every iTP x eTP combination in iptables and nftables mode; a wrong prediction is caught;
nothing is left behind."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.kube_dump import read_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario
from routing.lab import netns
from routing.lab.topology import Lab
from routing.lab.verify import format_table, verify

pytestmark = pytest.mark.netns

DEMO = Path(__file__).resolve().parents[2] / "cluster" / "fixtures" / "demo.json"
SERVICE = "shop/checkout"  # LoadBalancer, 4 endpoints on node-a1 and node-b1
COMBOS = [(i, e) for i in ("Cluster", "Local") for e in ("Cluster", "Local")]


@pytest.fixture(scope="module")
def demo():
    return snapshot_from_objects(read_objects(DEMO))


@pytest.fixture(scope="module")
def lab(demo):
    with Lab(demo, SERVICE) as built:
        yield built
    assert not netns.existing(built.tag), "lab namespaces left behind"


def policies(snapshot, itp: str, etp: str):
    overrides = {SERVICE: {"internalTrafficPolicy": itp, "externalTrafficPolicy": etp}}
    return apply_scenario(snapshot, Scenario(service_overrides=overrides))


@pytest.mark.parametrize(("itp", "etp"), COMBOS, ids=[f"iTP={i}-eTP={e}" for i, e in COMBOS])
def test_measured_traffic_agrees_with_prediction(lab, demo, itp: str, etp: str) -> None:
    # Family-wise alpha 0.001 over the whole matrix (Bonferroni): 4 policy pairs x 2 modes x
    # 2 sources x every node is 160 chi-square tests per run, and at 0.001 each one run in
    # six would flag a correct prediction by chance. Wrong predictions still fail: an
    # outcome the engine calls impossible (a drop, a refused or foreign endpoint) is a
    # disagreement at any alpha, and test_a_wrong_prediction_is_caught keeps 0.001.
    comparisons = len(COMBOS) * 2 * 2 * len(demo.nodes)
    alpha = 0.001 / comparisons
    snapshot = policies(demo, itp, etp)
    results = verify(lab, snapshot, modes=("iptables", "nftables"), requests=80, alpha=alpha)
    assert len(results) == 2 * 2 * len(
        demo.nodes
    )  # both modes x (pod:NODE + external:NODE) x nodes
    assert all(r.ok for r in results), format_table([r for r in results if not r.ok], alpha=alpha)
    # The policies really bite: with eTP=Local an external client at a node without a
    # local endpoint times out, with eTP=Cluster it never does.
    far_node = next(
        n for n in sorted(demo.nodes) if n not in {e.node for e in demo.endpoints(SERVICE, "http")}
    )
    far = next(r for r in results if r.source == f"external:{far_node}" and r.mode == "nftables")
    assert (far.observed.get("drop", 0) == 80) == (etp == "Local")


def test_a_wrong_prediction_is_caught(lab, demo) -> None:
    """Rules for eTP=Local, prediction for eTP=Cluster: external sources must DISAGREE."""
    predicted, programmed = policies(demo, "Cluster", "Cluster"), policies(demo, "Cluster", "Local")
    far = next(
        n for n in sorted(demo.nodes) if n not in {e.node for e in demo.endpoints(SERVICE, "http")}
    )
    results = verify(
        lab,
        predicted,
        modes=("iptables",),
        requests=60,
        rules_from=programmed,
        sources=[f"external:{far}", f"pod:{far}"],
    )
    by_source = {r.source: r for r in results}
    assert not by_source[f"external:{far}"].ok
    assert by_source[f"pod:{far}"].ok  # pod traffic is the same under both policies


def test_lab_removes_its_namespaces_after_an_error(demo) -> None:
    with pytest.raises(RuntimeError, match="boom"), Lab(demo, SERVICE) as lab:
        tag = lab.tag
        assert netns.existing(tag)
        raise RuntimeError("boom")
    assert netns.existing(tag) == []


def test_lab_command_prints_a_table_and_exits_zero_on_agreement() -> None:
    out = StringIO()
    # A small alpha: this test is about the command's output, not about catching luck.
    call_command(
        "lab",
        "verify",
        str(DEMO),
        "--service",
        SERVICE,
        "--requests",
        "40",
        "--alpha",
        "0.00001",
        "--source",
        "pod:node-a1",
        "--source",
        "external:node-b1",
        stdout=out,
    )
    text = out.getvalue()
    assert "chi-square goodness of fit" in text and "agree" in text
    assert not any(line.endswith("DISAGREE") for line in text.splitlines())
    assert "all sources agree" in text


def test_lab_command_runs_a_via_node_source_to_the_nodeport() -> None:
    out = StringIO()
    call_command(
        "lab",
        "verify",
        str(DEMO),
        "--service",
        SERVICE,
        "--mode",
        "nftables",
        "--requests",
        "40",
        "--alpha",
        "0.00001",
        "--source",
        "pod:node-a2@node-a1",
        stdout=out,
    )
    text = out.getvalue()
    assert "pod:node-a2@node-a1" in text and "all sources agree" in text
    # 3 of checkout's 4 endpoints answer node-a2 directly: the table expects drops.
    assert any(" drop " in line and "30.0" in line for line in text.splitlines())


def test_lab_command_rejects_bad_input_with_status_2() -> None:
    with pytest.raises(CommandError) as err:
        call_command("lab", "verify", str(DEMO), "--service", "shop/nope", stdout=StringIO())
    assert err.value.returncode == 2


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_what_if_reaches_lab_nodes_through_their_agents() -> None:
    """Each lab node is programmed by its own node agent (a real Celery worker on Redis,
    queue node.<NODE>); a what-if sent the same way changes the measured traffic."""
    import redis

    from cluster.testing.workers import publishing_to
    from routing.lab.agents import LabAgents
    from routing.tests.engine.rules.test_policy_rules import objects

    broker = "redis://127.0.0.1:6379/7"
    redis.Redis.from_url(broker).flushdb()
    baseline = snapshot_from_objects(objects("Cluster", "Cluster"))
    whatif = apply_scenario(
        baseline, Scenario(service_overrides={"ns/web": {"internalTrafficPolicy": "Local"}})
    )
    with (
        Lab(baseline, "ns/web") as small,
        LabAgents(small, broker_url=broker) as agents,
        publishing_to(broker),
    ):
        before = verify(
            small, baseline, modes=("iptables",), requests=40, sources=["pod:n1"], programmer=agents
        )
        after = verify(
            small, whatif, modes=("iptables",), requests=40, sources=["pod:n1"], programmer=agents
        )
    assert before[0].ok and before[0].observed.get("10.1.2.5") == 40
    assert after[0].ok and after[0].observed.get("drop") == 40  # iTP=Local, no endpoint on n1


def test_lab_command_rejects_an_unknown_source_with_status_2() -> None:
    with pytest.raises(CommandError) as err:
        call_command(
            "lab",
            "verify",
            str(DEMO),
            "--service",
            SERVICE,
            "--source",
            "host:node-a1",
            stdout=StringIO(),
        )
    assert err.value.returncode == 2 and "pod:NODE" in str(err.value)


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_lb_source_spreads_over_healthy_nodes_and_agrees(lab, demo, mode: str) -> None:
    """eTP=Local checkout: the LB sends only to the 2 nodes passing the health check, each
    balancing over its own pods, so the lone pod on node-a1 takes half of all connections."""
    results = verify(lab, demo, modes=(mode,), sources=["lb"], requests=120, alpha=1e-5)
    (result,) = results
    assert result.source == "lb" and result.ok, format_table(results, alpha=1e-5)
    assert result.expected["10.244.1.11"] == pytest.approx(0.5)
    assert result.observed.get("drop", 0) == 0 and result.preserved_expected
    assert sum(result.observed.values()) == 120


def test_lb_source_catches_a_wrong_prediction(lab, demo) -> None:
    """Rules for eTP=Cluster (every node, per pod), prediction for eTP=Local (per node)."""
    predicted, programmed = policies(demo, "Cluster", "Local"), policies(demo, "Cluster", "Cluster")
    results = verify(
        lab, predicted, modes=("iptables",), sources=["lb"], requests=120, rules_from=programmed
    )
    assert not results[0].ok  # client IP masqueraded under eTP=Cluster, preserved predicted


def test_close_sweeps_namespaces_carrying_the_lab_tag(demo) -> None:
    """An interrupt can land between 'ip netns add' and the bookkeeping: close() still
    removes every namespace with the lab's tag."""
    import subprocess

    lab = Lab(demo, SERVICE)
    stray = f"{lab.tag}-zz"
    subprocess.run(["ip", "netns", "add", stray], check=True)
    lab.close()
    assert netns.existing(lab.tag) == []


def _detect_local(snapshot, mode: str):
    """``snapshot`` with every node's kube-proxy on ``detectLocalMode`` ``mode``."""
    from dataclasses import replace

    return snapshot.evolve(
        proxy=replace(snapshot.proxy, detect_local_mode=mode),
        node_proxy={n: replace(c, detect_local_mode=mode) for n, c in snapshot.node_proxy.items()},
    )


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_pod_through_another_nodes_nodeport_agrees(lab, demo, mode: str) -> None:
    """A pod on node A calling node B's NodePort (``via_node``), eTP=Local checkout.

    ClusterCIDR detection (cmd/kube-proxy/app/server_linux.go ``getLocalDetectors`` →
    pkg/proxy/util/localdetector.go ``NewDetectLocalByCIDR`` with the cluster CIDR): B
    takes the pod of A for its own pod traffic and short-circuits to the Cluster set
    without SNAT (pkg/proxy/iptables/proxier.go ``syncProxyRules``, "pod traffic for … external
    destinations"), so every endpoint not on B answers A directly and the reply is lost:
    measured as timeouts. NodeCIDR detection (the detector's CIDR is B's own podCIDR)
    does not: the Local set on B answers, client IP kept."""
    a_far, a_one, b_three = "node-a2", "node-a1", "node-b1"
    sources = [f"pod:{a_far}@{a_one}", f"pod:{a_one}@{b_three}"]
    results = verify(lab, demo, modes=(mode,), sources=sources, requests=80, alpha=1e-5)
    assert all(r.ok for r in results), format_table(results, alpha=1e-5)
    by = {r.source: r for r in results}
    # 3 of the 4 endpoints sit on node-b1: their replies bypass node-a1.
    assert by[sources[0]].expected["drop"] == pytest.approx(0.75)
    assert by[sources[0]].observed.get("10.244.1.11", 0) > 0
    assert by[sources[1]].expected["drop"] == pytest.approx(0.25)
    node_cidr = _detect_local(demo, "NodeCIDR")
    (result,) = verify(lab, node_cidr, modes=(mode,), sources=sources[:1], requests=60, alpha=1e-5)
    assert result.ok, format_table([result], alpha=1e-5)
    assert result.observed.get("10.244.1.11") == 60 and result.preserved_expected


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_host_process_through_another_nodes_nodeport_agrees(lab, demo, mode: str) -> None:
    """A host process on node-a2 (the node's own address) calling node-a1's NodePort: no
    detector counts a node address as pod traffic, so eTP=Local answers from node-a1's
    Local set with the client address kept (pkg/proxy/iptables/proxier.go syncProxyRules:
    the external chain's jump to KUBE-SVL), and the one local endpoint replies through
    node-a1."""
    (result,) = verify(
        lab, demo, modes=(mode,), sources=["host:node-a2@node-a1"], requests=60, alpha=1e-5
    )
    assert result.ok, format_table([result], alpha=1e-5)
    assert result.observed.get("10.244.1.11") == 60 and result.preserved_expected


def test_via_node_catches_a_wrong_detector(lab, demo) -> None:
    """Rules with NodeCIDR detection, prediction with ClusterCIDR: the lab disagrees."""
    node_cidr = _detect_local(demo, "NodeCIDR")
    results = verify(
        lab,
        demo,
        modes=("iptables",),
        sources=["pod:node-a2@node-a1"],
        requests=60,
        rules_from=node_cidr,
    )
    assert not results[0].ok


def _ranged(snapshot, ranges: tuple[str, ...]):
    from dataclasses import replace

    svc = snapshot.services[SERVICE]
    return snapshot.evolve(
        services={**snapshot.services, SERVICE: replace(svc, lb_source_ranges=ranges)}
    )


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_load_balancer_source_ranges_with_real_packets(lab, demo, mode: str) -> None:
    """loadBalancerSourceRanges at the LB IP (pkg/proxy/iptables/proxier.go
    ``syncProxyRules`` KUBE-FW-*, pkg/proxy/nftables/proxier.go ``firewall-ips``): the
    external client (203.0.113.10) and a pod are let through when inside the ranges and
    dropped when outside, through the LB source and straight to the LB IP alike."""
    etp_cluster = policies(demo, "Cluster", "Cluster")
    pod_node = "node-a2"
    pod_ip = lab.clients[pod_node][1]
    inside = _ranged(etp_cluster, ("203.0.113.0/24", f"{pod_ip}/32"))
    outside = _ranged(etp_cluster, ("198.51.100.0/24",))
    sources = [f"external:{pod_node}", f"pod:{pod_node}", "lb"]
    kept = verify(
        lab, inside, modes=(mode,), sources=sources, to="loadbalancer", requests=60, alpha=1e-5
    )
    dropped = verify(
        lab, outside, modes=(mode,), sources=sources, to="loadbalancer", requests=60, alpha=1e-5
    )
    assert all(r.ok for r in kept + dropped), format_table(kept + dropped, alpha=1e-5)
    assert all(r.observed.get("drop", 0) == 0 for r in kept)
    assert all(r.observed.get("drop", 0) == r.requests for r in dropped)
    assert all(r.expected["drop"] == 1.0 for r in dropped)
