"""``cluster.plan.check_object``: the importer's checks of one object, which the dump reader
runs on the objects it lets go of past its memory bound (issue 17). It must refuse exactly
what ``check_objects`` refuses for that object, with the same line, and pass the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cluster.fields import ObjectError
from cluster.plan import check_object, check_objects
from cluster.tests import builders as b


def _bad(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


BAD = {
    "Service named a/b": _bad(b.service(), ("metadata", "name"), "a/b"),
    "Service port 70000": _bad(b.service(), ("spec", "ports", 0, "port"), 70000),
    "Service protocol HTTP": _bad(b.service(), ("spec", "ports", 0, "protocol"), "HTTP"),
    "Node label value with a space": _bad(b.node("n1"), ("metadata", "labels"), {"a": "a b"}),
    "Pod named Bad_Name": _bad(b.pod("web-1"), ("metadata", "name"), "Bad_Name"),
    "slice port name with a capital": _bad(
        b.endpoint_slice(), ("ports",), [{"name": "Http", "port": 8080, "protocol": "TCP"}]
    ),
    "kube-proxy config.conf not YAML": b.kube_proxy_configmap("mode: [ipvs"),
}


@pytest.mark.parametrize("label", list(BAD))
def test_one_object_is_refused_with_the_line_the_whole_check_gives(label: str) -> None:
    obj = BAD[label]
    with pytest.raises(ObjectError) as whole:
        check_objects([obj])
    with pytest.raises(ObjectError) as one:
        check_object(obj, 0)
    assert str(one.value) == str(whole.value)


def test_every_object_of_a_good_cluster_passes_and_unstored_kinds_are_left_alone() -> None:
    for index, obj in enumerate(b.small_cluster()):
        check_object(obj, index)
    check_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "Not/Valid"}}, 0)
