"""``nft -f`` input for one node: the ``ip kube-proxy`` table as kube-proxy's nftables mode
programs it (layout of upstream ``pkg/proxy/nftables/proxier.go`` and the expected dumps of
``TestOverallNFTablesRules``; the code is ours).

Order inside the text follows what ``nft -f`` needs: a chain or set is added before any rule
or map element that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from routing.engine.decide import CLUSTER, FORWARD, LOCAL, REJECT, settle
from routing.engine.rules import naming
from routing.engine.rules.cache import RenderCache
from routing.engine.rules.model import (
    CHAIN_REASONS,
    EpRef,
    Layout,
    LazyReasons,
    NodeContext,
    PortPlan,
    RenderOptions,
    Sections,
    ServiceRules,
)

#: (chain chunk, its reasons, rule chunk, its reasons) of a per-endpoint block.
_Chunks = tuple[str, LazyReasons, str, LazyReasons]

T = "ip kube-proxy"


def render_service(
    plan: PortPlan, node: NodeContext, opts: RenderOptions, *, cache: RenderCache
) -> ServiceRules:
    """The chains, sets, rules and map elements one service port contributes on ``node``
    (endpoint chains and dispatch maps, which depend on the service port and its endpoints
    only, through ``cache``)."""
    out = ServiceRules(service=plan.key)
    ns, name, proto, pname = plan.namespace, plan.name, plan.protocol.lower(), plan.port_name
    spn = naming.service_port_name(ns, name, pname)
    base = naming.nft_service_base(ns, name, proto, pname)
    svc_chain, local_chain = "service-" + base, "local-" + base
    ext_chain, fw_chain = "external-" + base, "firewall-" + base
    cluster = plan.cluster or ()
    local = plan.local or ()
    has_any = plan.has_any
    uses_cluster_chain = plan.cluster is not None and len(cluster) > 0
    uses_local_chain = plan.local is not None and len(local) > 0
    reachable = plan.reachable

    def bases(eps: tuple[EpRef, ...]) -> list[str]:
        return _bases(ns, name, proto, pname, eps, cache)

    affinity = bool(plan.affinity_timeout)
    ep_block = cache.chunk(
        ("endpoints", ns, name, proto, pname, affinity),
        lambda: _endpoint_chunks(reachable, bases(reachable), proto, affinity),
        reachable,
    )

    chains, chains_r = out.section("chains")
    if ep_block is not None:
        chains.append(ep_block[0])
        chains_r.append(ep_block[1])
    if uses_cluster_chain:
        out.add("chains", f"add chain {T} {svc_chain}", "chain")
    if uses_local_chain:
        out.add("chains", f"add chain {T} {local_chain}", "chain")

    # The engine's verdicts for a pod calling the ClusterIP and for an external client:
    # forward (the chain is written), else reject (nothing usable anywhere) or drop.
    internal = settle(
        LOCAL if plan.internal_local else CLUSTER, "nftables", plan.cluster, plan.local, has_any
    )
    external = (
        internal
        if plan.external_local == plan.internal_local
        else settle(
            LOCAL if plan.external_local else CLUSTER, "nftables", plan.cluster, plan.local, has_any
        )
    )
    has_internal, has_external = internal[0] == FORWARD, external[0] == FORWARD
    internal_chain, internal_policy = (
        (local_chain, "Local") if plan.internal_local else (svc_chain, "Cluster")
    )
    external_chain_target, external_policy = (
        (local_chain, "Local") if plan.external_local else (svc_chain, "Cluster")
    )
    uses_ext = has_any and plan.externally_accessible
    if uses_ext:
        out.add("chains", f"add chain {T} {ext_chain}", "chain")

    int_verdict, int_reason = (
        ("goto reject-chain", "reject") if internal[0] == REJECT else ("drop", "drop-internal")
    )
    ext_verdict, ext_reason = (
        ("goto reject-chain", "reject") if external[0] == REJECT else ("drop", "drop-external")
    )

    cip, port = plan.cluster_ip, plan.port
    if cip:
        out.add("elements", f"add element {T} cluster-ips {{ {cip} }}", "set")
        if has_internal:
            out.add(
                "elements",
                (
                    f"add element {T} service-ips {{ {cip} . {proto} . {port} : goto "
                    f"{internal_chain} }}"
                ),
                f"clusterip|{internal_policy}",
            )
        else:
            out.add(
                "elements",
                (
                    f"add element {T} no-endpoint-services {{ {cip} . {proto} . {port} comment "
                    f'"{spn}" : {int_verdict} }}'
                ),
                int_reason,
            )
    for eip in plan.external_ips:
        if has_any:
            out.add(
                "elements",
                f"add element {T} service-ips {{ {eip} . {proto} . {port} : goto {ext_chain} }}",
                f"externalip|{eip}",
            )
        if not has_external:
            out.add(
                "elements",
                (
                    f"add element {T} no-endpoint-services {{ {eip} . {proto} . {port} comment "
                    f'"{spn}" : {ext_verdict} }}'
                ),
                ext_reason,
            )
    uses_fw = bool(plan.lb_ips) and bool(plan.source_ranges)
    if uses_fw:
        out.add("chains", f"add chain {T} {fw_chain}", "chain")
    for lbip in plan.lb_ips:
        if has_any:
            out.add(
                "elements",
                f"add element {T} service-ips {{ {lbip} . {proto} . {port} : goto {ext_chain} }}",
                f"loadbalancer|{lbip}",
            )
        if uses_fw:
            out.add(
                "elements",
                f"add element {T} firewall-ips {{ {lbip} . {proto} . {port} : goto {fw_chain} }}",
                "fw-drop",
            )
    if not has_external:
        for lbip in plan.lb_ips:
            out.add(
                "elements",
                (
                    f"add element {T} no-endpoint-services {{ {lbip} . {proto} . {port} comment "
                    f'"{spn}" : {ext_verdict} }}'
                ),
                ext_reason,
            )
    if plan.node_port:
        if has_any:
            out.add(
                "elements",
                (
                    f"add element {T} service-nodeports {{ {proto} . {plan.node_port} : goto "
                    f"{ext_chain} }}"
                ),
                f"nodeport|{plan.node_port}",
            )
        if not has_external:
            out.add(
                "elements",
                (
                    f"add element {T} no-endpoint-nodeports {{ {proto} . {plan.node_port} comment "
                    f'"{spn}" : {ext_verdict} }}'
                ),
                ext_reason,
            )

    if has_internal and cip:
        if opts.masquerade_all:
            out.add(
                "rules",
                f"add rule {T} {internal_chain} ip daddr {cip} jump mark-for-masquerade",
                "masq-all",
            )
        elif opts.detects_local:
            out.add(
                "rules",
                (
                    f"add rule {T} {internal_chain} ip daddr {cip} "
                    f"{opts.nft_local(negate=True)} jump mark-for-masquerade"
                ),
                "masq-offcluster",
            )

    if uses_ext:
        if not plan.external_local:
            out.add("rules", f"add rule {T} {ext_chain} jump mark-for-masquerade", "ext-masq")
        else:
            if opts.detects_local:
                out.add(
                    "rules",
                    (
                        f"add rule {T} {ext_chain} {opts.nft_local()} goto {svc_chain} "
                        'comment "short-circuit pod traffic"'
                    ),
                    "ext-short-circuit",
                )
            out.add(
                "rules",
                (
                    f"add rule {T} {ext_chain} fib saddr type local jump mark-for-masquerade "
                    'comment "masquerade local traffic"'
                ),
                "ext-local-masq",
            )
            out.add(
                "rules",
                (
                    f"add rule {T} {ext_chain} fib saddr type local goto {svc_chain} comment "
                    '"short-circuit local traffic"'
                ),
                "ext-local-route",
            )
        if has_external:
            out.add(
                "rules",
                f"add rule {T} {ext_chain} goto {external_chain_target}",
                f"ext-policy|{external_policy}",
            )

    if uses_fw:
        sources = [c.strip() for c in plan.source_ranges]
        if any(_contains(c, node.ip) for c in sources):
            sources += list(plan.lb_ips)
        out.add(
            "rules",
            f"add rule {T} {fw_chain} ip saddr != {{ {', '.join(sources)} }} drop",
            "fw-drop",
        )

    if plan.affinity_timeout:
        for e, b in zip(reachable, bases(reachable)):
            out.add(
                "sets",
                f"add set {T} affinity-{b} {{ type ipv4_addr ; flags dynamic,timeout ; "
                f"timeout {plan.affinity_timeout}s ; }}",
                f"affinity|{e.ip}:{e.port}",
            )
    if uses_cluster_chain:
        _dispatch(out, svc_chain, tuple(cluster), bases, affinity, cache)
    if uses_local_chain:
        _dispatch(out, local_chain, tuple(local), bases, affinity, cache)

    rules, rules_r = out.section("rules")
    if ep_block is not None:
        rules.append(ep_block[2])
        rules_r.append(ep_block[3])
    return out


def _bases(
    ns: str, name: str, proto: str, pname: str, eps: tuple[EpRef, ...], cache: RenderCache
) -> list[str]:
    """The ``HASH-ns/name/proto/port__ip/port`` name base of each endpoint, in order (a
    port's dispatch map and endpoint chains usually walk the same tuple: asked once)."""
    key = (ns, name, proto, pname)
    found = cache.last_bases(eps, key)
    if found is not None:
        return found
    return cache.remember_bases(eps, key, naming.nft_endpoint_bases(ns, name, proto, pname, eps))


def _endpoint_chunks(
    reachable: tuple[EpRef, ...], bases: list[str], proto: str, affinity: bool
) -> _Chunks | None:
    """(chain chunk, its reasons, rule chunk, its reasons) of the per-endpoint chains, or None
    without endpoints; a chunk is the block's lines joined by newlines (see LazyReasons)."""
    if not reachable:
        return None
    # Hot loop (every endpoint of the cluster): comprehensions, one string per endpoint.
    chains = "\n".join([f"add chain {T} endpoint-{b}" for b in bases])
    if affinity:
        rules = [
            f"add rule {T} endpoint-{b} ip saddr {e.ip} jump mark-for-masquerade\n"
            f"add rule {T} endpoint-{b} update @affinity-{b} {{ ip saddr }}\n"
            f"add rule {T} endpoint-{b} meta l4proto {proto} dnat to {e.ip}:{e.port}"
            for e, b in zip(reachable, bases)
        ]
    else:
        rules = [
            f"add rule {T} endpoint-{b} ip saddr {e.ip} jump mark-for-masquerade\n"
            f"add rule {T} endpoint-{b} meta l4proto {proto} dnat to {e.ip}:{e.port}"
            for e, b in zip(reachable, bases)
        ]
    return (
        chains,
        CHAIN_REASONS,
        "\n".join(rules),
        LazyReasons(_endpoint_reasons, reachable, affinity),
    )


def _endpoint_reasons(chunk: str, reachable: tuple[EpRef, ...], affinity: object) -> list[str]:
    out: list[str] = []
    for e in reachable:
        where = f"{e.ip}:{e.port}"
        out += (
            ("hairpin", f"affinity|{where}", f"dnat|{where}")
            if affinity
            else ("hairpin", f"dnat|{where}")
        )
    return out


def _dispatch(
    out: ServiceRules,
    chain: str,
    eps: tuple[EpRef, ...],
    bases: Callable[[tuple[EpRef, ...]], list[str]],
    affinity: bool,
    cache: RenderCache,
) -> None:
    """Affinity lookups, then one ``numgen random mod n vmap`` over the endpoints in order."""

    def build() -> tuple[list[str], list[str]]:
        names = bases(eps)
        lines, reasons = [], []
        if affinity:
            for e, b in zip(eps, names):
                lines.append(f"add rule {T} {chain} ip saddr @affinity-{b} goto endpoint-{b}")
                reasons.append(f"affinity|{e.ip}:{e.port}")
        elements = " , ".join([f"{i} : goto endpoint-{b}" for i, b in enumerate(names)])
        lines.append(f"add rule {T} {chain} numgen random mod {len(eps)} vmap {{ {elements} }}")
        reasons.append(f"pick|1/{len(eps)} each")
        return lines, reasons

    lines, reasons = cache.chunk(("nft-dispatch", chain, affinity), build, eps)
    rules, rules_r = out.section("rules")
    rules.extend(lines)
    rules_r.extend(reasons)


def _contains(cidr: str, ip: str | None) -> bool:
    import ipaddress

    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def base_rules(node: NodeContext, opts: RenderOptions) -> list[tuple[str, str]]:
    """The table, base chains, shared sets/maps and their rules (upstream ``setupNFTables``)."""
    m = opts.masquerade_mark
    match_all = not node.ip  # nftables defaults --nodeport-addresses to the node's primary IP
    rows = [(f'add table {T} {{ comment "rules for kube-proxy" ; }}', "base")]
    sets = [
        ("set", "cluster-ips", "ipv4_addr", "Active ClusterIPs"),
        ("set", "nodeport-ips", "ipv4_addr", "IPs that accept NodePort traffic"),
        (
            "map",
            "firewall-ips",
            "ipv4_addr . inet_proto . inet_service : verdict",
            "destinations that are subject to LoadBalancerSourceRanges",
        ),
        (
            "map",
            "no-endpoint-nodeports",
            "inet_proto . inet_service : verdict",
            "vmap to drop or reject packets to service nodeports with no endpoints",
        ),
        (
            "map",
            "no-endpoint-services",
            "ipv4_addr . inet_proto . inet_service : verdict",
            "vmap to drop or reject packets to services with no endpoints",
        ),
        (
            "map",
            "service-ips",
            "ipv4_addr . inet_proto . inet_service : verdict",
            "ClusterIP, ExternalIP and LoadBalancer IP traffic",
        ),
        ("map", "service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"),
    ]
    for kind, name, typ, comment in sets:
        if name == "nodeport-ips" and match_all:
            continue
        rows.append((f'add {kind} {T} {name} {{ type {typ} ; comment "{comment}" ; }}', "base"))
    chains = [
        "cluster-ips-check",
        "filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }",
        "filter-output-pre-dnat { type filter hook output priority -110 ; }",
        "filter-forward { type filter hook forward priority 0 ; }",
        "filter-input { type filter hook input priority 0 ; }",
        "filter-output { type filter hook output priority 0 ; }",
        "firewall-check",
        "mark-for-masquerade",
        "masquerading",
        "nat-output { type nat hook output priority -100 ; }",
        "nat-postrouting { type nat hook postrouting priority 100 ; }",
        "nat-prerouting { type nat hook prerouting priority -100 ; }",
        "nodeport-endpoints-check",
        'reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
        "services",
        "service-endpoints-check",
    ]
    rows += [(f"add chain {T} {c}", "hook" if "hook" in c else "base") for c in chains]
    rules = [
        (
            (
                'cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to '
                'invalid ports of ClusterIPs"'
            ),
            "base",
        ),
    ]
    if opts.service_cidrs:
        rules.append(
            (
                (
                    f'cluster-ips-check ip daddr {{ {", ".join(opts.service_cidrs)} }} drop '
                    'comment "Drop traffic to unallocated ClusterIPs"'
                ),
                "base",
            )
        )
    rules += [
        ("filter-prerouting-pre-dnat ct state new jump firewall-check", "hook"),
        ("filter-forward ct state new jump service-endpoints-check", "hook"),
        ("filter-forward ct state new jump cluster-ips-check", "hook"),
        ("filter-input ct state new jump nodeport-endpoints-check", "hook"),
        ("filter-input ct state new jump service-endpoints-check", "hook"),
        ("filter-output ct state new jump service-endpoints-check", "hook"),
        ("filter-output-pre-dnat ct state new jump firewall-check", "hook"),
        ("filter-output ct state new jump cluster-ips-check", "hook"),
        ("firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips", "base"),
        (f"mark-for-masquerade mark set mark or {m}", "masq"),
        (f"masquerading mark and {m} == 0 return", "masq"),
        (f"masquerading mark set mark xor {m}", "masq"),
        (
            "masquerading masquerade fully-random"
            if opts.random_fully
            else "masquerading masquerade",
            "masq",
        ),
        ("nat-output jump services", "hook"),
        ("nat-postrouting jump masquerading", "hook"),
        ("nat-prerouting jump services", "hook"),
    ]
    if match_all:
        rules.append(
            (
                (
                    "nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport "
                    "vmap @no-endpoint-nodeports"
                ),
                "base",
            )
        )
    else:
        rules.append(
            (
                (
                    "nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap "
                    "@no-endpoint-nodeports"
                ),
                "base",
            )
        )
    rules += [
        ("reject-chain reject", "base"),
        ("services ip daddr . meta l4proto . th dport vmap @service-ips", "base"),
    ]
    if match_all:
        rules.append(
            (
                (
                    "services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th "
                    "dport vmap @service-nodeports"
                ),
                "nodeports-jump",
            )
        )
    else:
        rules.append(
            (
                "services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
                "nodeports-jump",
            )
        )
    rules.append(
        (
            "service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
            "base",
        )
    )
    rows += [(f"add rule {T} {r}", reason) for r, reason in rules]
    if not match_all:
        rows.append((f"add element {T} nodeport-ips {{ {node.ip} }}", "base"))
    return rows


_SECTIONS = ("chains", "sets", "rules", "elements")


def assemble(base: list[tuple[str, str]], services: Sequence[ServiceRules]) -> tuple[str, Layout]:
    """Join base and per-service lines into ``nft -f`` text; returns (text, layout)."""
    lines = [b[0] for b in base]
    layout: Layout = [(list(lines), [b[1] for b in base], None), Sections(services, _SECTIONS)]
    for svc in services:
        for section in _SECTIONS:
            if section in svc.sections:
                lines.extend(svc.sections[section])
    lines.append("")  # the final newline, without copying 60 MB once more
    return "\n".join(lines), layout
