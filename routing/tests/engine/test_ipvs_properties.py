"""Properties of the IPVS and userspace choice, over generated endpoint lists (hypothesis).

Invariants from the definitions in kube-proxy and the kernel: shares are a distribution
over the endpoints given (or all zero when every connection fails); a weight-0 real server
never gets new connections (ip_vs_*.c skip weight <= 0); the userspace proxier visits every
working endpoint once per lap of its round-robin list, so working endpoints share evenly,
and a connection only fails after four failed dials in a row (proxysocket.go tryConnect).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine.ipvs import SCHEDULERS, Workload, scheduler_shares
from routing.engine.userspace import userspace_shares

ENDPOINT_LISTS = st.lists(
    st.tuples(st.integers(0, 255), st.integers(1, 254), st.sampled_from([80, 443, 8080])),
    min_size=1,
    max_size=12,
    unique=True,
).map(lambda items: tuple(f"10.{a}.0.{b}:{port}" for a, b, port in items))


@settings(max_examples=30, deadline=None)
@given(
    endpoints=ENDPOINT_LISTS,
    scheduler=st.sampled_from([s for s in SCHEDULERS if s not in ("sed", "nq")]),
    data=st.data(),
)
def test_shares_are_a_distribution_and_quiesced_servers_get_nothing(endpoints, scheduler, data):
    zero = data.draw(st.sets(st.sampled_from(endpoints), max_size=len(endpoints)))
    workload = Workload(weights={e: 0 for e in zero}, simulate=False, destination_vip="10.96.0.1")
    result = scheduler_shares(endpoints=endpoints, scheduler=scheduler, workload=workload)
    assert set(result.shares) == set(endpoints)
    assert all(share >= 0 for share in result.shares.values())
    assert 0.0 <= result.dropped <= 1.0
    total = sum(result.shares.values())
    assert total == pytest.approx(1.0) or (total == 0.0 and result.dropped == 1.0)
    assert all(result.shares[e] == 0.0 for e in zero)


@settings(max_examples=40, deadline=None)
@given(endpoints=ENDPOINT_LISTS, data=st.data())
def test_userspace_working_endpoints_share_evenly(endpoints, data):
    failing = frozenset(data.draw(st.sets(st.sampled_from(endpoints), max_size=len(endpoints))))
    result = userspace_shares(endpoints=endpoints, failing=failing)
    working = [e for e in endpoints if e not in failing]
    if not working:
        assert result.dropped == 1.0
        return
    for endpoint in endpoints:
        expected = 1 / len(working) if endpoint in working else 0.0
        assert result.shares[endpoint] == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(endpoints=ENDPOINT_LISTS, data=st.data())
def test_userspace_drops_only_behind_four_consecutive_failures(endpoints, data):
    failing = frozenset(data.draw(st.sets(st.sampled_from(endpoints), max_size=len(endpoints))))
    result = userspace_shares(endpoints=endpoints, failing=failing)
    down = [e in failing for e in endpoints]
    n = len(down)
    # A start position fails iff its four dials (wrapping around the list) all hit failing
    # endpoints.
    has_run_of_four = any(all(down[(i + k) % n] for k in range(4)) for i in range(n))
    assert (result.dropped > 0) == has_run_of_four
