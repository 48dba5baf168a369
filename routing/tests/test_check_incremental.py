"""``routescope check``'s after-snapshot, advanced from the before one
(``routing.cli.check.after_snapshot``), answers exactly like a snapshot built from every
object of the changed cluster, and the check reports the same either way.

Generated clusters (``cluster.generator``, 30 nodes: above ``EACH_NODE_MAX``, so the
preview groups nodes as on a big cluster), their pods given ReplicaSet owners so running
Deployments can be relabelled and scaled, and generated changes: Service policy flips and
selector changes, new Deployments / StatefulSets / DaemonSets, replicas and pod template
changes of running Deployments, the kube-proxy ConfigMap.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import fields
from functools import cache
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.generator import Shape, generate_cluster
from routing.cli import check as chk
from routing.cli import workloads as wl
from routing.cli.main import main
from routing.engine.analysis import analyze
from routing.engine.incremental import NeedsFullRebuild
from routing.engine.kube import snapshot_from_objects
from routing.engine.scaling import owner_pods
from routing.engine.simulate import Question, QuestionError, simulate
from routing.engine.snapshot import Snapshot

HASH = "5d8f7"


@cache
def _cluster_text(seed: int) -> str:
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=30, services=24, pods=180, zones=3, seed=seed), out=out)
    items = json.loads(out.getvalue())["items"]
    for obj in items:
        if obj["kind"] == "Pod":  # a Deployment's pods: ReplicaSet NAME-HASH, its label
            meta = obj["metadata"]
            app = meta["labels"]["app"]
            meta["labels"]["pod-template-hash"] = HASH
            meta["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-{HASH}"}
            ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def cluster(seed: int) -> list[dict[str, Any]]:
    """A fresh copy of the generated cluster's objects (the check never mutates them, but
    a test must not lean on that)."""
    return json.loads(_cluster_text(seed))["items"]


def _services(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "Service" and o["spec"]["clusterIP"] != "None"]


def _service_doc(svc: Mapping[str, Any], **spec: Any) -> dict[str, Any]:
    base = {k: v for k, v in svc["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    meta = {"name": svc["metadata"]["name"], "namespace": svc["metadata"]["namespace"]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {**base, **spec}}


def _workload(
    kind: str, name: str, namespace: str, labels: dict[str, str], **spec: Any
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "app", "image": "app:2"}]}
    if "nodeSelector" in spec:
        pod_spec["nodeSelector"] = spec.pop("nodeSelector")
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            **spec,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def _configmap(mode: str) -> dict[str, Any]:
    conf = (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
        f"mode: {mode}\nclusterCIDR: 10.0.0.0/9\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": conf},
    }


def make_doc(objects: list[dict[str, Any]], draw: Any) -> dict[str, Any]:
    """One generated manifest of a change to ``objects``."""
    services = _services(objects)
    svc = draw(st.sampled_from(services))
    other = draw(st.sampled_from(services))
    namespace, app = svc["metadata"]["namespace"], svc["spec"]["selector"]["app"]
    other_app = other["spec"]["selector"]["app"]
    what = draw(
        st.sampled_from(
            (
                "policy",
                "selector",
                "deployment",
                "statefulset",
                "daemonset",
                "replicas",
                "template",
                "configmap",
            )
        )
    )
    if what == "policy":
        flip = {"Cluster": "Local", "Local": "Cluster"}
        changes: dict[str, Any] = {
            "internalTrafficPolicy": flip[svc["spec"].get("internalTrafficPolicy", "Cluster")]
        }
        if svc["spec"]["type"] != "ClusterIP":
            changes = draw(
                st.sampled_from(
                    [
                        changes,
                        {
                            "externalTrafficPolicy": flip[
                                svc["spec"].get("externalTrafficPolicy") or "Cluster"
                            ]
                        },
                    ]
                )
            )
        return _service_doc(svc, **changes)
    if what == "selector":
        return _service_doc(svc, selector={"app": other_app})
    if what in ("deployment", "statefulset"):
        kind = "Deployment" if what == "deployment" else "StatefulSet"
        return _workload(
            kind,
            f"new-{what}-{draw(st.integers(0, 2))}",
            namespace,
            {"app": draw(st.sampled_from((app, f"{app}-canary")))},
            replicas=draw(st.integers(0, 6)),
        )
    if what == "daemonset":
        spec: dict[str, Any] = {}
        if draw(st.booleans()):
            spec["nodeSelector"] = {"topology.kubernetes.io/zone": draw(st.sampled_from("abc"))}
        return _workload("DaemonSet", f"daemon-{app}", namespace, {"app": app}, **spec)
    if what == "replicas":
        return _workload(
            "Deployment", app, namespace, {"app": app}, replicas=draw(st.integers(0, 8))
        )
    if what == "template":
        return _workload(
            "Deployment", app, namespace, {"app": draw(st.sampled_from((other_app, f"{app}-v2")))}
        )
    return _configmap(draw(st.sampled_from(("ipvs", "nftables", "iptables"))))


@st.composite
def changes(draw: Any) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    seed = draw(st.integers(0, 3))
    objects = cluster(seed)
    count = draw(st.integers(1, 4))
    return seed, [("change.yaml", make_doc(objects, draw)) for _ in range(count)]


def prepared(
    objects: list[dict[str, Any]], change: list[tuple[str, dict[str, Any]]]
) -> tuple[Snapshot, list[dict[str, Any]], bool]:
    """The before snapshot, the laid objects and the proxy flag, as ``check.check`` has them."""
    before = snapshot_from_objects(objects)
    laid, _, _, proxy, _, workloads = chk.overlay(
        objects, change, lambda owner: len(owner_pods(owner, before.pods))
    )
    return before, wl.lay(laid, workloads, before).objects, proxy


def structure(snapshot: Snapshot) -> dict[str, Any]:
    """Every field; mappings as (ordered) item lists, the endpoint index by content."""
    out: dict[str, Any] = {}
    for item in fields(Snapshot):
        value = getattr(snapshot, item.name)
        if item.name == "endpoint_index":
            out[item.name] = {key: dict(ports) for key, ports in value.items()}
        elif isinstance(value, Mapping):
            out[item.name] = list(value.items())
        else:
            out[item.name] = value
    return out


def answers(snapshot: Snapshot, keys: list[str]) -> list[Any]:
    """Every source kind from every node, and the LB, for the Services ``keys``."""
    out: list[Any] = []
    sources = [f"{k}:{n}" for n in snapshot.nodes for k in ("pod", "external")] + ["lb"]
    for key in keys:
        for source in sources:
            try:
                out.append(simulate(snapshot, Question(service=key, source=source)).to_json())
            except QuestionError as error:
                out.append(str(error))
    return out


@contextlib.contextmanager
def full_builds_only() -> Iterator[None]:
    """``check`` with both snapshots built from all objects (the paths they replace)."""
    with (
        mock.patch.object(chk, "_advanced", side_effect=NeedsFullRebuild("test")),
        mock.patch.object(chk, "services_snapshot", return_value=None),
    ):
        yield


@contextlib.contextmanager
def partial_counting() -> Iterator[list[bool]]:
    """Records, per before-snapshot, whether only the changed Services were read."""
    taken: list[bool] = []
    real = chk.services_snapshot

    def spy(*args: Any) -> Snapshot | None:
        result = real(*args)
        taken.append(result is not None)
        return result

    with mock.patch.object(chk, "services_snapshot", spy):
        yield taken


@contextlib.contextmanager
def counting() -> Iterator[list[bool]]:
    """Records, per after-snapshot, whether the incremental path answered."""
    taken: list[bool] = []
    real = chk._advanced

    def spy(*args: Any) -> Snapshot:
        try:
            result = real(*args)
        except NeedsFullRebuild:
            taken.append(False)
            raise
        taken.append(True)
        return result

    with mock.patch.object(chk, "_advanced", spy):
        yield taken


SETTINGS = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(changes())
def test_the_advanced_after_snapshot_equals_a_whole_build(case: tuple[int, list]) -> None:
    seed, change = case
    objects = cluster(seed)
    before, laid, proxy = prepared(objects, change)
    advanced = chk.after_snapshot(before, objects, laid, proxy=proxy)
    whole = snapshot_from_objects(laid)
    assert structure(advanced) == structure(whole)


@SETTINGS
@given(changes())
def test_the_check_reports_the_same_either_way(case: tuple[int, list]) -> None:
    seed, change = case
    with counting() as taken, partial_counting() as partial:
        report = chk.check(cluster(seed), change, "new-drops,client-ip-lost,imbalance>1.5")
    with full_builds_only():
        whole = chk.check(cluster(seed), change, "new-drops,client-ip-lost,imbalance>1.5")
    assert report == whole
    # Services alone: only they (and the node table) are read before the change.
    assert partial == ([True] if all(o["kind"] == "Service" for _, o in change) else [])
    if any(obj["kind"] == "ConfigMap" for _, obj in change):
        assert taken == []  # the ConfigMap moves every node's kube-proxy: a whole build
    else:
        assert taken == [True]  # Services and workloads: always the incremental path


@settings(derandomize=True, max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes())
def test_the_after_snapshot_analyses_and_answers_like_a_whole_build(
    case: tuple[int, list],
) -> None:
    seed, change = case
    objects = cluster(seed)
    before, laid, proxy = prepared(objects, change)
    advanced = chk.after_snapshot(before, objects, laid, proxy=proxy)
    whole = snapshot_from_objects(laid)
    assert analyze(advanced).to_json(endpoints=True) == analyze(whole).to_json(endpoints=True)
    keys = sorted(advanced.services)[:6]
    assert answers(advanced, keys) == answers(whole, keys)


def test_service_and_workload_changes_take_the_incremental_path() -> None:
    objects = cluster(0)
    services = _services(objects)
    svc, other = services[0], services[1]
    namespace, app = svc["metadata"]["namespace"], svc["spec"]["selector"]["app"]
    cases = [
        [_service_doc(svc, internalTrafficPolicy="Local")],
        [_service_doc(svc, selector={"app": other["spec"]["selector"]["app"]})],
        [_workload("Deployment", "fresh", namespace, {"app": app}, replicas=3)],
        [_workload("StatefulSet", "fresh", namespace, {"app": app}, replicas=2)],
        [_workload("DaemonSet", "fresh", namespace, {"app": app})],
        [_workload("Deployment", app, namespace, {"app": f"{app}-v2"})],
    ]
    for docs in cases:
        change = [("change.yaml", doc) for doc in docs]
        objects = cluster(0)
        before, laid, proxy = prepared(objects, change)
        assert laid is not objects
        advanced = chk._advanced(before, objects, laid)  # raises if it would fall back
        assert structure(advanced) == structure(snapshot_from_objects(laid))
        # Only what changed was built again: the untouched Services are the same objects.
        same = [k for k in before.services if advanced.services[k] is before.services[k]]
        assert len(same) >= len(before.services) - 1


def test_a_kube_proxy_configmap_change_builds_from_every_object() -> None:
    objects = cluster(1)
    change = [("change.yaml", _configmap("ipvs"))]
    with counting() as taken:
        report = chk.check(objects, change, "new-drops")
    assert taken == []
    assert report["services"] == sorted(
        k for k in snapshot_from_objects(objects).services
    )  # every Service is touched by the ConfigMap
    before, laid, proxy = prepared(cluster(1), change)
    assert proxy
    after = chk.after_snapshot(before, cluster(1), laid, proxy=True)
    assert after.proxy.mode == "ipvs" and before.proxy.mode == "iptables"


def test_a_pod_that_leaves_and_returns_under_its_name_builds_from_every_object() -> None:
    objects = cluster(2)
    before = snapshot_from_objects(objects)
    pods = [i for i, o in enumerate(objects) if o["kind"] == "Pod"]
    moved = dict(objects[pods[0]], metadata=dict(objects[pods[0]]["metadata"]))
    laid = [o for i, o in enumerate(objects) if i != pods[0]] + [moved]
    try:
        chk._advanced(before, objects, laid)
    except NeedsFullRebuild:
        pass
    else:
        raise AssertionError("the overlay would keep the pod where it was")
    after = chk.after_snapshot(before, objects, laid)
    assert list(after.pods) == list(snapshot_from_objects(laid).pods)
    assert list(after.pods)[-1] == f"{moved['metadata']['namespace']}/{moved['metadata']['name']}"


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(args))
    return code, out.getvalue()


def test_routescope_check_prints_the_same_either_way(tmp_path: Any) -> None:
    import yaml

    objects = cluster(3)
    dump = tmp_path / "cluster.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    services = _services(objects)
    external = [s for s in services if s["spec"]["type"] != "ClusterIP"][:3]
    docs = [
        _service_doc(
            s,
            externalTrafficPolicy="Local"
            if s["spec"].get("externalTrafficPolicy") != "Local"
            else "Cluster",
        )
        for s in external
    ]
    first = services[0]
    docs.append(
        _workload(
            "Deployment",
            "fresh",
            first["metadata"]["namespace"],
            {"app": first["spec"]["selector"]["app"]},
            replicas=4,
        )
    )
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump_all(docs))
    for fmt in ("json", "markdown", "junit"):
        with counting() as taken:
            code, text = _run("check", "--cluster", str(dump), str(change), "-o", fmt)
        with full_builds_only():
            code_whole, whole = _run("check", "--cluster", str(dump), str(change), "-o", fmt)
        assert code == 1 and taken == [True]
        assert (code, text) == (code_whole, whole)
        assert text.strip()
    services_only = tmp_path / "services.yaml"
    services_only.write_text(yaml.safe_dump_all(docs[:-1]))
    with partial_counting() as partial:
        code, text = _run("check", "--cluster", str(dump), str(services_only), "-o", "json")
    with full_builds_only():
        assert _run("check", "--cluster", str(dump), str(services_only), "-o", "json") == (
            code,
            text,
        )
    assert partial == [True] and json.loads(text)["findings"]
    report = json.loads(_run("check", "--cluster", str(dump), str(change), "-o", "json")[1])
    assert set(report["services"]) >= {
        f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in external
    }


@settings(derandomize=True, max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 3), picks=st.lists(st.integers(0, 100), min_size=1, max_size=3))
def test_the_changed_services_alone_answer_like_the_whole_cluster(
    seed: int, picks: list[int]
) -> None:
    from routing.whatif.preview import service_entries, source_groups

    objects = cluster(seed)
    whole = snapshot_from_objects(objects)
    keys = sorted(whole.services)
    chosen = {keys[i % len(keys)] for i in picks}
    part = chk.services_snapshot(objects, chosen)
    assert part is not None and set(part.services) == chosen
    assert (part.nodes, part.proxy, part.node_proxy, part.notes) == (
        whole.nodes,
        whole.proxy,
        whole.node_proxy,
        whole.notes,
    )
    assert answers(part, sorted(chosen)) == answers(whole, sorted(chosen))
    for key in chosen:
        assert source_groups(part, key) == source_groups(whole, key)
        expected: object
        got: object
        try:
            expected = service_entries(whole, key)
        except QuestionError as error:
            expected = str(error)
        try:
            got = service_entries(part, key)
        except QuestionError as error:
            got = str(error)
        assert got == expected


def test_a_cluster_without_endpoint_slices_is_read_whole() -> None:
    objects = [o for o in cluster(0) if o["kind"] != "EndpointSlice"]
    key = next(iter(snapshot_from_objects(objects).services))
    assert chk.services_snapshot(objects, {key}) is None
    # check then builds the whole snapshot (endpoints derived from every Pod) and says so.
    svc = _services(objects)[0]
    change = [("change.yaml", _service_doc(svc, internalTrafficPolicy="Local"))]
    with partial_counting() as partial:
        before = chk.before_snapshot(objects, change)
    assert partial == [False]
    assert any("derived from Pods" in note for note in before.notes)
    assert len(before.services) == len(snapshot_from_objects(objects).services)
