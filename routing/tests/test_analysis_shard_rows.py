"""Analysis shards built from rows (``routing.snapshots.services_snapshot``: the node table
plus only the shard's Services and EndpointSlices, with the cluster's Service totals from
``service_plan``) merge into exactly the whole-snapshot analysis, and the stored columns
the shard jobs write (``routing.analysis_jobs.merged_payload``, rendered per shard by
msgspec) are exactly ``stored_payload`` of the whole report.

Property test over clusters from ``cluster/generator.py`` (every Service type, traffic
policies, topology hints, headless Services) with hand-written extras: a dual-stack
Service, an ExternalName one, one labelled for another service proxy, one without any
EndpointSlice, and an eTP=Local load balancer whose slice carries a port no Service port
names (its endpoints count for the health check: ``Snapshot.unserved_endpoints``).
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.generator import Shape, generate_cluster
from cluster.models import Cluster
from cluster.services import cluster_import
from routing.analysis_jobs import (
    analysis_request,
    merged_payload,
    shard_part,
    shard_sizes,
    stored_payload,
)
from routing.engine.analysis import ServiceTotals, analyze, key_shard, key_shards, merge
from routing.models import ClusterAnalysis
from routing.selectors import simulate_answer
from routing.snapshots import (
    PLAN_SERVICE_WEIGHT,
    raw_decode,
    service_plan,
    service_snapshot,
    services_snapshot,
    snapshot_cache_clear,
    snapshot_for_cluster,
)
from routing.stored_analysis import rows_text

pytestmark = pytest.mark.django_db

EDGE = "edge"


def _slice(
    name: str, service: str, family: str, ports: list[dict], endpoints: list[dict]
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": EDGE,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": family,
        "ports": ports,
        "endpoints": endpoints,
    }


def _endpoint(ip: str, node: str, *, ready: bool = True) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}}


def _service(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": EDGE, **meta},
        "spec": spec,
    }


def _edge_objects(nodes: list[str]) -> list[dict[str, Any]]:
    """Services the generator does not make, on the generated nodes."""
    a, b = nodes[0], nodes[-1]
    http = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    lb = _service(
        "lb-local",
        {
            "type": "LoadBalancer",
            "clusterIP": "10.99.0.1",
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32001,
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31001}],
        },
    )
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    return [
        lb,
        # The health check counts a Ready endpoint on b through a port the Service does
        # not name, so the load balancer sends clients to b, where eTP=Local drops them.
        _slice(
            "lb-local-1",
            "lb-local",
            "IPv4",
            [*http, {"name": "metrics", "port": 9090, "protocol": "TCP"}],
            [_endpoint("10.250.0.1", a)],
        ),
        _slice(
            "lb-local-2",
            "lb-local",
            "IPv4",
            [{"name": "metrics", "port": 9090, "protocol": "TCP"}],
            [_endpoint("10.250.0.2", b)],
        ),
        _service(
            "dual",
            {
                "clusterIP": "10.99.0.2",
                "clusterIPs": ["10.99.0.2", "fd00::2"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "RequireDualStack",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        ),
        _slice("dual-4", "dual", "IPv4", http, [_endpoint("10.250.0.3", a)]),
        _slice("dual-6", "dual", "IPv6", http, [_endpoint("fd00:250::3", b)]),
        _service("ext", {"type": "ExternalName", "externalName": "example.com"}),
        _service(
            "other-proxy",
            {"clusterIP": "10.99.0.3", "ports": [{"port": 80}]},
            labels={"service.kubernetes.io/service-proxy-name": "cilium"},
        ),
        _slice("other-proxy-1", "other-proxy", "IPv4", http, [_endpoint("10.250.0.4", a)]),
        _service("no-slices", {"clusterIP": "10.99.0.4", "ports": [{"port": 80}]}),
    ]


def _cluster(seed: int, nodes: int, services: int, *, edge: bool = True) -> Cluster:
    out = io.StringIO()
    generate_cluster(
        shape=Shape(nodes=nodes, services=services, pods=services * 3, zones=3, seed=seed),
        out=out,
    )
    objects = json.loads(out.getvalue())["items"]
    names = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Node")
    if edge:
        objects += _edge_objects(names)
    name = f"rows-{seed}-{nodes}-{services}-{int(edge)}"
    Cluster.objects.filter(name=name).delete()
    cluster_import(name=name, objects=objects)
    return Cluster.objects.get(name=name)


def _shards(
    cluster: Cluster, of: int, *, weighted: bool = True, sizes: list[float] | None = None
) -> list[Any]:
    plan = service_plan(cluster=cluster)
    reports = []
    for shard in range(of):
        keys = key_shard(
            plan.keys, shard, of, weights=plan.weights if weighted else None, sizes=sizes
        )
        snapshot = services_snapshot(cluster=cluster, keys=keys)
        assert set(snapshot.services) <= set(keys)
        reports.append(analyze(snapshot, services=keys, totals=plan.totals))
    return reports


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    nodes=st.sampled_from([3, 8, 20]),
    services=st.integers(min_value=2, max_value=12),
    of=st.integers(min_value=1, max_value=5),
)
def test_shards_from_rows_merge_into_the_whole_analysis(
    seed: int, nodes: int, services: int, of: int
) -> None:
    snapshot_cache_clear()
    cluster = _cluster(seed, nodes, services)
    whole_snapshot = snapshot_for_cluster(cluster=cluster)
    whole = analyze(whole_snapshot)
    assert service_plan(cluster=cluster).totals == ServiceTotals.of(whole_snapshot.services)
    parts = _shards(cluster, of)
    merged = merge(parts)
    assert merged.to_json(endpoints=True) == whole.to_json(endpoints=True)
    assert merged.summary() == whole.summary()
    payload = merged_payload([shard_part(part) for part in parts])
    stored = {column: json.loads(text) for column, text in payload.items()}
    assert stored == _as_json(stored_payload(whole))
    # Even shards (by Service count) merge the same, and so do shrinking ones (the jobs').
    assert merge(_shards(cluster, of, weighted=False)).to_json() == whole.to_json()
    assert merge(_shards(cluster, of, sizes=shard_sizes(of))).to_json() == whole.to_json()


def test_stored_columns_read_back_equal_whatever_path_stored_them() -> None:
    """Parts merged by the last shard (``_merge``: findings and rows stored as JSON text,
    report and figures as JSON) and the inline store read back through the readers as
    the whole report's ``stored_payload``."""
    import pickle

    from routing import stored_analysis
    from routing.analysis_jobs import _merge, analysis_inputs, analysis_store_inline, part_columns
    from routing.analysis_jobs import inputs_fingerprint as fingerprint
    from routing.models import AnalysisPart

    snapshot_cache_clear()
    cluster = _cluster(29, 8, 9)
    expected = _as_json(stored_payload(analyze(snapshot_for_cluster(cluster=cluster))))
    parts = _shards(cluster, 3)
    merging = ClusterAnalysis.objects.create(
        cluster=cluster,
        revision=cluster.revision,
        inputs=fingerprint(analysis_inputs(cluster)),
        shards_total=3,
        state=ClusterAnalysis.State.RUNNING,
    )
    for index, part in enumerate(parts):
        columns = part_columns(shard_part(part))
        assert pickle.loads(columns["data"]).rows_json == b"[]"  # the rows go apart
        AnalysisPart.objects.create(analysis=merging, index=index, **columns)
    _merge(merging.pk)
    merged = ClusterAnalysis.objects.get(pk=merging.pk)
    assert merged.state == ClusterAnalysis.State.DONE and merged.rows == ""
    # The parts keep their rows (the readers join them), not the rest.
    kept = AnalysisPart.objects.filter(analysis=merging).order_by("index")
    assert [bytes(p.data) for p in kept] == [b""] * 3
    assert [json.loads(p.rows) for p in kept] == [
        _as_json([row.to_json() for row in part.rows]) for part in parts
    ]
    read = {
        "report": stored_analysis.stored_report(merged),
        "findings": stored_analysis.stored_findings(merged),
        "rows": stored_analysis.stored_rows(merged),
        "figures": stored_analysis.stored_figures(merged),
    }
    assert read == expected and read["rows"] and read["findings"]
    merged.delete()
    inline = analysis_store_inline(cluster=cluster)
    assert inline.pk != merged.pk and json.loads(inline.rows) == expected["rows"]
    assert stored_analysis.stored_rows(inline) == expected["rows"]
    assert stored_analysis.stored_findings(inline) == expected["findings"]


def test_edge_services_are_in_the_merged_analysis() -> None:
    snapshot_cache_clear()
    cluster = _cluster(5, 6, 3)
    whole_snapshot = snapshot_for_cluster(cluster=cluster)
    whole = analyze(whole_snapshot)
    plan = service_plan(cluster=cluster)
    assert plan.totals == ServiceTotals(len(whole_snapshot.services), 1, f"{EDGE}/dual")
    assert any("1 dual-stack Service(s) (e.g. edge/dual)" in note for note in whole.notes)
    codes = {f.code for f in whole.findings if f.service.startswith(f"{EDGE}/")}
    assert {"NOT_PROXIED_EXTERNAL_NAME", "NOT_PROXIED_OTHER_PROXY", "NO_READY_ENDPOINTS"} <= codes
    lb = whole.row(f"{EDGE}/lb-local").source("lb")  # type: ignore[union-attr]
    assert lb is not None and lb.nodes == 2 and lb.dropped == pytest.approx(0.5)
    # Each edge Service alone in its shard, and one shard holding nothing.
    for key in sorted(k for k in plan.keys if k.startswith(f"{EDGE}/")):
        alone = services_snapshot(cluster=cluster, keys=[key])
        assert list(alone.services) == [key]
        assert alone.unserved_endpoints.get(key) == whole_snapshot.unserved_endpoints.get(key)
        part = analyze(alone, services=[key], totals=plan.totals)
        assert [r.to_json(endpoints=True) for r in part.rows] == [
            r.to_json(endpoints=True) for r in whole.rows if r.service == key
        ]
        assert part.findings == whole.findings_for(key)
        assert part.notes == whole.notes and part.services == whole.services
    empty = analyze(services_snapshot(cluster=cluster, keys=[]), services=[], totals=plan.totals)
    assert empty.rows == () and empty.findings == () and empty.notes == whole.notes


def test_weighted_shards_balance_endpoints_and_cover_every_key_once() -> None:
    keys = [f"ns/s{i:02}" for i in range(20)]
    weights = {key: 1 for key in keys} | {"ns/s00": 100, "ns/s19": 100}
    shards = [key_shard(keys, i, 4, weights=weights) for i in range(4)]
    assert [k for shard in shards for k in shard] == sorted(keys)
    assert shards[0][0] == "ns/s00" and shards[-1][-1] == "ns/s19"
    # The two heavy keys go to shards of their own: the light ones share the middle.
    assert shards[0] == ["ns/s00"] and shards[-1] == ["ns/s19"]
    even = [key_shard(keys, i, 4) for i in range(4)]
    assert [len(shard) for shard in even] == [5, 5, 5, 5]
    assert key_shard([], 0, 3, weights={}) == []
    # All shards at once, from one sort: the same runs.
    rng = random.Random(5)
    many = [f"ns/s{i:04}" for i in range(500)]
    skewed = {key: rng.choice([0, 1, 8, 40, 300]) for key in many[::2]}
    for of in (1, 3, 50):
        for w in (None, weights, skewed, {}):
            assert key_shards(many, of, weights=w) == [
                key_shard(many, i, of, weights=w) for i in range(of)
            ]
    with pytest.raises(ValueError):
        key_shard(keys, 4, 4, weights=weights)


def test_one_service_path_keeps_unserved_slice_ports_for_the_health_check() -> None:
    snapshot_cache_clear()
    cluster = _cluster(9, 4, 2)
    whole = snapshot_for_cluster(cluster=cluster)
    key = f"{EDGE}/lb-local"
    part = service_snapshot(cluster=cluster, services=[key])
    assert part.unserved_endpoints[key] == whole.unserved_endpoints[key] != ()
    assert simulate_answer(snapshot=part, service=key, source="lb") == simulate_answer(
        snapshot=whole, service=key, source="lb"
    )


def test_shard_jobs_store_the_whole_analysis(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shard jobs (run inline: eager tasks) store what the whole report gives; each
    reads its rows with the cyclic GC paused (restored after), in the shrinking sizes the
    request recorded."""
    import gc

    import routing.analysis_jobs as analysis_jobs
    from jobs.models import Job

    snapshot_cache_clear()
    cluster = _cluster(11, 8, 10)
    whole = analyze(snapshot_for_cluster(cluster=cluster))
    read: list[tuple[int, bool]] = []

    def noted(*, cluster: Cluster, keys: list[str]) -> Any:
        read.append((len(keys), gc.isenabled()))
        return services_snapshot(cluster=cluster, keys=keys)

    monkeypatch.setattr(analysis_jobs, "services_snapshot", noted)
    assert gc.isenabled()
    with django_capture_on_commit_callbacks(execute=True):
        analysis = analysis_request(cluster=cluster, shards=3)
    assert gc.isenabled()
    assert [enabled for _, enabled in read] == [False, False, False]
    assert sum(count for count, _ in read) == len(service_plan(cluster=cluster).keys)
    params = [job.params for job in Job.objects.filter(kind="analysis").order_by("pk")]
    assert [p["sizes"] for p in params] == [shard_sizes(3)] * 3
    assert shard_sizes(3) == [1.0, 0.7, 0.49]
    stored = ClusterAnalysis.objects.get(pk=analysis.pk)
    assert stored.state == ClusterAnalysis.State.DONE and stored.shards_done == 3
    expected = _as_json(stored_payload(whole))
    for column in ("report", "figures"):
        assert getattr(stored, column) == expected[column], column
    assert json.loads(stored.findings) == expected["findings"]  # JSON text
    assert stored.rows == "" and json.loads(rows_text(stored.pk)) == expected["rows"]


def test_many_keys_are_read_by_their_text_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``_FEW_KEYS`` Services a shard reads its rows by "namespace/name" text, in
    chunks: the same Services and endpoints, slices in the whole build's order."""
    import routing.snapshots as snapshots

    snapshot_cache_clear()
    cluster = _cluster(13, 5, 9)
    whole = snapshot_for_cluster(cluster=cluster)
    monkeypatch.setattr(snapshots, "_FEW_KEYS", 0)
    monkeypatch.setattr(snapshots, "_KEYS_CHUNK", 2)
    keys = service_plan(cluster=cluster).keys
    assert sorted(keys) == sorted(whole.services) and len(keys) > 4
    rows = services_snapshot(cluster=cluster, keys=keys)
    assert dict(rows.services) == dict(whole.services)
    assert dict(rows.endpoint_index) == dict(whole.endpoint_index)
    assert dict(rows.family_endpoints) == dict(whole.family_endpoints)
    assert dict(rows.unserved_endpoints) == dict(whole.unserved_endpoints)
    some = services_snapshot(cluster=cluster, keys=keys[1:4])
    assert sorted(some.services) == sorted(keys[1:4])


def _batch(cluster: Cluster, obj: dict[str, Any], capture: Any) -> Cluster:
    from cluster.watch_events import events_apply

    with capture(execute=True):  # the state_advanced signal goes out on commit
        events_apply(cluster=cluster, events=[("MODIFIED", obj)])
    return Cluster.objects.get(pk=cluster.pk)


def test_a_watch_batch_carries_the_node_table_over_unless_it_touches_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from routing.cache import state_cache
    from routing.snapshots import NODES_KIND, node_table, node_table_for_cluster

    snapshot_cache_clear()
    cluster = _cluster(17, 5, 4, edge=False)
    table = node_table_for_cluster(cluster=cluster)
    state_cache.forget(kind=NODES_KIND)  # only its pickle left: carried from disk
    service = dict(Cluster.objects.get(pk=cluster.pk).services.order_by("pk")[0].raw)
    service["metadata"] = {**service["metadata"], "labels": {"bench": "1"}}
    moved = _batch(cluster, service, django_capture_on_commit_callbacks)
    assert moved.revision == cluster.revision + 1
    carried = state_cache.get(moved.state_key, NODES_KIND)
    assert carried is not None and carried.nodes == table.nodes
    fresh = node_table(cluster=moved)
    assert (carried.nodes, carried.node_proxy, carried.proxy, carried.notes) == (
        fresh.nodes,
        fresh.node_proxy,
        fresh.proxy,
        fresh.notes,
    )
    # A Node changed: its table is rebuilt from the rows by the next reader.
    node = dict(moved.nodes.order_by("pk")[0].raw)
    node["metadata"] = {
        **node["metadata"],
        "labels": {**node["metadata"].get("labels", {}), "topology.kubernetes.io/zone": "z9"},
    }
    again = _batch(moved, node, django_capture_on_commit_callbacks)
    assert state_cache.get(again.state_key, NODES_KIND) is None
    rebuilt = node_table_for_cluster(cluster=again)
    assert rebuilt.nodes[node["metadata"]["name"]].zone == "z9"
    # A kube-system Pod (a node's kube-proxy may carry its own mode) touches it too.
    name = node["metadata"]["name"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"kube-proxy-{name}", "namespace": "kube-system"},
        "spec": {
            "nodeName": name,
            "containers": [{"name": "kube-proxy", "command": ["kube-proxy", "--proxy-mode=ipvs"]}],
        },
        "status": {"phase": "Running"},
    }
    node_table_for_cluster(cluster=again)
    last = _batch(again, pod, django_capture_on_commit_callbacks)
    assert state_cache.get(last.state_key, NODES_KIND) is None
    assert node_table_for_cluster(cluster=last).proxy_for(name).mode == "ipvs"


def test_watch_idle_pickles_before_the_request() -> None:
    """The carried node table (the shards read it) is written before the analysis is
    requested; the whole snapshot (other pages read it) after."""
    from cluster.signals import watch_idle

    uids = [key[0] for key, *_ in watch_idle.receivers if str(key[0]).startswith("routing.")]
    assert uids == ["routing.snapshots", "routing.analysis", "routing.snapshots.whole"]


@pytest.mark.django_db(transaction=True)  # the request runs on commit, as in a watch process
def test_with_workers_the_whole_snapshot_is_pickled_after_the_request_by_a_niced_child(
    settings: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    """With a broker, a watch's idle pickles the node table, requests the analysis (its
    shards start at once), then hands the whole snapshot's pickle to a forked child at
    ``nice`` 19: the same snapshot reaches disk without taking a core from the shards."""
    import os
    import pickle

    from cluster.signals import watch_idle
    from cluster.watch_events import events_apply
    from routing import analysis_jobs, cache
    from routing.cache import pickle_path, state_cache
    from routing.snapshots import NODES_KIND, node_table_for_cluster, snapshot_path

    snapshot_cache_clear()
    cluster = _cluster(23, 4, 3, edge=False)
    node_table_for_cluster(cluster=cluster)
    before = snapshot_for_cluster(cluster=cluster)
    service = dict(Cluster.objects.get(pk=cluster.pk).services.order_by("pk")[0].raw)
    service["metadata"] = {**service["metadata"], "labels": {"bench": "2"}}
    events_apply(cluster=cluster, events=[("MODIFIED", service)])  # advances both, later
    moved = Cluster.objects.get(pk=cluster.pk)
    advanced = snapshot_for_cluster(cluster=moved)
    assert advanced is not before and not snapshot_path(moved.state_key).is_file()

    seen: list[tuple[bool, bool]] = []

    def request(*, cluster: Cluster) -> None:
        key = cluster.state_key
        seen.append((pickle_path(key, NODES_KIND).is_file(), snapshot_path(key).is_file()))

    monkeypatch.setattr(analysis_jobs, "analysis_request", request)
    store = cache.StateCache._store
    parent = os.getpid()

    def niceness_noted(self: Any, key: Any, kind: str, value: Any) -> None:
        (tmp_path / f"{kind}-{os.getpid()}").write_text(str(os.nice(0)))
        if os.path.exists("/proc/self/autogroup"):  # the session's share, where autogroups are
            with open("/proc/self/autogroup") as autogroup:
                (tmp_path / f"group-{kind}-{os.getpid()}").write_text(autogroup.read())
        store(self, key, kind, value)

    monkeypatch.setattr(cache.StateCache, "_store", niceness_noted)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # workers: the idle signal requests the analysis
    watch_idle.send(sender=Cluster, cluster=moved)
    assert seen == [(True, False)]  # the node table on disk, the whole snapshot not yet
    assert state_cache.wait_background(timeout=120)
    with open(snapshot_path(moved.state_key), "rb") as handle:
        written = pickle.load(handle)
    assert dict(written.services) == dict(advanced.services)
    assert dict(written.endpoint_index) == dict(advanced.endpoint_index)
    notes = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert notes[f"{NODES_KIND}-{parent}"] == str(os.nice(0))  # in this process, first
    (child,) = [name for name in notes if name.startswith("snapshot-")]
    assert child != f"snapshot-{parent}" and notes[child] == "19"
    if f"group-{child}" in notes:  # its own session's autogroup, at nice 19 as well
        assert notes[f"group-{child}"].split()[-1] == "19"
        assert notes[f"group-{child}"] != notes[f"group-{NODES_KIND}-{parent}"]
    snapshot_cache_clear()


def test_the_plan_is_read_once_per_state(django_assert_num_queries: Any) -> None:
    from cluster.models import EndpointSlice

    snapshot_cache_clear()
    cluster = _cluster(19, 3, 3, edge=False)
    plan = service_plan(cluster=cluster)
    again = Cluster.objects.get(pk=cluster.pk)
    with django_assert_num_queries(0):
        assert service_plan(cluster=again) is plan
    # Weights: PLAN_SERVICE_WEIGHT per Service plus one per endpoint of its slices.
    expected = dict.fromkeys(plan.keys, PLAN_SERVICE_WEIGHT)
    for namespace, service, raw in EndpointSlice.objects.filter(cluster=cluster).values_list(
        "namespace", "service_name", "raw"
    ):
        expected[f"{namespace}/{service}"] += len(raw.get("endpoints") or ())
    assert plan.weights == expected and max(expected.values()) > PLAN_SERVICE_WEIGHT


@pytest.mark.parametrize(
    "text",
    [
        '{"kind":"Service","metadata":{"name":"a","labels":{"x":"1","x":"2"}}}',
        '{"n":123456789012345678901234567890,"m":-9223372036854775809,"f":1.0000000000000001}',
        '{"e":1e400,"g":-1e400}',
        '{"nan":NaN,"inf":Infinity}',
        '{"lone":"\\ud800","pair":"\\ud83d\\ude00","nul":"\\u0000","u":"\u00e9\u4e2d"}',
        '[0.1,-0.0,5e-324,1.7976931348623157e308,{"deep":[[[[]]]]}]',
        "not json at all",
        '{"a": 1',
    ],
)
def test_raw_columns_decode_as_django_reads_them(text: str) -> None:
    """``raw_decode`` (msgspec, then json where msgspec refuses) gives what the JSONField
    gives: ``json.loads``, or the text itself when it is no JSON."""
    try:
        expected: Any = json.loads(text)
    except json.JSONDecodeError:
        expected = text
    got = raw_decode(text)
    assert repr(got) == repr(expected)  # NaN != NaN, but their reprs agree
    assert type(got) is type(expected)
