"""The seeded request-level simulation: reproducible, kernel rules, and agreement with the analytic
answers.

Kernel rules under test: ip_vs_lc.c (fewest activeconns*256 + inactconns, first wins ties),
ip_vs_sed.c ((active+1)/weight), ip_vs_nq.c (first idle server, else sed), ip_vs_lblc.c /
ip_vs_lblcr.c (is_overloaded: active > weight while some server has active*2 < weight),
ip_vs_ctl.c __ip_vs_update_dest (new connections start IP_VS_CONN_F_INACTIVE; only the TCP
and SCTP state machines make them active), ip_vs_proto_tcp.c (closed connections linger
2 min as inactive). Tolerances: 10k requests over 4-8 servers keep sampling noise of a
share under ~0.01, so 0.02-0.03 is stated per case.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.ipvs import Workload, scheduler_shares, simulate

EPS4 = tuple(f"10.1.0.{i}:8080" for i in range(1, 5))
EPS8 = tuple(f"10.1.0.{i}:8080" for i in range(1, 9))


def test_same_seed_same_answer_bit_for_bit():
    workload = Workload(service_time_ms={EPS4[0]: 40.0}, arrival_rate=500, requests=4000)
    first = simulate.run(endpoints=EPS4, scheduler="lc", workload=workload, seed=7)
    second = simulate.run(endpoints=EPS4, scheduler="lc", workload=workload, seed=7)
    assert first == second


def test_different_seed_different_sample():
    workload = Workload(service_time_ms={EPS4[0]: 40.0}, arrival_rate=500, requests=4000)
    first = simulate.run(endpoints=EPS4, scheduler="lc", workload=workload, seed=7)
    other = simulate.run(endpoints=EPS4, scheduler="lc", workload=workload, seed=8)
    assert first.latency_ms != other.latency_ms


@dataclass(frozen=True)
class AgreementCase:
    name: str
    scheduler: str
    endpoints: tuple[str, ...]
    workload: Workload
    tolerance: float


# Where both answers exist, the simulation must land on the analytic one.
AGREEMENT_CASES = (
    AgreementCase(
        "rr: simulated turns are exactly uniform", "rr", EPS8, Workload(simulate=True), 0.0
    ),
    AgreementCase(
        "wrr 3:1: simulated interleave is exactly 3/4 : 1/4",
        "wrr",
        EPS4[:2],
        Workload(weights={EPS4[0]: 3}, simulate=True),
        0.0,
    ),
    AgreementCase("lc identical endpoints ~ uniform", "lc", EPS8, Workload(simulate=True), 0.02),
    AgreementCase(
        "wlc identical endpoints at high load ~ uniform",
        "wlc",
        EPS4,
        Workload(simulate=True, arrival_rate=1200),
        0.02,
    ),
    AgreementCase(
        "dh: simulated connections all go to the pinned backend",
        "dh",
        EPS4,
        Workload(destination_vip="10.96.0.10", simulate=True),
        0.0,
    ),
    AgreementCase(
        "sh: simulated clients follow the hash buckets",
        "sh",
        EPS4,
        Workload(clients=64, simulate=True),
        0.03,
    ),
    AgreementCase(
        "mh: random source ports follow the Maglev slot shares",
        "mh",
        EPS4,
        Workload(simulate=True),
        0.02,
    ),
)


@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=lambda c: c.name)
def test_simulation_agrees_with_analytic(case):
    simulated = scheduler_shares(
        endpoints=case.endpoints, scheduler=case.scheduler, workload=case.workload
    )
    analytic_workload = Workload(**{**case.workload.__dict__, "simulate": False})
    analytic = scheduler_shares(
        endpoints=case.endpoints, scheduler=case.scheduler, workload=analytic_workload
    )
    assert simulated.method == "simulated" and analytic.method == "analytic"
    for endpoint in case.endpoints:
        assert simulated.shares[endpoint] == pytest.approx(
            analytic.shares[endpoint], abs=case.tolerance + 1e-12
        )


@dataclass(frozen=True)
class BehaviourCase:
    name: str
    scheduler: str
    endpoints: tuple[str, ...]
    workload: Workload
    first_share_at_least: float | None = None
    first_share_at_most: float | None = None
    note: str | None = None


BEHAVIOUR_CASES = (
    # ip_vs_nq.c returns the first idle server in list order: at 1 conn/s nobody overlaps.
    BehaviourCase(
        "nq at light load piles onto the first server",
        "nq",
        EPS4,
        Workload(arrival_rate=1.0, requests=2000),
        0.95,
        None,
        "IPVS_SED_NQ_FIRST_DEST_WHEN_IDLE",
    ),
    BehaviourCase(
        "sed at light load piles onto the first server",
        "sed",
        EPS4,
        Workload(arrival_rate=1.0, requests=2000),
        0.95,
        None,
        "IPVS_SED_EQUALS_NQ_EQUAL_WEIGHTS",
    ),
    BehaviourCase(
        "sed at saturation spreads evenly", "sed", EPS4, Workload(arrival_rate=1500), None, 0.28
    ),
    # UDP flows are never active, so sed/nq see (0+1)/1 everywhere and the first server wins.
    BehaviourCase(
        "sed over UDP sends every flow to the first server",
        "sed",
        EPS4,
        Workload(protocol="UDP", requests=3000),
        1.0,
        None,
        "IPVS_UDP_ALL_INACTIVE",
    ),
    # Without lingering inactive connections, lc's idle ties also go to the first server.
    BehaviourCase(
        "lc without inactive linger piles onto the first server",
        "lc",
        EPS4,
        Workload(arrival_rate=5.0, inactive_timeout_s=0.0, requests=2000),
        0.9,
        None,
        "IPVS_LOAD_DEPENDENT_SIMULATED",
    ),
    BehaviourCase(
        "lc over UDP balances by inactive flow counts",
        "lc",
        EPS4,
        Workload(protocol="UDP", requests=3000),
        None,
        0.27,
        "IPVS_UDP_ALL_INACTIVE",
    ),
    # ip_vs_lblc.c: the cached backend stays while it has <= 1 active connection.
    BehaviourCase(
        "lblc at light load keeps the VIP on one backend",
        "lblc",
        EPS4,
        Workload(arrival_rate=1.0, requests=1000),
        1.0,
        None,
        "IPVS_LBLC_PINS_VIP",
    ),
    BehaviourCase(
        "lblc under load moves the VIP to idle backends",
        "lblc",
        EPS4,
        Workload(arrival_rate=800),
        None,
        0.35,
        "IPVS_LBLC_REBALANCES_UNDER_LOAD",
    ),
    BehaviourCase(
        "lblcr under load grows the VIP's server set",
        "lblcr",
        EPS4,
        Workload(arrival_rate=800),
        None,
        0.35,
        "IPVS_LBLCR_SET_GROWS",
    ),
)


@pytest.mark.parametrize("case", BEHAVIOUR_CASES, ids=lambda c: c.name)
def test_load_dependent_behaviour(case):
    result = scheduler_shares(
        endpoints=case.endpoints, scheduler=case.scheduler, workload=case.workload
    )
    assert result.method == "simulated"
    first = result.shares[case.endpoints[0]]
    if case.first_share_at_least is not None:
        assert first >= case.first_share_at_least
    if case.first_share_at_most is not None:
        assert first <= case.first_share_at_most
    if case.note:
        assert case.note in result.notes


def test_lblc_light_load_reports_the_pinned_backend():
    result = scheduler_shares(
        endpoints=EPS4, scheduler="lblc", workload=Workload(arrival_rate=1.0, requests=500)
    )
    assert result.pinned == EPS4[0]


def test_nq_and_sed_differ_once_weights_differ():
    """Weights [1, 4], light load: nq takes the idle first server, sed the lower (0+1)/weight."""
    workload = Workload(weights={EPS4[1]: 4}, arrival_rate=1.0, requests=500)
    nq = scheduler_shares(endpoints=EPS4[:2], scheduler="nq", workload=workload)
    sed = scheduler_shares(endpoints=EPS4[:2], scheduler="sed", workload=workload)
    assert nq.shares[EPS4[0]] > 0.95
    assert sed.shares[EPS4[1]] == 1.0


def test_lc_routes_around_a_slow_endpoint_where_rr_cannot():
    """One server 8x slower: lc gives it less than 1/4; rr keeps 1/4 and its queue explodes."""
    workload = Workload(service_time_ms={EPS4[0]: 80.0}, arrival_rate=600, requests=5000)
    lc = scheduler_shares(endpoints=EPS4, scheduler="lc", workload=workload)
    rr = scheduler_shares(
        endpoints=EPS4, scheduler="rr", workload=Workload(**{**workload.__dict__, "simulate": True})
    )
    assert "IPVS_LOAD_DEPENDENT_SIMULATED" in lc.notes
    assert lc.shares[EPS4[0]] < 0.15
    assert rr.shares[EPS4[0]] == 0.25
    assert lc.latency_ms["p99"] < rr.latency_ms["p99"] / 10


def test_active_connections_obey_littles_law():
    """Mean active connections summed over servers = arrival rate x mean time in system."""
    workload = Workload(arrival_rate=300, simulate=True)
    result = scheduler_shares(endpoints=EPS4, scheduler="lc", workload=workload)
    in_system = workload.arrival_rate * result.latency_ms["mean"] / 1000.0
    assert sum(result.active_connections.values()) == pytest.approx(in_system, rel=0.05)


def test_keep_alive_lifetime_adds_active_connections():
    short = scheduler_shares(
        endpoints=EPS4,
        scheduler="wlc",
        workload=Workload(arrival_rate=100, simulate=True, requests=3000),
    )
    long = scheduler_shares(
        endpoints=EPS4,
        scheduler="wlc",
        workload=Workload(
            arrival_rate=100, simulate=True, requests=3000, connection_lifetime_s=2.0
        ),
    )
    assert sum(long.active_connections.values()) > sum(short.active_connections.values()) + 100


def test_weight_zero_server_gets_no_simulated_connections():
    result = scheduler_shares(
        endpoints=EPS4,
        scheduler="lc",
        workload=Workload(weights={EPS4[0]: 0}, simulate=True, requests=2000),
    )
    assert result.shares[EPS4[0]] == 0.0
    assert result.dropped == 0.0


def test_sh_simulation_drops_clients_of_a_quiesced_bucket_owner():
    result = scheduler_shares(
        endpoints=EPS4,
        scheduler="sh",
        workload=Workload(weights={EPS4[1]: 0}, clients=200, simulate=True, requests=4000),
    )
    assert result.shares[EPS4[1]] == 0.0
    assert 0.1 < result.dropped < 0.4
    assert "IPVS_HASHED_DEST_UNAVAILABLE" in result.notes


# Session affinity (ClientIP) in IPVS mode: proxier.go sets FlagPersistent with
# Timeout = sessionAffinityConfig.clientIP.timeoutSeconds; ip_vs_core.c ip_vs_sched_persist()
# schedules once per client template and re-arms it on every use.
def test_persistent_rr_assigns_clients_in_turn():
    """10 clients, 4 servers: client k takes turn k mod 4 -> 3, 3, 2, 2 clients (hand count)."""
    result = scheduler_shares(
        endpoints=EPS4, scheduler="rr", workload=Workload(clients=10, persistence_timeout_s=10800)
    )
    assert result.method == "analytic"
    assert list(result.shares.values()) == pytest.approx([0.3, 0.3, 0.2, 0.2])
    assert "IPVS_PERSISTENCE_PER_CLIENT" in result.notes


def test_persistent_rr_simulation_matches_the_client_turns():
    workload = Workload(clients=10, persistence_timeout_s=10800, requests=6000)
    simulated = scheduler_shares(
        endpoints=EPS4, scheduler="rr", workload=Workload(**{**workload.__dict__, "simulate": True})
    )
    assert list(simulated.shares.values()) == pytest.approx([0.3, 0.3, 0.2, 0.2], abs=0.03)


def test_expired_templates_fall_back_to_per_connection_turns():
    """A timeout far shorter than a client's return interval (0.2 s) rarely reuses a template.

    Only a client returning while its previous connection is still open (~10 ms) reuses it:
    templates outlive the connections they control.
    """
    workload = Workload(
        clients=10, persistence_timeout_s=0.001, requests=4000, arrival_rate=50, simulate=True
    )
    result = scheduler_shares(endpoints=EPS4, scheduler="rr", workload=workload)
    assert list(result.shares.values()) == pytest.approx([0.25] * 4, abs=0.01)


def test_quiesced_server_loses_its_persistent_clients():
    """kube-proxy sets net/ipv4/vs/expire_quiescent_template=1: weight 0 invalidates templates."""
    workload = Workload(
        clients=10, persistence_timeout_s=10800, weights={EPS4[0]: 0}, requests=3000
    )
    result = scheduler_shares(endpoints=EPS4, scheduler="lc", workload=workload)
    assert result.method == "simulated"
    assert result.shares[EPS4[0]] == 0.0
    assert "IPVS_PERSISTENCE_QUIESCED_TEMPLATE_EXPIRES" in result.notes


def test_wlc_with_unequal_weights_tracks_weight_at_light_load():
    """ip_vs_wlc.c levels overhead/weight; at light load overhead is the lingering inactive count ->
    3:1."""
    workload = Workload(weights={EPS4[0]: 3}, arrival_rate=50, requests=6000)
    simulated = scheduler_shares(endpoints=EPS4[:2], scheduler="wlc", workload=workload)
    analytic = scheduler_shares(
        endpoints=EPS4[:2],
        scheduler="wlc",
        workload=Workload(**{**workload.__dict__, "simulate": False}),
    )
    assert simulated.method == "simulated" and "IPVS_WLC_BY_WEIGHT" in analytic.notes
    assert analytic.shares[EPS4[0]] == pytest.approx(0.75)
    assert simulated.shares[EPS4[0]] == pytest.approx(0.75, abs=0.03)


def test_wlc_weight_cannot_buy_capacity_under_load():
    """Same capacity, weight 3:1, near saturation: active*256 dominates and the queue pushes
    back."""
    result = scheduler_shares(
        endpoints=EPS4[:2],
        scheduler="wlc",
        workload=Workload(weights={EPS4[0]: 3}, arrival_rate=1500, requests=6000),
    )
    assert 0.5 < result.shares[EPS4[0]] < 0.7


def test_lblc_over_udp_never_lets_go_of_the_vip():
    """is_overloaded() reads activeconns, which UDP flows never raise: one backend takes it all,
    queue and all."""
    result = scheduler_shares(
        endpoints=EPS4,
        scheduler="lblc",
        workload=Workload(protocol="UDP", arrival_rate=1500, requests=4000),
    )
    assert result.shares[EPS4[0]] == 1.0 and result.pinned == EPS4[0]
    assert result.latency_ms["p50"] > 1000  # 1500/s into one server that can do 400/s


def test_handshake_window_lets_nq_double_up_on_a_server_that_looks_idle():
    """New connections count as inactive until ESTABLISHED (__ip_vs_update_dest sets
    IP_VS_CONN_F_INACTIVE).

    nq keys on activeconns only, so a SYN arriving within the handshake of another still sees
    that server idle and queues behind it: mean latency grows by more than the handshake itself.
    """
    eps = EPS4[:2]
    base = Workload(arrival_rate=100, requests=5000, workers=1)
    instant = scheduler_shares(endpoints=eps, scheduler="nq", workload=base)
    handshake = scheduler_shares(
        endpoints=eps, scheduler="nq", workload=Workload(**{**base.__dict__, "handshake_ms": 5.0})
    )
    assert handshake.latency_ms["mean"] > instant.latency_ms["mean"] + 5.0 + 0.5
