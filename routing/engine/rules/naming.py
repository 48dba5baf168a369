"""Chain, set and hash names exactly as kube-proxy spells them.

iptables (pkg/proxy/iptables): ``KUBE-SVC-``/``KUBE-SVL-``/``KUBE-EXT-``/``KUBE-FW-`` share one
suffix, the first 16 characters of the standard base32 encoding of SHA-256 over
``servicePortName + protocol``; ``KUBE-SEP-`` hashes ``servicePortName + protocol + endpoint``.
``servicePortName`` is ``ns/name`` plus ``:port`` only when the port has a name; the protocol
is lower case and appended with no separator; the endpoint is ``ip:port`` (``[v6]:port``).

nftables (pkg/proxy/nftables): a readable base ``ns/name/proto/port`` (plus
``__ip/port`` for endpoints, ``:`` in IPv6 replaced by ``.``) prefixed with the first 8
base32 characters of its own SHA-256 and a dash, cut to 237 characters + ``...`` past 240.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, cast


class IpPort(Protocol):
    """An endpoint as the chain names see it (``EpRef`` or an engine ``Endpoint``)."""

    @property
    def ip(self) -> str: ...

    @property
    def port(self) -> int: ...


# nftables names may be 256 characters; kube-proxy reserves 16 for its prefixes.
_NFT_BASE_MAX = 256 - 16


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 standard base32
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def _b32(text: str, chars: int) -> str:
    """The first ``chars`` (8 or 16) characters of base32(SHA-256(text)).

    Every 5 digest bytes give exactly 8 base32 characters, so only the needed prefix is
    encoded, two characters per table lookup — ``base64.b32encode`` of the digest costs
    ~15 µs in CPython 3.11 and a 150,000-endpoint render needs one hash per endpoint.
    """
    nbytes = chars * 5 // 8
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:nbytes], "big")
    p = _PAIRS
    if chars == 16:
        return (
            p[value >> 70]
            + p[(value >> 60) & 1023]
            + p[(value >> 50) & 1023]
            + p[(value >> 40) & 1023]
            + p[(value >> 30) & 1023]
            + p[(value >> 20) & 1023]
            + p[(value >> 10) & 1023]
            + p[value & 1023]
        )
    return "".join(p[(value >> shift) & 1023] for shift in range(10 * (chars // 2 - 1), -1, -10))


def service_port_name(namespace: str, name: str, port_name: str) -> str:
    """kube-proxy's ``ServicePortName.String()``: ``ns/name`` or ``ns/name:port``."""
    if port_name:
        return f"{namespace}/{name}:{port_name}"
    return f"{namespace}/{name}"


def endpoint_string(ip: str, port: int) -> str:
    """``ip:port`` as Go's ``net.JoinHostPort`` writes it (IPv6 in brackets)."""
    if ":" in ip:
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"


@lru_cache(maxsize=65536)
def port_proto_hash(spn: str, protocol: str) -> str:
    """The 16-character suffix shared by a service port's SVC/SVL/EXT/FW chains."""
    return _b32(spn + protocol.lower(), 16)


def svc_chain(spn: str, protocol: str) -> str:
    """``KUBE-SVC-…``: dispatch to the Cluster endpoint set."""
    return "KUBE-SVC-" + port_proto_hash(spn, protocol)


def svl_chain(spn: str, protocol: str) -> str:
    """``KUBE-SVL-…``: dispatch to the node-local endpoint set."""
    return "KUBE-SVL-" + port_proto_hash(spn, protocol)


def ext_chain(spn: str, protocol: str) -> str:
    """``KUBE-EXT-…``: NodePort / LoadBalancer / externalIP traffic."""
    return "KUBE-EXT-" + port_proto_hash(spn, protocol)


def fw_chain(spn: str, protocol: str) -> str:
    """``KUBE-FW-…``: loadBalancerSourceRanges filtering."""
    return "KUBE-FW-" + port_proto_hash(spn, protocol)


@lru_cache(maxsize=262144)
def sep_chain(spn: str, protocol: str, endpoint: str) -> str:
    """``KUBE-SEP-…`` for one endpoint (``endpoint`` as :func:`endpoint_string`)."""
    return "KUBE-SEP-" + _b32(spn + protocol.lower() + endpoint, 16)


@lru_cache(maxsize=262144)
def endpoint_sep(spn: str, protocol: str, ip: str, port: int) -> tuple[str, str]:
    """(``ip:port`` endpoint string, ``KUBE-SEP-…`` chain) for one endpoint: the renderers'
    per-endpoint name lookup, one cached call instead of formatting then hashing."""
    endpoint = endpoint_string(ip, port)
    return endpoint, sep_chain(spn, protocol, endpoint)


@lru_cache(maxsize=65536)
def _port_names(spn: str, protocol: str) -> dict[tuple[str, int], tuple[str, str]]:
    return {}


def endpoint_seps(spn: str, protocol: str, eps: Sequence[IpPort]) -> list[tuple[str, str]]:
    """:func:`endpoint_sep` for each endpoint (``.ip``/``.port``) of one service port, through a
    per-port table keyed by (ip, port): a dict probe per endpoint instead of a 4-argument
    cache call."""
    table = _port_names(spn, protocol)
    if len(table) > 65536:  # endpoints churned through this port: start over
        table.clear()
    get = table.get
    out = [get((ep.ip, ep.port)) for ep in eps]
    if None in out:
        for i, ep in enumerate(eps):
            if out[i] is None:
                out[i] = table[(ep.ip, ep.port)] = endpoint_sep(spn, protocol, ep.ip, ep.port)
    return cast(list[tuple[str, str]], out)  # every None was filled in just above


@lru_cache(maxsize=65536)
def _port_bases(
    namespace: str, name: str, protocol: str, port_name: str
) -> dict[tuple[str, int], str]:
    return {}


def nft_endpoint_bases(
    namespace: str, name: str, protocol: str, port_name: str, eps: Sequence[IpPort]
) -> list[str]:
    """:func:`nft_endpoint_base` for each endpoint of one service port (per-port table)."""
    table = _port_bases(namespace, name, protocol, port_name)
    if len(table) > 65536:
        table.clear()
    get = table.get
    out = [get((ep.ip, ep.port)) for ep in eps]
    if None in out:
        for i, ep in enumerate(eps):
            if out[i] is None:
                out[i] = table[(ep.ip, ep.port)] = nft_endpoint_base(
                    namespace, name, protocol, port_name, ep.ip, ep.port
                )
    return cast(list[str], out)  # every None was filled in just above


def _nft_hash_and_truncate(name: str) -> str:
    base = _b32(name, 8) + "-" + name
    if len(base) > _NFT_BASE_MAX:
        base = base[: _NFT_BASE_MAX - 3] + "..."
    return base


@lru_cache(maxsize=65536)
def nft_service_base(namespace: str, name: str, protocol: str, port_name: str) -> str:
    """``HASH-ns/name/proto/port``, e.g. ``ULMVA6XW-ns1/svc1/tcp/p80``."""
    return _nft_hash_and_truncate(f"{namespace}/{name}/{protocol.lower()}/{port_name}")


@lru_cache(maxsize=262144)
def nft_endpoint_base(
    namespace: str, name: str, protocol: str, port_name: str, ip: str, port: int
) -> str:
    """``HASH-ns/name/proto/port__ip/port`` (IPv6 colons become dots)."""
    ip_part = ip.replace(":", ".")
    return _nft_hash_and_truncate(
        f"{namespace}/{name}/{protocol.lower()}/{port_name}__{ip_part}/{port}"
    )
