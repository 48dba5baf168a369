"""``lab verify --timeline`` (issue 14): every moment of the demo's checkout drain story is an
ordinary snapshot; its rules, loaded into the netns lab (real iptables-restore / nft), send
real connections where the timeline's step says, per source class (pods, NodePort clients,
the load balancer's spread of the moment); a step compared with another moment's rules is
caught."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.kube_dump import read_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.timeline import Moment, TimelineRequest, Timing, moments
from routing.lab import netns
from routing.lab.topology import Lab
from routing.lab.verify import format_table, verify_timeline

pytestmark = pytest.mark.netns

DEMO = Path(__file__).resolve().parents[2] / "cluster" / "fixtures" / "demo.json"
SERVICE = "shop/checkout"  # eTP=Local LoadBalancer: 1 pod on node-a1, 3 on node-b1
DRAINED = "10.244.1.11"  # checkout's pod on node-a1
STORY = TimelineRequest(
    service=SERVICE, event="drain:node-a1", timing=Timing().with_probe(preset="gcp")
)


@pytest.fixture(scope="module")
def story():
    snapshot = snapshot_from_objects(read_objects(DEMO))
    steps = moments(snapshot, STORY)
    with Lab(snapshot, SERVICE, also=[m.snapshot for m in steps]) as lab:
        yield lab, steps
    assert not netns.existing(lab.tag), "lab namespaces left behind"


def test_each_moment_of_the_drain_agrees_with_its_step(story) -> None:
    lab, steps = story
    # The drain story's moments: before; node-a1's pod gone from the rules and its
    # replacement (placed on edge-1, as apply_scenario places it) not ready yet; the
    # replacement ready; the load balancer adds edge-1 (gcp: 1 x 8 s after its health
    # check passes) and, at 26 s, takes node-a1 out (3 x 8 s after it failed at 2 s).
    assert [m.t for m in steps] == [0.0, 2.0, 12.0, 20.0, 26.0]
    assert [sorted(m.lb_nodes) for m in steps] == [
        ["node-a1", "node-b1"],
        ["node-a1", "node-b1"],
        ["node-a1", "node-b1"],
        ["edge-1", "node-a1", "node-b1"],
        ["edge-1", "node-b1"],
    ]
    replacement = next(
        ip for ip in steps[-1].steps["pod"]["shares"]["endpoints"] if ip.startswith("10.244.10.")
    )
    comparisons = len(steps) * 3 * 2  # moments x (pod, external, lb) x modes
    alpha = 0.001 / comparisons  # family-wise 0.001 (Bonferroni), as test_lab does
    for mode in ("iptables", "nftables"):
        results = verify_timeline(lab, steps, mode=mode, requests=40, alpha=alpha)
        assert len(results) == len(steps) * 3
        assert all(r.ok for r in results), format_table(results, alpha=alpha)
        seen = {r.source: r.observed for r in results}
        # Before the drain the node-a1 pod takes a quarter of the pod traffic; after, none.
        assert seen["t=0s pod"][DRAINED] > 0 and seen["t=2s pod"][DRAINED] == 0
        assert seen["t=2s pod"][replacement] == 0 and seen["t=12s pod"][replacement] > 0
        # eTP=Local: external clients at the 8 (then 9, then 8) nodes without a ready local
        # endpoint time out, as the step's dropped share says (0.8, 0.9, 0.8 of 10 nodes).
        assert [seen[f"t={m.t:g}s external"]["drop"] for m in steps] == [320, 360, 320, 320, 320]
        # The health-check lag window: from 2 s to 26 s the LB still sends to node-a1, whose
        # rules drop; then nothing is lost and the replacement takes node-a1's place.
        assert [seen[f"t={m.t:g}s lb"]["drop"] for m in steps] == [0, 40, 40, 40, 0]
        assert seen["t=26s lb"][replacement] > seen["t=26s lb"]["10.244.4.11"]


def test_rules_of_another_moment_are_caught(story) -> None:
    lab, steps = story
    # Moment 0's rules (the drained pod still routed) against the step after the drain.
    wrong = Moment(steps[1].t, steps[0].snapshot, steps[1].dead, steps[1].lb_nodes, steps[1].steps)
    results = verify_timeline(lab, [wrong], mode="iptables", requests=40)
    pod = next(r for r in results if r.source.endswith(" pod"))
    assert not pod.ok and DRAINED in pod.note  # an outcome the step calls impossible


def test_lab_command_timeline_prints_every_moment() -> None:
    out = StringIO()
    call_command(
        "lab",
        "verify",
        str(DEMO),
        "--service",
        SERVICE,
        "--timeline",
        "--event",
        "drain:node-a1",
        "--lb-preset",
        "gcp",
        "--mode",
        "nftables",
        "--requests",
        "30",
        "--alpha",
        "0.00001",
        stdout=out,
    )
    text = out.getvalue()
    assert f"== {SERVICE} drain:node-a1 (nftables, 5 moments) ==" in text
    for t in ("t=0s", "t=2s", "t=12s", "t=20s", "t=26s"):
        assert f"{t} pod" in text and f"{t} external" in text and f"{t} lb" in text
    assert "client IP" not in text  # pooled sources: no one client address to check
    assert "every moment agrees with the timeline" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timeline"], "--timeline needs --event"),
        (["--timeline", "--event", "drain:nowhere"], "nowhere"),
        (["--timeline", "--event", "rollout", "--prestop", "90"], "grace period"),
        (["--timeline", "--event", "rollout", "--matrix"], "no --matrix"),
    ],
)
def test_lab_command_timeline_bad_input_exits_2(args, says) -> None:
    with pytest.raises(CommandError) as err:
        call_command("lab", "verify", str(DEMO), "--service", SERVICE, *args, stdout=StringIO())
    assert err.value.returncode == 2 and says in str(err.value)
