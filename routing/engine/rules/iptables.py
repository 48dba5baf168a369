"""iptables-restore input for one node, laid out as kube-proxy's ``syncProxyRules`` writes it.

Facts from upstream ``pkg/proxy/iptables/proxier.go`` (v1.33+) and the expected dumps in
``proxier_test.go`` (``TestOverallIPTablesRules``); the code is ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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

# (table, kernel chain, kube chain, comment, extra match) in kube-proxy's iptablesJumpChains
# order. kube-proxy *prepends* each, so the kernel chain ends up holding them in reverse.
_JUMPS = (
    (
        "filter",
        "INPUT",
        "KUBE-EXTERNAL-SERVICES",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW ",
    ),
    (
        "filter",
        "FORWARD",
        "KUBE-EXTERNAL-SERVICES",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW ",
    ),
    ("filter", "INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports", ""),
    (
        "filter",
        "FORWARD",
        "KUBE-SERVICES",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW ",
    ),
    (
        "filter",
        "OUTPUT",
        "KUBE-SERVICES",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW ",
    ),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", ""),
    (
        "filter",
        "INPUT",
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW ",
    ),
    (
        "filter",
        "OUTPUT",
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW ",
    ),
    (
        "filter",
        "FORWARD",
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW ",
    ),
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", ""),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", ""),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", ""),
)
_BUILTIN = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}


def probability(n: int) -> str:
    """The ``--probability`` for a rule with ``n`` endpoints left: ``%0.10f`` of 1/n."""
    return f"{1.0 / n:0.10f}"


_PROB_N = 1024
_PROB = [""] + [probability(k) for k in range(1, _PROB_N)]


def _q(text: str) -> str:
    # kube-proxy quotes comments containing spaces; single-word comments stay bare.
    return f'"{text}"' if " " in text else text


def render_service(
    plan: PortPlan, node: NodeContext, opts: RenderOptions, *, large: bool, cache: RenderCache
) -> ServiceRules:
    """The filter and nat lines one service port contributes on ``node`` (endpoint-side
    chunks, which depend on the service port and its endpoints only, through ``cache``)."""
    out = ServiceRules(service=plan.key)
    spn = naming.service_port_name(plan.namespace, plan.name, plan.port_name)
    proto = plan.protocol.lower()
    svc_chain = naming.svc_chain(spn, proto)
    svl_chain = naming.svl_chain(spn, proto)
    ext_chain = naming.ext_chain(spn, proto)
    fw_chain = naming.fw_chain(spn, proto)
    cluster = plan.cluster or ()
    local = plan.local or ()
    uses_cluster_chain = plan.cluster is not None and len(cluster) > 0
    uses_local_chain = plan.local is not None and len(local) > 0
    has_any = plan.has_any

    # The engine's verdicts for a pod calling the ClusterIP and for an external client:
    # forward (the chain is written), else REJECT (nothing usable anywhere) or DROP.
    internal = settle(
        LOCAL if plan.internal_local else CLUSTER, "iptables", plan.cluster, plan.local, has_any
    )
    external = (
        internal
        if plan.external_local == plan.internal_local
        else settle(
            LOCAL if plan.external_local else CLUSTER, "iptables", plan.cluster, plan.local, has_any
        )
    )
    has_internal, has_external = internal[0] == FORWARD, external[0] == FORWARD
    internal_chain, internal_policy = (
        (svl_chain, "Local") if plan.internal_local else (svc_chain, "Cluster")
    )
    external_policy_chain, external_policy = (
        (svl_chain, "Local") if plan.external_local else (svc_chain, "Cluster")
    )
    uses_ext_chain = has_any and plan.externally_accessible
    uses_fw = has_any and bool(plan.lb_ips) and bool(plan.source_ranges)
    lb_chain = fw_chain if uses_fw else ext_chain

    int_target = int_comment = int_reason = ext_target = ext_comment = ext_reason = ""
    if not (has_internal and has_external):  # the comments are formatted only when written
        no_endpoints, no_local = _q(f"{spn} has no endpoints"), _q(f"{spn} has no local endpoints")
        if internal[0] == REJECT:
            int_target, int_comment, int_reason = "REJECT", no_endpoints, "reject"
        else:
            int_target, int_comment, int_reason = "DROP", no_local, "drop-internal"
        if external[0] == REJECT:
            ext_target, ext_comment, ext_reason = "REJECT", no_endpoints, "reject"
        else:
            ext_target, ext_comment, ext_reason = "DROP", no_local, "drop-external"

    mp = f"-m {proto} -p {proto}"
    cip = plan.cluster_ip
    dport = f"--dport {plan.port}"

    if cip:
        if has_internal:
            out.add(
                "nat",
                (
                    f'-A KUBE-SERVICES -m comment --comment "{spn} cluster IP" {mp} -d {cip} '
                    f"{dport} -j {internal_chain}"
                ),
                f"clusterip|{internal_policy}",
            )
        else:
            out.add(
                "filter",
                (
                    f"-A KUBE-SERVICES -m comment --comment {int_comment} {mp} -d {cip} {dport} "
                    f"-j {int_target}"
                ),
                int_reason,
            )

    for eip in plan.external_ips:
        if has_any:
            out.add(
                "nat",
                (
                    f'-A KUBE-SERVICES -m comment --comment "{spn} external IP" {mp} -d {eip} '
                    f"{dport} -j {ext_chain}"
                ),
                f"externalip|{eip}",
            )
        if not has_external:
            out.add(
                "filter",
                (
                    f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} {mp} -d {eip} "
                    f"{dport} -j {ext_target}"
                ),
                ext_reason,
            )

    for lbip in plan.lb_ips:
        if has_any:
            out.add(
                "nat",
                (
                    f'-A KUBE-SERVICES -m comment --comment "{spn} loadbalancer IP" {mp} -d '
                    f"{lbip} {dport} -j {lb_chain}"
                ),
                f"loadbalancer|{lbip}",
            )
        if uses_fw:
            out.add(
                "filter",
                f'-A KUBE-PROXY-FIREWALL -m comment --comment "{spn} traffic not accepted by '
                f'{fw_chain}" '
                f"{mp} -d {lbip} {dport} -j DROP",
                "fw-drop",
            )
    if not has_external:
        for lbip in plan.lb_ips:
            out.add(
                "filter",
                (
                    f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} {mp} -d {lbip} "
                    f"{dport} -j {ext_target}"
                ),
                ext_reason,
            )

    if plan.node_port:
        if has_any:
            if opts.localhost_nodeports and opts.nfacct:
                out.add(
                    "nat",
                    f"-A KUBE-NODEPORTS -m comment --comment {_q(spn)} {mp} -d 127.0.0.0/8 "
                    f"--dport {plan.node_port} "
                    f"-m nfacct --nfacct-name localhost_nps_accepted_pkts -j {ext_chain}",
                    f"nodeport|{plan.node_port}",
                )
            out.add(
                "nat",
                (
                    f"-A KUBE-NODEPORTS -m comment --comment {_q(spn)} {mp} --dport "
                    f"{plan.node_port} -j {ext_chain}"
                ),
                f"nodeport|{plan.node_port}",
            )
        if not has_external:
            out.add(
                "filter",
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment {ext_comment} -m addrtype "
                "--dst-type LOCAL "
                f"{mp} --dport {plan.node_port} -j {ext_target}",
                ext_reason,
            )

    if plan.health_check_node_port:
        out.add(
            "filter",
            f'-A KUBE-NODEPORTS -m comment --comment "{spn} health check node port" -m tcp -p tcp '
            f"--dport {plan.health_check_node_port} -j ACCEPT",
            f"healthcheck|{plan.health_check_node_port}",
        )

    if has_internal and cip:
        match = f'-m comment --comment "{spn} cluster IP" {mp} -d {cip} {dport}'
        if opts.masquerade_all:
            out.add("nat", f"-A {internal_chain} {match} -j KUBE-MARK-MASQ", "masq-all")
        elif opts.detects_local:
            out.add(
                "nat",
                f"-A {internal_chain} {match} {opts.ipt_local(negate=True)} -j KUBE-MARK-MASQ",
                "masq-offcluster",
            )

    if uses_ext_chain:
        out.add("nat-chains", f":{ext_chain} - [0:0]", "chain")
        if not plan.external_local:
            out.add(
                "nat",
                (
                    f'-A {ext_chain} -m comment --comment "masquerade traffic for {spn} external '
                    'destinations" -j KUBE-MARK-MASQ'
                ),
                "ext-masq",
            )
        else:
            if opts.detects_local:
                out.add(
                    "nat",
                    f'-A {ext_chain} -m comment --comment "pod traffic for {spn} external '
                    'destinations" '
                    f"{opts.ipt_local()} -j {svc_chain}",
                    "ext-short-circuit",
                )
            out.add(
                "nat",
                f'-A {ext_chain} -m comment --comment "masquerade LOCAL traffic for {spn} '
                'external destinations" '
                f"-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
                "ext-local-masq",
            )
            out.add(
                "nat",
                f'-A {ext_chain} -m comment --comment "route LOCAL traffic for {spn} external '
                'destinations" '
                f"-m addrtype --src-type LOCAL -j {svc_chain}",
                "ext-local-route",
            )
        if has_external:
            out.add(
                "nat", f"-A {ext_chain} -j {external_policy_chain}", f"ext-policy|{external_policy}"
            )

    if uses_fw:
        out.add("nat-chains", f":{fw_chain} - [0:0]", "chain")
        head = f'-A {fw_chain} -m comment --comment "{spn} loadbalancer IP"'
        allow_node = False
        for cidr in plan.source_ranges:
            out.add("nat", f"{head} -s {cidr} -j {ext_chain}", f"fw-allow|{cidr}")
            allow_node = allow_node or _cidr_contains(cidr, node.ip)
        if allow_node:
            for lbip in plan.lb_ips:
                out.add("nat", f"{head} -s {lbip} -j {ext_chain}", f"fw-allow|{lbip}")
        out.add(
            "nat",
            (
                f'-A {fw_chain} -m comment --comment "other traffic to {spn} will be dropped by '
                'KUBE-PROXY-FIREWALL"'
            ),
            "fw-drop",
        )

    if uses_cluster_chain:
        out.add("nat-chains", f":{svc_chain} - [0:0]", "chain")
        _write_dispatch(out, spn, proto, svc_chain, cluster, plan.affinity_timeout, large, cache)
    if uses_local_chain:
        out.add("nat-chains", f":{svl_chain} - [0:0]", "chain")
        _write_dispatch(out, spn, proto, svl_chain, local, plan.affinity_timeout, large, cache)

    chains, chains_r = out.section("nat-chains")
    nat, nat_r = out.section("nat")
    block = _sep_block(spn, proto, plan.reachable, bool(plan.affinity_timeout), large, mp, cache)
    if block is not None:
        chains.append(block[0])
        chains_r.append(block[1])
        nat.append(block[2])
        nat_r.append(block[3])
    return out


def _names(
    spn: str, proto: str, eps: tuple[EpRef, ...], cache: RenderCache
) -> list[tuple[str, str]]:
    """(endpoint string, KUBE-SEP chain) per endpoint, in order. A port's dispatch chunk and
    its SEP block usually walk the same tuple (Cluster set == reachable set), so the second
    one reuses the first one's lookups."""
    key = (spn, proto)
    found = cache.last_names(eps, key)
    return (
        found
        if found is not None
        else cache.remember_names(eps, key, naming.endpoint_seps(spn, proto, eps))
    )


def _sep_block(
    spn: str,
    proto: str,
    eps: tuple[EpRef, ...],
    affinity: bool,
    large: bool,
    mp: str,
    cache: RenderCache,
) -> _Chunks | None:
    """(chain chunk, its reasons, nat chunk, its reasons) of the KUBE-SEP chains, or None
    without endpoints. A chunk is the block's lines joined by newlines (see LazyReasons)."""

    def build() -> _Chunks | None:
        if not eps:
            return None
        comment = "" if large else f"-m comment --comment {_q(spn)} "
        entries = _names(spn, proto, eps, cache)
        # Hot loops (one pass per endpoint of the cluster): comprehensions, one string per
        # endpoint and block.
        chains = [f":{sep} - [0:0]" for _, sep in entries]
        if affinity:
            nat = [
                f"-A {sep} {comment}-s {ep.ip} -j KUBE-MARK-MASQ\n"
                f"-A {sep} {comment}-m recent --name {sep} --set {mp} -j DNAT "
                f"--to-destination {epstr}"
                for ep, (epstr, sep) in zip(eps, entries)
            ]
        else:
            nat = [
                (
                    f"-A {sep} {comment}-s {ep.ip} -j KUBE-MARK-MASQ\n-A {sep} {comment}{mp} -j "
                    f"DNAT --to-destination {epstr}"
                )
                for ep, (epstr, sep) in zip(eps, entries)
            ]
        return "\n".join(chains), CHAIN_REASONS, "\n".join(nat), LazyReasons(_sep_reasons, eps)

    eps = tuple(eps)
    return cache.chunk(("sep", spn, proto, affinity, large, mp), build, eps)


def _sep_reasons(chunk: str, eps: tuple[EpRef, ...], _: object) -> list[str]:
    out: list[str] = []
    for ep in eps:
        out += ("hairpin", "dnat|" + naming.endpoint_string(ep.ip, ep.port))
    return out


def _dispatch_reasons(chunk: str, eps: tuple[EpRef, ...], affinity: int | None) -> list[str]:
    strs = [naming.endpoint_string(ep.ip, ep.port) for ep in eps]
    out = [f"affinity|{e}" for e in strs] if affinity else []
    out += [f"pick|{e} 1/{len(eps)}" for e in strs]
    return out


def _write_dispatch(
    out: ServiceRules,
    spn: str,
    proto: str,
    chain: str,
    eps: Sequence[EpRef],
    affinity: int | None,
    large: bool,
    cache: RenderCache,
) -> None:
    """Affinity rules, then the 1/n, 1/(n-1), … statistic rules (last one unconditional)."""
    eps = tuple(eps)
    chunk, reasons = cache.chunk(
        ("dispatch", spn, proto, chain, affinity, large),
        lambda: _dispatch_chunk(spn, proto, chain, eps, affinity, large, cache),
        eps,
    )
    nat, nat_r = out.section("nat")
    nat.append(chunk)
    nat_r.append(reasons)


def _dispatch_chunk(
    spn: str,
    proto: str,
    chain: str,
    eps: tuple[EpRef, ...],
    affinity: int | None,
    large: bool,
    cache: RenderCache,
) -> tuple[str, LazyReasons]:
    entries = _names(spn, proto, eps, cache)
    lines: list[str] = []
    if affinity:
        for epstr, sep in entries:
            comment = "" if large else f'-m comment --comment "{spn} -> {epstr}" '
            lines.append(
                f"-A {chain} {comment}-m recent --name {sep} --rcheck --seconds {affinity} "
                f"--reap -j {sep}"
            )
    n = len(eps)
    if large and n < _PROB_N:
        # No per-endpoint comment: the k-th rule gets probability 1/(n-k), the last none.
        head = f"-A {chain} -m statistic --mode random --probability "
        lines += [f"{head}{p} -j {sep}" for p, (_, sep) in zip(_PROB[n:1:-1], entries)]
        lines.append(f"-A {chain} -j {entries[-1][1]}")
    else:
        last = n - 1
        for i, (epstr, sep) in enumerate(entries):
            comment = "" if large else f'-m comment --comment "{spn} -> {epstr}" '
            if i < last:
                k = n - i
                p = _PROB[k] if k < _PROB_N else probability(k)
                lines.append(
                    f"-A {chain} {comment}-m statistic --mode random --probability {p} -j {sep}"
                )
            else:
                lines.append(f"-A {chain} {comment}-j {sep}")
    return "\n".join(lines), LazyReasons(_dispatch_reasons, eps, affinity)


def _cidr_contains(cidr: str, ip: str | None) -> bool:
    if not ip:
        return False
    import ipaddress

    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False


def base_rules(node: NodeContext, opts: RenderOptions) -> dict[str, list[tuple[str, str]]]:
    """Node-wide lines by section: ``filter-chains``, ``filter-head``, ``filter-tail``,
    ``nat-chains``, ``nat-head``, ``nat-tail`` and ``hooks-filter``/``hooks-nat``."""
    mark = opts.masquerade_mark
    sec: dict[str, list[tuple[str, str]]] = {
        k: []
        for k in (
            "filter-chains",
            "filter-head",
            "filter-tail",
            "nat-chains",
            "nat-head",
            "nat-tail",
            "hooks-filter",
            "hooks-nat",
        )
    }
    for chain in (
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
    ):
        sec["filter-chains"].append((f":{chain} - [0:0]", "base"))
    for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
        sec["nat-chains"].append((f":{chain} - [0:0]", "base"))
    sec["nat-head"] += [
        (f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN", "masq"),
        (f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}", "masq"),
        (
            (
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring '
                'SNAT" -j MASQUERADE'
            )
            + (" --random-fully" if opts.random_fully else ""),
            "masq",
        ),
        (f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}", "masq"),
    ]
    if opts.localhost_nodeports:
        sec["filter-chains"].append((":KUBE-FIREWALL - [0:0]", "localnet"))
        sec["filter-head"].append(
            (
                '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" '
                "-d 127.0.0.0/8 "
                "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
                "localnet",
            )
        )
    dest = "-m addrtype --dst-type LOCAL" + (
        "" if opts.localhost_nodeports else " ! -d 127.0.0.0/8"
    )
    sec["nat-tail"].append(
        (
            '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
            "must be the last rule "
            f'in this chain" {dest} -j KUBE-NODEPORTS',
            "nodeports-jump",
        )
    )
    if not opts.conntrack_tcp_liberal:
        nfacct = "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts " if opts.nfacct else ""
        sec["filter-tail"].append(
            (f"-A KUBE-FORWARD -m conntrack --ctstate INVALID {nfacct}-j DROP", "forward")
        )
    sec["filter-tail"] += [
        (
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
            f"-m mark --mark {mark}/{mark} -j ACCEPT",
            "forward",
        ),
        (
            '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "forward",
        ),
    ]
    if opts.include_jumps:
        jumps = list(_JUMPS)
        if opts.localhost_nodeports:
            jumps += [
                ("filter", "INPUT", "KUBE-FIREWALL", "", ""),
                ("filter", "OUTPUT", "KUBE-FIREWALL", "", ""),
            ]
        for table, src, dst, comment, extra in reversed(jumps):
            c = f'-m comment --comment "{comment}" ' if comment else ""
            sec[f"hooks-{table}"].append((f"-A {src} {extra}{c}-j {dst}", "hook"))
    return sec


def assemble(
    base: dict[str, list[tuple[str, str]]], services: Sequence[ServiceRules], opts: RenderOptions
) -> tuple[str, Layout]:
    """Join base and per-service lines into restore text.

    Returns (text, layout): layout is a list of (lines, reasons, service) blocks and
    ``Sections`` entries in text order, from which ``RuleSet.rows`` is built only when
    someone asks for reasons.
    """
    layout: Layout = []
    lines: list[str] = []

    def put(pairs: Iterable[tuple[str, str]], service: str | None = None) -> None:
        pairs = list(pairs)
        block = [p[0] for p in pairs]
        layout.append((block, [p[1] for p in pairs], service))
        lines.extend(block)

    def put_section(section: str) -> None:
        layout.append(Sections(services, (section,)))
        for svc in services:
            if section in svc.sections:
                lines.extend(svc.sections[section])

    put([("*filter", "base")])
    if opts.include_jumps:
        put((f":{c} ACCEPT [0:0]", "hook") for c in _BUILTIN["filter"])
    put(base["filter-chains"])
    put(base["hooks-filter"])
    put(base["filter-head"])
    put_section("filter")
    put(base["filter-tail"])
    put([("COMMIT", "base"), ("*nat", "base")])
    if opts.include_jumps:
        put((f":{c} ACCEPT [0:0]", "hook") for c in _BUILTIN["nat"])
    put(base["nat-chains"])
    put_section("nat-chains")
    put(base["hooks-nat"])
    put(base["nat-head"])
    put_section("nat")
    put(base["nat-tail"])
    put([("COMMIT", "base")])
    lines.append("")  # the final newline, without copying 40 MB once more
    return "\n".join(lines), layout
