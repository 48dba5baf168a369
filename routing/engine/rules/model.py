"""Data the rule renderers read and write: per-port plans in, rule sets with reasons out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

MODES = ("iptables", "nftables", "ipvs")
# Reading order of a Service's lines in diffs: declarations before the rules using them.
_SECTION_ORDER = {
    "filter": 0,
    "nat-chains": 1,
    "nat": 2,
    "chains": 3,
    "sets": 4,
    "rules": 5,
    "elements": 6,
    "ipvs": 7,
    "ipset": 8,
}


@dataclass(frozen=True)
class RenderOptions:
    """kube-proxy flags that change the rule text (defaults = kube-proxy's own defaults).

    ``cluster_cidr`` is the LocalTrafficDetector (``--cluster-cidr`` with the default
    ``--detect-local-mode=ClusterCIDR``); ``None`` means no detector: no off-cluster
    masquerade rule and no eTP=Local pod short-circuit. ``include_jumps`` adds the hook
    rules (PREROUTING → KUBE-SERVICES …) that kube-proxy installs outside the restore
    input, so the text programs an empty network namespace on its own.
    """

    cluster_cidr: str | None = None
    #: the detector matches the input interface instead (``BridgeInterface``: the bridge's
    #: name; ``InterfaceNamePrefix``: the prefix and "+"), pkg/proxy/util/localdetector.go
    #: ``NewDetectLocalByBridgeInterface`` / ``NewDetectLocalByInterfaceNamePrefix``; it wins
    #: over ``cluster_cidr``.
    local_interface: str | None = None
    masquerade_all: bool = False
    masquerade_mark: str = "0x4000"
    localhost_nodeports: bool = True
    nfacct: bool = False
    random_fully: bool = True
    conntrack_tcp_liberal: bool = False
    include_jumps: bool = True
    service_cidrs: tuple[str, ...] = ()
    large_cluster_threshold: int = 1000
    ipvs_scheduler: str = "rr"

    @property
    def detects_local(self) -> bool:
        """A LocalTrafficDetector exists (``IsImplemented``)."""
        return bool(self.local_interface or self.cluster_cidr)

    def ipt_local(self, *, negate: bool = False) -> str:
        """The detector's iptables match (``IfLocal`` / ``IfNotLocal``)."""
        bang = "! " if negate else ""
        if self.local_interface:
            return f"{bang}-i {self.local_interface}"
        return f"{bang}-s {self.cluster_cidr}"

    def nft_local(self, *, negate: bool = False) -> str:
        """The detector's nftables match (``IfLocalNFT`` / ``IfNotLocalNFT``)."""
        op = "!= " if negate else ""
        if self.local_interface:
            name = self.local_interface
            name = name[:-1] + "*" if name.endswith("+") else name
            return f'iifname {op}"{name}"'
        return f"ip saddr {op}{self.cluster_cidr}"


@dataclass(frozen=True)
class EpRef:
    """One endpoint as the rules see it: address, target port and where it runs."""

    ip: str
    port: int
    node: str | None = None
    zone: str | None = None


@dataclass(frozen=True)
class PortPlan:
    """Everything a renderer needs about one service port on one node.

    ``cluster`` / ``local`` mirror kube-proxy's CategorizeEndpoints output for this node:
    ``None`` = the set is not used by this service's policies, ``()`` = used, and empty.
    ``has_any`` is kube-proxy's ``hasEndpoints`` (decides REJECT vs DROP).
    """

    namespace: str
    name: str
    port_name: str
    protocol: str
    cluster_ip: str | None
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    lb_ips: tuple[str, ...] = ()
    source_ranges: tuple[str, ...] = ()
    affinity_timeout: int | None = None
    internal_local: bool = False
    external_local: bool = False
    externally_accessible: bool = False
    health_check_node_port: int = 0
    cluster: tuple[EpRef, ...] | None = ()
    local: tuple[EpRef, ...] | None = None
    has_any: bool = False
    total_endpoints: int = 0

    @property
    def key(self) -> str:
        """``ns/name`` of the Service."""
        return f"{self.namespace}/{self.name}"

    @property
    def reachable(self) -> tuple[EpRef, ...]:
        """Union of the Cluster and Local sets, in kube-proxy's ``ip:port`` string order."""
        cluster, local = self.cluster or (), self.local or ()
        if not local:
            return cluster
        if not cluster:
            return local
        ids = set(map(id, cluster))
        if all(id(e) in ids for e in local):  # the usual case: local endpoints are cluster ones
            return cluster
        seen = {(e.ip, e.port): e for e in cluster}
        extra = [e for e in local if (e.ip, e.port) not in seen]
        if not extra:
            return cluster
        return tuple(sorted((*cluster, *extra), key=lambda e: f"{e.ip}:{e.port}"))


@dataclass(frozen=True)
class NodeContext:
    """The node whose kube-proxy is rendered."""

    name: str
    ip: str | None = None
    zone: str = ""


class LazyReasons:
    """Reason codes of a multi-line chunk, built only when someone reads them.

    The per-endpoint blocks (SEP chains, dispatch rules) hold most of a large node's lines;
    they are stored as one ``\\n``-joined string each, with this object as their single
    entry in the parallel reasons list, so a render neither formats 300,000 reason strings
    nor keeps 600,000 list slots for the garbage collector to walk.
    """

    __slots__ = ("_a", "_b", "_build")

    def __init__(
        self, build: Callable[[str, Any, Any], list[str]], a: object = None, b: object = None
    ) -> None:
        # A module-level function and two arguments rather than a closure: one object per
        # chunk instead of five for the garbage collector to walk after a render.
        self._build = build
        self._a = a
        self._b = b

    def expand(self, chunk: str) -> list[str]:
        """One reason code per line of ``chunk`` (the text this object stands beside)."""
        return self._build(chunk, self._a, self._b)


def _same_reason(chunk: str, reason: object, _: object) -> list[str]:
    return [str(reason)] * (chunk.count("\n") + 1)


CHAIN_REASONS = LazyReasons(_same_reason, "chain")
"""Reasons of a chunk of chain declarations: ``chain`` on every line."""


def expand(lines: list[str], reasons: Sequence[str | LazyReasons]) -> tuple[list[str], list[str]]:
    """``lines``/``reasons`` with every multi-line chunk split into its lines and reasons."""
    if all(type(r) is str for r in reasons):
        return lines, cast(list[str], reasons)  # callers pass lists; every item is a str
    out_l: list[str] = []
    out_r: list[str] = []
    for line, reason in zip(lines, reasons):
        if type(reason) is str:
            out_l.append(line)
            out_r.append(reason)
        else:
            out_l.extend(line.split("\n"))
            out_r.extend(cast(LazyReasons, reason).expand(line))  # not a str: a LazyReasons
    return out_l, out_r


@dataclass(frozen=True)
class Sections:
    """A RuleSet layout entry standing for the ``names`` sections of every one of
    ``services`` (service by service, each in ``names`` order): one entry instead of one
    (lines, reasons, service) tuple per Service and section."""

    services: Sequence[ServiceRules]
    names: tuple[str, ...]


@dataclass(frozen=True)
class RuleLine:
    """One line of rendered rules with the policy reason it exists for."""

    text: str
    service: str | None
    reason: str
    why: str


@dataclass
class ServiceRules:
    """The lines one Service contributes, in order, with parallel reason codes.

    ``sections`` maps a section name (e.g. ``filter``, ``nat-chains``, ``nat``) to its lines;
    ``reasons`` holds, for the same section, one reason code per line — or, for an element
    that is a multi-line chunk, one ``LazyReasons`` (see :func:`expand`).
    """

    service: str
    sections: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, list[str | LazyReasons]] = field(default_factory=dict)

    def section(self, name: str) -> tuple[list[str], list[str | LazyReasons]]:
        """(lines, reasons) lists of ``name``, for hot loops that append directly."""
        if name not in self.sections:
            self.sections[name] = []
            self.reasons[name] = []
        return self.sections[name], self.reasons[name]

    def add(self, section: str, line: str, reason: str) -> None:
        """Append ``line`` to ``section`` with its reason code."""
        self.sections.setdefault(section, []).append(line)
        self.reasons.setdefault(section, []).append(reason)

    def lines(self) -> list[str]:
        """All lines of this Service, section by section (the unit the diff compares)."""
        out: list[str] = []
        for section in sorted(self.sections, key=lambda name: _SECTION_ORDER[name]):
            out.extend(expand(self.sections[section], self.reasons[section])[0])
        return out

    def pairs(self) -> list[tuple[str, str]]:
        """(line, reason code) for every line."""
        out: list[tuple[str, str]] = []
        for section, lines in self.sections.items():
            out.extend(zip(*expand(lines, self.reasons[section])))
        return out


#: A rendered text's layout, in text order: (lines, their reasons, service key or None)
#: blocks and ``Sections`` entries (see ``RuleSet.rows``).
Layout = list[tuple[list[str], Sequence[str | LazyReasons], str | None] | Sections]
