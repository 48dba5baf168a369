"""The fast rows (``cluster.rows``) equal the parsers' rows, field by field, and store the same.

``pod_row`` / ``slice_rows`` read a Pod's or an EndpointSlice's row off its msgspec shape
instead of walking it through ``parse_pod`` / ``parse_slice``. Every object here goes both
ways and must give the same row: the same keys, equal values of the same types (``True``
is not ``1``; nested values compared as their JSON text, key order included), or the same
``ObjectError``. The objects: the demo, every fixture dump the tests import, the test
builders, generated clusters, hand-made variants (v1beta1 topology, hints, omitted
conditions, FQDN and IPv6 slices, host-network and terminating Pods) and every
single-field corruption of a well-formed Pod and slice. Then a whole import stores the same
rows as the parsers' path.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from cluster import writer
from cluster.fast_checks import checked_pod, checked_slice
from cluster.fields import ObjectError
from cluster.generator import Shape, generate_cluster
from cluster.kube_dump import DumpError, read_dump
from cluster.models import Cluster
from cluster.parsing import identify, parse_pod
from cluster.rows import pod_row, slice_rows
from cluster.services import cluster_import
from cluster.slice_parsing import parse_slice
from cluster.testing.objects import sample_cluster
from cluster.tests import builders as b
from cluster.tests.fixtures import ODD, REAL
from cluster.tests.state import cluster_state
from cluster.tests.test_fast_checks import FQDN_SLICE, POD, SLICE, _corruptions

DEMO = Path(settings.BASE_DIR) / "cluster" / "fixtures" / "demo.json"
KINDS = ("Pod", "EndpointSlice")


def _strict(value: Any) -> str:
    """A value's JSON text with its Python types spelt out (True is not 1, 1 is not 1.0)."""
    return json.dumps(value, default=repr) + repr(type(value))


def _outcome(obj: dict[str, Any], *, fast: bool) -> tuple[Any, ...]:
    try:
        namespace, name, reader = identify(obj, index=0, namespaced=True)
        if obj["kind"] == "Pod":
            return ("row", (pod_row if fast else parse_pod)(obj, reader, namespace, name))
        return ("rows", *(slice_rows if fast else parse_slice)(obj, reader, namespace, name))
    except ObjectError as exc:
        return ("refused", str(exc))


def _assert_same_rows(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    assert list(fast) == list(slow)
    for key in slow:
        assert _strict(fast[key]) == _strict(slow[key]), key
        assert fast[key] == slow[key], key


def _assert_same(obj: dict[str, Any]) -> None:
    fast, slow = _outcome(obj, fast=True), _outcome(obj, fast=False)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "refused":
        assert fast == slow
    elif fast[0] == "row":
        _assert_same_rows(fast[1], slow[1])
    else:
        _assert_same_rows(fast[1], slow[1])
        assert len(fast[2]) == len(slow[2])
        for mine, theirs in zip(fast[2], slow[2]):
            _assert_same_rows(mine, theirs)


def _fast(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` takes the shapes' way (its kind's shape accepts it)."""
    return (checked_pod if obj["kind"] == "Pod" else checked_slice)(obj) is not None


def _hot(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if isinstance(o, dict) and o.get("kind") in KINDS]


def _generated(shape: Shape) -> list[dict[str, Any]]:
    out = io.StringIO()
    generate_cluster(shape=shape, out=out)
    return json.loads(out.getvalue())["items"]


FILES = [DEMO, *REAL, *ODD]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_fixture_dump_gives_the_parsers_rows(path):
    try:
        objects = _hot(read_dump(str(path)).objects)
    except DumpError:  # the odd dumps the reader refuses as a whole: their objects, as written
        objects = _hot(json.loads(path.read_text()).get("items", []))
    for obj in objects:
        _assert_same(obj)
    if path == DEMO:  # mostly IPv4 (the shapes' way), a dual-stack Service's the parsers'
        fast = sum(map(_fast, objects))
        assert len(objects) > fast > len(objects) // 2


def test_the_builders_and_sample_objects_give_the_parsers_rows():
    objects = _hot([*sample_cluster(), *b.small_cluster(), POD, SLICE, FQDN_SLICE])
    assert {o["kind"] for o in objects} == set(KINDS)
    for obj in objects:
        _assert_same(obj)


@pytest.mark.parametrize(
    "shape",
    [
        Shape(nodes=20, services=40, pods=300, zones=3, seed=1),
        Shape(nodes=7, services=12, pods=90, zones=1, seed=5),
        Shape(nodes=30, services=5, pods=400, zones=4, seed=9),
    ],
    ids=lambda s: f"{s.nodes}n-{s.pods}p-seed{s.seed}",
)
def test_generated_clusters_take_the_fast_way_with_the_parsers_rows(shape):
    objects = _hot(_generated(shape))
    pods = [o for o in objects if o["kind"] == "Pod"]
    slices = [o for o in objects if o["kind"] == "EndpointSlice"]
    assert len(pods) == shape.pods and slices
    # The fast way is really taken (else this would only compare the parsers with themselves).
    assert all(checked_pod(o) is not None for o in pods)
    assert all(checked_slice(o) is not None for o in slices)
    states = {row["ready"] for o in pods for row in [_outcome(o, fast=True)[1]]}
    assert states == {True, False}  # both conditions met, so both branches compared
    for obj in objects:
        _assert_same(obj)


def _variants() -> list[dict[str, Any]]:
    pod = copy.deepcopy(POD)
    out = []
    for change in (
        lambda o: o.pop("status"),
        lambda o: o.pop("spec"),
        lambda o: o["status"].pop("podIP"),  # podIPs only
        lambda o: o["status"].update(podIPs=None),  # podIP only
        lambda o: o["status"].update(podIP="", podIPs=[]),
        lambda o: o["status"].update(conditions=[{"type": "Ready", "status": "False"}]),
        lambda o: o["status"].update(conditions=[{"type": "Ready"}, {"type": "Ready"}]),
        lambda o: o["status"].pop("conditions"),
        lambda o: o["spec"].update(hostNetwork=True, nodeName=None),
        lambda o: o["metadata"].update(deletionTimestamp="2026-09-01T00:00:00Z"),
        lambda o: o["metadata"].update(labels=None, uid=None),
        lambda o: o["spec"]["containers"][0].update(env=[{"name": "PASSWORD", "value": "s3cret"}]),
    ):  # fmt: skip
        variant = copy.deepcopy(pod)
        change(variant)
        out.append(variant)
    for base in (SLICE, FQDN_SLICE):
        for change in (
            lambda o: o.update(apiVersion="discovery.k8s.io/v1beta1"),
            lambda o: o["endpoints"][0].pop("conditions"),
            lambda o: o["endpoints"][0].update(conditions={"ready": False, "terminating": True}),
            lambda o: o["endpoints"][0].update(conditions={"serving": False}),
            lambda o: o["endpoints"][0].update(nodeName="", zone=None),
            lambda o: o["endpoints"][0].update(
                topology={"kubernetes.io/hostname": "h1", "topology.kubernetes.io/zone": "z9"},
                nodeName=None,
                zone=None,
            ),
            lambda o: o["endpoints"][0].update(hints={"forZones": [{"name": "a"}, {"name": "b"}]}),
            lambda o: o["endpoints"][0].update(hints=None, targetRef={"kind": "Pod"}),
            lambda o: o["endpoints"][0].update(addresses=[o["endpoints"][0]["addresses"][0], "x"]),
            lambda o: o.update(endpoints=[]),
            lambda o: o.pop("endpoints"),
            lambda o: o.update(ports=None),
            lambda o: o["metadata"].update(labels=None),
            lambda o: o["metadata"]["labels"].update(
                {"endpointslice.kubernetes.io/managed-by": "me"}
            ),
            lambda o: o.update(addressType="IPv6", endpoints=[{"addresses": ["fd00::1"]}]),
        ):
            variant = copy.deepcopy(base)
            change(variant)
            out.append(variant)
    return out


def test_hand_made_variants_give_the_parsers_rows():
    variants = _variants()
    fast = [o for o in variants if _fast(o)]
    assert len(fast) >= len(variants) - 6  # most take the shapes' way
    for obj in variants:
        _assert_same(obj)


@pytest.mark.parametrize("base", [POD, SLICE, FQDN_SLICE], ids=["Pod", "IPv4", "FQDN"])
def test_one_field_corrupted_same_rows_or_same_refusal(base):
    outcomes = set()
    for obj in _corruptions(base):
        _assert_same(obj)
        outcomes.add(_outcome(obj, fast=True)[0])
    assert outcomes == {"refused", "row" if base["kind"] == "Pod" else "rows"}


# -- Stored: a whole import through the fast rows and through the parsers ---------------


def _stored_both_ways(objects: list[dict[str, Any]], monkeypatch) -> tuple[Any, Any]:
    cluster_import(name="fast", objects=copy.deepcopy(objects))
    with monkeypatch.context() as patch:
        patch.setattr(writer, "pod_row", parse_pod)
        patch.setattr(writer, "slice_rows", parse_slice)
        cluster_import(name="parsers", objects=copy.deepcopy(objects))
    return (
        cluster_state(Cluster.objects.get(name="fast")),
        cluster_state(Cluster.objects.get(name="parsers")),
    )


@pytest.mark.django_db
def test_the_demo_is_stored_as_the_parsers_stored_it(monkeypatch):
    fast, parsers = _stored_both_ways(read_dump(str(DEMO)).objects, monkeypatch)
    assert fast["endpoints"] and fast["pods"]
    assert fast == parsers


@pytest.mark.django_db
def test_a_generated_cluster_with_variants_is_stored_as_the_parsers_stored_it(monkeypatch):
    objects = _generated(Shape(nodes=10, services=20, pods=150, zones=2, seed=3))
    for index, variant in enumerate(v for v in _variants() if _fast(v)):
        variant["metadata"]["name"] = f"variant-{index}"
        objects.append(variant)
    fast, parsers = _stored_both_ways(objects, monkeypatch)
    assert len(fast["pods"]) > 150
    assert fast == parsers
