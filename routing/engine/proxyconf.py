"""Read the few keys the engine needs from kube-proxy's ``config.conf``.

The engine may not import a YAML library, and KubeProxyConfiguration as written by
kubeadm, kind and the managed offerings is plain block YAML (or JSON), so a small reader
for ``key: value`` mappings nested by indentation is enough.
"""

from __future__ import annotations

import json
from typing import Any

_GATE_NAMES = {
    "TopologyAwareHints": "topology_aware_hints",
    "ServiceTrafficDistribution": "service_traffic_distribution",
    "PreferSameTrafficDistribution": "prefer_same_traffic_distribution",
    "ProxyTerminatingEndpoints": "proxy_terminating_endpoints",
    "ServiceInternalTrafficPolicy": "service_internal_traffic_policy",
}


def _scalar(text: str) -> object:
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~", ""):
        return None
    return text


def _block_yaml(text: str) -> dict[str, Any]:
    """Nested ``key: value`` mappings; list items and flow values are kept as raw text."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-", "---")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack and indent <= stack[-1][0]:
            stack.pop()
        key, _, value = stripped.partition(":")
        parent = stack[-1][1]
        if value.strip() == "":
            child: dict[str, Any] = {}
            parent[key.strip().strip("\"'")] = child
            stack.append((indent, child))
        else:
            parent[key.strip().strip("\"'")] = _scalar(value)
    return root


def parse_proxy_config(text: str, *, max_number: int = 32) -> dict[str, Any]:
    """``config.conf`` -> {mode, ipvs_scheduler, clusterCIDR, detectLocalMode, masqueradeAll,
    bridgeInterface / interfaceNamePrefix (``detectLocal``),
    featureGates (engine gate names -> bool)}; keys absent from the file are left out.

    Bounded for hostile text: the block reader is linear and knows no aliases; JSON that
    nests past the interpreter's recursion limit, or holds a number longer than
    ``max_number`` characters, is read as block YAML instead (which finds no settings in
    it) rather than raising.
    """

    def bounded_int(digits: str) -> int:
        if len(digits) > max_number:
            raise ValueError("number too long")
        return int(digits)

    try:
        data = json.loads(text, parse_int=bounded_int)
    except (ValueError, RecursionError):
        data = _block_yaml(text)
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("mode", "clusterCIDR", "detectLocalMode", "masqueradeAll"):
        if data.get(key) not in (None, ""):
            out[key] = data[key]
    local = data.get("detectLocal")
    if isinstance(local, dict):
        for key in ("bridgeInterface", "interfaceNamePrefix"):
            if local.get(key) not in (None, ""):
                out[key] = str(local[key])
    ipvs = data.get("ipvs")
    if isinstance(ipvs, dict) and ipvs.get("scheduler"):
        out["ipvs_scheduler"] = ipvs["scheduler"]
    gates = data.get("featureGates")
    if isinstance(gates, dict):
        out["featureGates"] = {
            _GATE_NAMES[k]: bool(v) for k, v in gates.items() if k in _GATE_NAMES
        }
    return out
