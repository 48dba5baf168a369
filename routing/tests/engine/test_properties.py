"""Properties over random small clusters (hypothesis): shares + dropped = 1; Local never
leaves the node; Cluster never drops while a usable endpoint exists; an empty what-if
changes nothing; answers are deterministic under a seed — in every proxy mode and IPVS
scheduler."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import node_obj, service_obj, slice_obj
from routing.tests.engine.worlds import endpoint_objects, endpoint_strategy

NODES = ("n1", "n2", "n3", "n4")
MODES = ("iptables", "nftables", "ipvs", "userspace")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh")
#: schedulers that hash to a fixed real server: a weight-0 (draining) one is refused.
HASHING = ("dh", "sh", "mh")

endpoint_st = endpoint_strategy(NODES, hint_zones=((), ("a",), ("b",), ("a", "b")))

world_st = st.fixed_dictionaries(
    {
        "zones": st.tuples(*[st.sampled_from(["a", "b", None]) for _ in NODES]),
        "endpoints": st.lists(endpoint_st, max_size=7),
        "itp": st.sampled_from(["Cluster", "Local"]),
        "etp": st.sampled_from(["Cluster", "Local"]),
        "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        "mode": st.sampled_from(MODES),
        "scheduler": st.sampled_from(SCHEDULERS),
        "affinity": st.sampled_from([None, "ClientIP"]),
        "seed": st.integers(0, 3),
        "source": st.sampled_from(["pod", "external", "lb"]),
        "node": st.sampled_from(NODES),
        "detector": st.booleans(),
    }
)


def build(world: dict):
    nodes = [node_obj(n, zone=z) for n, z in zip(NODES, world["zones"], strict=True)]
    eps = endpoint_objects(world["endpoints"])
    service = service_obj(
        "web",
        type=world["type"],
        itp=world["itp"],
        etp=world["etp"],
        lb_ips=["192.0.2.1"] if world["type"] == "LoadBalancer" else None,
        hc_port=32000,
        affinity=world.get("affinity"),
    )
    snapshot = snapshot_from_objects(
        nodes + [service, slice_obj("web", eps)],
        proxy_mode=world["mode"],
        ipvs_scheduler=world.get("scheduler", "rr"),
        local_detector=world["detector"],
    )
    return snapshot, service


def question(world: dict) -> Question:
    kind = world["source"]
    if kind in ("external", "lb") and world["type"] == "ClusterIP":
        kind = "pod"
    if kind == "lb" and world["type"] != "LoadBalancer":
        kind = "external"
    source = "lb" if kind == "lb" else f"{kind}:{world['node']}"
    to = (
        None
        if kind != "pod" or world["type"] == "ClusterIP"
        else ("nodeport" if world["node"] != "n4" else None)
    )
    return Question(service="default/web", source=source, to=to, seed=world.get("seed", 0))


def usable(snapshot) -> bool:
    return any(
        e.ready or (e.serving and e.terminating) for e in snapshot.endpoints("default/web", "http")
    )


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(world_st)
def test_shares_and_dropped_sum_to_one(world: dict) -> None:
    snapshot, _ = build(world)
    answer = simulate(snapshot, question(world))
    raw = sum(share for _, share in answer.endpoint_shares.values()) + answer.dropped
    assert math.isclose(raw, 1.0, abs_tol=1e-9)
    out = answer.to_json()
    assert (
        round((sum(e["share"] for e in out["endpoints"]) + out["dropped"]) * 1_000_000) == 1_000_000
    )
    assert all(e["share"] > 0 for e in out["endpoints"])


@SETTINGS
@given(world_st)
def test_local_policy_never_leaves_the_node(world: dict) -> None:
    """iptables/nftables: iTP=Local ClusterIP traffic and eTP=Local external traffic stay on N."""
    world = {**world, "mode": "nftables"}
    snapshot, _ = build(world)
    q = question(world)
    kind, node = q.parse_source()
    answer = simulate(snapshot, q).to_json()
    local_internal = (
        kind == "pod" and (q.to or "clusterip") == "clusterip" and world["itp"] == "Local"
    )
    local_external = kind == "external" and world["etp"] == "Local"
    if local_internal or local_external:
        assert {e["node"] for e in answer["endpoints"]} <= {node}


@SETTINGS
@given(world_st)
def test_cluster_policy_never_drops_while_something_is_usable(world: dict) -> None:
    """Never a silent drop under Cluster policy. The only losses while something is usable
    are IPVS hash schedulers refusing clients hashed to a draining (weight-0) real server,
    and userspace, which only ever knew Ready endpoints."""
    world = {**world, "itp": "Cluster", "etp": "Cluster"}
    snapshot, _ = build(world)
    q = question(world)
    answer = simulate(snapshot, q)
    assert answer.dropped - answer.rejected == 0.0
    ready = any(e.ready for e in snapshot.endpoints("default/web", "http"))
    if world["mode"] == "userspace":
        assert (answer.action == "forward") == ready
    elif usable(snapshot):
        hashing = world["mode"] == "ipvs" and world["scheduler"] in HASHING
        # dh pins the VIP to one server: when that is a draining weight-0 one, every new
        # connection is refused (ip_vs_dh_schedule finds no available destination).
        assert answer.action == "forward" or (
            hashing and answer.drop_reason == "IPVS_SCHEDULER_REFUSED"
        )
        if not hashing:
            assert answer.dropped == 0.0
    else:
        assert answer.action == "reject"


@SETTINGS
@given(world_st)
def test_empty_scenario_changes_nothing(world: dict) -> None:
    snapshot, _ = build(world)
    q = question(world)
    assert (
        simulate(apply_scenario(snapshot, Scenario()), q).to_json()
        == simulate(snapshot, q).to_json()
    )


@SETTINGS
@given(world_st)
def test_reject_exactly_when_nothing_is_usable_anywhere(world: dict) -> None:
    """semantics §4: REJECT iff no endpoint is ready or serving-terminating; a Local policy
    with endpoints elsewhere DROPs instead (iptables/nftables, one NAT node)."""
    world = {
        **world,
        "mode": "iptables",
        "source": "pod" if world["source"] == "lb" else world["source"],
    }
    snapshot, _ = build(world)
    answer = simulate(snapshot, question(world))
    assert (answer.action == "reject") == (not usable(snapshot))
    if answer.action == "drop":
        assert "Local" in (world["itp"], world["etp"])


@SETTINGS
@given(world_st)
def test_answers_are_deterministic_under_a_seed(world: dict) -> None:
    """The IPVS request-level simulation (sed, nq, lblc, persistence, ...) is seeded: the
    same question gives the same answer, to the last digit."""
    world = {**world, "mode": "ipvs"}
    snapshot, _ = build(world)
    q = question(world)
    assert simulate(snapshot, q).to_json() == simulate(snapshot, q).to_json()


@SETTINGS
@given(world_st)
def test_shares_only_on_candidates_and_refusals_only_in_ipvs_hashing(world: dict) -> None:
    """Every endpoint with a share is usable somewhere; a refused share that is not
    "no endpoints" only comes from an IPVS hash scheduler meeting a draining server."""
    snapshot, _ = build(world)
    answer = simulate(snapshot, question(world))
    for ep, share in answer.endpoint_shares.values():
        if share > 0:
            assert ep.ready or (ep.serving and ep.terminating)
    if answer.drop_reason == "IPVS_SCHEDULER_REFUSED":
        assert world["mode"] == "ipvs" and world["scheduler"] in HASHING
