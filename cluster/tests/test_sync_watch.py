"""Incremental sync: watch streams applied to the stored state; resume and relist."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import yaml
from django.db import connection

from cluster.models import Cluster, Endpoint, KubeProxyConfig, Node, Pod, Service
from cluster.sync_jobs import cluster_add_live
from cluster.testing.fixtures import fake_api, kubeconfig
from cluster.testing.objects import endpoint_slice, node, pod
from cluster.testing.workers import wait_for
from cluster.watch import cluster_watch
from jobs.models import SyncRun

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cluster(transactional_db, kubeconfig):
    return cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")


@contextlib.contextmanager
def watching(cluster, fake_api):
    stop, result = threading.Event(), {}

    def run():
        try:
            result["stats"] = cluster_watch(cluster=cluster, stop=stop, timeout_seconds=5)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(
        lambda: SyncRun.objects.filter(cluster=cluster, status="succeeded").exists(),
        what="the initial list",
    )
    plurals = ("nodes", "services", "endpointslices", "pods", "configmaps")
    wait_for(lambda: all(fake_api.watch_requests(p) for p in plurals), what="the watches")
    time.sleep(0.05)  # the last request line is logged just before its stream starts
    try:
        yield result
    finally:
        stop.set()
        thread.join(timeout=20)


def _revision(cluster):
    return Cluster.objects.get(pk=cluster.pk).revision


def test_watch_events_become_stored_rows(cluster, fake_api):
    with watching(cluster, fake_api) as result:
        revision = _revision(cluster)
        fake_api.store.upsert(node("n4", "z-c", ip="192.168.0.4"))
        fake_api.store.upsert(pod("shop", "web-3", app="web", node_name="n4", ip="10.244.4.10"))
        fake_api.store.delete("pods", "shop", "api-0")
        wait_for(
            lambda: Pod.objects.filter(name="web-3", node__name="n4").exists()
            and not Pod.objects.filter(name="api-0").exists(),
            what="pod events",
        )
        assert Node.objects.get(name="n4").zone == "z-c"
        assert _revision(cluster) > revision
    stats = result["stats"]
    assert stats.events["Pod DELETED"] == 1 and stats.events["Node ADDED"] == 1
    assert SyncRun.objects.get(mode="watch").counts["events"]["Pod ADDED"] == 1


def test_service_slice_and_kube_proxy_changes(cluster, fake_api):
    with watching(cluster, fake_api):
        svc = fake_api.store.get("services", "shop", "api")
        fake_api.store.upsert({**svc, "spec": {**svc["spec"], "internalTrafficPolicy": "Local"}})
        pods = [
            pod("shop", f"api-{i}", app="api", node_name="n1", ip=f"10.244.1.{20 + i}")
            for i in range(3)
        ]
        fake_api.store.upsert(endpoint_slice("shop", "api", pods, {"n1": "z-a"}))
        cm = fake_api.store.get("configmaps", "kube-system", "kube-proxy")
        conf = yaml.safe_load(cm["data"]["config.conf"]) | {"mode": "nftables"}
        fake_api.store.upsert({**cm, "data": {"config.conf": yaml.safe_dump(conf)}})
        wait_for(
            lambda: KubeProxyConfig.objects.get(cluster=cluster).mode == "nftables",
            what="kube-proxy mode",
        )
        wait_for(
            lambda: Endpoint.objects.filter(slice__name="api-abc12").count() == 3,
            what="slice endpoints",
        )
        assert Service.objects.get(name="api").internal_traffic_policy == "Local"
        assert set(
            Endpoint.objects.filter(slice__name="api-abc12").values_list("service__name", flat=True)
        ) == {"api"}
        fake_api.store.delete("services", "shop", "api")
        wait_for(lambda: not Service.objects.filter(name="api").exists(), what="service delete")
        assert Endpoint.objects.get(address="10.244.1.20").service is None


def test_broken_stream_resumes_from_the_last_version(cluster, fake_api):
    with watching(cluster, fake_api) as result:
        fake_api.break_watches()
        fake_api.store.upsert(node("n5", "z-c", ip="192.168.0.5"))
        wait_for(lambda: Node.objects.filter(name="n5").exists(), what="event after the break")
    stats = result["stats"]
    assert stats.resumes >= 1 and stats.relists == 0
    assert SyncRun.objects.filter(mode="full").count() == 1


def test_gone_resource_version_relists(cluster, fake_api):
    with watching(cluster, fake_api) as result:
        fake_api.set_delay("nodes", 0.3)  # the node watch reconnects after the compaction
        fake_api.break_watches()
        fake_api.store.upsert(node("n6", "z-c", ip="192.168.0.6"))
        fake_api.store.compact()
        wait_for(lambda: Node.objects.filter(name="n6").exists(), what="node after relist")
        wait_for(lambda: SyncRun.objects.filter(mode="full").count() == 2, what="the relist")
    assert result["stats"].relists >= 1
    assert any(q.get("resourceVersion") for q in fake_api.watch_requests("nodes"))


def test_watch_cluster_command_runs_as_the_sync_job(cluster, fake_api):
    import io

    from django.core.management import call_command

    from jobs.models import Job

    threading.Timer(1.0, lambda: fake_api.store.upsert(node("n7", "z-c", ip="192.168.0.7"))).start()
    out = io.StringIO()
    call_command("watch_cluster", "live", "--seconds", "2", stdout=out)
    assert "ADDED    Node n7" in out.getvalue() and "1 events applied" in out.getvalue()
    job = Job.objects.get(kind="sync")
    assert job.state == "succeeded" and Node.objects.filter(name="n7").exists()


def test_sync_cluster_joins_a_sync_already_running(cluster, fake_api):
    import io

    from django.core.management import call_command

    from cluster.sync_jobs import sync_job_run
    from jobs.services import job_create_sync

    job, _ = job_create_sync(cluster=cluster)
    fake_api.set_delay("pods", 0.5)

    def worker():
        try:
            sync_job_run(job_id=job.pk)
        finally:
            connection.close()

    threading.Thread(target=worker).start()
    out = io.StringIO()
    call_command("sync_cluster", "live", stdout=out)
    text = out.getvalue()
    assert f"already running (job {job.pk}); waiting" in text and "[100%] sync succeeded" in text
    assert SyncRun.objects.filter(mode="full").count() == 1


def test_readers_never_see_half_a_sync(cluster, fake_api):
    from cluster.sync import cluster_sync

    cluster_sync(cluster=cluster)
    for i in range(1500):
        fake_api.store.upsert(
            pod("load", f"p-{i}", app="x", node_name="n1", ip=f"10.245.{i // 250}.{i % 250 + 1}")
        )
    fake_api.store.delete("services", "shop", "api")
    sql = (
        "SELECT (SELECT COUNT(*) FROM cluster_pod WHERE cluster_id = %s), "
        "(SELECT COUNT(*) FROM cluster_service WHERE cluster_id = %s)"
    )
    done, seen = threading.Event(), set()

    def sync():
        try:
            cluster_sync(cluster=Cluster.objects.get(pk=cluster.pk))
        finally:
            connection.close()
            done.set()

    threading.Thread(target=sync).start()
    with connection.cursor() as cursor:  # each SELECT is one snapshot of both tables
        while not done.is_set():
            cursor.execute(sql, [cluster.pk, cluster.pk])
            seen.add(tuple(cursor.fetchone()))
    assert seen <= {(4, 2), (1504, 1)}, seen
    assert Pod.objects.filter(cluster=cluster).count() == 1504


def test_sync_cluster_gives_up_waiting_on_a_live_job_after_its_timeout(cluster):
    import io

    from django.core.management import CommandError, call_command

    from jobs.services import job_create_sync, job_start

    job, _ = job_create_sync(cluster=cluster)
    job_start(job_id=job.pk)  # "running" elsewhere, and its heartbeat is fresh
    started = time.monotonic()
    with pytest.raises(CommandError, match=f"gave up waiting for sync job {job.pk}"):
        call_command("sync_cluster", "live", "--wait-timeout", "1", stdout=io.StringIO())
    assert time.monotonic() - started < 10
