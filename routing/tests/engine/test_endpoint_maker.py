"""``routing.engine.types.make_endpoint``: the bulk loads' maker gives the very Endpoint
the dataclass builds, whatever the field values."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from routing.engine.types import Endpoint, make_endpoint

_NAMES = st.text(alphabet="abz-09", min_size=1, max_size=8)
_HINTS = st.frozensets(_NAMES, max_size=3)


@given(
    ip=st.sampled_from(["10.0.0.1", "fd00::1"]),
    port=st.integers(1, 65535),
    node=st.none() | _NAMES,
    zone=st.none() | _NAMES,
    ready=st.booleans(),
    serving=st.booleans(),
    terminating=st.booleans(),
    zone_hints=_HINTS,
    node_hints=_HINTS,
    pod=st.none() | _NAMES,
)
def test_make_endpoint_is_the_dataclass(**values: object) -> None:
    made = make_endpoint(*(values[f.name] for f in fields(Endpoint)))
    built = Endpoint(**values)  # type: ignore[arg-type]
    assert type(made) is Endpoint
    assert made == built and hash(made) == hash(built)
    assert {f.name: getattr(made, f.name) for f in fields(Endpoint)} == values
