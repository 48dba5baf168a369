"""snapshot_for_cluster: the engine snapshot of a stored cluster, cached per state
(routing.cache)."""

from __future__ import annotations

import pytest

from cluster.models import Cluster
from cluster.services import cluster_import, cluster_replace_state
from routing.engine.simulate import Question, simulate
from routing.snapshots import snapshot_cache_clear, snapshot_for_cluster
from routing.tests.engine.core_builders import (
    endpoint_obj,
    node_obj,
    pod_obj,
    service_obj,
    slice_obj,
)

pytestmark = pytest.mark.django_db


def objects(*ready: bool) -> list[dict]:
    eps = [endpoint_obj(f"10.0.0.{i + 1}", "n1", ready=r) for i, r in enumerate(ready)]
    return [node_obj("n1", zone="a"), service_obj("web"), slice_obj("web", eps)]


def test_same_revision_same_snapshot_and_a_new_revision_rebuilds() -> None:
    snapshot_cache_clear()
    cluster_import(name="c1", objects=objects(True, True))
    cluster = Cluster.objects.get(name="c1")
    first = snapshot_for_cluster(cluster=cluster)
    assert snapshot_for_cluster(cluster=Cluster.objects.get(name="c1")) is first
    assert (
        len(
            simulate(first, Question(service="default/web", source="pod:n1")).to_json()["endpoints"]
        )
        == 2
    )

    cluster_replace_state(cluster=cluster, objects=objects(True, False))
    second = snapshot_for_cluster(cluster=Cluster.objects.get(name="c1"))
    assert second is not first
    assert [
        e["ip"]
        for e in simulate(second, Question(service="default/web", source="pod:n1")).to_json()[
            "endpoints"
        ]
    ] == ["10.0.0.1"]


def _objects_with_node(name: str) -> list[dict]:
    return [
        node_obj(name, zone="a"),
        service_obj("web"),
        slice_obj("web", [endpoint_obj("10.0.0.1", name)]),
    ]


def test_a_recreated_cluster_with_the_same_pk_and_revision_is_not_served_stale():
    """SQLite hands a deleted cluster's pk out again and the revision restarts; the cache
    must tell the new cluster from the old one (state_key includes the creation time)."""
    snapshot_cache_clear()
    cluster_import(name="one", objects=_objects_with_node("n-old"))
    old = Cluster.objects.get(name="one")
    assert set(snapshot_for_cluster(cluster=old).nodes) == {"n-old"}
    pk, revision = old.pk, old.revision
    old.delete()
    # The clash a reused rowid produces: same pk, same revision, other objects.
    new = Cluster.objects.create(id=pk, name="two")
    cluster_replace_state(cluster=new, objects=_objects_with_node("n-new"))
    Cluster.objects.filter(pk=pk).update(revision=revision)
    new = Cluster.objects.get(name="two")
    assert (new.pk, new.revision) == (pk, revision)
    assert set(snapshot_for_cluster(cluster=new).nodes) == {"n-new"}


# ---- persisted cache and watch-batch advance ----------------------------------------------

import routing.snapshots as snapshots  # noqa: E402
from cluster.signals import watch_idle  # noqa: E402
from cluster.testing.fixtures import fake_api, kubeconfig  # noqa: E402
from cluster.watch_events import events_apply  # noqa: E402
from routing.cache import DISK_KEEP, state_cache  # noqa: E402
from routing.snapshots import snapshot_path  # noqa: E402


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    settings.ROUTESCOPE_SNAPSHOT_DIR = tmp_path / "snapshots"
    snapshot_cache_clear()
    yield settings.ROUTESCOPE_SNAPSHOT_DIR
    snapshot_cache_clear()


def _answer(snapshot) -> dict:
    return simulate(snapshot, Question(service="default/web", source="pod:n1")).to_json()


def test_a_new_process_loads_the_pickle_instead_of_rebuilding(snapshot_dir, monkeypatch) -> None:
    cluster_import(name="c1", objects=objects(True, True))
    cluster = Cluster.objects.get(name="c1")
    built = snapshot_for_cluster(cluster=cluster)
    assert snapshot_path(cluster.state_key).is_file()  # written before the build lock is released

    state_cache.forget()  # what another worker process starts with
    monkeypatch.setattr(
        snapshots, "cluster_objects", lambda **_: pytest.fail("rebuilt from the rows")
    )
    loaded = snapshot_for_cluster(cluster=cluster)
    assert loaded is not built and _answer(loaded) == _answer(built)
    assert dict(loaded.nodes) == dict(built.nodes)


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_corrupt_pickle_is_ignored_and_rebuilt(snapshot_dir, content: bytes) -> None:
    cluster_import(name="c1", objects=objects(True, False))
    cluster = Cluster.objects.get(name="c1")
    path = snapshot_path(cluster.state_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    snapshot = snapshot_for_cluster(cluster=cluster)
    assert [e["ip"] for e in _answer(snapshot)["endpoints"]] == ["10.0.0.1"]
    assert path.stat().st_size > len(content)
    state_cache.forget()
    assert _answer(snapshot_for_cluster(cluster=cluster)) == _answer(
        snapshot
    )  # rewritten, readable


def test_only_the_newest_pickles_of_a_cluster_are_kept(snapshot_dir) -> None:
    cluster_import(name="c1", objects=objects(True))
    cluster = Cluster.objects.get(name="c1")
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    (snapshot_dir / f"{cluster.pk}-1-1.000000.pickle").write_bytes(b"named before kinds")
    for ready in (True, False, True, False, True):
        cluster_replace_state(cluster=cluster, objects=objects(ready, True))
        snapshot_for_cluster(cluster=Cluster.objects.get(name="c1"))
    revisions = sorted(
        int(p.name.split("-")[1]) for p in snapshot_dir.glob(f"{cluster.pk}-*.pickle")
    )
    assert all(p.name.endswith("-snapshot.pickle") for p in snapshot_dir.glob("*.pickle"))
    current = Cluster.objects.get(name="c1").revision
    assert revisions == [current - 2, current - 1, current] and DISK_KEEP == 3


def test_a_watch_batch_advances_the_cached_snapshot(
    snapshot_dir, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    cluster_import(name="c1", objects=objects(True, True) + [node_obj("n2", zone="b")])
    cluster = Cluster.objects.get(name="c1")
    snapshot_for_cluster(cluster=cluster)
    events = [
        (
            "MODIFIED",
            slice_obj("web", [endpoint_obj("10.0.0.1", "n1"), endpoint_obj("10.0.0.9", "n2")]),
        ),
        ("ADDED", service_obj("api", cluster_ip="10.96.0.11")),
        ("ADDED", slice_obj("api", [endpoint_obj("10.0.1.1", "n2")])),
        ("MODIFIED", node_obj("n1", zone="a", ready=False)),
        ("ADDED", pod_obj("web-1", "n2", "10.0.0.9")),
    ]
    with django_capture_on_commit_callbacks(execute=True):  # the snapshot advances after commit
        assert events_apply(cluster=cluster, events=events)["applied"] == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            events_apply(cluster=cluster, events=[("DELETED", slice_obj("web", []))])["applied"]
            == 1
        )
    cluster = Cluster.objects.get(name="c1")
    with monkeypatch.context() as patch:
        patch.setattr(
            snapshots, "cluster_objects", lambda **_: pytest.fail("rebuilt from the rows")
        )
        advanced = snapshot_for_cluster(cluster=cluster)
    # The advanced snapshot reaches disk, for the other processes, when the watch is idle.
    assert not snapshot_path(cluster.state_key).is_file()
    watch_idle.send(sender=Cluster, cluster=cluster)
    assert snapshot_path(cluster.state_key).is_file()
    state_cache.forget()
    with monkeypatch.context() as patch:
        patch.setattr(
            snapshots, "cluster_objects", lambda **_: pytest.fail("rebuilt from the rows")
        )
        persisted = snapshot_for_cluster(cluster=cluster)
    assert persisted is not advanced and dict(persisted.node_services) == dict(
        advanced.node_services
    )
    snapshot_cache_clear()
    full = snapshot_for_cluster(cluster=cluster)
    assert advanced is not full
    assert not advanced.nodes["n1"].ready and "default/api" in advanced.endpoint_index
    assert "default/web" not in advanced.endpoint_index
    for key in ("default/web", "default/api"):
        for source in ("pod:n1", "pod:n2"):
            question = Question(service=key, source=source)
            assert simulate(advanced, question).to_json() == simulate(full, question).to_json()
    assert dict(advanced.node_services) == dict(full.node_services)
    assert (
        dict(advanced.pods) == dict(full.pods) == dict(persisted.pods)
        and "default/web-1" in advanced.pods
    )


def test_a_watch_batch_with_cluster_wide_changes_leaves_the_rebuild_to_the_reader(
    snapshot_dir, django_capture_on_commit_callbacks
) -> None:
    cluster_import(name="c1", objects=objects(True, True))
    cluster = Cluster.objects.get(name="c1")
    before = snapshot_for_cluster(cluster=cluster)
    with django_capture_on_commit_callbacks(execute=True):
        events_apply(
            cluster=cluster,
            events=[
                ("ADDED", node_obj("n2", zone="b", version="v1.31.0")),
                ("MODIFIED", node_obj("n1", zone="a", version="v1.31.0")),
            ],
        )
    cluster = Cluster.objects.get(name="c1")
    after = snapshot_for_cluster(cluster=cluster)
    assert (
        after is not before and after.proxy.version == (1, 31) and set(after.nodes) == {"n1", "n2"}
    )


def test_processes_missing_together_build_once_and_share_the_pickle(
    snapshot_dir, monkeypatch
) -> None:
    """Workers that miss at the same moment wait for the first one's pickle (the lock is
    an flock, which also separates threads: each takes its own open file)."""
    import threading
    import time

    cluster_import(name="c1", objects=objects(True, True))
    cluster = Cluster.objects.get(name="c1")
    rows = snapshots.cluster_objects(cluster=cluster)
    builds: list[int] = []

    def slow_rows(**_):
        builds.append(1)
        time.sleep(0.3)
        return rows

    monkeypatch.setattr(snapshots, "cluster_objects", slow_rows)
    got: list = []

    def worker() -> None:
        got.append(snapshot_for_cluster(cluster=cluster))
        state_cache.forget()  # the next "process" starts empty

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(got) == 3 and len(builds) == 1
    assert all(_answer(s) == _answer(got[0]) for s in got)


@pytest.mark.timeout(60)
def test_a_watched_event_from_the_api_server_advances_the_snapshot(
    transactional_db, kubeconfig, fake_api, settings, tmp_path, monkeypatch
) -> None:
    """End to end: the fake API server streams a changed EndpointSlice to ``cluster_watch``
    (official client), whose batch advances the snapshot a reader has cached."""
    import threading

    from django.db import connection

    from cluster.sync_jobs import cluster_add_live
    from cluster.testing.objects import endpoint_slice, pod
    from cluster.testing.workers import wait_for
    from cluster.watch import cluster_watch

    settings.ROUTESCOPE_SNAPSHOT_DIR = tmp_path / "snapshots"
    snapshot_cache_clear()
    cluster = cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
    stop = threading.Event()

    def run() -> None:
        try:
            cluster_watch(cluster=cluster, stop=stop, timeout_seconds=5)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(
            lambda: all(
                fake_api.watch_requests(p) for p in ("nodes", "services", "endpointslices", "pods")
            ),
            what="the watches",
        )
        before = snapshot_for_cluster(cluster=Cluster.objects.get(pk=cluster.pk))
        pods = [
            pod("shop", f"api-{i}", app="api", node_name="n1", ip=f"10.244.1.{20 + i}")
            for i in range(3)
        ]
        fake_api.store.upsert(endpoint_slice("shop", "api", pods, {"n1": "z-a"}))
        wait_for(
            lambda: state_cache.get(Cluster.objects.get(pk=cluster.pk).state_key, "snapshot")
            is not None,
            what="the advance",
        )
    finally:
        stop.set()
        thread.join(timeout=20)
    current = Cluster.objects.get(pk=cluster.pk)
    assert snapshot_path(current.state_key).is_file()  # pickled when the watch went idle
    with monkeypatch.context() as patch:
        patch.setattr(
            snapshots, "cluster_objects", lambda **_: pytest.fail("rebuilt from the rows")
        )
        advanced = snapshot_for_cluster(cluster=current)
    assert advanced is not before
    snapshot_cache_clear()
    full = snapshot_for_cluster(cluster=current)
    assert sorted(ep.ip for ep in advanced.endpoints("shop/api", "http")) == [
        "10.244.1.20",
        "10.244.1.21",
        "10.244.1.22",
    ]
    for key in ("shop/api", "shop/web"):
        question = Question(service=key, source="pod:n1")
        assert simulate(advanced, question).to_json() == simulate(full, question).to_json()
    assert dict(advanced.node_services) == dict(full.node_services)
