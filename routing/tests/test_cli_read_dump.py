"""``routing.cli.local.read_dump``: objects the dump reader let go of past its memory bound
were checked by ``check_object`` then (``settle``), so ``check_objects`` does not parse them
again; everything it refuses is still refused, with the same line."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cluster import dump_json, plan
from cluster.fields import ObjectError
from cluster.tests import builders as b
from routing.cli import local


@pytest.fixture
def nothing_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every element is let go after its check and decoded again at the end."""
    monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each object parser (or a Service's or a Pod's shape) runs (in
    ``check_object`` and ``check_objects`` alike)."""
    counts = {"node": 0, "service": 0, "pod": 0}
    # A Service's fields are checked by its shape (its parser only when that says no).
    for kind, name in (("node", "parse_node"), ("service", "service_checks_out")):
        real = getattr(plan, name)

        def spy(*args: Any, _real: Any = real, _kind: str = kind) -> Any:
            counts[_kind] += 1
            return _real(*args)

        monkeypatch.setattr(plan, name, spy)
    # A Pod's fields are checked by one of its shapes: alone, or with its names.
    for name in ("pod_checks_out", "named_pod_checks_out"):
        real_pods = getattr(plan, name)

        def pods(obj: Any, _real: Any = real_pods) -> Any:
            counts["pod"] += 1
            return _real(obj)

        monkeypatch.setattr(plan, name, pods)
    return counts


def _write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(document))
    return str(path)


def _list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items}


def test_objects_settled_while_read_are_not_parsed_again(
    tmp_path: Path, nothing_kept: None, parsed: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = b.small_cluster()
    settled: list[int] = []
    real = local.check_object

    def settle(obj: dict[str, Any], index: int, limits: Any) -> None:
        settled.append(index)
        real(obj, index, limits)

    monkeypatch.setattr(local, "check_object", settle)
    assert local.read_dump(_write(tmp_path, _list(objects))) == objects
    assert settled == list(range(len(objects)))  # every object let go, checked as it went
    assert parsed == {"node": 2, "service": 1, "pod": 2}  # once each, not twice


def test_objects_kept_are_parsed_once_too(tmp_path: Path, parsed: dict[str, int]) -> None:
    objects = b.small_cluster()
    assert local.read_dump(_write(tmp_path, _list(objects))) == objects
    assert parsed == {"node": 2, "service": 1, "pod": 2}


def test_a_typed_lists_items_are_checked_with_the_kind_filled_in(
    tmp_path: Path, nothing_kept: None
) -> None:
    # A ServiceList's items have no kind while read (settle cannot check them): they are
    # checked when the whole dump is, as before.
    bad = b.service("web")
    bad["spec"]["ports"][0]["port"] = 70000
    with pytest.raises(ObjectError) as whole:
        plan.check_objects([copy.deepcopy(bad)])
    items = [{k: v for k, v in bad.items() if k not in ("kind", "apiVersion")}]
    document = {"apiVersion": "v1", "kind": "ServiceList", "items": items}
    with pytest.raises(ObjectError) as found:
        local.read_dump(_write(tmp_path, document))
    assert str(found.value) == str(whole.value)


def test_after_a_nested_list_every_object_is_checked_by_the_whole_check(
    tmp_path: Path, nothing_kept: None, parsed: dict[str, int]
) -> None:
    bad = b.service("api")
    bad["spec"]["ports"][0]["protocol"] = "HTTP"
    nested = _list([b.node("n1"), b.node("n2")])
    with pytest.raises(ObjectError, match="protocol"):
        local.read_dump(_write(tmp_path, _list([b.node("n0"), nested, bad])))
    parsed.update(node=0, service=0, pod=0)
    good = _list([b.node("n0"), nested, b.service("web")])
    assert [o["metadata"]["name"] for o in local.read_dump(_write(tmp_path, good))] == [
        "n0",
        "n1",
        "n2",
        "web",
    ]
    # n0 settled while read; after the nested List nothing is: n1, n2, web parsed by the
    # whole check.
    assert parsed == {"node": 3, "service": 1, "pod": 0}


def _bad_name(objects: list[dict[str, Any]]) -> str:
    objects[4]["metadata"]["name"] = "Bad_Name"
    return "Bad_Name"


def _repeated(objects: list[dict[str, Any]]) -> str:
    objects.append(copy.deepcopy(objects[1]))
    return "duplicate"


@pytest.mark.parametrize("kept", [True, False])
@pytest.mark.parametrize("breaking", [_bad_name, _repeated], ids=["bad-name", "repeated"])
def test_a_bad_or_repeated_object_is_refused_with_the_line_the_whole_check_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: bool, breaking: Any
) -> None:
    if not kept:
        monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)
    objects = b.small_cluster()
    said = breaking(objects)
    with pytest.raises(ObjectError) as whole:
        plan.check_objects(copy.deepcopy(objects))
    assert said in str(whole.value)
    with pytest.raises(ObjectError) as found:
        local.read_dump(_write(tmp_path, _list(objects)))
    assert str(found.value) == str(whole.value)


def test_settled_objects_names_are_identified_once(
    tmp_path: Path, nothing_kept: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    identified: list[str] = []
    # A Pod's names are identified with its fields, by one shape (else by identify).
    for name in ("identify", "named_pod_checks_out"):
        real = getattr(plan, name)

        def spy(obj: dict[str, Any], _real: Any = real, **kwargs: Any) -> Any:
            identified.append(obj["metadata"]["name"])
            return _real(obj, **kwargs)

        monkeypatch.setattr(plan, name, spy)
    objects = b.small_cluster()
    assert local.read_dump(_write(tmp_path, _list(objects))) == objects
    assert sorted(identified) == sorted(o["metadata"]["name"] for o in objects)


def test_plan_reads_a_checked_objects_identity_as_identify_gives_it() -> None:
    objects = b.small_cluster()
    objects[0]["metadata"].pop("namespace", None)
    ids = {id(o) for o in objects}
    fast, whole = plan.plan_objects(objects, checked=ids), plan.plan_objects(objects)
    for kind in ("nodes", "services", "slices", "pods"):
        mine = [(o["metadata"]["name"], r.label, ns, n) for o, r, ns, n in getattr(fast, kind)]
        theirs = [(o["metadata"]["name"], r.label, ns, n) for o, r, ns, n in getattr(whole, kind)]
        assert mine == theirs


@pytest.fixture
def aside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child checks and settles the later objects (``cluster.dump_json._Aside``)."""
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setattr(local, "may_fork", lambda: True)


def test_pods_a_child_settled_are_not_parsed_again(
    tmp_path: Path, aside: None, parsed: dict[str, int]
) -> None:
    objects = b.small_cluster() + [b.pod(f"extra{i}") for i in range(6)]
    read, checked = local._read_settled(_write(tmp_path, _list(objects)), local.env_limits())
    assert read == objects
    # Every Pod checked by the child (none here); the rest kept, for the whole check.
    assert checked == {id(o) for o in read if o["kind"] == "Pod"}
    assert parsed == {"node": 0, "service": 0, "pod": 0}
    local.check_objects(read, local.env_limits(), checked=checked)
    assert parsed == {"node": 2, "service": 1, "pod": 0}


def _bad_pod_field(objects: list[dict[str, Any]], index: int) -> None:
    objects[index]["status"]["podIP"] = "not-an-ip"


def _bad_service_port(objects: list[dict[str, Any]], index: int) -> None:
    objects[index]["spec"]["ports"][0]["port"] = 70000


def _dump_case(case: str) -> list[dict[str, Any]]:
    """small_cluster (Nodes n1 n2, Service web, its slice, Pods web-1 web-2), then a
    Service api and Pods extra0..5, broken as ``case`` says."""
    objects = b.small_cluster() + [b.service("api")] + [b.pod(f"extra{i}") for i in range(6)]
    if case == "bad Pod after good ones":
        _bad_pod_field(objects, 9)
    elif case == "bad Pod before bad Service":
        _bad_pod_field(objects, 4)
        _bad_service_port(objects, 6)
    elif case == "bad Service before bad Pod":
        _bad_service_port(objects, 2)
        objects[10]["metadata"]["name"] = "Bad_Name"
    elif case == "bad Pod name after bad Pod field":
        _bad_pod_field(objects, 5)
        objects[8]["metadata"]["name"] = "Bad_Name"
    elif case == "repeated Pod":
        objects[11] = copy.deepcopy(objects[4])
    elif case == "repeated Pod after a bad Node field":  # the repeat is found first
        objects[0]["status"]["addresses"] = "x"
        objects[11] = copy.deepcopy(objects[4])
    elif case == "repeated Pod, one read whole":  # past max_string: not checked off its text
        objects[11] = copy.deepcopy(objects[4])
        objects[11]["metadata"]["annotations"] = {"a": "v" * 2500, "b": "v" * 2500}
    elif case == "repeated Service":
        objects[6] = copy.deepcopy(objects[2])
    elif case == "repeated EndpointSlice":
        objects.append(copy.deepcopy(objects[3]))
    elif case == "Pod beyond a bound":
        objects[9]["metadata"]["labels"] = {"app": "v" * 5000}
        _bad_pod_field(objects, 5)
    elif case == "kube-proxy Pod mounting a bad ConfigMap":
        proxy = b.pod("kube-proxy-a", "kube-system")
        proxy["metadata"]["labels"] = {"k8s-app": "kube-proxy"}
        proxy["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "kube-proxy-b"}}]
        config = b.kube_proxy_configmap("mode: [")
        config["metadata"]["name"] = "kube-proxy-b"
        objects += [proxy, config]
    return objects


CASES = [
    "bad Pod after good ones",
    "bad Pod before bad Service",
    "bad Service before bad Pod",
    "bad Pod name after bad Pod field",
    "repeated Pod",
    "repeated Pod after a bad Node field",
    "repeated Pod, one read whole",
    "repeated Service",
    "repeated EndpointSlice",
    "Pod beyond a bound",
    "kube-proxy Pod mounting a bad ConfigMap",
]


def _refusal(path: str, monkeypatch: pytest.MonkeyPatch, *, fork: bool) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(local, "may_fork", lambda: fork)
        with pytest.raises(ValueError) as found:
            local.read_dump(path, local.env_limits())
    return f"{type(found.value).__name__}: {found.value}"


@pytest.mark.parametrize("kept", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_a_child_checking_the_pods_refuses_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: bool, case: str
) -> None:
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setenv("ROUTESCOPE_DUMP_MAX_STRING", "4000")
    if not kept:
        monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)
    objects = _dump_case(case)
    path = _write(tmp_path, _list(objects))
    alone = _refusal(path, monkeypatch, fork=False)
    assert _refusal(path, monkeypatch, fork=True) == alone
    if kept and case != "Pod beyond a bound":  # the whole check's line
        with pytest.raises(ObjectError) as whole:
            plan.check_objects(copy.deepcopy(objects), local.env_limits())
        assert alone == f"ObjectError: {whole.value}"


@pytest.mark.parametrize("case", [None, *CASES])
def test_a_killed_pod_child_leaves_the_pods_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str | None
) -> None:
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setenv("ROUTESCOPE_DUMP_MAX_STRING", "4000")
    objects = _dump_case(case or "")
    path = _write(tmp_path, _list(objects))
    alone = None if case is None else _refusal(path, monkeypatch, fork=False)
    parent, real = os.getpid(), dump_json._pod_text

    def killed(view: memoryview) -> bool:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(view)

    monkeypatch.setattr(dump_json, "_pod_text", killed)
    if case is None:
        monkeypatch.setattr(local, "may_fork", lambda: True)
        read, checked = local._read_settled(path, local.env_limits())
        assert read == objects and not checked  # nothing settled by the child
    else:
        assert _refusal(path, monkeypatch, fork=True) == alone


def _load_refusal(path: str, monkeypatch: pytest.MonkeyPatch, *, fork: bool) -> str | None:
    """``load_snapshot``'s refusal (None: it passed)."""
    with monkeypatch.context() as patch:
        patch.setattr(local, "may_fork", lambda: fork)
        try:
            local.load_snapshot(path, local.env_limits())
        except ValueError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture
def checked_here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often ``check_objects`` runs in this process (for ``load_snapshot``)."""
    calls: list[int] = []
    real, parent = local.check_objects, os.getpid()

    def spy(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() == parent:
            calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(local, "check_objects", spy)
    return calls


@pytest.mark.parametrize("kept", [True, False])
@pytest.mark.parametrize("case", [None, *CASES])
def test_the_pod_child_checks_the_dump_as_a_whole_as_one_process_does(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    checked_here: list[int],
    kept: bool,
    case: str | None,
) -> None:
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setenv("ROUTESCOPE_DUMP_MAX_STRING", "4000")
    if not kept:
        monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)
    path = _write(tmp_path, _list(_dump_case(case or "")))
    alone = _load_refusal(path, monkeypatch, fork=False)
    assert (alone is None) == (case is None)
    if case is None:
        assert checked_here == [1]
    checked_here.clear()
    assert _load_refusal(path, monkeypatch, fork=True) == alone
    # The whole check ran in the child (unless the read refused first).
    assert checked_here == []


def test_the_whole_check_sees_repeated_pods_and_mounted_configmaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checked_here: list[int]
) -> None:
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    objects = _dump_case("kube-proxy Pod mounting a bad ConfigMap")
    repeated = [*objects, copy.deepcopy(objects[-2])]  # the kube-proxy Pod again, after its map
    for dump, said in (
        (repeated, "duplicate Pod kube-system/kube-proxy-a"),
        (objects, "kube-proxy-b"),  # no repeat: the ConfigMap the kube-proxy Pod mounts
    ):
        path = _write(tmp_path, _list(dump))
        alone = _load_refusal(path, monkeypatch, fork=False)
        assert alone is not None and said in alone
        checked_here.clear()
        assert _load_refusal(path, monkeypatch, fork=True) == alone
        assert checked_here == []


@pytest.mark.parametrize("case", [None, *CASES])
def test_a_pod_child_killed_before_the_whole_check_leaves_it_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checked_here: list[int], case: str | None
) -> None:
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    monkeypatch.setenv("ROUTESCOPE_DUMP_MAX_STRING", "4000")
    path = _write(tmp_path, _list(_dump_case(case or "")))
    alone = _load_refusal(path, monkeypatch, fork=False)
    checked_here.clear()

    def killed(self: Any, *args: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)  # only ever run in the child

    monkeypatch.setattr(local._Settle, "check_whole", killed)
    monkeypatch.setattr(local._Settle, "passes_with_named", killed)
    assert _load_refusal(path, monkeypatch, fork=True) == alone
    read_refused = case == "Pod beyond a bound"  # the read's refusal: no whole check
    assert checked_here == ([] if read_refused else [1])


def _child_whole_answer(objects: list[dict[str, Any]]) -> tuple[Any, list[Any], int]:
    """The whole check's answer as the Pod child gives it (in this process): the answer,
    the keys it knew objects by alone, how often ``check_whole`` ran."""
    limits = local.env_limits()
    settle = local._Settle(limits, fork=True, whole=True)
    raws = [msgspec.Raw(json.dumps(obj).encode()) for obj in objects]
    settled = bytearray(len(raws))
    accepted: list[Any] = [None] * len(raws)
    for index, raw in enumerate(raws):  # as the child's first pass
        known = settle.accepts_pod_text(memoryview(raw))
        if known and not dump_json._needs_walk(memoryview(raw), limits):
            settled[index], accepted[index] = 1, known
        elif objects[index]["kind"] == "Pod":
            with contextlib.suppress(ObjectError):
                settle(copy.deepcopy(objects[index]), index)
                settled[index] = 1
    calls: list[int] = []

    def check_whole(objects: list[dict[str, Any]], checked: set[int]) -> None:
        calls.append(1)
        settle.check_whole(objects, checked)

    hooks = dump_json._WholeCheck(
        check_whole, settle.planned_pod, settle.named_key, settle.passes_with_named
    )
    answer = dump_json._whole_answer(raws, settled, accepted, limits, hooks)
    keys = dump_json._rebuilt(
        raws, settled, settle.planned_pod, limits, (settle.named_key, accepted)
    )
    assert keys is not None
    return answer, keys[2], len(calls)


@pytest.mark.parametrize("case", [None, *(c for c in CASES if c != "Pod beyond a bound")])
def test_the_child_knows_what_passed_off_its_text_by_name_alone(
    monkeypatch: pytest.MonkeyPatch, case: str | None
) -> None:
    """Services, EndpointSlices and Pods (outside kube-system) that pass off their text are
    known by their names alone; ``check_objects`` of every object runs only when those
    may not pass, and its refusal is the one given. (A Pod beyond a bound: the read
    refuses it, no whole check.)"""
    monkeypatch.setenv("ROUTESCOPE_DUMP_MAX_STRING", "4000")
    objects = _dump_case(case or "")
    answer, keys, calls = _child_whole_answer(objects)
    try:
        plan.check_objects(copy.deepcopy(objects), local.env_limits())
        alone = None
    except ObjectError as exc:
        alone = str(exc)
    assert answer is not None
    assert (None if answer[0] is None else str(answer[0])) == alone
    assert calls == (0 if alone is None else 1)
    assert {k[0] for k in keys} == {"Service", "EndpointSlice", "Pod"}
    assert not any(k[:2] == ("Pod", "kube-system") for k in keys)  # a kube-proxy Pod's volumes


def test_items_the_reader_fills_in_are_checked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checked_here: list[int]
) -> None:
    """A typed List's items without kind get it from the List: the child's own copy of
    the elements would not read as the objects do, so this process checks them."""
    monkeypatch.setattr(dump_json, "_ASIDE_MIN", 4)
    pods = [b.pod(f"p{i}") for i in range(6)]
    pods[3]["metadata"]["name"] = "Bad_Name"
    for pod in pods[4:]:
        del pod["kind"]
    path = _write(tmp_path, {"apiVersion": "v1", "kind": "PodList", "items": pods})
    alone = _load_refusal(path, monkeypatch, fork=False)
    assert alone is not None and "Bad_Name" in alone
    checked_here.clear()
    assert _load_refusal(path, monkeypatch, fork=True) == alone
    assert checked_here == [1]


def test_planned_pod_reads_as_the_whole_pod_for_the_whole_check() -> None:
    proxy = b.pod("kube-proxy-a", "kube-system")
    proxy["metadata"]["labels"] = {"k8s-app": "kube-proxy"}
    proxy["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "kube-proxy-b"}}]
    plain = b.pod("web-1")
    plain["metadata"].pop("namespace", None)
    for pod in (proxy, plain):
        planned = plan.planned_pod(json.dumps(pod).encode())
        assert planned is not None
        assert (
            plan._identified(planned, namespaced=True)[:2]
            == plan._identified(pod, namespaced=True)[:2]
        )
        assert plan._mounted_maps(planned) == plan._mounted_maps(pod)
        name = pod["metadata"]["name"]
        namespace = pod["metadata"].get("namespace") or "default"
        assert plan._is_kube_proxy_pod(planned, namespace, name) == plan._is_kube_proxy_pod(
            pod, namespace, name
        )
    assert plan.planned_pod(b'{"metadata": 1}') is None  # another shape: decoded whole


def _proxy_pod(name: str, node: str, mode: str, *, ready: bool) -> dict[str, Any]:
    pod = b.pod(name, "kube-system", node_name=node, ip=f"10.0.0.{node[1:]}", ready=ready)
    pod["metadata"]["labels"] = {"k8s-app": "kube-proxy"}
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["containers"] = [
        {"name": "kube-proxy", "command": ["/usr/local/bin/kube-proxy", f"--proxy-mode={mode}"]}
    ]
    return pod


@pytest.mark.parametrize("child", ["answers", "killed", "others let go"])
def test_a_forked_read_keeps_pods_as_text_and_builds_the_same_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside: None, child: str
) -> None:
    """``load_snapshot`` with the Pod child: the Pods reach the build as their text
    (``PodText``), but for those in kube-system (kube-proxy Pods: the nodes' modes and
    health), and the snapshot is the one-process snapshot, its pods included. It is
    built while the child checks the Pods, unless the reader let objects go."""
    coredns = b.pod("coredns-1", "kube-system", node_name="n2", ip="10.244.2.9")
    objects = [
        *b.small_cluster(),
        *(b.pod(f"extra{i}", "default" if i % 2 else "shop") for i in range(6)),
        _proxy_pod("kube-proxy-a", "n1", "ipvs", ready=True),
        coredns,
        _proxy_pod("kube-proxy-b", "n2", "nftables", ready=False),
    ]
    path = _write(tmp_path, _list(copy.deepcopy(objects)))
    with monkeypatch.context() as patch:
        patch.setattr(local, "may_fork", lambda: False)
        alone = local.load_snapshot(path)
    built: list[list[dict[str, Any]]] = []
    events: list[str] = []
    real_build, real_verdict = local.snapshot_with_pods_when_read, dump_json._Aside._verdict

    def build(objects: list[dict[str, Any]], **kwargs: Any) -> Any:
        built.append(list(objects))
        events.append("build")
        return real_build(objects, **kwargs)

    def verdict(self: Any) -> Any:
        events.append("the child's first answer")
        return real_verdict(self)

    monkeypatch.setattr(local, "snapshot_with_pods_when_read", build)
    monkeypatch.setattr(dump_json._Aside, "_verdict", verdict)
    if child == "others let go":
        monkeypatch.setattr(dump_json.Retention, "keep", lambda self, nbytes: False)
    if child == "killed":  # no word from the child: the Pods are checked, and read, here
        parent, real = os.getpid(), local._Settle.accepts_pod_text

        def killed(view: memoryview) -> tuple[str, str] | None:
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(view)

        monkeypatch.setattr(local._Settle, "accepts_pod_text", staticmethod(killed))
    forked = local.load_snapshot(path)
    # Built before the child's first answer; again when the child gave none (the
    # objects then read whole here are not those it was built from).
    assert (
        events
        == {
            "answers": ["build", "the child's first answer"],
            "killed": ["build", "the child's first answer", "build"],
            "others let go": ["the child's first answer", "build"],
        }[child]
    )
    seen = built[-1]
    as_text = [
        obj["metadata"]["namespace"]
        for obj, read in zip(objects, seen, strict=True)
        if type(read) is dump_json.PodText
    ]
    if child == "killed":
        assert as_text == []
    else:
        assert sorted(as_text) == ["default"] * 3 + ["shop"] * 5
    assert [dump_json.whole(obj) for obj in seen] == objects
    assert forked.nodes == alone.nodes
    assert forked.nodes["n1"].proxy_healthy and not forked.nodes["n2"].proxy_healthy
    assert [forked.proxy_for(n).mode for n in ("n1", "n2")] == ["ipvs", "nftables"]
    assert [alone.proxy_for(n) for n in ("n1", "n2")] == [forked.proxy_for(n) for n in ("n1", "n2")]
    assert forked.endpoint_index == alone.endpoint_index
    assert dict(forked.pods) == dict(alone.pods) and len(forked.pods) == 11
