"""Compare rule dumps up to the ordering kube-proxy itself does not fix.

Upstream writes service ports in Go map order, so the order of rules *across* services in
the shared chains (KUBE-SERVICES, KUBE-NODEPORTS, …) and the order of chain/set/element
declarations are not part of the contract; the order of rules inside one chain is, and so
is "the NodePorts jump is the last rule of nat KUBE-SERVICES".
"""

from __future__ import annotations

SHARED_IPTABLES_CHAINS = {
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-PROXY-FIREWALL",
    "KUBE-FORWARD",
    "KUBE-FIREWALL",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
}


def iptables_view(text: str) -> dict:
    """{table: {"chains": set, "rules": {chain: list|sorted list}, "last": {chain: rule}}}."""
    tables: dict = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": set(), "rules": {}, "last": {}})
        elif line.startswith(":"):
            assert current is not None, "chain before its *table line"
            current["chains"].add(line.split()[0][1:])
        elif line.startswith("-A "):
            assert current is not None, "rule before its *table line"
            chain = line.split()[1]
            current["rules"].setdefault(chain, []).append(line)
            current["last"][chain] = line
    for table in tables.values():
        for chain, rules in table["rules"].items():
            if chain in SHARED_IPTABLES_CHAINS:
                table["rules"][chain] = sorted(rules)
    return tables


def nft_view(text: str) -> dict:
    """{"decls": set of non-rule lines, "rules": {chain: [rules in order]}}."""
    decls: set[str] = set()
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("add rule "):
            rules.setdefault(line.split()[4], []).append(line)
        else:
            decls.add(line)
    return {"decls": decls, "rules": rules}
