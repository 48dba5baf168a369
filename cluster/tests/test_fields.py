"""Field readers: the fast IPv4 check agrees with the standard library on every input."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.fields import ObjectError, Reader

READER = Reader("Pod shop/web")


def _reference(text: str, family: int | None) -> bool:
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return False
    return family is None or parsed.version == family


def _ours(text: str, family: int | None) -> bool:
    try:
        READER.ip(text, path="status.podIP", family=family)
    except ObjectError:
        return False
    return True


octets = st.one_of(
    st.integers(0, 300).map(str), st.sampled_from(["00", "01", "099", "", "-1", "1e2", " 1"])
)
dotted = st.lists(octets, min_size=3, max_size=5).map(".".join)


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(dotted, st.ip_addresses().map(str), st.text(max_size=20)),
    family=st.sampled_from([None, 4, 6]),
)
def test_ip_check_matches_ipaddress(text, family):
    assert _ours(text, family) == _reference(text, family)


def test_messages_name_the_field():
    with pytest.raises(
        ObjectError, match=r"^Pod shop/web: status.podIP '10.0.0.1' is not an IPv6 address$"
    ):
        READER.ip("10.0.0.1", path="status.podIP", family=6)
    with pytest.raises(
        ObjectError, match=r"^Pod shop/web: spec.x must be a boolean, got an integer$"
    ):
        READER.get({"x": 1}, "x", bool, path="spec.x")
    with pytest.raises(
        ObjectError, match=r"^Pod shop/web: spec.n must be an integer, got a boolean$"
    ):
        READER.get({"n": True}, "n", int, path="spec.n")
