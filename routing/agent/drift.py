"""Compare the rules a node really has with the rules Routescope renders for it.

The kernel prints rules back in its own canonical form (``iptables-save`` reorders match
options and expands defaults; ``nft list ruleset`` nests everything in blocks), so both
sides are reduced to the same structural fingerprints before comparing. Only kube-proxy's
own objects are compared (KUBE-* chains; the ``kube-proxy`` nftables table's per-Service
chains and maps; IPVS virtual servers), so other software's rules never count as drift.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from routing.agent.node import _ipt_fingerprint, read_command
from routing.engine.rules.ipvs import parse_ipvsadm
from routing.engine.rules.render import RuleSet

_SHARED = {
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-PROXY-FIREWALL",
    "KUBE-FORWARD",
    "KUBE-FIREWALL",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
}


@dataclass
class Drift:
    """Differences between expected (rendered) and actual (kernel) rules."""

    mode: str
    missing: list[str] = field(default_factory=list)  # expected, not in the kernel
    extra: list[str] = field(default_factory=list)  # in the kernel, not expected

    @property
    def clean(self) -> bool:
        """No difference at all."""
        return not self.missing and not self.extra

    def to_json(self) -> dict:
        """Plain data for the API and task results."""
        return {
            "mode": self.mode,
            "clean": self.clean,
            "missing": self.missing,
            "extra": self.extra,
        }


def read_actual(mode: str, *, netns: str | None = None) -> str:
    """The node's current rules, read with a read-only command (in ``netns`` if given)."""
    cmd = read_command(mode, netns)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and mode == "nftables" and "No such file" in proc.stderr:
        return ""  # no kube-proxy table at all: everything expected is missing
    if proc.returncode != 0:
        err = proc.stderr.strip()
        raise RuntimeError(f"{' '.join(cmd)}: {err.splitlines()[0] if err else proc.returncode}")
    return proc.stdout


# -- iptables -----------------------------------------------------------------------------
#: Empty marker chains, not routing: kube-proxy's and kubelet's canaries (they watch for a
#: flush of the table) and kubelet's backend hint (what iptables-wrapper reads).
_MARKERS = {"KUBE-PROXY-CANARY", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"}


def _ipt_chains(text: str) -> dict[str, list[tuple]]:
    chains: dict[str, list[tuple]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":KUBE-") and line.split()[0][1:] in _MARKERS:
            continue
        elif line.startswith(":KUBE-"):
            chains.setdefault(f"{table}/{line.split()[0][1:]}", [])
        elif line.startswith("-A KUBE-"):
            tokens = shlex.split(line)
            chains.setdefault(f"{table}/{tokens[1]}", []).append(_ipt_fingerprint(tokens[2:]))
        elif line.startswith("-A ") and " -j KUBE-" in line:
            # kube-proxy's hooks from the built-in chains, compared as a set per chain:
            # without them the KUBE-* chains are never reached.
            tokens = shlex.split(line)
            chains.setdefault(f"{table}/{tokens[1]} (kube hooks)", []).append(
                _ipt_fingerprint(tokens[2:])
            )
    return chains


def _describe(chain: str, fp: tuple) -> str:
    return f"{chain}: " + " ".join(f"{k} {v}".strip() for k, v in fp)


def iptables_drift(expected: str, actual: str) -> Drift:
    """KUBE-* chains and their rules, and the hooks into them from the built-in chains:
    same set of chains; per-Service chains in the same order; shared chains (KUBE-SERVICES,
    …) and hooks as multisets, since kube-proxy's own order there is not fixed."""
    want, got = _ipt_chains(expected), _ipt_chains(actual)
    drift = Drift("iptables")
    for chain in sorted(set(want) | set(got)):
        a, b = want.get(chain), got.get(chain)
        if b is None:
            drift.missing.append(f"chain {chain}")
            continue
        if a is None:
            drift.extra.append(f"chain {chain}")
            continue
        if (
            chain.split("/", 1)[1] in _SHARED
            or chain.endswith("(kube hooks)")
            or Counter(a) != Counter(b)
        ):
            ca, cb = Counter(a), Counter(b)
            drift.missing += [_describe(chain, fp) for fp in (ca - cb).elements()]
            drift.extra += [_describe(chain, fp) for fp in (cb - ca).elements()]
        elif a != b:
            drift.extra.append(f"{chain}: same rules in a different order")
    return drift


# -- nftables -----------------------------------------------------------------------------
def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _nft_expected(text: str) -> tuple[dict[str, list[str]], set[str]]:
    chains: dict[str, list[str]] = {}
    elements: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if line.startswith("add chain") and "/" in words[4]:
            chains.setdefault(words[4], [])
        elif line.startswith("add rule") and "/" in words[4]:
            chains.setdefault(words[4], []).append(_squash(" ".join(words[5:])))
        elif line.startswith("add element"):
            inner = line[line.index("{") + 1 : line.rindex("}")]
            elements.add(f"{words[4]}:{_squash(inner)}")
    return chains, elements


def _nft_actual(text: str) -> tuple[dict[str, list[str]], set[str]]:
    chains: dict[str, list[str]] = {}
    elements: set[str] = set()
    for match in re.finditer(r"^\t(?:set|map) (\S+) \{(.*?)^\t\}", text, re.M | re.S):
        name, body = match.group(1), match.group(2)
        em = re.search(r"elements = \{(.*?)\}\s*$", body, re.S)
        if em:
            for item in em.group(1).split(","):
                if item.strip():
                    elements.add(f"{name}:{_squash(item)}")
    for match in re.finditer(r"^\tchain (\S+) \{(.*?)^\t\}", text, re.M | re.S):
        name = match.group(1)
        if "/" not in name:
            continue
        rules = [_squash(r) for r in match.group(2).strip().splitlines() if r.strip()]
        chains[name] = [r for r in rules if not r.startswith(("type", 'comment"'))]
    return chains, elements


def nftables_drift(expected: str, actual: str) -> Drift:
    """Per-Service chains (rules in order) and the elements of every kube-proxy set/map."""
    (want, want_el), (got, got_el) = _nft_expected(expected), _nft_actual(actual)
    drift = Drift("nftables")
    for chain in sorted(set(want) | set(got)):
        if chain not in got:
            drift.missing.append(f"chain {chain}")
        elif chain not in want:
            drift.extra.append(f"chain {chain}")
        elif want[chain] != got[chain]:
            drift.missing += [f"{chain}: {r}" for r in want[chain] if r not in got[chain]]
            drift.extra += [f"{chain}: {r}" for r in got[chain] if r not in want[chain]]
            if not (set(want[chain]) ^ set(got[chain])):
                drift.extra.append(f"{chain}: same rules in a different order")
    drift.missing += [f"element {e}" for e in sorted(want_el - got_el)]
    drift.extra += [f"element {e}" for e in sorted(got_el - want_el)]
    return drift


# -- IPVS ---------------------------------------------------------------------------------
def ipvs_drift(expected: str, actual: str) -> Drift:
    """Virtual servers (scheduler, persistence) and their real servers."""
    want, got = parse_ipvsadm(expected), parse_ipvsadm(actual)
    drift = Drift("ipvs")
    for key in sorted(set(want) | set(got)):
        vs = f"{key[0]} {key[1]}"
        if key not in got:
            drift.missing.append(f"virtual server {vs}")
        elif key not in want:
            drift.extra.append(f"virtual server {vs}")
        else:
            a, b = want[key], got[key]
            if (a["scheduler"], a["persistent"]) != (b["scheduler"], b["persistent"]):
                drift.extra.append(
                    f"virtual server {vs}: scheduler/persistence {b['scheduler']}/{b['persistent']}"
                )
            drift.missing += [f"{vs} -> {r}" for r in sorted(set(a["reals"]) - set(b["reals"]))]
            drift.extra += [f"{vs} -> {r}" for r in sorted(set(b["reals"]) - set(a["reals"]))]
    return drift


def rules_drift(expected: RuleSet, actual: str) -> Drift:
    """Drift between a rendered RuleSet and the text the node's kernel printed."""
    if expected.mode == "iptables":
        return iptables_drift(expected.text, actual)
    if expected.mode == "nftables":
        return nftables_drift(expected.text, actual)
    return ipvs_drift(expected.text, actual)
