"""scheduler_shares: exact (analytic) answers per IPVS scheduler, and bad input.

Sources: kube-proxy pkg/proxy/ipvs/proxier.go (syncEndpoint programs every real server
with Weight 1; graceful termination sets weight 0; FlagSourceHash only for "mh"; default
scheduler "rr"), the kernel schedulers net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sh,dh,mh,
lblc,lblcr}.c, and the project design notes (kube-proxy-semantics.md) §7.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.ipvs import REASONS, SCHEDULERS, SchedulerResult, Workload, scheduler_shares
from routing.engine.ipvs.hashing import sh_bucket

EPS3 = ("10.1.0.1:8080", "10.1.0.2:8080", "10.1.0.3:8080")
EPS4 = (*EPS3, "10.1.0.4:8080")


def _one_client_per_bucket() -> tuple[str, ...]:
    """Client addresses covering each of the 256 sh buckets exactly once (searched, then fixed)."""
    chosen: dict[int, str] = {}
    value = 1
    while len(chosen) < 256:
        ip = f"10.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
        chosen.setdefault(sh_bucket(ip), ip)
        value += 1
    return tuple(chosen.values())


ONE_CLIENT_PER_BUCKET = _one_client_per_bucket()


@dataclass(frozen=True)
class Case:
    name: str
    scheduler: str
    endpoints: tuple[str, ...]
    expected: dict[str, float]
    workload: Workload | None = None
    note: str = ""
    dropped: float = 0.0
    pinned: str | None = None


ANALYTIC_CASES = (
    # ip_vs_rr.c: each new connection takes the next dest with weight > 0.
    Case(
        "rr: kube-proxy weight 1 -> equal thirds",
        "rr",
        EPS3,
        {e: 1 / 3 for e in EPS3},
        note="IPVS_RR_UNIFORM",
    ),
    # ip_vs_wrr.c with all weights 1 (proxier.go newDest Weight: 1) is plain round robin.
    Case(
        "wrr with kube-proxy weights equals rr",
        "wrr",
        EPS3,
        {e: 1 / 3 for e in EPS3},
        note="IPVS_WEIGHTS_ALL_ONE",
    ),
    Case(
        "wrr with weights 3:1 splits 3/4 : 1/4",
        "wrr",
        EPS3[:2],
        {EPS3[0]: 0.75, EPS3[1]: 0.25},
        workload=Workload(weights={EPS3[0]: 3}),
        note="IPVS_WRR_BY_WEIGHT",
    ),
    # graceful_termination.go: a removed real server is first set to weight 0 (quiesced).
    Case(
        "rr skips a weight-0 (gracefully terminating) real server",
        "rr",
        EPS3,
        {EPS3[0]: 0.5, EPS3[1]: 0.0, EPS3[2]: 0.5},
        workload=Workload(weights={EPS3[1]: 0}),
        note="IPVS_WEIGHT_ZERO_QUIESCED",
    ),
    # ip_vs_lc.c / ip_vs_wlc.c: identical servers -> symmetric steady state.
    Case(
        "lc with identical endpoints is uniform",
        "lc",
        EPS4,
        {e: 0.25 for e in EPS4},
        note="IPVS_LEAST_CONN_UNIFORM_IDENTICAL",
    ),
    Case(
        "wlc with identical endpoints is uniform",
        "wlc",
        EPS4,
        {e: 0.25 for e in EPS4},
        note="IPVS_LC_COUNTS_INACTIVE",
    ),
    # ip_vs_sh.c: with no client population, each dest's share is its bucket count / 256.
    Case(
        "sh without clients: bucket shares 86/85/85 of 256",
        "sh",
        EPS3,
        {EPS3[0]: 86 / 256, EPS3[1]: 85 / 256, EPS3[2]: 85 / 256},
        note="IPVS_SH_BUCKET_SHARE",
    ),
    # One client IP hashes to bucket 39 (see test_ipvs_hashing); 39 mod 3 = 0 -> first dest.
    Case(
        "sh: a single client pins to one backend",
        "sh",
        EPS3,
        {EPS3[0]: 1.0, EPS3[1]: 0.0, EPS3[2]: 0.0},
        workload=Workload(client_ips=("10.0.0.1",)),
        note="IPVS_SH_HASH_BY_CLIENT",
    ),
    # Bucket 39 with 4 dests: 39 mod 4 = 3 -> fourth dest. Bucket 97 (0.0.0.1): 97 mod 4 = 1.
    Case(
        "sh: two clients, two buckets, two backends",
        "sh",
        EPS4,
        {EPS4[0]: 0.0, EPS4[1]: 0.5, EPS4[2]: 0.0, EPS4[3]: 0.5},
        workload=Workload(client_ips=("10.0.0.1", "0.0.0.1")),
        note="IPVS_SH_FEW_CLIENTS_SKEW",
    ),
    # Weight 0 keeps one sh bucket per turn (ip_vs_sh_reassign) and sh has no fallback
    # unless the sh-fallback flag is set, which kube-proxy never does: those clients fail.
    Case(
        "sh: buckets of a weight-0 server drop their clients",
        "sh",
        EPS3,
        {EPS3[0]: 86 / 171, EPS3[1]: 0.0, EPS3[2]: 85 / 171},
        workload=Workload(weights={EPS3[1]: 0}, client_ips=ONE_CLIENT_PER_BUCKET),
        note="IPVS_HASHED_DEST_UNAVAILABLE",
        dropped=85 / 256,
    ),
    # ip_vs_dh.c: VIP 10.0.0.1 -> bucket 39 -> 39 mod 3 = dest 0; every connection goes there.
    Case(
        "dh pins the ClusterIP to one backend",
        "dh",
        EPS3,
        {EPS3[0]: 1.0, EPS3[1]: 0.0, EPS3[2]: 0.0},
        workload=Workload(destination_vip="10.0.0.1"),
        note="IPVS_DH_PINS_ONE_BACKEND",
        pinned=EPS3[0],
    ),
    Case(
        "dh without a VIP: each backend's chance of being the pinned one",
        "dh",
        EPS3,
        {EPS3[0]: 86 / 256, EPS3[1]: 85 / 256, EPS3[2]: 85 / 256},
        note="IPVS_DH_VIP_UNKNOWN",
    ),
    Case(
        "dh: pinned backend quiesced -> every connection fails",
        "dh",
        EPS3,
        {e: 0.0 for e in EPS3},
        workload=Workload(destination_vip="10.0.0.1", weights={EPS3[0]: 0}),
        note="IPVS_HASHED_DEST_UNAVAILABLE",
        dropped=1.0,
        pinned=EPS3[0],  # the VIP still hashes to it; it just cannot accept
    ),
    # ip_vs_lblc.c at light load: the first connection finds all idle and picks the first.
    Case(
        "lblc without workload: the VIP stays on the first backend",
        "lblc",
        EPS3,
        {EPS3[0]: 1.0, EPS3[1]: 0.0, EPS3[2]: 0.0},
        note="IPVS_LBLC_PINS_VIP",
        pinned=EPS3[0],
    ),
    Case(
        "lblcr without workload skips a weight-0 first backend",
        "lblcr",
        EPS3,
        {EPS3[0]: 0.0, EPS3[1]: 1.0, EPS3[2]: 0.0},
        workload=Workload(weights={EPS3[0]: 0}, simulate=False),
        note="IPVS_LBLC_PINS_VIP",
        pinned=EPS3[1],
    ),
    # ip_vs_mh.c, table size 4093, equal weights: 4093 = 3 * 1364 + 1 -> 1365/1364/1364.
    Case(
        "mh: each backend's share of the 4093-slot Maglev table",
        "mh",
        EPS3,
        {EPS3[0]: 1365 / 4093, EPS3[1]: 1364 / 4093, EPS3[2]: 1364 / 4093},
        note="IPVS_MH_SLOT_SHARE",
    ),
    Case(
        "a single endpoint takes everything",
        "mh",
        EPS3[:1],
        {EPS3[0]: 1.0},
        note="IPVS_MH_HASH_BY_CLIENT_IP_AND_PORT",
    ),
)


@pytest.mark.parametrize("case", ANALYTIC_CASES, ids=lambda c: c.name)
def test_analytic_shares(case):
    result = scheduler_shares(
        endpoints=case.endpoints, scheduler=case.scheduler, workload=case.workload
    )
    assert result.method == "analytic"
    assert result.shares == pytest.approx(case.expected)
    assert case.note in result.notes
    assert result.dropped == pytest.approx(case.dropped)
    assert result.pinned == case.pinned
    assert result.latency_ms is None


def test_shares_cover_every_endpoint_and_sum_to_one():
    for scheduler in SCHEDULERS:
        result = scheduler_shares(
            endpoints=EPS4, scheduler=scheduler, workload=Workload(requests=2000)
        )
        assert set(result.shares) == set(EPS4), scheduler
        assert sum(result.shares.values()) == pytest.approx(1.0), scheduler
        assert all(code in REASONS for code in result.notes), scheduler


def test_every_note_has_an_explanation_line():
    result = scheduler_shares(
        endpoints=EPS3, scheduler="dh", workload=Workload(destination_vip="10.96.0.10")
    )
    assert result.explanations[-1].startswith("IPVS_DH_PINS_ONE_BACKEND: ")
    assert result.to_json()["pinned"] == result.pinned


def test_no_endpoints_drops_everything():
    result = scheduler_shares(endpoints=(), scheduler="rr")
    assert result.shares == {} and result.dropped == 1.0
    assert "IPVS_NO_AVAILABLE_DEST" in result.notes


def test_all_weights_zero_drops_everything():
    result = scheduler_shares(
        endpoints=EPS3, scheduler="lc", workload=Workload(weights={e: 0 for e in EPS3})
    )
    assert result.dropped == 1.0 and set(result.shares.values()) == {0.0}


def test_mh_with_explicit_client_ports_maps_each_connection():
    """With the mh-port flag one client IP reaches several backends — unlike sh, which pins it."""
    ips = ("10.244.3.9",) * 40
    ports = tuple(range(41000, 41040))
    mh = scheduler_shares(
        endpoints=EPS4, scheduler="mh", workload=Workload(client_ips=ips, client_ports=ports)
    )
    sh = scheduler_shares(endpoints=EPS4, scheduler="sh", workload=Workload(client_ips=ips[:1]))
    assert sum(1 for s in mh.shares.values() if s > 0) >= 3
    assert sorted(sh.shares.values()) == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"endpoints": EPS3, "scheduler": "roundrobin"},
            "unknown IPVS scheduler 'roundrobin'; expected one of rr, wrr",
        ),
        ({"endpoints": EPS3, "scheduler": "RR"}, "unknown IPVS scheduler 'RR'"),
        ({"endpoints": ("10.1.0.1",), "scheduler": "rr"}, "is not ip:port"),
        ({"endpoints": (EPS3[0], EPS3[0]), "scheduler": "rr"}, "duplicate endpoint"),
    ],
    ids=["unknown name", "names are lower case", "endpoint without port", "duplicate endpoint"],
)
def test_bad_input_raises_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        scheduler_shares(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arrival_rate": 0}, "arrival_rate must be > 0"),
        ({"protocol": "ICMP"}, "protocol must be TCP, UDP or SCTP"),
        ({"service_time_ms": {EPS3[0]: -1.0}}, "service times must be > 0"),
        ({"client_ips": ("10.0.0.1",), "client_ports": (1, 2)}, "pair one-to-one"),
    ],
    ids=["zero rate", "bad protocol", "negative service time", "ports without ips"],
)
def test_bad_workload_raises_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Workload(**kwargs)


def test_result_is_a_frozen_dataclass():
    result = scheduler_shares(endpoints=EPS3, scheduler="rr")
    assert isinstance(result, SchedulerResult)
    with pytest.raises(AttributeError):
        result.method = "simulated"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"destination_vip": "cluster-ip"}, "destination_vip 'cluster-ip' is not an IP address"),
        ({"client_ips": ("10.0.0.1", "10.0.0.999")}, "client_ips entry '10.0.0.999'"),
        ({"mh_table_size": 4096}, "mh_table_size must be one of the kernel's primes"),
        (
            {"client_ips": ("10.0.0.1",), "client_ports": (70000,)},
            "client_ports must be within 0..65535",
        ),
    ],
    ids=["vip not an address", "bad client ip", "mh size not a kernel prime", "port out of range"],
)
def test_bad_workload_addresses_are_rejected_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Workload(**kwargs)


def test_ipv6_endpoints_and_clients_hash_like_the_kernel():
    """IPv6 addresses fold to the XOR of their four 32-bit words (ip_vs_sh_hashkey,
    ip_vs_mh_hashkey)."""
    eps = ("[fd00::1]:8080", "[fd00::2]:8080", "[fd00::3]:8080")
    # Client ::1 folds to 1, like 0.0.0.1 -> bucket 97 -> 97 mod 3 = 1 -> second endpoint.
    sh = scheduler_shares(endpoints=eps, scheduler="sh", workload=Workload(client_ips=("::1",)))
    assert sh.shares == {eps[0]: 0.0, eps[1]: 1.0, eps[2]: 0.0}
    mh = scheduler_shares(endpoints=eps, scheduler="mh")
    assert sum(mh.shares.values()) == pytest.approx(1.0) and min(mh.shares.values()) > 0.3
