"""The renderer's fast paths against plain, line-by-line references.

Large renders store per-endpoint blocks as newline-joined chunks with lazy reasons and take a
shortcut around ``categorize_endpoints`` when no topology filter can apply. These tests pin
both to the straightforward computation on the demo cluster (hints, terminating and
not-ready endpoints, affinity, Local policies) under every iTP x eTP, in normal and
large-cluster (comment-less) mode.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import RenderOptions, naming, render_node_rules
from routing.engine.rules.iptables import probability
from routing.engine.rules.plan import (
    node_plans,
    proxied_services,
    render_options,
    trivial_categorization,
)
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.topology import categorize_endpoints

DEMO = Path(__file__).resolve().parents[4] / "cluster/fixtures/demo.json"
POLICIES = [(i, e) for i in ("Cluster", "Local") for e in ("Cluster", "Local")]


def _demo_objects() -> list[dict]:
    from cluster.kube_dump import read_objects

    return read_objects(DEMO)


def _variants() -> list:
    """The demo under every iTP x eTP, with and without its topology hints."""
    plain = copy.deepcopy(_demo_objects())
    for obj in plain:
        for e in obj.get("endpoints") or () if obj.get("kind") == "EndpointSlice" else ():
            e.pop("hints", None)
    out = []
    for objs in (_demo_objects(), plain):
        snap = snapshot_from_objects(objs)
        for itp, etp in POLICIES:
            out.append(
                apply_scenario(
                    snap,
                    Scenario(
                        service_overrides={
                            k: {"internalTrafficPolicy": itp, "externalTrafficPolicy": etp}
                            for k in snap.services
                        }
                    ),
                )
            )
    return out


VARIANTS = _variants()


def test_demo_variants_exercise_the_fast_paths() -> None:
    """The hint-free copy really lost its hints, and the demo has not-ready endpoints and
    session affinity: otherwise the comparisons below would prove little."""
    plain = VARIANTS[len(POLICIES)]
    eps = [e for ports in plain.endpoint_index.values() for v in ports.values() for e in v]
    assert not any(e.zone_hints or e.node_hints for e in eps)
    hinted = VARIANTS[0]
    assert any(
        e.zone_hints or e.node_hints
        for ports in hinted.endpoint_index.values()
        for v in ports.values()
        for e in v
    )
    assert any(not e.ready for e in eps)
    assert any(s.session_affinity == "ClientIP" for s in plain.services.values())


def test_trivial_categorization_equals_categorize_endpoints() -> None:
    applied = 0
    for snap in VARIANTS:
        for svc in proxied_services(snap):
            for port in svc.ports:
                endpoints = snap.endpoints(svc.key, port.name)
                for node in sorted(snap.nodes):
                    conf = snap.proxy_for(node)
                    got = trivial_categorization(endpoints, svc, port, node, conf.gates)
                    if got is None:
                        continue
                    cat = categorize_endpoints(
                        endpoints,
                        service=svc,
                        port=port,
                        node_name=node,
                        zone=snap.nodes[node].zone,
                        gates=conf.gates,
                        version=conf.version,
                    )
                    assert got == (cat.cluster, cat.local, cat.has_any_endpoints), (
                        svc.key,
                        port.name,
                        node,
                    )
                    applied += 1
    assert applied > 300


def _ipt_reference(plan, large: bool) -> list[list[tuple[str, str]]]:
    """Per-endpoint iptables blocks of one port, one line at a time (the slow path)."""
    spn = naming.service_port_name(plan.namespace, plan.name, plan.port_name)
    proto = plan.protocol
    mp = f"-m {proto} -p {proto}"
    comment = (
        ""
        if large
        else (f'-m comment --comment "{spn}" ' if " " in spn else f"-m comment --comment {spn} ")
    )
    blocks = []
    chains, nat = [], []
    for e in plan.reachable:
        epstr = naming.endpoint_string(e.ip, e.port)
        sep = naming.sep_chain(spn, proto, epstr)
        chains.append((f":{sep} - [0:0]", "chain"))
        nat.append((f"-A {sep} {comment}-s {e.ip} -j KUBE-MARK-MASQ", "hairpin"))
        recent = f"-m recent --name {sep} --set " if plan.affinity_timeout else ""
        nat.append(
            (f"-A {sep} {comment}{recent}{mp} -j DNAT --to-destination {epstr}", f"dnat|{epstr}")
        )
    blocks += [chains, nat]
    for chain_kind, eps, used in (
        ("svc", plan.cluster or (), plan.cluster is not None),
        ("svl", plan.local or (), plan.local is not None),
    ):
        if not used or not eps:
            continue
        chain = (naming.svc_chain if chain_kind == "svc" else naming.svl_chain)(spn, proto)
        rows = []
        n = len(eps)
        for e in eps:
            epstr = naming.endpoint_string(e.ip, e.port)
            sep = naming.sep_chain(spn, proto, epstr)
            c = "" if large else f'-m comment --comment "{spn} -> {epstr}" '
            if plan.affinity_timeout:
                rows.append(
                    (
                        f"-A {chain} {c}-m recent --name {sep} --rcheck --seconds "
                        f"{plan.affinity_timeout} "
                        f"--reap -j {sep}",
                        f"affinity|{epstr}",
                    )
                )
        for i, e in enumerate(eps):
            epstr = naming.endpoint_string(e.ip, e.port)
            sep = naming.sep_chain(spn, proto, epstr)
            c = "" if large else f'-m comment --comment "{spn} -> {epstr}" '
            stat = (
                f"-m statistic --mode random --probability {probability(n - i)} "
                if i < n - 1
                else ""
            )
            rows.append((f"-A {chain} {c}{stat}-j {sep}", f"pick|{epstr} 1/{n}"))
        blocks.append(rows)
    return [b for b in blocks if b]


def _nft_reference(plan) -> list[list[tuple[str, str]]]:
    """Per-endpoint nftables blocks of one port, one line at a time (the slow path)."""
    t = "ip kube-proxy"
    base = {
        (e.ip, e.port): naming.nft_endpoint_base(
            plan.namespace, plan.name, plan.protocol, plan.port_name, e.ip, e.port
        )
        for e in plan.reachable
    }
    chains, rules = [], []
    for e in plan.reachable:
        b = base[(e.ip, e.port)]
        chains.append((f"add chain {t} endpoint-{b}", "chain"))
        rules.append(
            (f"add rule {t} endpoint-{b} ip saddr {e.ip} jump mark-for-masquerade", "hairpin")
        )
        if plan.affinity_timeout:
            rules.append(
                (
                    f"add rule {t} endpoint-{b} update @affinity-{b} {{ ip saddr }}",
                    f"affinity|{e.ip}:{e.port}",
                )
            )
        rules.append(
            (
                f"add rule {t} endpoint-{b} meta l4proto {plan.protocol} dnat to {e.ip}:{e.port}",
                f"dnat|{e.ip}:{e.port}",
            )
        )
    return [b for b in (chains, rules) if b]


def _assert_contiguous(
    rows: list[tuple[str, str]], block: list[tuple[str, str]], where: str
) -> None:
    lines = [r[0] for r in rows]
    assert block[0][0] in lines, (where, block[0])
    start = lines.index(block[0][0])
    assert rows[start : start + len(block)] == block, where


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize("large", [False, True], ids=["comments", "large-cluster"])
def test_chunked_render_equals_line_by_line_reference(mode: str, large: bool) -> None:
    checked = 0
    for snap in VARIANTS:
        for node in sorted(snap.nodes):
            opts = render_options(snap, node, large_cluster_threshold=0 if large else 10**9)
            rs = render_node_rules(snap, node, mode, options=opts)
            rows = rs.rows
            # rows are single lines that spell the text exactly, each with a reason code
            assert "".join(t + "\n" for t, _, _ in rows) == rs.text
            assert all("\n" not in t and isinstance(r, str) and "\n" not in r for t, _, r in rows)
            by_service: dict[str, list[tuple[str, str]]] = {}
            for t, s, r in rows:
                by_service.setdefault(s or "", []).append((t, r))
            for key, svc_rules in rs.services.items():
                assert sorted(svc_rules.lines()) == sorted(t for t, _ in by_service[key]), key
                assert svc_rules.pairs() and sorted(svc_rules.pairs()) == sorted(
                    by_service[key]
                ), key
            _, plans = node_plans(snap, node)
            for plan in plans:
                blocks = _ipt_reference(plan, large) if mode == "iptables" else _nft_reference(plan)
                for block in blocks:
                    _assert_contiguous(
                        by_service[plan.key], block, f"{node} {plan.key}:{plan.port_name}"
                    )
                    checked += 1
    assert checked > 200


def test_reasons_still_read_as_sentences_for_chunked_lines() -> None:
    snap = VARIANTS[0]
    node = sorted(snap.nodes)[0]
    rs = render_node_rules(snap, node, "iptables", options=RenderOptions(large_cluster_threshold=0))
    dnat = [line for line in rs.lines if line.reason.startswith("dnat|")]
    assert dnat and all(line.why.startswith("DNAT to endpoint ") and line.service for line in dnat)
    assert json.dumps([line.why for line in rs.lines])  # plain strings all the way down


def test_gc_pause_restores_the_collector_and_leaves_others_frozen_objects_alone() -> None:
    import gc

    from routing.engine.rules.render import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]
    assert gc.isenabled() and len(made) == 1000
    assert not gc.get_freeze_count()  # promoted to the oldest generation, not left frozen
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        with gc_paused():
            pass
        # untouched: an unfreeze() would empty it, a freeze() would add every object since;
        # a few may come and go meanwhile (another thread of the test process, xdist's)
        assert abs(gc.get_freeze_count() - frozen) < 100 and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
