"""The kernel's IPVS hash tables, checked against kernel test vectors and hand-worked examples.

Sources: lib/siphash.c and its KUnit vectors (lib/siphash_kunit.c, formerly
lib/test_siphash.c), include/linux/hash.h (hash_32), net/netfilter/ipvs/ip_vs_sh.c
(ip_vs_sh_reassign, ip_vs_sh_hashkey), ip_vs_dh.c (ip_vs_dh_reassign), ip_vs_mh.c
(ip_vs_mh_permutate, ip_vs_mh_populate), net/netfilter/ipvs/Kconfig (table sizes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from routing.engine.ipvs import hashing

# lib/siphash_kunit.c, 64-bit build: key bytes 00..0f, input bytes 00..len-1.
KUNIT_HSIPHASH_KEY = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
KUNIT_HSIPHASH_VECTORS = {
    0: 0x050FC4DC,
    1: 0x7D57CA93,
    2: 0x4DC7D44D,
    3: 0xE7DDF7FB,
    4: 0x88D38328,
    5: 0x49533B67,
    63: 0xB7BBB3A8,
}


@pytest.mark.parametrize("length", sorted(KUNIT_HSIPHASH_VECTORS), ids=lambda n: f"len{n}")
def test_hsiphash_matches_kernel_kunit_vectors(length):
    """hsiphash on 64-bit kernels is SipHash-1-3 truncated to 32 bits (lib/siphash.c HPOSTAMBLE)."""
    digest = (
        hashing.siphash(bytes(range(length)), KUNIT_HSIPHASH_KEY, c_rounds=1, d_rounds=3)
        & 0xFFFFFFFF
    )
    assert digest == KUNIT_HSIPHASH_VECTORS[length]


def test_siphash_2_4_matches_reference_vector():
    """SipHash-2-4 reference: key 00..0f, empty message -> 0x726fdb47dd0e0e31 (veorq/SipHash
    vectors.h)."""
    key = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
    assert hashing.siphash(b"", key) == 0x726FDB47DD0E0E31


def test_hsiphash_u32_is_the_four_byte_little_endian_case():
    """ip_vs_mh_hashkey hashes a u32 in memory order: on x86 that is input bytes 00 01 02 03 =
    0x03020100."""
    assert hashing.hsiphash_u32(0x03020100, KUNIT_HSIPHASH_KEY) == KUNIT_HSIPHASH_VECTORS[4]


@dataclass(frozen=True)
class BucketCase:
    name: str
    address: str
    bucket: int


# hash_32(v, 8) = ((v * 0x61C88647) mod 2^32) >> 24, worked by hand:
#   10.0.0.1 = 0x0A000001: 0x0A000001 * 0x61C88647 = 0x61C88647 + (0x0A * 0x61C88647 << 24);
#   0x0A * 0x61C88647 = 0x3D1D53EC6, whose low byte 0xC6 lands in the top byte:
#   0x61C88647 + 0xC6000000 = 0x127C88647 -> mod 2^32 0x27C88647 -> top byte 0x27 = 39.
#   0.0.0.1: 0x61C88647 >> 24 = 0x61 = 97.   0.0.0.0: 0.
#   0.0.0.2: 0xC3910C8E >> 24 = 0xC3 = 195.
BUCKET_CASES = (
    BucketCase("10.0.0.1 lands in bucket 39", "10.0.0.1", 39),
    BucketCase("0.0.0.1 lands in bucket 97", "0.0.0.1", 97),
    BucketCase("0.0.0.2 lands in bucket 195", "0.0.0.2", 195),
    BucketCase("0.0.0.0 lands in bucket 0", "0.0.0.0", 0),
    # IPv6 folds to the XOR of its four words: ::1 -> 1, like 0.0.0.1.
    BucketCase("::1 folds like 0.0.0.1", "::1", 97),
    # 2001:db8::1: 0x20010DB8 ^ 0 ^ 0 ^ 1 = 0x20010DB9 (the fold of 32.1.13.185), then hash_32 as
    # written in hash.h.
    BucketCase(
        "2001:db8::1 folds to 0x20010DB9", "2001:db8::1", ((0x20010DB9 * 0x61C88647) % 2**32) >> 24
    ),
    BucketCase(
        "32.1.13.185 shares that fold", "32.1.13.185", ((0x20010DB9 * 0x61C88647) % 2**32) >> 24
    ),
)


@pytest.mark.parametrize("case", BUCKET_CASES, ids=lambda c: c.name)
def test_sh_bucket_is_kernel_hash_32_of_source_address(case):
    """ip_vs_sh_hashkey(): hash_32(port + ntohl(addr), 8) with port 0 (kube-proxy sets no sh-port
    flag)."""
    assert hashing.sh_bucket(case.address) == case.bucket


def test_dh_bucket_uses_the_same_hash_on_the_destination():
    """ip_vs_dh_hashkey(): hash_32(ntohl(daddr), 8) — 10.0.0.1 as a VIP lands in bucket 39 too."""
    assert hashing.dh_bucket("10.0.0.1") == 39


@dataclass(frozen=True)
class TableCase:
    name: str
    weights: tuple[int, ...]
    buckets: dict[int, int]
    head: tuple[int, ...]


# ip_vs_sh_reassign(): walk the dest list, a dest of weight w fills w consecutive buckets
# (a weight-0 dest still fills one: the test is ++d_count >= weight). 256 buckets:
#   [1,1,1]: 0,1,2,0,1,2,... -> 86/85/85.     [2,1]: 0,0,1 x 85 + 0 -> 171/85.
#   [1,0,1]: 0,1,2,... -> 86/85/85 (bucket of dest 1 exists but is unavailable).
SH_TABLE_CASES = (
    TableCase(
        "three equal dests tile round robin", (1, 1, 1), {0: 86, 1: 85, 2: 85}, (0, 1, 2, 0, 1, 2)
    ),
    TableCase("weight 2 fills two buckets per turn", (2, 1), {0: 171, 1: 85}, (0, 0, 1, 0, 0, 1)),
    TableCase(
        "weight 0 still takes one bucket per turn",
        (1, 0, 1),
        {0: 86, 1: 85, 2: 85},
        (0, 1, 2, 0, 1, 2),
    ),
    TableCase("one dest takes every bucket", (1,), {0: 256}, (0, 0, 0)),
)


@pytest.mark.parametrize("case", SH_TABLE_CASES, ids=lambda c: c.name)
def test_sh_table_tiles_dest_list_by_weight(case):
    table = hashing.sh_table(case.weights)
    assert len(table) == 256
    assert dict(Counter(table)) == case.buckets
    assert tuple(table[: len(case.head)]) == case.head


def test_dh_table_ignores_weights_and_tiles_round_robin():
    """ip_vs_dh_reassign() advances one dest per bucket: 256 over 3 dests -> 86/85/85."""
    assert dict(Counter(hashing.dh_table(3))) == {0: 86, 1: 85, 2: 85}
    assert hashing.dh_table(3)[:4] == [0, 1, 2, 0]


def test_mh_default_table_size_is_4093():
    """Kconfig IP_VS_MH_TAB_INDEX defaults to 12 -> primes[12 - 8] = 4093 (251 is the minimum, index
    8)."""
    assert hashing.MH_DEFAULT_TABLE_SIZE == 4093


@dataclass(frozen=True)
class MaglevCase:
    name: str
    weights: tuple[int, ...]
    size: int
    slots: dict[int, int]


# ip_vs_mh_populate(): each round every dest places `turns` entries (weight/gcd, shifted),
# until the table is full. Equal weights over 251 slots and 3 dests: 84/84/83 (dest 0 and 1
# place in the 84th round before the table fills). Weights 2:1 over 251: rounds of 3
# place 2+1; 83 rounds fill 249, then dest 0 places the last 2 -> 168/83.
MAGLEV_CASES = (
    MaglevCase("equal weights split 251 slots 84/84/83", (1, 1, 1), 251, {0: 84, 1: 84, 2: 83}),
    MaglevCase("weights 2:1 split 251 slots 168/83", (2, 1), 251, {0: 168, 1: 83}),
    MaglevCase("weights 4:2 reduce by gcd to 2:1", (4, 2), 251, {0: 168, 1: 83}),
    MaglevCase("one dest takes all 4093 slots", (1,), 4093, {0: 4093}),
    MaglevCase("zero last_weight places nothing", (1, 0), 251, {0: 251}),
)


@pytest.mark.parametrize("case", MAGLEV_CASES, ids=lambda c: c.name)
def test_mh_table_slot_counts_follow_kernel_population(case):
    dests = [(f"10.1.0.{i + 1}", 8080) for i in range(len(case.weights))]
    table = hashing.mh_table(dests, case.weights, size=case.size)
    assert None not in table
    assert dict(Counter(table)) == case.slots


def test_mh_first_placement_is_each_dests_offset():
    """Populate starts with an empty table: dest 0's first entry sits at its offset hash % M."""
    dests = [("10.1.0.1", 8080), ("10.1.0.2", 8080)]
    table = hashing.mh_table(dests, (1, 1), size=251)
    offset0 = hashing.hsiphash_u32(8080 + 0x0A010001, hashing.MH_KEY1) % 251
    assert table[offset0] == 0


def test_mh_removing_a_dest_moves_few_clients():
    """Maglev's point (ip_vs_mh.c header): most slots keep their dest when one of 8 leaves."""
    dests = [(f"10.1.0.{i + 1}", 8080) for i in range(8)]
    before = hashing.mh_table(dests, [1] * 8)
    after = hashing.mh_table(dests[:7], [1] * 7)
    kept = sum(1 for b, a in zip(before, after) if b == a and b != 7)
    owned_by_others = sum(1 for b in before if b != 7)
    assert kept / owned_by_others > 0.85


def test_mh_slot_includes_source_port():
    """kube-proxy sets FlagSourceHash (IP_VS_SVC_F_SCHED2 = mh-port): one client, many ports, many
    slots."""
    slots = {hashing.mh_slot("10.244.1.7", port) for port in range(40000, 40050)}
    assert len(slots) > 40


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ("10.0.0.1", "is not ip:port"),
        ("nonsense:80", "is not an IP address"),
        ("10.0.0.1:70000", "outside 0..65535"),
    ],
    ids=["missing port", "not an address", "port too large"],
)
def test_split_endpoint_rejects_malformed_ids(endpoint, message):
    with pytest.raises(ValueError, match=message):
        hashing.split_endpoint(endpoint)


def test_split_endpoint_accepts_bracketed_ipv6():
    assert hashing.split_endpoint("[fd00::5]:8443") == ("fd00::5", 8443)
