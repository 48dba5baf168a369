"""Whatever a field holds, import ends in success or one clear line: never a traceback."""

from __future__ import annotations

import copy
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.kube_dump import DumpError, read_objects
from cluster.models import Cluster
from cluster.services import cluster_import
from cluster.tests import builders as b

pytestmark = pytest.mark.django_db

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
SAMPLE = b.small_cluster() + [b.kube_proxy_configmap("mode: ipvs\nipvs:\n  scheduler: lc\n")]


def _paths(value, prefix=()):
    """Every (container path, key) inside ``value``."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,)
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield prefix + (index,)
            yield from _paths(child, prefix + (index,))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_objects_import_or_fail_in_one_line(data):
    objects = copy.deepcopy(SAMPLE)
    index = data.draw(st.integers(0, len(objects) - 1))
    path = data.draw(st.sampled_from(list(_paths(objects[index]))))
    target = objects[index]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(JSON)
    before = Cluster.objects.filter(name="fuzz").values_list("revision", flat=True).first()
    try:
        # Through the reader too, as import_cluster does: the dump is text first.
        dumped = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        cluster_import(name="fuzz", objects=read_objects(io.BytesIO(dumped.encode())))
    except DumpError as exc:  # ObjectError is a DumpError
        assert "\n" not in str(exc) and str(exc)
        assert (
            Cluster.objects.filter(name="fuzz").values_list("revision", flat=True).first() == before
        )


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | JSON.map(lambda v: json.dumps(v).encode())
)
def test_any_bytes_read_or_fail_in_one_line(raw):
    try:
        objects = read_objects(io.BytesIO(raw))
    except DumpError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert all(isinstance(o, dict) and isinstance(o["kind"], str) for o in objects)
