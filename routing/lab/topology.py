"""Build the miniature cluster: one namespace per node, per endpoint pod and per client,
joined by veth pairs and one bridge in a private "fabric" namespace.

Addressing copies the dump (node InternalIPs, pod IPs) so rendered rules apply unchanged.
Pods route through their node (the node's IP is their gateway, as Calico-style CNIs do);
nodes route remote pod IPs via the owning node over the fabric.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from routing.engine.rules import render_node_rules
from routing.engine.rules.cache import RenderCache
from routing.engine.rules.plan import cluster_cidr
from routing.engine.snapshot import Snapshot
from routing.lab import netns
from routing.lab.netns import LabError
from routing.lab.traffic import Responders

EXTERNAL_CLIENT_IP = "203.0.113.10"  # TEST-NET-3: documentation range, only inside our namespaces
PREFIX = "rs-lab-"


@dataclass
class LabNode:
    """A node namespace."""

    name: str
    ns: str
    ip: str
    index: int


@dataclass
class LabPod:
    """An endpoint pod namespace (one per endpoint IP)."""

    ip: str
    node: str
    ns: str
    ports: set[int] = field(default_factory=set)


class Lab:
    """A built lab. Use as a context manager: everything is removed on exit, whatever
    happened (exceptions, KeyboardInterrupt)."""

    def __init__(self, snapshot: Snapshot, service: str, *, also: Sequence[Snapshot] = ()) -> None:
        if service not in snapshot.services:
            raise LabError(f"unknown service {service!r}")
        if not snapshot.nodes:
            raise LabError("the dump has no Node objects")
        self.snapshot = snapshot
        self.service = service
        #: further snapshots whose endpoints get a pod too (a timeline's moments).
        self.also = tuple(also)
        self.tag = PREFIX + secrets.token_hex(3)
        self.fabric = f"{self.tag}-fab"
        self.nodes: dict[str, LabNode] = {}
        self.pods: dict[str, LabPod] = {}
        self.clients: dict[str, tuple[str, str]] = {}  # node -> (ns, pod-like client IP)
        self.external = (f"{self.tag}-ext", EXTERNAL_CLIENT_IP)
        self.responders = Responders()
        self.created: list[str] = []

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> Lab:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop responders and delete every namespace this lab created."""
        self.responders.close()
        # Everything recorded, plus anything carrying this lab's tag (an interrupt can land
        # between "ip netns add" and the bookkeeping).
        netns.delete(list(reversed(self.created)) + netns.existing(self.tag + "-"))
        self.created.clear()

    def _add_ns(self, name: str) -> str:
        self.created.append(name)  # recorded first: cleanup tolerates names never created
        netns.run(["ip", "netns", "add", name])
        return name

    # -- addressing --------------------------------------------------------------------
    def _plan(self) -> None:
        svc = self.snapshot.services[self.service]
        pod_ips: dict[str, str | None] = {}
        endpoints = [
            ep
            for snapshot in (self.snapshot, *self.also)
            for port in svc.ports
            for ep in snapshot.endpoints(self.service, port.name)
        ]
        for ep in endpoints:
            if ":" not in ep.ip:
                pod_ips.setdefault(ep.ip, ep.node)
        used = set(pod_ips) | {EXTERNAL_CLIENT_IP}
        for i, name in enumerate(sorted(self.snapshot.nodes)):
            node = self.snapshot.nodes[name]
            ip = next((a for a in node.addresses if ":" not in a and a not in used), None)
            if ip is None:
                ip = f"192.168.250.{i + 1}"
            used.add(ip)
            self.nodes[name] = LabNode(name, f"{self.tag}-n{i}", ip, i)
        first = next(iter(self.nodes))
        for j, (ip, host) in enumerate(sorted(pod_ips.items())):
            home = host if host in self.nodes else first
            self.pods[ip] = LabPod(ip, home, f"{self.tag}-p{j}")
        for ep in endpoints:
            if ep.ip in self.pods:
                self.pods[ep.ip].ports.add(ep.port)
        cidr = cluster_cidr(self.snapshot, first)
        for name, lab_node in self.nodes.items():
            self.clients[name] = (
                f"{self.tag}-c{lab_node.index}",
                self._client_ip(name, cidr, used),
            )
            used.add(self.clients[name][1])

    def _client_ip(self, node_name: str, cidr: str | None, used: set[str]) -> str:
        """A free address for a client pod on ``node_name``: in its pod CIDR, else in the
        cluster CIDR (so kube-proxy counts it as pod traffic), else a private stand-in."""
        node = self.snapshot.nodes[node_name]
        nets = [n for n in node.pod_cidrs if ":" not in n] + ([cidr] if cidr else [])
        for text in nets:
            net = ipaddress.ip_network(text, strict=False)
            if net.num_addresses < 4:
                continue
            candidate = int(net.broadcast_address) - 2
            while candidate > int(net.network_address):
                ip = str(ipaddress.ip_address(candidate))
                if ip not in used:
                    return ip
                candidate -= 1
        return f"10.254.{self.nodes[node_name].index}.250"

    # -- building ----------------------------------------------------------------------
    def build(self) -> None:
        """Create namespaces, links, addresses, routes and responders."""
        self._plan()
        self._add_ns(self.fabric)
        fab = ["link add br0 type bridge", "link set br0 up", "link set lo up"]
        hosts: list[tuple[str, str, str]] = []  # (ns, ip, fabric port)
        for node in self.nodes.values():
            self._add_ns(node.ns)
            hosts.append((node.ns, node.ip, f"f{node.index}"))
        ext_ns, ext_ip = self.external
        self._add_ns(ext_ns)
        hosts.append((ext_ns, ext_ip, "fx"))
        for ns, _, port in hosts:
            fab += [
                f"link add {port} type veth peer name eth0 netns {ns}",
                f"link set {port} master br0",
                f"link set {port} up",
            ]
        netns.ip_batch(self.fabric, fab)
        node_ns = {n.ns for n in self.nodes.values()}
        for ns, ip, _ in hosts:
            cmds = ["link set lo up", f"addr add {ip}/32 dev eth0", "link set eth0 up"]
            cmds += [
                f"route add {other}/32 dev eth0 scope link" for _, other, _ in hosts if other != ip
            ]
            if ns in node_ns:
                # Real nodes have a default route, so traffic to a Service IP is forwarded
                # (and meets kube-proxy's FORWARD-path REJECT/DROP) instead of failing
                # route lookup. The default leads to a veth whose peer sits unbridged in
                # the fabric namespace (no forwarding there): a sink inside the lab.
                cmds += [
                    f"link add sink0 type veth peer name s{ns.rsplit('-n', 1)[1]} "
                    f"netns {self.fabric}",
                    "link set sink0 up",
                    "route add default dev sink0",
                ]
            netns.ip_batch(ns, cmds)
        netns.ip_batch(self.fabric, [f"link set s{n.index} up" for n in self.nodes.values()])
        for node in self.nodes.values():
            netns.ns_run(
                node.ns,
                [
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_forward=1",
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                    "net.ipv4.conf.eth0.rp_filter=0",
                    # REJECT answers with ICMP; rate limiting would turn
                    # refusals into timeouts under a burst of connections.
                    "net.ipv4.icmp_ratelimit=0",
                    "net.ipv4.icmp_msgs_per_sec=100000",
                    "net.ipv4.icmp_msgs_burst=100000",
                ],
            )
        self._attach_pods()
        self.responders.start()

    def _attach_pods(self) -> None:
        node_cmds: dict[str, list[str]] = {n: [] for n in self.nodes}
        attached: list[tuple[str, str, str]] = []  # (ns, ip, node)
        for pod in self.pods.values():
            self._add_ns(pod.ns)
            attached.append((pod.ns, pod.ip, pod.node))
        for name, (ns, ip) in self.clients.items():
            self._add_ns(ns)
            attached.append((ns, ip, name))
        for k, (ns, ip, home) in enumerate(attached):
            gw = self.nodes[home].ip
            node_cmds[home] += [
                f"link add v{k} type veth peer name eth0 netns {ns}",
                f"addr add {gw}/32 dev v{k}",
                f"link set v{k} up",
                f"route add {ip}/32 dev v{k}",
            ]
            for other in self.nodes:
                if other != home:
                    node_cmds[other].append(f"route add {ip}/32 via {gw} dev eth0 onlink")
        # The external client must reach every pod IP the rules DNAT to only through nodes.
        for name, cmds in node_cmds.items():
            netns.ip_batch(self.nodes[name].ns, cmds)
        for ns, ip, home in attached:
            gw = self.nodes[home].ip
            netns.ip_batch(
                ns,
                [
                    "link set lo up",
                    f"addr add {ip}/32 dev eth0",
                    "link set eth0 up",
                    f"route add {gw}/32 dev eth0 scope link",
                    f"route add default via {gw} dev eth0",
                ],
            )
        for pod in self.pods.values():
            for port in sorted(pod.ports):
                self.responders.listen(pod.ns, pod.ip, port)

    # -- programming -------------------------------------------------------------------
    def program(self, snapshot: Snapshot, mode: str) -> None:
        """Load the rules ``snapshot`` renders for each node, in ``mode``, into its namespace."""
        if mode not in ("iptables", "nftables"):
            raise LabError(
                f"the lab runs iptables or nftables rules, not {mode!r} (no IPVS in this kernel)"
            )
        cache = RenderCache()  # nodes of one zone share most blocks
        for node in self.nodes.values():
            rules = render_node_rules(snapshot, node.name, mode, cache=cache)
            netns.ns_run(node.ns, ["nft", "flush", "ruleset"])
            if mode == "iptables":
                netns.ns_run(node.ns, ["iptables-restore"], stdin=rules.text)
            else:
                netns.ns_run(node.ns, ["nft", "-f", "-"], stdin=rules.text)

    def forget_connections(self) -> None:
        """Flush every node's connection tracking (``netns.flush_conntrack``)."""
        for node in self.nodes.values():
            netns.flush_conntrack(node.ns)

    def route_external(self, dest_ip: str, via_node: str) -> None:
        """Send the external client's traffic for ``dest_ip`` (an LB IP or externalIP) to a node."""
        netns.ip_batch(
            self.external[0],
            [f"route replace {dest_ip}/32 via {self.nodes[via_node].ip} dev eth0 onlink"],
        )
