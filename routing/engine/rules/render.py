"""``render_node_rules``: the rules one node's kube-proxy would program, with reasons."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from routing.engine.rules import iptables, ipvs, nftables
from routing.engine.rules.cache import RenderCache
from routing.engine.rules.model import (
    MODES,
    Layout,
    NodeContext,
    PortPlan,
    RenderOptions,
    RuleLine,
    Sections,
    ServiceRules,
    expand,
)
from routing.engine.rules.plan import RulesError, node_plans, render_options
from routing.engine.rules.reasons import explain
from routing.engine.snapshot import Snapshot


@dataclass
class RuleSet:
    """Rendered rules for one node and mode.

    ``text`` is what ``iptables-restore`` / ``nft -f`` / ``ipvsadm-restore`` accepts;
    ``rows`` gives (line, service or None, reason code) for every line of ``text``;
    ``companions`` (IPVS only) holds the ipset and iptables text kube-proxy programs beside
    the virtual servers.
    """

    node: str
    mode: str
    text: str
    layout: Layout
    services: dict[str, ServiceRules]
    companions: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> list[tuple[str, str | None, str]]:
        """(line, service key or None, reason code) for every line of ``text``."""
        out: list[tuple[str, str | None, str]] = []
        for entry in self.layout:
            if isinstance(entry, Sections):
                for svc in entry.services:
                    for name in entry.names:
                        if name in svc.sections:
                            lines, reasons = expand(svc.sections[name], svc.reasons[name])
                            out.extend(
                                (line, svc.service, reason) for line, reason in zip(lines, reasons)
                            )
                continue
            block_lines, block_reasons, service = entry
            lines, reasons = expand(block_lines, block_reasons)
            out.extend((line, service, reason) for line, reason in zip(lines, reasons))
        return out

    @property
    def lines(self) -> list[RuleLine]:
        """Every line with its policy reason in words (built on demand)."""
        return [RuleLine(t, s, r, explain(r, service=s, node=self.node)) for t, s, r in self.rows]

    def by_service(self) -> dict[str, list[RuleLine]]:
        """Lines grouped by Service key (key "": node-wide infrastructure)."""
        groups: dict[str, list[RuleLine]] = {}
        for line in self.lines:
            groups.setdefault(line.service or "", []).append(line)
        return groups


def total_endpoints(snapshot: Snapshot) -> int:
    """All endpoints of all service ports (kube-proxy's large-cluster-mode count)."""
    return sum(len(eps) for ports in snapshot.endpoint_index.values() for eps in ports.values())


def render_service(
    plan: PortPlan,
    node: NodeContext,
    mode: str,
    opts: RenderOptions,
    *,
    large: bool,
    cache: RenderCache,
) -> ServiceRules:
    """One service port's lines in ``mode``."""
    if mode == "iptables":
        return iptables.render_service(plan, node, opts, large=large, cache=cache)
    if mode == "nftables":
        return nftables.render_service(plan, node, opts, cache=cache)
    return ipvs.render_service(plan, node, opts)


def merge(parts: list[ServiceRules]) -> dict[str, ServiceRules]:
    """Per-port ServiceRules merged per Service key, sections kept in order. A Service with
    one port keeps its ServiceRules object; parts are never modified (they may be cached)."""
    out: dict[str, ServiceRules] = {}
    copied: set[str] = set()
    for part in parts:
        target = out.get(part.service)
        if target is None:
            out[part.service] = part
            continue
        if part.service not in copied:  # first extra port: copy before extending
            target = ServiceRules(
                service=part.service,
                sections={k: list(v) for k, v in target.sections.items()},
                reasons={k: list(v) for k, v in target.reasons.items()},
            )
            out[part.service] = target
            copied.add(part.service)
        for section, lines in part.sections.items():
            if section not in target.sections:
                target.sections[section], target.reasons[section] = [], []
            target.sections[section].extend(lines)
            target.reasons[section].extend(part.reasons[section])
    return out


def cached_service(
    plan: PortPlan,
    node: NodeContext,
    mode: str,
    opts: RenderOptions,
    *,
    large: bool,
    cache: RenderCache,
) -> ServiceRules:
    """``render_service`` through ``cache``'s blocks (blocks are treated as immutable). Nodes
    in the same zone without local endpoints share nearly every block, so rendering the
    next node (an agent's check, the rules page, a diff class) reuses them instead of
    formatting the same lines again. ``opts`` must be ``cache.options(...)``'s object."""
    # The node itself matters only where the text names it: the LB source-range check
    # (node IP) and, in IPVS, the NodePort virtual server and the hairpin ipset.
    if mode == "ipvs":
        node_part: object = (node.name, node.ip)
    else:
        node_part = node.ip if plan.source_ranges else None
    # Endpoints enter the key by identity (see RenderCache); the entry keeps the plan, so
    # no id is reused meanwhile. The options enter by identity too (a frozen dataclass
    # hashes its 11 fields on every lookup); the entry keeps them alive.
    ids = cache.ids
    key = (
        mode,
        id(opts),
        large,
        node_part,
        plan.namespace,
        plan.name,
        plan.port_name,
        plan.protocol,
        plan.cluster_ip,
        plan.port,
        plan.node_port,
        plan.external_ips,
        plan.lb_ips,
        plan.source_ranges,
        plan.affinity_timeout,
        plan.internal_local,
        plan.external_local,
        plan.externally_accessible,
        plan.health_check_node_port,
        plan.has_any,
        None if plan.cluster is None else ids(plan.cluster),
        None if plan.local is None else ids(plan.local),
    )
    hit = cache.blocks.get(key)
    if hit is None:
        hit = cache.store_block(
            key, (render_service(plan, node, mode, opts, large=large, cache=cache), plan, opts)
        )
    return hit[0]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building hundreds of thousands of small
    tuples and strings: with a large snapshot in memory every automatic collection walks
    millions of objects, which made rendering several times slower. Nothing made here is
    cyclic, so the pause frees nothing late; on the way out the new objects go straight to
    the oldest generation (see below)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                # What a render makes is held by the block caches, long-lived by design. Left
                # young, the first collection after the pause walks all of it (200,000+
                # objects: 0.1-0.2 s, 0.7 s when it is a generation-1 pass) only to promote
                # it. freeze() + unfreeze() moves it to the oldest generation in O(1), as
                # those passes would have; skipped when someone else keeps frozen objects.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def render_node_rules(
    snapshot: Snapshot,
    node_name: str,
    mode: str,
    *,
    service: str | None = None,
    options: RenderOptions | None = None,
    cache: RenderCache | None = None,
) -> RuleSet:
    """Render what kube-proxy in ``mode`` programs on ``node_name``.

    ``service`` ("ns/name") limits the output to that Service's rules (plus the node-wide
    chains, so the text still loads on its own). ``options`` replaces the kube-proxy flags
    read from the snapshot. ``cache``: blocks earlier renders of this snapshot left (the
    caller's; a fresh one when None). Raises ``RulesError`` for an unknown node, service or mode.
    """
    if mode not in MODES:
        raise RulesError(
            f"mode {mode!r} is not one of {', '.join(MODES)}", field="mode", code="invalid_choice"
        )
    with gc_paused():
        return _render(
            snapshot,
            node_name,
            mode,
            service,
            options,
            cache if cache is not None else RenderCache(),
        )


def _render(
    snapshot: Snapshot,
    node_name: str,
    mode: str,
    service: str | None,
    options: RenderOptions | None,
    cache: RenderCache,
) -> RuleSet:
    node, plans = node_plans(snapshot, node_name, service=service)
    opts = cache.options(options or render_options(snapshot, node_name, cache=cache))
    large = total_endpoints(snapshot) > opts.large_cluster_threshold
    parts = [cached_service(p, node, mode, opts, large=large, cache=cache) for p in plans]
    services = merge(parts)
    notes = []
    if not opts.detects_local:
        notes.append(
            "no LocalTrafficDetector: no off-cluster masquerade and no eTP=Local pod short-circuit"
        )
    if mode == "iptables":
        text, rows = iptables.assemble(
            iptables.base_rules(node, opts), list(services.values()), opts
        )
        return RuleSet(node.name, mode, text, rows, services, notes=tuple(notes))
    if mode == "nftables":
        text, rows = nftables.assemble(nftables.base_rules(node, opts), list(services.values()))
        return RuleSet(node.name, mode, text, rows, services, notes=tuple(notes))
    text, rows, companions = ipvs.assemble(node, opts, list(services.values()))
    return RuleSet(node.name, mode, text, rows, services, companions=companions, notes=tuple(notes))
