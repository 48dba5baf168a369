"""The importer's one-pass checks (``cluster.fast_checks``) and the parsers give one verdict.

``check_objects`` / ``identify`` take a msgspec shape's word for the common, well-formed
Pod, EndpointSlice and object name, and run the field-by-field parsers only when the shape
says no. So the shapes must never accept what a parser refuses: every object here, a
well-formed one with one field (or two) replaced by an ill-typed, out-of-range or badly
spelt value or removed, gets the same outcome — the same ``ObjectError`` text, or the same
namespace and name — through the fast door as through the parsers alone.
"""

from __future__ import annotations

import copy
import io
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from cluster import fast_checks
from cluster.fast_checks import (
    identity_checks_out,
    named_pod_checks_out,
    named_pod_text_checks_out,
    named_text_checks_out,
    pod_checks_out,
    service_checks_out,
    slice_checks_out,
)
from cluster.fields import ObjectError, Reader
from cluster.generator import Shape, generate_cluster
from cluster.parsing import identify, identify_exactly, parse_node, parse_pod, parse_service
from cluster.plan import check_object, check_objects
from cluster.slice_parsing import parse_slice

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-7d9f-abcde",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web", "example.com/tier": "front"},
        "annotations": {"Example.com/Note": "x", "plain": "y"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f"}],
    },
    "spec": {
        "nodeName": "node-a",
        "hostNetwork": False,
        "volumes": [
            {
                "name": "cfg",
                "configMap": {"name": "kube-proxy", "items": [{"key": "k", "path": "p"}]},
            }
        ],
        "containers": [
            {
                "name": "app",
                "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090}],
                "command": ["/bin/app"],
                "args": ["--flag"],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
            }
        ],
    },
    "status": {
        "phase": "Running",
        "podIP": "10.1.2.3",
        "podIPs": [{"ip": "10.1.2.3"}],
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
    },
}

SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "addressType": "IPv4",
    "metadata": {
        "name": "web-abc12",
        "namespace": "shop",
        "uid": "u-2",
        "labels": {"kubernetes.io/service-name": "web"},
    },
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "m", "port": 9090}],
    "endpoints": [
        {
            "addresses": ["10.1.2.3"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "node-a",
            "zone": "z1",
            "hostname": "h",
            "hints": {"forZones": [{"name": "z1"}], "forNodes": [{"name": "node-a"}]},
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-7d9f-abcde"},
        },
        {"addresses": ["10.1.2.4"], "topology": {"kubernetes.io/hostname": "node-b"}},
    ],
}

FQDN_SLICE: dict[str, Any] = {**copy.deepcopy(SLICE), "addressType": "FQDN"}
FQDN_SLICE["endpoints"][0]["addresses"] = ["db.example.com"]

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-3",
        "labels": {"app": "web"},
        "annotations": {"service.kubernetes.io/topology-mode": "Auto"},
    },
    "spec": {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080},
            {"name": "metrics", "port": 9090, "targetPort": "metrics"},
        ],
        "selector": {"app": "web", "example.com/tier": "front"},
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
        "externalIPs": ["192.0.2.7"],
        "internalTrafficPolicy": "Cluster",
        "externalTrafficPolicy": "Local",
        "trafficDistribution": "PreferClose",
        "healthCheckNodePort": 31000,
        "loadBalancerSourceRanges": ["10.0.0.0/8"],
        "publishNotReadyAddresses": False,
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"hostname": "lb.example"}]}},
}

HEADLESS_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]},
}

NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z1"}},
    "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
}

#: Values put in place of a field: wrong types, out of range, badly spelt, almost right.
VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 65535, 65536, 3.5, "", " ", "x", "X", "Ab", "a--b", "-a",
    "a-", "http", "9999", "a" * 16, "a" * 64, "a" * 254, "a.b", "a/b", "example.com/x",
    "/x", "x/", "Bad Name", "abc\n", "10.0.0.1", "10.0.0.1\n", "10.0.0.256", "010.0.0.1",
    "::1", "fe80::1", "TCP", "tcp", "IPv6", "FQDN", "Ready", "True",
    [], ["x"], [1], [None], [{}], [{"name": "x"}], {}, {"a": "b"}, {"a": 1}, {"Bad Key!": "v"},
    {"name": 1}, {"ip": "10.0.0.1"},
]  # fmt: skip

#: Stands for "remove the key".
GONE = object()

Parser = Callable[[dict[str, Any], Reader, str, str], Any]
PARSERS: dict[str, Parser] = {
    "Pod": parse_pod,
    "EndpointSlice": parse_slice,
    "Service": parse_service,
    "Node": lambda obj, r, _namespace, name: parse_node(obj, r, name),
}
FAST: dict[str, Callable[[dict[str, Any]], bool]] = {
    "Pod": pod_checks_out,
    "EndpointSlice": slice_checks_out,
    "Service": service_checks_out,
}


def _outcome(obj: dict[str, Any], *, fast: bool) -> tuple[str, ...]:
    """What ``check_objects`` makes of one object: with the shapes, or with parsers only."""
    kind = obj["kind"]
    namespaced = kind != "Node"
    try:
        if fast:
            namespace, name, reader = identify(obj, index=0, namespaced=namespaced)
        else:
            namespace, name, reader = identify_exactly(obj, index=0, namespaced=namespaced)
        if not (fast and kind in FAST and FAST[kind](obj)):
            PARSERS[kind](obj, reader, namespace, name)
    except ObjectError as exc:
        return ("refused", str(exc))
    return ("accepted", namespace, name, reader.label)


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every key and index path into ``value`` (its own root excluded)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*path, key)
        if isinstance(child, (dict, list)):
            yield from _paths(child, (*path, key))


def _replaced(obj: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if value is GONE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return out


def _corruptions(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path in _paths(obj):
        if path in (("kind",), ("apiVersion",)):
            continue
        for value in [GONE, *VALUES]:
            yield _replaced(obj, path, value)


BASES = [POD, SLICE, FQDN_SLICE, SERVICE, HEADLESS_SERVICE, NODE]


@pytest.mark.parametrize("base", BASES, ids=lambda o: o["kind"])
def test_the_shapes_take_the_well_formed_object(base):
    assert identity_checks_out(base, namespaced=base["kind"] != "Node") is not None
    if base["kind"] in FAST:
        assert FAST[base["kind"]](base)
    assert _outcome(base, fast=True) == _outcome(base, fast=False)
    assert _outcome(base, fast=True)[0] == "accepted"


@pytest.mark.parametrize("base", BASES, ids=lambda o: o["kind"])
def test_one_field_corrupted_same_verdict_same_message(base):
    verdicts = {"refused": 0, "accepted": 0}
    shape_said = {True: 0, False: 0}
    for obj in _corruptions(base):
        fast = _outcome(obj, fast=True)
        assert fast == _outcome(obj, fast=False), json.dumps(obj, default=str)
        verdicts[fast[0]] += 1
        shape = FAST.get(obj["kind"])
        if shape is not None:
            shape_said[shape(obj)] += 1
    # Not vacuous: the corruptions both pass and fail, and the shapes say both yes and no.
    assert verdicts["refused"] > 50 and verdicts["accepted"] > 50, verdicts
    if base["kind"] in FAST and base is not HEADLESS_SERVICE:
        assert shape_said[True] > 100 and shape_said[False] > 100, shape_said


@pytest.mark.parametrize("base", [POD, SLICE, SERVICE], ids=lambda o: o["kind"])
def test_two_fields_corrupted_same_verdict_same_message(base):
    for obj in _two_fields_corrupted(base, seed=13, count=3000):
        assert _outcome(obj, fast=True) == _outcome(obj, fast=False), json.dumps(obj)


def _two_fields_corrupted(base: dict[str, Any], *, seed: int, count: int) -> Iterator[Any]:
    """``count`` copies of ``base`` with two fields (not kind, apiVersion) replaced or gone."""
    rng = random.Random(seed)
    paths = [p for p in _paths(base) if p not in (("kind",), ("apiVersion",))]
    for _ in range(count):
        obj = base
        for _ in range(2):
            live = [p for p in paths if _reachable(obj, p)]
            obj = _replaced(obj, rng.choice(live), rng.choice([GONE, *VALUES]))
        yield obj


def _reachable(obj: Any, path: tuple) -> bool:
    for key in path:
        if isinstance(obj, dict):
            inside = key in obj
        else:
            inside = isinstance(obj, list) and isinstance(key, int) and key < len(obj)
        if not inside:
            return False
        obj = obj[key]
    return True


def test_a_generated_cluster_goes_all_the_fast_way():
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=20, services=40, pods=300, zones=3, seed=1), out=out)
    items = json.loads(out.getvalue())["items"]
    check_objects(items)  # accepted as a whole
    pods = [o for o in items if o["kind"] == "Pod"]
    slices = [o for o in items if o["kind"] == "EndpointSlice"]
    assert len(pods) == 300 and slices
    assert all(map(pod_checks_out, pods)) and all(map(slice_checks_out, slices))
    for obj in items:
        if obj["kind"] in PARSERS:
            assert identity_checks_out(obj, namespaced=obj["kind"] != "Node") is not None


def test_ipv6_slices_take_the_parser_and_keep_its_message():
    obj = copy.deepcopy(SLICE)
    obj["addressType"] = "IPv6"
    obj["endpoints"] = [{"addresses": ["fd00::1"]}, {"addresses": ["10.0.0.1"]}]
    assert not slice_checks_out(obj)
    assert _outcome(obj, fast=True) == (
        "refused",
        "EndpointSlice shop/web-abc12: endpoints[1].addresses[0] '10.0.0.1' is not an IPv6 address",
    )


# Namespaces, label keys and label values: each distinct string matched once
# (``fast_checks._Accepted``), with the verdict the ``str`` type's ``Meta`` gives.
_NAME_STRINGS = [
    "",
    "shop",
    "Shop",
    "a" * 63,
    "a" * 64,
    "-a",
    "a-",
    "a.b",
    "a_b",
    "example.com/tier",
    "Example.com/tier",
    "example.com/",
    "/tier",
    "a/b/c",
    "x" * 254 + "/a",
    "é",
    "a\n",
]


@pytest.mark.parametrize(
    "rule, accepted",
    [
        (fast_checks.Namespace, fast_checks._namespace_ok),
        (fast_checks.LabelKey, fast_checks._label_key_ok),
        (fast_checks.LabelValue, fast_checks._label_value_ok),
    ],
)
def test_a_name_string_is_accepted_once_as_its_rule_accepts_it(rule, accepted):
    for _ in range(2):  # the second time from what was remembered
        for text in _NAME_STRINGS:
            try:
                msgspec.convert(text, rule)
                expected = True
            except msgspec.ValidationError:
                expected = False
            assert accepted(text) is expected, text
    remembered = {t for t in _NAME_STRINGS if t in accepted.seen}
    assert remembered == {t for t in _NAME_STRINGS if accepted(t)}  # only what it accepted


def test_remembered_name_strings_are_bounded(monkeypatch):
    accepted = fast_checks._Accepted(fast_checks.LabelValue)
    monkeypatch.setattr(fast_checks, "_ACCEPTED_MAX", 3)
    for index in range(10):
        assert accepted(f"v{index}")
        assert len(accepted.seen) <= 3
    assert not accepted("-bad")


def test_a_bad_namespace_or_label_is_refused_after_good_ones_were_remembered():
    good = copy.deepcopy(POD)
    assert identity_checks_out(good, namespaced=True) == ("shop", "web-7d9f-abcde")
    for where, bad in [
        ("namespace", "Shop"),
        ("labels", {"app": "web", "example.com/tier": "-front"}),
        ("labels", {"app": "web", "Example.com/tier": "front"}),
    ]:
        obj = copy.deepcopy(POD)
        obj["metadata"][where] = bad
        assert identity_checks_out(obj, namespaced=True) is None
        assert _outcome(obj, fast=True) == _outcome(obj, fast=False)


def _pod_corruptions() -> Iterator[dict[str, Any]]:
    yield from _corruptions(POD)
    yield from _two_fields_corrupted(POD, seed=17, count=1500)


def test_a_pods_names_and_fields_in_one_pass_as_the_two_shapes_say():
    said = {True: 0, False: 0}
    for obj in _pod_corruptions():
        both = identity_checks_out(obj, namespaced=True)
        if both is not None and not pod_checks_out(obj):
            both = None
        assert named_pod_checks_out(obj) == both, json.dumps(obj)
        assert named_pod_text_checks_out(json.dumps(obj).encode()) == both
        said[both is not None] += 1
    assert said[True] > 100 and said[False] > 100, said
    # Only a v1 Pod's text: another kind or API version with the same fields is not one.
    for kind, api_version in (("Node", "v1"), ("Pod", "v2"), (None, "v1")):
        other = {**POD, "kind": kind, "apiVersion": api_version}
        assert named_pod_checks_out(other) is not None
        assert named_pod_text_checks_out(json.dumps(other).encode()) is None
    assert named_pod_text_checks_out(json.dumps(POD).encode()) == ("shop", "web-7d9f-abcde")


def test_check_object_and_check_objects_refuse_a_pod_as_the_parsers_do():
    for obj in _pod_corruptions():
        expected = _outcome(obj, fast=False)
        for check in (lambda o: check_object(o, 0), lambda o: check_objects([o])):
            try:
                check(obj)
                got: tuple[str, ...] = ("accepted",)
            except ObjectError as exc:
                got = ("refused", str(exc))
            assert got == expected[: len(got)], json.dumps(obj)


def test_the_service_shape_spells_the_parsers_vocabularies():
    from typing import get_args

    from cluster.parsing import AFFINITIES, MAX_AFFINITY_TIMEOUT, POLICIES, SERVICE_TYPES

    assert get_args(fast_checks.ServiceType) == (*SERVICE_TYPES, "")
    assert get_args(fast_checks.Affinity) == (*AFFINITIES, "")
    assert get_args(fast_checks.Policy) == (*POLICIES, "")
    assert fast_checks.AffinityTimeout.__metadata__[0].le == MAX_AFFINITY_TIMEOUT


def _named_corruptions() -> Iterator[dict[str, Any]]:
    for base in (SERVICE, HEADLESS_SERVICE, SLICE, FQDN_SLICE):
        yield from _corruptions(base)
        yield from _two_fields_corrupted(base, seed=19, count=500)


def test_a_services_or_slices_text_checks_out_as_check_object_says():
    """``named_text_checks_out`` (the dump reader's child, off the text): a key only for
    a Service or EndpointSlice ``check_object`` passes, the names ``identify`` gives (it
    may say no to more: that only costs the parsers' way)."""
    said = {True: 0, False: 0}
    for obj in _named_corruptions():
        outcome = _outcome(obj, fast=False)
        key = named_text_checks_out(json.dumps(obj).encode())
        if key is not None:
            assert outcome[0] == "accepted" and key == (obj["kind"], *outcome[1:3]), json.dumps(obj)
            check_object(obj, 0)
        said[key is not None] += 1
    assert said[True] > 100 and said[False] > 1000, said
    # Only those kinds' text: a Pod, a Node, another API version are not.
    for other in (POD, NODE, {**SERVICE, "apiVersion": "v2"}, {**SLICE, "kind": "Slice"}):
        assert named_text_checks_out(json.dumps(other).encode()) is None
    assert named_text_checks_out(b"[1, 2]") is None and named_text_checks_out(b"{") is None
