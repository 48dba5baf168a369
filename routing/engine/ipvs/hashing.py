"""The Linux IPVS hashing schedulers' tables, rebuilt bit for bit.

Everything here mirrors what the kernel computes (net/netfilter/ipvs/ip_vs_sh.c,
ip_vs_dh.c, ip_vs_mh.c, include/linux/hash.h, lib/siphash.c) so that, for a given
destination list and a given client, we land on the same real server the kernel does.

Terms:
    dest list  -- the IPVS service's ``destinations`` list, head first. The kernel adds
                  each new real server at the head (``list_add_rcu``), and kube-proxy adds
                  them in Go map order, so on a real node the order is arbitrary; callers
                  pass the order they want modelled.
    fold       -- the 32-bit value the kernel hashes for an address: the IPv4 address in
                  host order, or the XOR of the four 32-bit words of an IPv6 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from math import gcd

from routing.engine.ipvs.model import MH_TABLE_SIZES

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# include/linux/hash.h since 4.7: hash_32(val, bits) = (val * GOLDEN_RATIO_32) >> (32 - bits)
GOLDEN_RATIO_32 = 0x61C88647

# Default table sizes: CONFIG_IP_VS_SH_TAB_BITS = 8 and CONFIG_IP_VS_DH_TAB_BITS = 8 give 256
# buckets; CONFIG_IP_VS_MH_TAB_INDEX = 12 selects primes[12 - 8] = 4093 Maglev slots.
SH_TAB_BITS = 8
DH_TAB_BITS = 8
MH_PRIMES = MH_TABLE_SIZES
MH_DEFAULT_TABLE_SIZE = MH_PRIMES[12 - 8]

# ip_vs_mh.c generate_hash_secret(): fixed (not random) hsiphash keys.
MH_KEY1 = (2654435761, 2654435761)
MH_KEY2 = (2654446892, 2654446892)


@lru_cache(maxsize=1 << 16)
def split_endpoint(endpoint: str) -> tuple[str, int]:
    """Split ``"10.1.0.5:8080"`` or ``"[fd00::5]:8080"`` into (ip, port); ValueError if malformed.

    Cached: the same endpoint ids come back for every node and scheduler asked about.
    """
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"endpoint {endpoint!r} is not ip:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    number = int(port)
    if number > 65535:
        raise ValueError(f"endpoint {endpoint!r} has port {number} outside 0..65535")
    address_fold(host)  # validates the address
    return host, number


def address_fold(ip: str) -> int:
    """The 32-bit value the kernel feeds its hash for an address (``addr_fold`` in ip_vs_*.c)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"{ip!r} is not an IP address") from None
    value = int(address)
    if address.version == 4:
        return value
    # XOR of the big-endian words, then ntohl: byte order commutes with XOR.
    return (value >> 96 ^ value >> 64 ^ value >> 32 ^ value) & MASK32


def hash_32(value: int, bits: int) -> int:
    """include/linux/hash.h ``hash_32``: Fibonacci hashing, top ``bits`` bits kept."""
    return ((value * GOLDEN_RATIO_32) & MASK32) >> (32 - bits)


def sh_bucket(client_ip: str, *, port: int = 0, bits: int = SH_TAB_BITS) -> int:
    """ip_vs_sh_hashkey(): bucket of a client; kube-proxy never sets the sh-port flag, so port=0."""
    return hash_32((port + address_fold(client_ip)) & MASK32, bits)


def dh_bucket(destination_ip: str, *, bits: int = DH_TAB_BITS) -> int:
    """ip_vs_dh_hashkey(): bucket of the packet's destination address (the VIP)."""
    return hash_32(address_fold(destination_ip), bits)


def sh_table(weights: Sequence[int], *, bits: int = SH_TAB_BITS) -> list[int | None]:
    """ip_vs_sh_reassign(): dest index per bucket, tiling the dest list by weight.

    A dest with weight w fills w consecutive buckets before the walk moves on; weight 0
    still fills one bucket (the ``++d_count >= weight`` test), where it is unavailable.
    """
    size = 1 << bits
    if not weights:
        return [None] * size
    table: list[int | None] = []
    index, filled = 0, 0
    for _ in range(size):
        table.append(index)
        filled += 1
        if filled >= weights[index]:
            index, filled = (index + 1) % len(weights), 0
    return table


def dh_table(count: int, *, bits: int = DH_TAB_BITS) -> list[int | None]:
    """ip_vs_dh_reassign(): bucket i holds dest i mod n (weights are not consulted)."""
    size = 1 << bits
    return [i % count if count else None for i in range(size)]


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & MASK64


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash(data: bytes, key: tuple[int, int], *, c_rounds: int = 2, d_rounds: int = 4) -> int:
    """SipHash-c-d over ``data`` with a key of two 64-bit words, 64-bit result.

    lib/siphash.c uses SipHash-2-4 for ``siphash`` and, on 64-bit kernels, SipHash-1-3 for
    ``hsiphash`` (truncated to 32 bits by the caller); see :func:`hsiphash_u32`.
    """
    k0, k1 = key
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    whole = len(data) - len(data) % 8
    for offset in range(0, whole, 8):
        m = int.from_bytes(data[offset : offset + 8], "little")
        v3 ^= m
        for _ in range(c_rounds):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= b
    for _ in range(c_rounds):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(d_rounds):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def hsiphash_u32(value: int, key: tuple[int, int]) -> int:
    """``hsiphash(&v, sizeof(u32), key)`` on a 64-bit little-endian kernel (x86_64, arm64)."""
    data = (value & MASK32).to_bytes(4, "little")
    return siphash(data, key, c_rounds=1, d_rounds=3) & MASK32


def mh_hashkey(ip: str, port: int, key: tuple[int, int], offset: int = 0) -> int:
    """ip_vs_mh_hashkey(): hsiphash of (offset + port + folded address) as a u32."""
    return hsiphash_u32((offset + port + address_fold(ip)) & MASK32, key)


def mh_table(
    dests: Sequence[tuple[str, int]], weights: Sequence[int], *, size: int = MH_DEFAULT_TABLE_SIZE
) -> list[int | None]:
    """ip_vs_mh_permutate() + ip_vs_mh_populate(): the Maglev lookup table (dest index per slot).

    ``weights`` are the dests' ``last_weight`` (latest non-zero weight), which is what the
    kernel tiles by; a dest whose current weight is 0 keeps its slots but is unavailable.
    """
    if size not in MH_PRIMES:
        raise ValueError(f"mh table size {size} is not one of the kernel's primes {MH_PRIMES}")
    table: list[int | None] = [None] * size
    positive = [w for w in weights if w > 0]
    if not dests or not positive:
        return table
    divisor = 0
    for w in positive:
        divisor = gcd(divisor, w)
    # IP_VS_MH_TAB_BITS is CONFIG_IP_VS_MH_TAB_INDEX / 2, and the index picks the prime.
    tab_bits = (MH_PRIMES.index(size) + 8) // 2
    shift = max((max(weights) // divisor).bit_length() - tab_bits, 0)
    offsets, skips, turns = [], [], []
    for (ip, port), weight in zip(dests, weights):
        offsets.append(mh_hashkey(ip, port, MH_KEY1) % size)
        skips.append(mh_hashkey(ip, port, MH_KEY2) % (size - 1) + 1)
        turns.append(((weight // divisor) >> shift) or int(weight != 0))
    perm = list(offsets)
    placed, streak = 0, 0
    while True:
        index = 0
        while index < len(dests):
            if turns[index] < 1:
                index += 1
                continue
            slot = perm[index]
            while table[slot] is not None:
                slot = (slot + skips[index]) % size
            perm[index] = slot
            table[slot] = index
            placed += 1
            if placed == size:
                return table
            streak += 1
            if streak >= turns[index]:
                streak = 0
                index += 1


def mh_slot(client_ip: str, client_port: int, *, size: int = MH_DEFAULT_TABLE_SIZE) -> int:
    """ip_vs_mh_get(): lookup slot of a client (kube-proxy sets the mh-port flag, so the
    port counts)."""
    return mh_hashkey(client_ip, client_port, MH_KEY1) % size
