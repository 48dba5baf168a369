"""IPVS mode: virtual/real servers as ``ipvsadm-restore`` input, plus the ipset entries and
iptables rules kube-proxy keeps beside them (upstream ``pkg/proxy/ipvs``; code is ours).

IPVS differs from iptables/nftables in one policy point (semantics §7.3): when a Local
policy finds no local endpoint it falls back to the Cluster set instead of dropping
(kubernetes#97081). All real servers get weight 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from routing.engine.decide import CLUSTER, LOCAL, settle
from routing.engine.rules.model import (
    EpRef,
    Layout,
    NodeContext,
    PortPlan,
    RenderOptions,
    ServiceRules,
)

_PROTO_FLAG = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}


def _vs(proto: str, addr: str, port: int) -> str:
    return f"{_PROTO_FLAG.get(proto, '-t')} {addr}:{port}"


def _targets(plan: PortPlan, local_policy: bool) -> tuple[tuple[EpRef, ...], str]:
    """Real servers for one virtual server (the engine's verdict: the Local set, or with
    IPVS the Cluster set when the Local one is empty), and the reason code explaining them."""
    _, eps, _, fallback = settle(
        LOCAL if local_policy else CLUSTER, "ipvs", plan.cluster, plan.local, plan.has_any
    )
    return eps, "ipvs-fallback" if fallback else "ipvs-rs"


def render_service(plan: PortPlan, node: NodeContext, opts: RenderOptions) -> ServiceRules:
    """Virtual servers (ClusterIP, externalIPs, LB IPs, NodePort on the node IP) with their
    real servers, and the ipset entries for this service port."""
    out = ServiceRules(service=plan.key)
    proto = plan.protocol.lower()
    persist = f" -p {plan.affinity_timeout}" if plan.affinity_timeout else ""
    vips: list[tuple[str, int, bool, str]] = []
    if plan.cluster_ip:
        vips.append((plan.cluster_ip, plan.port, plan.internal_local, "clusterip"))
    vips += [(ip, plan.port, plan.external_local, "externalip") for ip in plan.external_ips]
    vips += [(ip, plan.port, plan.external_local, "loadbalancer") for ip in plan.lb_ips]
    if plan.node_port and node.ip:
        vips.append((node.ip, plan.node_port, plan.external_local, "nodeport"))
    for addr, port, local_policy, kind in vips:
        vs = _vs(proto, addr, port)
        out.add(
            "ipvs", f"-A {vs} -s {opts.ipvs_scheduler}{persist}", f"ipvs-vs|{kind} {addr}:{port}"
        )
        eps, reason = _targets(plan, local_policy)
        for ep in eps:
            out.add("ipvs", f"-a {vs} -r {ep.ip}:{ep.port} -m -w 1", f"{reason}|{ep.ip}:{ep.port}")
    _ipsets(out, plan, node, proto)
    return out


def _ipsets(out: ServiceRules, plan: PortPlan, node: NodeContext, proto: str) -> None:
    entry = f"{proto}:{plan.port}"
    if plan.cluster_ip:
        out.add("ipset", f"add KUBE-CLUSTER-IP {plan.cluster_ip},{entry}", "set")
    for ep in plan.reachable:
        if ep.node == node.name:
            out.add("ipset", f"add KUBE-LOOP-BACK {ep.ip},{proto}:{ep.port},{ep.ip}", "hairpin")
    suffix = "-LOCAL" if plan.external_local else ""
    for ip in plan.external_ips:
        out.add("ipset", f"add KUBE-EXTERNAL-IP{suffix} {ip},{entry}", "set")
    for ip in plan.lb_ips:
        out.add("ipset", f"add KUBE-LOAD-BALANCER {ip},{entry}", "set")
        if plan.external_local:
            out.add("ipset", f"add KUBE-LOAD-BALANCER-LOCAL {ip},{entry}", "set")
        if plan.source_ranges:
            out.add("ipset", f"add KUBE-LOAD-BALANCER-FW {ip},{entry}", "fw-drop")
            for cidr in plan.source_ranges:
                out.add(
                    "ipset",
                    f"add KUBE-LOAD-BALANCER-SOURCE-CIDR {ip},{entry},{cidr}",
                    f"fw-allow|{cidr}",
                )
    if plan.node_port and proto in ("tcp", "udp"):
        out.add(
            "ipset",
            f"add KUBE-NODE-PORT-{proto.upper()} {plan.node_port}",
            f"nodeport|{plan.node_port}",
        )
        if plan.external_local:
            out.add(
                "ipset",
                f"add KUBE-NODE-PORT-LOCAL-{proto.upper()} {plan.node_port}",
                f"nodeport|{plan.node_port}",
            )
    if plan.health_check_node_port:
        out.add(
            "ipset", f"add KUBE-HEALTH-CHECK-NODE-PORT {plan.health_check_node_port}", "healthcheck"
        )


_SETS = (
    ("KUBE-LOOP-BACK", "hash:ip,port,ip"),
    ("KUBE-CLUSTER-IP", "hash:ip,port"),
    ("KUBE-EXTERNAL-IP", "hash:ip,port"),
    ("KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port"),
    ("KUBE-LOAD-BALANCER", "hash:ip,port"),
    ("KUBE-LOAD-BALANCER-FW", "hash:ip,port"),
    ("KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port"),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net"),
    ("KUBE-NODE-PORT-TCP", "bitmap:port range 0-65535"),
    ("KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port range 0-65535"),
    ("KUBE-NODE-PORT-UDP", "bitmap:port range 0-65535"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "bitmap:port range 0-65535"),
    ("KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port range 0-65535"),
)


def _companion_iptables(opts: RenderOptions) -> str:
    """The static nat rules that classify traffic with the ipsets before IPVS sees it."""
    m = opts.masquerade_mark
    masq_src = f"{opts.ipt_local(negate=True)} " if opts.detects_local else ""
    lines = [
        "*nat",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-NODE-PORT - [0:0]",
        ":KUBE-LOAD-BALANCER - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        (
            '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source '
            'ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j '
            "MASQUERADE"
        ),
        f"-A KUBE-POSTROUTING -m mark ! --mark {m}/{m} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {m}",
        (
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
            "-j MASQUERADE"
        ),
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {m}",
        (
            '-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set '
            "--match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER"
        ),
        (
            f'-A KUBE-SERVICES {masq_src}-m comment --comment "Kubernetes service cluster ip + '
            'port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j '
            "KUBE-MARK-MASQ"
        ),
        (
            '-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for '
            'masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j '
            "KUBE-MARK-MASQ"
        ),
        "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
        (
            '-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + '
            'port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL '
            "dst,dst -j RETURN"
        ),
        "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ",
        (
            '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with '
            'externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j '
            "RETURN"
        ),
        (
            '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for '
            'masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ'
        ),
        (
            '-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port with '
            'externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j '
            "RETURN"
        ),
        (
            '-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for '
            'masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ'
        ),
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def assemble(
    node: NodeContext, opts: RenderOptions, services: Sequence[ServiceRules]
) -> tuple[str, Layout, dict[str, str]]:
    """``ipvsadm-restore`` text, its rows, and companions {"ipset": …, "iptables": …}."""
    layout: Layout = []
    ipset = [
        f"create {name} {typ}" + ("" if "bitmap" in typ else " family inet") for name, typ in _SETS
    ]
    lines: list[str] = []
    for svc in services:
        if "ipvs" in svc.sections:
            layout.append((svc.sections["ipvs"], svc.reasons["ipvs"], svc.service))
            lines.extend(svc.sections["ipvs"])
        ipset.extend(svc.sections.get("ipset", []))
    text = "\n".join(lines) + ("\n" if lines else "")
    return text, layout, {"ipset": "\n".join(ipset) + "\n", "iptables": _companion_iptables(opts)}


def parse_ipvsadm(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Parse ``ipvsadm-restore`` text back: {(proto, vip:port): {"scheduler", "persistent",
    "reals": [ip:port, …]}}. Raises ValueError naming the first bad line."""
    import ipaddress

    services: dict[tuple[str, str], dict[str, Any]] = {}
    flags = {v: k for k, v in _PROTO_FLAG.items()}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            op, flag, addr = parts[0], parts[1], parts[2]
            if flag not in flags or op not in ("-A", "-a"):
                raise ValueError
            host, _, port = addr.rpartition(":")
            ipaddress.ip_address(host)
            if not 0 < int(port) < 65536:
                raise ValueError
            key = (flags[flag], addr)
            rest = parts[3:]
            if op == "-A":
                if rest[0] != "-s" or key in services:
                    raise ValueError
                persistent = int(rest[3]) if len(rest) > 2 and rest[2] == "-p" else None
                services[key] = {"scheduler": rest[1], "persistent": persistent, "reals": []}
            else:
                if key not in services or rest[0] != "-r" or rest[2:] != ["-m", "-w", "1"]:
                    raise ValueError
                rhost, _, rport = rest[1].rpartition(":")
                ipaddress.ip_address(rhost)
                int(rport)
                services[key]["reals"].append(rest[1])
        except (ValueError, IndexError):
            raise ValueError(f"line {n}: not valid ipvsadm-restore input: {line}") from None
    return services
