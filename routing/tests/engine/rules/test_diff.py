"""Per-node rule diffs between a baseline and a what-if (semantics §3.4 behaviour)."""

from __future__ import annotations

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import render_node_rules
from routing.engine.rules.diff import diff_rules
from routing.engine.scenario import Scenario, apply_scenario
from routing.tests.engine.rules.test_policy_rules import objects
from routing.tests.engine.rules.upstream_cases import ep, node, port, service, slice_, slice_port


def flip(snapshot, **fields):
    return apply_scenario(snapshot, Scenario(service_overrides={"ns/web": fields}))


def test_itp_local_flip_changes_both_nodes_differently() -> None:
    base = snapshot_from_objects(objects())
    diff = diff_rules(base, flip(base, internalTrafficPolicy="Local"), "iptables")
    assert diff.services == ("ns/web",)
    by_node = {c.node: c for c in diff.changes}
    assert set(by_node) == {"n1", "n2"}
    n1 = diff.node_diff("n1")
    assert n1.startswith("# ns/web\n--- n1 baseline\n+++ n1 what-if\n")
    assert any(line.startswith("+") and line.endswith("-j DROP") for line in n1.splitlines())
    n2 = diff.node_diff("n2")
    assert any(line.startswith("+:KUBE-SVL-") for line in n2.splitlines())
    assert not any(line.endswith("-j DROP") for line in n2.splitlines())
    for name, change in by_node.items():
        lines = diff.node_diff(name).splitlines()
        assert change.added == sum(
            1 for line in lines if line.startswith("+") and not line.startswith("+++")
        )
        assert change.removed == sum(
            1 for line in lines if line.startswith("-") and not line.startswith("---")
        )


def test_diff_matches_full_renders() -> None:
    """Applying the diff's +/- lines to the baseline Service block gives the what-if block."""
    base = snapshot_from_objects(objects())
    after = flip(base, externalTrafficPolicy="Local")
    diff = diff_rules(base, after, "nftables")
    text = diff.node_diff("n1")
    added = {
        line[1:]
        for line in text.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    }
    removed = {
        line[1:]
        for line in text.splitlines()
        if line.startswith("-") and not line.startswith("---")
    }
    before_lines = {
        t for t, s, _ in render_node_rules(base, "n1", "nftables").rows if s == "ns/web"
    }
    after_lines = {
        t for t, s, _ in render_node_rules(after, "n1", "nftables").rows if s == "ns/web"
    }
    assert (before_lines - removed) | added == after_lines


def test_no_change_means_empty_diff() -> None:
    base = snapshot_from_objects(objects())
    diff = diff_rules(base, flip(base, internalTrafficPolicy="Cluster"), "iptables")
    assert diff.changes == [] and diff.node_diff("n1") == ""


def test_nodes_are_grouped_into_few_render_classes() -> None:
    """60 nodes in 2 zones, endpoints on 2 of them: an eTP flip renders a handful of
    classes (per zone without local endpoints + per endpoint node), not 60 nodes."""
    objs = [node(f"n{i:02d}", f"192.168.1.{i + 1}", "a" if i % 2 else "b") for i in range(60)]
    objs += [
        service("ns", "web", "10.96.0.10", [port("http", 80, node_port=30080)], type="NodePort"),
        slice_(
            "ns", "web", [ep("10.1.0.5", "n00"), ep("10.1.0.6", "n01")], [slice_port("http", 80)]
        ),
    ]
    base = snapshot_from_objects(objs)
    diff = diff_rules(base, flip(base, externalTrafficPolicy="Local"), "iptables")
    assert diff.to_json()["nodes_changed"] == 60
    assert diff.classes <= 4
    assert diff.node_diff("n10") == diff.node_diff("n10")  # stable
    assert diff.node_diff("n10").replace("n10", "nXX") == diff.node_diff("n12").replace(
        "n12", "nXX"
    )


def test_block_cache_never_changes_a_rendering() -> None:
    """Rendering node A then B through one cache gives B exactly what a fresh render gives."""
    from routing.engine.rules.cache import RenderCache
    from routing.tests.engine.rules.upstream_cases import overall_objects

    snap = snapshot_from_objects(objects("Local", "Local"))
    for mode in ("iptables", "nftables", "ipvs"):
        fresh = render_node_rules(snap, "n2", mode, cache=RenderCache()).text
        cache = RenderCache()
        render_node_rules(snap, "n1", mode, cache=cache)
        assert cache.blocks and (cache.memo or mode == "ipvs")
        assert render_node_rules(snap, "n2", mode, cache=cache).text == fresh
    multi = snapshot_from_objects(overall_objects())
    cache = RenderCache()
    assert (
        render_node_rules(multi, "test-node", "iptables", cache=cache).text
        == render_node_rules(multi, "test-node", "iptables", cache=cache).text
        == render_node_rules(multi, "test-node", "iptables").text
    )


def test_rule_renderers_keep_no_module_state() -> None:
    """Render caches belong to the caller: rendering leaves no module-level mutable state
    (no dict, list or set at module level grows) in the rule modules."""
    import importlib

    from routing.engine.rules.cache import RenderCache
    from routing.tests.engine.rules.upstream_cases import overall_objects

    names = ("cache", "diff", "iptables", "ipvs", "model", "nftables", "plan", "reasons", "render")
    modules = [importlib.import_module(f"routing.engine.rules.{n}") for n in names]

    def containers() -> dict[str, object]:
        return {
            f"{m.__name__}.{k}": repr(v)
            for m in modules
            for k, v in vars(m).items()
            if isinstance(v, (dict, list, set)) and not k.startswith("__")
        }

    before = containers()
    snap = snapshot_from_objects(overall_objects())
    for mode in ("iptables", "nftables", "ipvs"):
        render_node_rules(snap, "test-node", mode)
        render_node_rules(snap, "test-node", mode, cache=RenderCache())
    web = snapshot_from_objects(objects())
    for mode in ("iptables", "nftables", "ipvs"):
        diff_rules(web, flip(web, externalTrafficPolicy="Local"), mode)
    assert containers() == before


def test_shared_categorisation_equals_per_node_categorisation() -> None:
    """The diff's shortcut (one full categorisation per zone/hint key, Local set from the
    node's own endpoints) gives exactly what categorize_endpoints gives per node — on the
    demo cluster (hints, terminating endpoints, Local policies) under every iTP x eTP."""
    from pathlib import Path

    from cluster.kube_dump import read_objects
    from routing.engine.rules.plan import node_context, port_plan

    demo = snapshot_from_objects(
        read_objects(Path(__file__).resolve().parents[4] / "cluster/fixtures/demo.json")
    )
    checked = 0
    for itp in ("Cluster", "Local"):
        for etp in ("Cluster", "Local"):
            snap = apply_scenario(
                demo,
                Scenario(
                    service_overrides={
                        k: {"internalTrafficPolicy": itp, "externalTrafficPolicy": etp}
                        for k in demo.services
                    }
                ),
            )
            shared: dict = {}
            for key, svc in sorted(snap.services.items()):
                if svc.headless or svc.type == "ExternalName":
                    continue
                for p in svc.ports:
                    for name in sorted(snap.nodes):
                        ctx = node_context(snap, name)
                        assert port_plan(snap, svc, p, ctx, shared=shared) == port_plan(
                            snap, svc, p, ctx
                        ), (key, name)
                        checked += 1
    assert checked > 400


def test_block_cache_key_covers_every_plan_field() -> None:
    """cached_service spells its key out field by field: a new PortPlan field must join it."""
    import dataclasses
    import inspect

    from routing.engine.rules import render as render_module
    from routing.engine.rules.model import PortPlan

    source = inspect.getsource(render_module.cached_service)
    missing = [
        f.name
        for f in dataclasses.fields(PortPlan)
        if f.name != "total_endpoints" and f"plan.{f.name}" not in source
    ]
    assert missing == []
