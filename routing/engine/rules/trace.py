"""Walk one new connection through rendered rule *text* as netfilter would.

``trace_text(text, mode, packet, local_ips)`` reads ``iptables-restore`` input (mode
``iptables``) or ``nft -f`` input (mode ``nftables``) and follows a packet's first packet
through the hooks a real kernel runs for it:

* from a local address (a host process): nat/filter ``OUTPUT``, then ``POSTROUTING``, then
  filter ``INPUT`` when the destination (after DNAT) is local again (the loopback path);
* from elsewhere (a pod, an external client): ``PREROUTING`` (filter -110, then nat), then
  ``INPUT`` when the destination after DNAT is a local address, else ``FORWARD``, then
  ``POSTROUTING``.

Every probabilistic branch is followed: ``-m statistic --mode random --probability p``
splits the flow (p jumps, 1 - p carries on) and ``numgen random mod n vmap`` sends 1/n down
each entry, so the answer is every outcome with its share of new connections. Marks are
carried as the kernel does (``MARK --or-mark``, ``mark set mark or``) and masquerading is
what ``POSTROUTING`` then does with them. Affinity lookups (``-m recent --rcheck``,
``ip saddr @affinity-…``) see an empty table: a client's first connection. ``ct state``
is ``new`` (plus ``DNAT`` once a DNAT happened, as conntrack reports it).

``trace(snapshot, node, packet, mode)`` renders the node's rules with the engine's
renderer first (``render_node_rules``), so any rendered rule set is checkable without root.
iptables text without the built-in chains (``include_jumps=False``, upstream's expected
dumps) is traced as if kube-proxy's hook jumps were installed.
Pure Python; IPv4 only (as the renderer).
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from routing.engine.rules.iptables import _BUILTIN, _JUMPS
from routing.engine.rules.model import RenderOptions
from routing.engine.snapshot import Snapshot

DNAT = "dnat"
DROP = "drop"
REJECT = "reject"
ACCEPT = "accept"  # a filter rule accepted the packet, nothing rewrote it
PASS = "pass"  # no kube-proxy rule stopped or rewrote the packet

_MAX_DEPTH = 64


class TraceError(ValueError):
    """Rule text the tracer cannot follow (unknown match, missing chain, loop)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """The first packet of a new connection."""

    src: str
    dst: str
    port: int
    protocol: str = "tcp"
    #: the interface it came in on ("" for a locally generated packet): what the
    #: BridgeInterface / InterfaceNamePrefix local-traffic detectors match.
    iif: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One branch of the trace: its share of new connections and what happened to it."""

    share: float
    verdict: str  # DNAT, DROP, REJECT, ACCEPT or PASS
    destination: str | None  # "ip:port" after DNAT
    masquerade: bool


@dataclass(frozen=True)
class Trace:
    """Every outcome of a packet, with the rule lines that matched (in order)."""

    outcomes: tuple[Outcome, ...]
    matched: tuple[str, ...] = ()

    @property
    def endpoints(self) -> dict[str, float]:
        """DNAT destination -> share of new connections."""
        out: dict[str, float] = {}
        for o in self.outcomes:
            if o.verdict == DNAT and o.destination:
                out[o.destination] = out.get(o.destination, 0.0) + o.share
        return out

    @property
    def dropped(self) -> float:
        return sum(o.share for o in self.outcomes if o.verdict == DROP)

    @property
    def rejected(self) -> float:
        return sum(o.share for o in self.outcomes if o.verdict == REJECT)

    @property
    def masquerade(self) -> bool:
        """True if any delivered branch is masqueraded (upstream tracers' single flag)."""
        return any(o.masquerade for o in self.outcomes if o.verdict in (DNAT, ACCEPT, PASS))

    @property
    def masquerade_share(self) -> float:
        return sum(
            o.share for o in self.outcomes if o.masquerade and o.verdict in (DNAT, ACCEPT, PASS)
        )

    def output(self) -> str:
        """Upstream ``tracePacket``'s answer: sorted DNAT destinations, or ACCEPT / DROP /
        REJECT, or "" when no rule touched the packet (mixed outcomes list each kind once)."""
        parts = sorted(self.endpoints, key=_endpoint_key)
        if any(o.verdict == ACCEPT for o in self.outcomes):
            parts.append("ACCEPT")
        if self.dropped > 0:
            parts.append("DROP")
        if self.rejected > 0:
            parts.append("REJECT")
        return ", ".join(parts)


def _endpoint_key(dest: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    ip, _, port = dest.rpartition(":")
    return (ipaddress.ip_address(ip), int(port))


# ---- shared state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    share: float
    dst: str
    mark: int = 0
    dnat: str | None = None
    masq: bool = False
    verdict: str | None = None  # DROP / REJECT (final) or "accept" (ends this base chain)
    filter_accept: bool = False  # a filter-table / filter-chain accept verdict was reached
    trail: tuple[str, ...] = field(default=())

    def scaled(self, p: float) -> _State:
        return replace(self, share=self.share * p)


@lru_cache(maxsize=4096)
def _net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(text.strip(), strict=False)  # type: ignore[return-value]


def _iface(iif: str, name: str, prefix: bool) -> bool:
    """iptables ``-i NAME`` / ``-i PREFIX+``, nftables ``iifname "NAME"`` / ``"PREFIX*"``."""
    return iif.startswith(name) if prefix else iif == name


def _in(ip: str, nets: Iterable[str]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in _net(n) for n in nets)


class _Host:
    def __init__(self, local_ips: Iterable[str]):
        self.local = set(local_ips)

    def is_local(self, ip: str) -> bool:
        return ip in self.local or _in(ip, ("127.0.0.0/8",))


# ---- iptables -------------------------------------------------------------------------


@dataclass
class _IptRule:
    raw: str
    matches: list[tuple[str, bool, tuple[str, ...]]]
    target: str | None
    target_args: dict[str, str]
    probability: float | None


_SKIP_MODULES = {
    "comment",
    "tcp",
    "udp",
    "sctp",
    "nfacct",
    "conntrack",
    "addrtype",
    "mark",
    "statistic",
    "recent",
    "multiport",
}


@lru_cache(maxsize=4)
def _parse_iptables(text: str) -> dict[str, dict[str, list[_IptRule]]]:
    """Tables -> chains -> rules (cached: many packets are traced through one text;
    the result is shared, never mutated after this returns)."""
    tables: dict[str, dict[str, list[_IptRule]]] = {}
    table: dict[str, list[_IptRule]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = tables.setdefault(line[1:], {})
            continue
        if table is None:
            raise TraceError(f"rule outside a table: {line}")
        if line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
            continue
        words = shlex.split(line)
        if words[0] != "-A":
            raise TraceError(f"not an append: {line}")
        table.setdefault(words[1], []).append(_parse_ipt_rule(line, words[2:]))
    _add_hook_jumps(tables)
    return tables


def _parse_ipt_rule(raw: str, words: list[str]) -> _IptRule:
    matches: list[tuple[str, bool, tuple[str, ...]]] = []
    target, args, prob = None, {}, None
    neg = False
    i = 0
    while i < len(words):
        w = words[i]
        if w == "!":
            neg = True
            i += 1
            continue
        if w == "-m":
            i += 2
            continue
        if w in ("-j", "-g"):
            target = words[i + 1]
            i += 2
            while i < len(words) and words[i].startswith("--"):
                if i + 1 < len(words) and not words[i + 1].startswith("--"):
                    args[words[i]] = words[i + 1]
                    i += 2
                else:
                    args[words[i]] = ""
                    i += 1
            continue
        if w in (
            "-p",
            "-s",
            "-d",
            "-i",
            "--dport",
            "--dst-type",
            "--src-type",
            "--ctstate",
            "--mark",
            "--comment",
            "--nfacct-name",
            "--mode",
            "--name",
            "--seconds",
        ):
            matches.append((w, neg, (words[i + 1],)))
            i += 2
        elif w == "--probability":
            prob = float(words[i + 1])
            i += 2
        elif w in ("--rcheck", "--set", "--reap", "--rsource", "--random-fully"):
            matches.append((w, neg, ()))
            i += 1
        elif w == "--mask":
            i += 2
        else:
            raise TraceError(f"unknown iptables option {w!r} in: {raw}")
        neg = False
    return _IptRule(raw, matches, target, args, prob)


def _ipt_matches(rule: _IptRule, pkt: Packet, st: _State, host: _Host) -> bool:
    for opt, neg, vals in rule.matches:
        if opt in (
            "--comment",
            "--nfacct-name",
            "--mode",
            "--name",
            "--seconds",
            "--reap",
            "--rsource",
            "--set",
        ):
            continue
        if opt == "--rcheck":
            ok = False  # no earlier connection from this client
        elif opt == "-p":
            ok = vals[0].lower() == pkt.protocol
        elif opt == "-s":
            ok = _in(pkt.src, (vals[0],))
        elif opt == "-i":
            ok = _iface(pkt.iif, vals[0].removesuffix("+"), vals[0].endswith("+"))
        elif opt == "-d":
            ok = _in(st.dst, (vals[0],))
        elif opt == "--dport":
            ok = int(vals[0]) == pkt.port
        elif opt == "--dst-type":
            ok = vals[0] == "LOCAL" and host.is_local(st.dst)
        elif opt == "--src-type":
            ok = vals[0] == "LOCAL" and host.is_local(pkt.src)
        elif opt == "--ctstate":
            have = {"NEW"} | ({"DNAT"} if st.dnat else set())
            ok = bool(have & set(vals[0].split(",")))
        elif opt == "--mark":
            value, _, mask = vals[0].partition("/")
            m = int(mask or "0xffffffff", 0)
            ok = (st.mark & m) == (int(value, 0) & m)
        else:  # pragma: no cover - the parser only records the options above
            raise TraceError(f"unhandled match {opt}")
        if ok == neg:
            return False
    return True


def _add_hook_jumps(tables: dict[str, dict[str, list[_IptRule]]]) -> None:
    """Text without the built-in chains (kube-proxy's restore input, or upstream's expected
    dumps) gets the jumps kube-proxy installs outside it (``iptablesJumpChains``)."""
    jumps = list(_JUMPS)
    if "KUBE-FIREWALL" in tables.get("filter", {}):
        jumps += [
            ("filter", "INPUT", "KUBE-FIREWALL", "", ""),
            ("filter", "OUTPUT", "KUBE-FIREWALL", "", ""),
        ]
    for name, builtins in _BUILTIN.items():
        table = tables.setdefault(name, {})
        if any(chain in table for chain in builtins):
            continue
        for chain in builtins:
            table[chain] = []
        for t, src, dst, comment, extra in reversed(jumps):  # kube-proxy prepends them
            if t == name:
                c = f'-m comment --comment "{comment}" ' if comment else ""
                line = f"-A {src} {extra}{c}-j {dst}"
                table[src].append(_parse_ipt_rule(line, shlex.split(line)[2:]))


class _IptablesWalker:
    def __init__(self, text: str, pkt: Packet, host: _Host):
        self.tables = _parse_iptables(text)
        self.pkt, self.host = pkt, host
        self.matched: list[str] = []

    def run(self, table: str, chain: str, st: _State, depth: int = 0) -> list[tuple[_State, str]]:
        """[(state, how)] with how "stop" (a terminal target) or "return" (fell off / RETURN)."""
        if depth > _MAX_DEPTH:
            raise TraceError(f"chain depth over {_MAX_DEPTH} at {chain}")
        rules = self.tables.get(table, {}).get(chain)
        if rules is None:
            raise TraceError(f"no chain {chain} in table {table}")
        live, out = [st], []
        for rule in rules:
            nxt: list[_State] = []
            for s in live:
                if not _ipt_matches(rule, self.pkt, s, self.host):
                    nxt.append(s)
                    continue
                take = s
                if rule.probability is not None:
                    take = s.scaled(rule.probability)
                    stay = s.scaled(1.0 - rule.probability)
                    if stay.share > 0:
                        nxt.append(stay)
                    if take.share <= 0:
                        continue
                self.matched.append(rule.raw)
                for r, how in self.target(table, rule, take, depth):
                    (nxt.append(r) if how == "continue" else out.append((r, how)))
            live = nxt
        return out + [(s, "return") for s in live]

    def target(
        self, table: str, rule: _IptRule, st: _State, depth: int
    ) -> list[tuple[_State, str]]:
        t, a = rule.target, rule.target_args
        if t is None:
            return [(st, "continue")]
        if t == "MARK":
            if "--or-mark" in a:
                return [(replace(st, mark=st.mark | int(a["--or-mark"], 0)), "continue")]
            if "--xor-mark" in a:
                return [(replace(st, mark=st.mark ^ int(a["--xor-mark"], 0)), "continue")]
            raise TraceError(f"unhandled MARK in: {rule.raw}")
        if t == "RETURN":
            return [(st, "return")]
        if t == "ACCEPT":
            return [
                (
                    replace(
                        st, verdict="accept", filter_accept=st.filter_accept or table == "filter"
                    ),
                    "stop",
                )
            ]
        if t in ("DROP", "REJECT"):
            return [(replace(st, verdict=t.lower()), "stop")]
        if t == "DNAT":
            dest = a["--to-destination"]
            return [(replace(st, dnat=dest, dst=dest.rpartition(":")[0], verdict="accept"), "stop")]
        if t == "MASQUERADE":
            return [(replace(st, masq=True, verdict="accept"), "stop")]
        out = []
        for r, how in self.run(table, t, st, depth + 1):
            out.append((r, "stop") if how == "stop" else (r, "continue"))
        return out

    def hook(self, table: str, chain: str, states: list[_State]) -> list[_State]:
        out = []
        for st in states:
            if st.verdict in (DROP, REJECT):
                out.append(st)
                continue
            for r, _ in self.run(table, chain, replace(st, verdict=None)):
                out.append(r)
        return out


def _trace_iptables(text: str, pkt: Packet, host: _Host) -> Trace:
    w = _IptablesWalker(text, pkt, host)
    states = [_State(1.0, pkt.dst)]
    if host.is_local(pkt.src):
        states = w.hook("nat", "OUTPUT", states)
        states = w.hook("filter", "OUTPUT", states)
    else:
        states = w.hook("nat", "PREROUTING", states)
        routed: list[_State] = []
        for st in states:
            routed += w.hook("filter", "INPUT" if host.is_local(st.dst) else "FORWARD", [st])
        states = routed
    states = w.hook("nat", "POSTROUTING", states)
    if host.is_local(
        pkt.src
    ):  # a host process reaching a local address comes back in through INPUT
        looped: list[_State] = []
        for st in states:
            looped += w.hook("filter", "INPUT", [st]) if host.is_local(st.dst) else [st]
        states = looped
    return Trace(_outcomes(states), tuple(w.matched))


def _outcomes(states: list[_State]) -> tuple[Outcome, ...]:
    merged: dict[tuple[str, str | None, bool], float] = {}
    key: tuple[str, str | None, bool]
    for st in states:
        if st.verdict in (DROP, REJECT):
            key = (st.verdict, None, False)
        elif st.dnat:
            key = (DNAT, st.dnat, st.masq)
        elif st.filter_accept:
            key = (ACCEPT, None, st.masq)
        else:
            key = (PASS, None, st.masq)
        merged[key] = merged.get(key, 0.0) + st.share
    return tuple(Outcome(share, v, d, m) for (v, d, m), share in merged.items())


# ---- nftables -------------------------------------------------------------------------


@dataclass
class _NftTable:
    chains: dict[str, list[list[str]]] = field(default_factory=dict)
    raw: dict[str, list[str]] = field(default_factory=dict)
    #: hook -> [(priority, type, chain)]
    hooks: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    #: set name -> members (IPs/CIDRs) ; map name -> {key tuple: verdict words}
    sets: dict[str, list[str]] = field(default_factory=dict)
    maps: dict[str, dict[tuple[str, ...], list[str]]] = field(default_factory=dict)


def _strip_comment(line: str) -> str:
    words = shlex.split(line, posix=False)
    out, i = [], 0
    while i < len(words):
        if words[i] == "comment":
            i += 2
            continue
        out.append(words[i])
        i += 1
    return " ".join(out)


@lru_cache(maxsize=4)
def _parse_nft(text: str) -> _NftTable:
    """Chains, hooks, sets and maps (cached and shared like ``_parse_iptables``)."""
    t = _NftTable()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if (
            words[:2] in (["flush", "table"], ["delete", "table"], ["add", "table"])
            or words[0] == "flush"
        ):
            continue
        if words[0] != "add" or words[2:4] != ["ip", "kube-proxy"]:
            raise TraceError(f"not a kube-proxy table line: {line}")
        kind, name = words[1], words[4]
        if kind == "chain":
            t.chains.setdefault(name, [])
            t.raw.setdefault(name, [])
            if "hook" in words:
                typ, hook = words[words.index("type") + 1], words[words.index("hook") + 1]
                prio = int(words[words.index("priority") + 1])
                t.hooks.setdefault(hook, []).append((prio, typ, name))
        elif kind == "set":
            t.sets.setdefault(name, [])
        elif kind == "map":
            t.maps.setdefault(name, {})
        elif kind == "rule":
            body = _strip_comment(" ".join(words[5:]))
            t.chains.setdefault(name, []).append(body.split())
            t.raw.setdefault(name, []).append(line)
        elif kind == "element":
            body = _strip_comment(line[line.index("{") + 1 : line.rindex("}")])
            for element in body.split(","):
                element = element.strip()
                if not element:
                    continue
                if ":" in element.split():
                    key, verdict = element.split(" : ", 1)
                    t.maps.setdefault(name, {})[tuple(k.strip() for k in key.split(" . "))] = (
                        verdict.split()
                    )
                else:
                    t.sets.setdefault(name, []).append(element)
        else:
            raise TraceError(f"unknown nft line: {line}")
    for hooks in t.hooks.values():
        hooks.sort()
    return t


class _NftWalker:
    def __init__(self, text: str, pkt: Packet, host: _Host):
        self.t = _parse_nft(text)
        self.pkt, self.host = pkt, host
        self.matched: list[str] = []

    # -- one chain --
    def run(self, chain: str, st: _State, depth: int = 0) -> list[tuple[_State, str]]:
        """[(state, how)]: how "stop" (verdict), "return" (end / return)."""
        if depth > _MAX_DEPTH:
            raise TraceError(f"chain depth over {_MAX_DEPTH} at {chain}")
        if chain not in self.t.chains:
            raise TraceError(f"no chain {chain}")
        live, out = [st], []
        for words, raw in zip(self.t.chains[chain], self.t.raw[chain], strict=True):
            nxt: list[_State] = []
            for s in live:
                for r, how in self.rule(words, raw, s, depth):
                    (nxt.append(r) if how == "continue" else out.append((r, how)))
            live = nxt
        return out + [(s, "return") for s in live]

    def verdict(self, words: list[str], st: _State, depth: int) -> list[tuple[_State, str]]:
        v = words[0]
        if v in ("drop", "reject"):
            return [(replace(st, verdict=v), "stop")]
        if v == "accept":
            return [(replace(st, verdict="accept", filter_accept=True), "stop")]
        if v == "return":
            return [(st, "return")]
        if v in ("jump", "goto"):
            res = []
            for r, how in self.run(words[1], st, depth + 1):
                if how == "stop":
                    res.append((r, "stop"))
                else:
                    res.append((r, "continue" if v == "jump" else "return"))
            return res
        raise TraceError(f"unknown verdict {' '.join(words)}")

    def key_value(self, part: str, st: _State) -> str:
        return {
            "ip daddr": st.dst,
            "meta l4proto": self.pkt.protocol,
            "th dport": str(self.pkt.port),
            "ip saddr": self.pkt.src,
        }[part]

    def rule(self, w: list[str], raw: str, st: _State, depth: int) -> list[tuple[_State, str]]:
        i = 0
        pkt = self.pkt
        while i < len(w):
            tok = w[i]
            if tok == "ct" and w[i + 1] == "state":
                if "new" not in w[i + 2].split(","):
                    return [(st, "continue")]
                i += 3
            elif tok in ("ip", "meta", "th") and w[i + 2] in (".", "vmap"):
                at = w.index("vmap", i)
                parts = " ".join(w[i:at]).split(" . ")
                key = tuple(self.key_value(p, st) for p in parts)
                verdict = self.t.maps.get(w[at + 1].lstrip("@"), {}).get(key)
                if verdict is None:
                    return [(st, "continue")]
                self.matched.append(raw)
                return self.verdict(verdict, st, depth)
            elif tok == "ip" and w[i + 1] in ("daddr", "saddr"):
                value = st.dst if w[i + 1] == "daddr" else pkt.src
                j = i + 2
                neg = w[j] == "!="
                if neg:
                    j += 1
                if w[j] == "{":
                    end = w.index("}", j)
                    members = [x.rstrip(",") for x in w[j + 1 : end] if x != ","]
                    j = end + 1
                elif w[j].startswith("@"):
                    members = self.t.sets.get(w[j][1:], [])
                    j += 1
                else:
                    members = [w[j]]
                    j += 1
                if _in(value, members) == neg:
                    return [(st, "continue")]
                i = j
            elif tok == "iifname":
                j = i + 1
                neg = w[j] == "!="
                if neg:
                    j += 1
                name = w[j].strip('"')
                if _iface(pkt.iif, name.removesuffix("*"), name.endswith("*")) == neg:
                    return [(st, "continue")]
                i = j + 1
            elif tok == "fib" and w[i + 2 : i + 4] == ["type", "local"]:
                value = pkt.src if w[i + 1] == "saddr" else st.dst
                if not self.host.is_local(value):
                    return [(st, "continue")]
                i += 4
            elif tok == "meta" and w[i + 1] == "l4proto":
                if w[i + 2] != pkt.protocol:
                    return [(st, "continue")]
                i += 3
            elif tok == "th" and w[i + 1] == "dport" and w[i + 2] != "vmap":
                if int(w[i + 2]) != pkt.port:
                    return [(st, "continue")]
                i += 3
            elif tok == "mark" and w[i + 1] == "and":
                mask, op, bits = int(w[i + 2], 0), w[i + 3], int(w[i + 4], 0)
                if ((st.mark & mask) == bits) != (op == "=="):
                    return [(st, "continue")]
                i += 5
            elif tok == "mark" and w[i + 1] == "set":
                op, bits = w[i + 3], int(w[i + 4], 0)
                st = replace(st, mark=(st.mark | bits) if op == "or" else (st.mark ^ bits))
                i += 5
            elif tok == "update":
                i = w.index("}", i) + 1
            elif tok == "counter":
                i += 1
            elif tok == "numgen":
                n = int(w[i + 3])
                end = w.index("}", i)
                entries = " ".join(w[i + 6 : end]).split(" , ")
                self.matched.append(raw)
                res: list[tuple[_State, str]] = []
                for entry in entries:
                    _, _, target = entry.partition(" : ")
                    res += self.verdict(target.split(), st.scaled(1.0 / n), depth)
                return res
            elif tok == "dnat" and w[i + 1] == "to":
                self.matched.append(raw)
                dest = w[i + 2]
                return [
                    (replace(st, dnat=dest, dst=dest.rpartition(":")[0], verdict="accept"), "stop")
                ]
            elif tok == "masquerade":
                self.matched.append(raw)
                return [(replace(st, masq=True, verdict="accept"), "stop")]
            elif tok in ("jump", "goto", "drop", "reject", "accept", "return"):
                self.matched.append(raw)
                return self.verdict(w[i:], st, depth)
            else:
                raise TraceError(f"unknown nft expression at {tok!r} in: {raw}")
        self.matched.append(raw)
        return [(st, "continue")]

    def hook(
        self, name: str, states: list[_State], types: tuple[str, ...] = ("filter", "nat")
    ) -> list[_State]:
        for _prio, typ, chain in self.t.hooks.get(name, []):
            if typ not in types:
                continue
            nxt: list[_State] = []
            for st in states:
                if st.verdict in (DROP, REJECT):
                    nxt.append(st)
                    continue
                nxt += [r for r, _ in self.run(chain, replace(st, verdict=None))]
            states = nxt
        return states


def _trace_nftables(text: str, pkt: Packet, host: _Host) -> Trace:
    w = _NftWalker(text, pkt, host)
    states = [_State(1.0, pkt.dst)]
    if host.is_local(pkt.src):
        states = w.hook("output", states)
    else:
        states = w.hook("prerouting", states)
        routed: list[_State] = []
        for st in states:
            routed += w.hook("input" if host.is_local(st.dst) else "forward", [st])
        states = routed
    states = w.hook("postrouting", states)
    if host.is_local(
        pkt.src
    ):  # a host process reaching a local address comes back in through input
        looped: list[_State] = []
        for st in states:
            looped += w.hook("input", [st], ("filter",)) if host.is_local(st.dst) else [st]
        states = looped
    return Trace(_outcomes(states), tuple(w.matched))


# ---- entry points ---------------------------------------------------------------------


def trace_text(text: str, mode: str, packet: Packet, local_ips: Iterable[str]) -> Trace:
    """Trace ``packet`` through rule ``text`` of ``mode`` on a host owning ``local_ips``."""
    host = _Host(local_ips)
    packet = replace(packet, protocol=packet.protocol.lower())
    if mode == "iptables":
        return _trace_iptables(text, packet, host)
    if mode == "nftables":
        return _trace_nftables(text, packet, host)
    raise TraceError(f"cannot trace mode {mode!r} (iptables or nftables)")


def trace(
    snapshot: Snapshot,
    node: str,
    packet: Packet,
    mode: str,
    *,
    options: RenderOptions | None = None,
    local_ips: Iterable[str] | None = None,
) -> Trace:
    """Render ``node``'s rules in ``mode`` and trace ``packet`` through them. ``local_ips``
    defaults to the node's addresses."""
    from routing.engine.rules.render import render_node_rules

    text = render_node_rules(snapshot, node, mode, options=options).text
    if local_ips is None:
        local_ips = snapshot.nodes[node].addresses
    return trace_text(text, mode, packet, local_ips)
