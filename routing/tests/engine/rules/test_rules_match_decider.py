"""Property: the rules a node's kube-proxy is rendered to program give, packet by packet,
the verdict the engine's decider gives (``routing.engine.decide`` through
``candidates.path_for``) — on random generated clusters.

For every service port, every node and every source (a pod on the node, a host-network
process on it, an external client arriving at it) and destination (ClusterIP, NodePort,
externalIP, load-balancer IP), a small interpreter walks the rendered iptables-restore or
nft text with one new TCP connection (forking at every random-choice rule) and reports
forward / drop / reject, the endpoints the DNATs reach and whether the packet was marked
for masquerade. That must equal the decider's action, candidate set and client-IP
verdict. IPVS: each virtual server's real servers are the decider's candidates (none when
it refuses).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any

from hypothesis import HealthCheck, given, settings

from routing.engine.candidates import (
    CLUSTERIP,
    EXTERNALIP,
    FORWARD,
    LOADBALANCER,
    NODEPORT,
    REJECT,
    path_for,
)
from routing.engine.kube import snapshot_from_objects
from routing.engine.rules import render_node_rules
from routing.engine.rules.plan import proxied_services, render_options
from routing.engine.snapshot import Snapshot
from routing.tests.engine.test_analysis_properties import clusters

POD_CIDR = "10.244.0.0/16"
POD_IP, HOST_IP, CLIENT_IP = "10.244.250.9", "172.31.0.9", "203.0.113.9"


class Packet:
    """One new TCP connection as the rules see it."""

    def __init__(self, src: str, dst: str, dport: int, *, src_local: bool, dst_local: bool) -> None:
        self.src, self.dst, self.dport = src, dst, dport
        self.src_local, self.dst_local = src_local, dst_local


def _in(addr: str, cidr: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)


# -- iptables ---------------------------------------------------------------------------------


def _iptables_tables(text: str) -> dict[str, dict[str, list[list[str]]]]:
    tables: dict[str, dict[str, list[list[str]]]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            tables[table] = {}
        elif line.startswith("-A "):
            words = shlex.split(line)
            tables[table].setdefault(words[1], []).append(words[2:])
    return tables


def _iptables_match(words: list[str], pkt: Packet) -> tuple[bool, bool, str | None, str | None]:
    """(matches, is a random choice, target, DNAT destination)."""
    i, negate, random_choice, target, dnat = 0, False, False, None, None
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate = True
            i += 1
            continue
        ok = True
        if word == "-d":
            ok = _in(pkt.dst, nxt)
        elif word == "-s":
            ok = _in(pkt.src, nxt)
        elif word == "--dport":
            ok = int(nxt) == pkt.dport
        elif word == "-p":
            ok = nxt == "tcp"
        elif word == "--dst-type":
            ok = pkt.dst_local
        elif word == "--src-type":
            ok = pkt.src_local
        elif word == "--rcheck":
            ok = False  # sessionAffinity: a new client has no entry yet
        elif word == "--probability":
            random_choice = True
        elif word == "-j":
            target = nxt
        elif word == "--to-destination":
            dnat = nxt
        if negate:
            ok, negate = not ok, False
        if not ok:
            return False, False, None, None
        i += (
            2
            if word
            in (
                "-d",
                "-s",
                "--dport",
                "-p",
                "--dst-type",
                "--src-type",
                "--probability",
                "-j",
                "--to-destination",
                "-m",
                "--comment",
                "--name",
                "--seconds",
                "--mode",
                "--ctstate",
                "--nfacct-name",
                "--mark",
                "--xor-mark",
                "--or-mark",
            )
            else 1
        )
    return True, random_choice, target, dnat


def _iptables_walk(
    chains: dict[str, list[list[str]]], chain: str, pkt: Packet, masq: bool, depth: int = 0
) -> list:
    """Outcomes [(verdict, endpoint or None, masquerade)] of ``pkt`` entering ``chain``;
    ("return", None, masq) when it falls through."""
    assert depth < 20
    out: list[Any] = []
    for rule in chains.get(chain, []):
        ok, random_choice, target, dnat = _iptables_match(rule, pkt)
        if not ok or target is None:
            continue
        if target == "KUBE-MARK-MASQ":
            masq = True
            continue
        if target in ("DNAT", "DROP", "REJECT", "ACCEPT"):
            return out + [
                (
                    {"DNAT": "forward", "DROP": "drop", "REJECT": "reject", "ACCEPT": "accept"}[
                        target
                    ],
                    dnat,
                    masq,
                )
            ]
        if target == "RETURN":
            return out + [("return", None, masq)]
        results = _iptables_walk(chains, target, pkt, masq, depth + 1)
        finished = [r for r in results if r[0] != "return"]
        out += finished
        back = [r for r in results if r[0] == "return"]
        if not random_choice:
            if not back:
                return out
            masq = back[0][2]
    return out + [("return", None, masq)]


def iptables_verdict(text: str, pkt: Packet) -> list:
    tables = _iptables_tables(text)
    nat = [
        r for r in _iptables_walk(tables["nat"], "KUBE-SERVICES", pkt, False) if r[0] != "return"
    ]
    if nat:
        return nat
    # Not DNATed: the filter table's no-endpoint rules decide.
    for chain in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"):
        found = [r for r in _iptables_walk(tables["filter"], chain, pkt, False) if r[0] != "return"]
        if found:
            return found
    return [("none", None, False)]


# -- nftables ---------------------------------------------------------------------------------

_ELEMENT = re.compile(r"^add element ip kube-proxy (\S+) \{ (.*) \}$")


def _nft_parse(text: str) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    maps: dict[str, dict[str, str]] = {}
    chains: dict[str, list[str]] = {}
    for line in text.splitlines():
        found = _ELEMENT.match(line)
        if found:
            body = re.sub(r' comment "[^"]*"', "", found.group(2))
            key, _, verdict = body.partition(" : ")
            maps.setdefault(found.group(1), {})[key.strip()] = verdict.strip()
        elif line.startswith("add rule ip kube-proxy "):
            chain, _, rule = line[len("add rule ip kube-proxy ") :].partition(" ")
            chains.setdefault(chain, []).append(rule)
    return maps, chains


def _nft_walk(
    chains: dict[str, list[str]], chain: str, pkt: Packet, masq: bool, depth: int = 0
) -> list:
    assert depth < 20
    for rule in chains.get(chain, []):
        rule = re.sub(r' comment "[^"]*"', "", rule)
        words = rule.split()
        i, ok = 0, True
        while ok and i < len(words):
            if words[i : i + 2] == ["ip", "daddr"]:
                neg = words[i + 2] == "!="
                value = words[i + 3 if neg else i + 2]
                ok = _in(pkt.dst, value) != neg
                i += 4 if neg else 3
            elif words[i : i + 2] == ["ip", "saddr"]:
                neg = words[i + 2] == "!="
                value = words[i + 3 if neg else i + 2]
                if value.startswith("@"):
                    ok = False  # sessionAffinity set: a new client is not in it
                elif value == "{":
                    end = words.index("}", i)
                    ok = (
                        any(
                            _in(pkt.src, v.strip(",")) for v in words[i + 4 if neg else i + 3 : end]
                        )
                        != neg
                    )
                    i = end + 1
                    continue
                else:
                    ok = _in(pkt.src, value) != neg
                i += 4 if neg else 3
            elif words[i : i + 4] == ["fib", "saddr", "type", "local"]:
                ok = pkt.src_local
                i += 4
            else:
                break
        if not ok:
            continue
        rest = words[i:]
        if rest[:2] == ["jump", "mark-for-masquerade"]:
            masq = True
            continue
        if rest[:1] == ["update"]:
            continue
        if rest[:1] == ["goto"]:
            return _nft_walk(chains, rest[1], pkt, masq, depth + 1)
        if rest[:2] == ["numgen", "random"]:
            targets = re.findall(r"goto (\S+)", " ".join(rest))
            return [r for t in targets for r in _nft_walk(chains, t, pkt, masq, depth + 1)]
        if rest[:3] == ["meta", "l4proto", "tcp"] and rest[3] == "dnat":
            return [("forward", rest[5], masq)]
        if rest == ["drop"]:
            return [("drop", None, masq)]
        raise AssertionError(f"rule the interpreter does not know: {rule}")
    return []


def nftables_verdict(text: str, pkt: Packet) -> list:
    maps, chains = _nft_parse(text)
    verdict = maps.get("service-ips", {}).get(f"{pkt.dst} . tcp . {pkt.dport}")
    if verdict is None and pkt.dst_local:
        verdict = maps.get("service-nodeports", {}).get(f"tcp . {pkt.dport}")
    if verdict is not None:
        assert verdict.startswith("goto "), verdict
        found = _nft_walk(chains, verdict.split()[1], pkt, False)
        if found:
            return found
    # Not DNATed (no entry, or its chain fell through): the no-endpoint maps decide.
    verdict = maps.get("no-endpoint-services", {}).get(f"{pkt.dst} . tcp . {pkt.dport}")
    if verdict is None and pkt.dst_local:
        verdict = maps.get("no-endpoint-nodeports", {}).get(f"tcp . {pkt.dport}")
    if verdict is None:
        return [("none", None, False)]
    return [("reject" if verdict == "goto reject-chain" else verdict, None, False)]


# -- the property -----------------------------------------------------------------------------


def _questions(svc, port) -> list[tuple[str, str, int]]:
    """(destination kind, address, port) a client can use."""
    out = [(CLUSTERIP, svc.cluster_ips[0], port.port)]
    if port.node_port:
        out.append((NODEPORT, "", port.node_port))
    out += [(EXTERNALIP, ip, port.port) for ip in svc.external_ips]
    out += [(LOADBALANCER, ip, port.port) for ip in svc.lb_ips]
    return out


def _compare(snapshot: Snapshot, mode: str) -> int:
    checked = 0
    for svc in proxied_services(snapshot):
        for name in sorted(snapshot.nodes):
            text = render_node_rules(snapshot, name, mode, service=svc.key).text
            detector = render_options(snapshot, name).cluster_cidr is not None
            for port in svc.ports:
                for to, address, dport in _questions(svc, port):
                    sources = [("pod", POD_IP, False), ("host", HOST_IP, True)]
                    if to != CLUSTERIP:
                        sources.append(("external", CLIENT_IP, False))
                    for kind, src, src_local in sources:
                        want = path_for(
                            snapshot,
                            service=svc,
                            port=port,
                            node=name,
                            pod_source=kind == "pod",
                            host_source=kind == "host",
                            to=to,
                        )
                        pkt = Packet(
                            src,
                            address or HOST_IP,
                            dport,
                            src_local=src_local,
                            dst_local=to == NODEPORT,
                        )
                        got = (iptables_verdict if mode == "iptables" else nftables_verdict)(
                            text, pkt
                        )
                        where = (
                            f"{mode} {svc.key}:{port.port} on {name}: {kind} -> {to} (detector "
                            f"{detector})"
                        )
                        actions = {g[0] for g in got}
                        assert actions == {want.action}, (where, got, want.action)
                        if want.action == FORWARD:
                            assert {g[1] for g in got} == {ep.key for ep in want.endpoints}, where
                            assert {not g[2] for g in got} == {want.client_ip_preserved}, (
                                where,
                                got,
                            )
                        checked += 1
    return checked


def _ipvs_compare(snapshot: Snapshot) -> int:
    checked = 0
    for svc in proxied_services(snapshot):
        for name in sorted(snapshot.nodes):
            rs = render_node_rules(snapshot, name, "ipvs", service=svc.key)
            servers: dict[str, set[str]] = {}
            for line in rs.text.splitlines():
                words = line.split()
                if words[:1] == ["-A"]:
                    servers[words[2]] = set()
                elif words[:1] == ["-a"]:
                    servers[words[2]].add(words[4])
            node = snapshot.nodes[name]
            for port in svc.ports:
                for to, address, dport in _questions(svc, port):
                    if to == NODEPORT and not node.addresses:
                        continue  # no node IP: kube-proxy has no address to bind the NodePort to
                    vs = f"{address or node.addresses[0]}:{dport}"
                    for kind in ("pod", "external") if to != CLUSTERIP else ("pod",):
                        want = path_for(
                            snapshot,
                            service=svc,
                            port=port,
                            node=name,
                            pod_source=kind == "pod",
                            to=to,
                        )
                        assert vs in servers, (svc.key, name, vs)
                        expected = (
                            {ep.key for ep in want.endpoints} if want.action == FORWARD else set()
                        )
                        assert want.action in (FORWARD, REJECT)
                        assert servers[vs] == expected, (svc.key, name, kind, to)
                        checked += 1
    return checked


def _snapshot(cluster: tuple[list[dict], dict], mode: str) -> Snapshot:
    objects, overrides = cluster
    overrides = {**overrides, "proxy_mode": mode, "node_proxy_modes": {}}
    overrides.pop("ipvs_scheduler", None)
    if overrides.get("local_detector", True):
        # The detector's CIDR, so the rules can tell the pod (inside) from the host (outside).
        overrides["cluster_cidrs"] = (POD_CIDR,)
    return snapshot_from_objects(objects, **overrides)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_iptables_rules_give_the_deciders_verdict(cluster: tuple[list[dict], dict]) -> None:
    _compare(_snapshot(cluster, "iptables"), "iptables")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_nftables_rules_give_the_deciders_verdict(cluster: tuple[list[dict], dict]) -> None:
    _compare(_snapshot(cluster, "nftables"), "nftables")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_ipvs_real_servers_are_the_deciders_candidates(cluster: tuple[list[dict], dict]) -> None:
    _ipvs_compare(_snapshot(cluster, "ipvs"))


def test_the_interpreters_see_every_verdict() -> None:
    """The comparison is not vacuous: on a fixed cluster every action and both client-IP
    outcomes occur, through both interpreters."""
    from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

    objects = [node_obj("n1", zone="a"), node_obj("n2", zone="b")]
    for i, (itp, etp, where) in enumerate(
        [("Local", "Local", "n1"), ("Cluster", "Local", "n1"), ("Cluster", "Cluster", None)]
    ):
        objects.append(
            service_obj(
                f"s{i}",
                type="LoadBalancer",
                cluster_ip=f"10.96.0.{10 + i}",
                itp=itp,
                etp=etp,
                lb_ips=[f"192.0.2.{i + 1}"],
            )
        )
        eps = [endpoint_obj(f"10.244.{i}.1", where, pod=f"default/s{i}-a")] if where else []
        objects.append(slice_obj(f"s{i}", eps))
    for mode in ("iptables", "nftables"):
        snapshot = _snapshot((objects, {}), mode)
        assert _compare(snapshot, mode) > 30
        seen = set()
        for svc in proxied_services(snapshot):
            for name in snapshot.nodes:
                for port in svc.ports:
                    for kind in ("pod", "host", "external"):
                        path = path_for(
                            snapshot,
                            service=svc,
                            port=port,
                            node=name,
                            pod_source=kind == "pod",
                            host_source=kind == "host",
                            to=NODEPORT,
                        )
                        seen.add(
                            (
                                path.action,
                                path.client_ip_preserved if path.action == FORWARD else None,
                            )
                        )
        assert {("forward", True), ("forward", False), ("drop", None), ("reject", None)} <= seen
    assert _ipvs_compare(_snapshot((objects, {}), "ipvs")) > 10
