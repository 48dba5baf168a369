"""Selectors: stored objects come back exactly as imported, whatever text they carry."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.selectors import cluster_counts, cluster_get, cluster_list, cluster_objects
from cluster.services import cluster_import
from cluster.tests import builders as b

pytestmark = pytest.mark.django_db

_SURROGATES: tuple[Literal["Cs"], ...] = ("Cs",)

# Annotation text with the characters that bulk paths must escape: tabs, newlines,
# backslashes, quotes, non-ASCII (PostgreSQL COPY and SQLite both must keep them).
TEXT = st.text(
    alphabet=st.characters(exclude_categories=_SURROGATES, exclude_characters="\x00"), max_size=40
) | st.sampled_from(["\t", "\\", "\\N", "a\nb", '"', "\\u0041", "\\u0000", "ünïcode ✓", "\r\n"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    annotations=st.dictionaries(st.sampled_from(["a", "b/c", "x.io/y"]), TEXT, max_size=3),
    label=TEXT,
)
def test_objects_round_trip_byte_for_byte(annotations, label):
    objects = b.small_cluster()
    objects[2]["metadata"]["annotations"] = annotations
    # Label values must be valid label values (the API server's rule, issue 17): arbitrary
    # text goes into the Pod's annotations instead.
    objects[4]["metadata"]["annotations"] = {"note": label}
    cluster_import(name="prop", objects=objects)
    assert cluster_objects(cluster=cluster_get(name="prop")) == objects


def test_list_get_and_counts():
    cluster_import(name="b-cluster", objects=b.small_cluster())
    cluster_import(name="a-cluster", objects=[b.node()])
    assert [c.name for c in cluster_list()] == ["a-cluster", "b-cluster"]
    assert cluster_counts(cluster=cluster_get(name="b-cluster")) == {
        "Node": 2,
        "Service": 1,
        "EndpointSlice": 1,
        "Endpoint": 2,
        "Pod": 2,
    }
