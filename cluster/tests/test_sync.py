"""Sync from a live API server (the fake one, through the official client and a socket)."""

from __future__ import annotations

import io
import json
import logging
import zlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.models import Cluster, Node, Pod, Service
from cluster.selectors import cluster_objects
from cluster.sync import cluster_sync, state_diff, stored_versions
from cluster.sync_jobs import cluster_add_live, sync_job_run, sync_request
from cluster.testing.fixtures import TOKEN, fake_api, kubeconfig, live_cluster
from cluster.testing.objects import node, pod
from cluster.tests.fixtures import REAL
from jobs.models import Job, SyncRun
from jobs.services import job_create_sync


def _keys(objects):
    return sorted(
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects
    )


def _served(fake_api):
    served = [
        o
        for plural in ("nodes", "services", "endpointslices", "pods")
        for o in fake_api.store.objects[plural].values()
    ]
    return served + [fake_api.store.get("configmaps", "kube-system", "kube-proxy")]


def test_sync_stores_every_object_as_served_and_bumps_the_revision(live_cluster, fake_api):
    run = cluster_sync(cluster=live_cluster, page_size=2)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.counts["fetched"] == {
        "Node": 3,
        "Service": 2,
        "EndpointSlice": 2,
        "Pod": 4,
        "ConfigMap": 1,
    }
    assert run.counts["added"] == 12 and run.revision_after == run.revision_before + 1
    stored = cluster_objects(cluster=live_cluster)
    canonical = lambda objs: sorted(json.dumps(o, sort_keys=True) for o in objs)  # noqa: E731
    assert canonical(stored) == canonical(_served(fake_api))
    assert run.resource_versions["pods"] == str(fake_api.store.rv)
    live_cluster.refresh_from_db()
    assert live_cluster.last_synced_at is not None and live_cluster.source == "synced"


def test_second_sync_of_an_unchanged_cluster_changes_nothing(live_cluster):
    first = cluster_sync(cluster=live_cluster)
    second = cluster_sync(cluster=live_cluster)
    assert second.status == SyncRun.Status.UNCHANGED
    assert second.revision_after == first.revision_after
    assert (second.counts["added"], second.counts["changed"], second.counts["removed"]) == (0, 0, 0)


def test_changes_on_the_server_are_diffed_and_stored(live_cluster, fake_api):
    cluster_sync(cluster=live_cluster)
    fake_api.store.upsert(node("n4", "z-b", ip="192.168.0.4"))
    fake_api.store.delete("pods", "shop", "api-0")
    fake_api.store.upsert(pod("shop", "web-0", app="web", node_name="n4", ip="10.244.4.10"))
    run = cluster_sync(cluster=live_cluster)
    assert (run.counts["added"], run.counts["changed"], run.counts["removed"]) == (1, 1, 1)
    assert set(Node.objects.filter(cluster=live_cluster).values_list("name", flat=True)) == {
        "n1",
        "n2",
        "n3",
        "n4",
    }
    moved = Pod.objects.get(cluster=live_cluster, name="web-0")
    assert moved.node_name == "n4" and moved.node.name == "n4"
    assert not Pod.objects.filter(cluster=live_cluster, name="api-0").exists()


def test_api_server_dying_mid_sync_leaves_the_stored_state_intact(live_cluster, fake_api):
    cluster_sync(cluster=live_cluster)
    before, revision = cluster_objects(cluster=live_cluster), Cluster.objects.get().revision
    fake_api.store.upsert(pod("shop", "web-9", app="web", node_name="n1", ip="10.244.1.99"))
    fake_api.fail_list_after("pods", 3)  # the connection drops in the middle of the pod list
    failed = cluster_sync(cluster=live_cluster, page_size=2)
    assert failed.status == SyncRun.Status.FAILED
    assert "list pods" in failed.error and "connection lost" in failed.error
    assert failed.error_transient
    assert cluster_objects(cluster=live_cluster) == before
    assert Cluster.objects.get().revision == revision
    retried = cluster_sync(cluster=live_cluster, page_size=2)
    assert retried.status == SyncRun.Status.SUCCEEDED
    assert Pod.objects.filter(cluster=live_cluster, name="web-9").exists()


def test_the_sync_pauses_the_cyclic_gc_and_restores_it_however_it_ends(
    live_cluster, fake_api, monkeypatch
):
    """The listed objects are decoded and stored with the cyclic GC off (a 150,000-Pod list
    otherwise spends most of its decoding in collections); it is on again after a sync that
    succeeded and after one whose API server dropped the connection."""
    import gc

    import cluster.sync as sync

    seen: list[bool] = []
    fetch = sync.cluster_fetch
    monkeypatch.setattr(
        sync, "cluster_fetch", lambda **kw: seen.append(gc.isenabled()) or fetch(**kw)
    )
    assert gc.isenabled()
    assert cluster_sync(cluster=live_cluster).status == SyncRun.Status.SUCCEEDED
    assert seen == [False] and gc.isenabled()
    fake_api.fail_list_after("pods", 1)
    assert cluster_sync(cluster=live_cluster, page_size=2).status == SyncRun.Status.FAILED
    assert seen == [False, False] and gc.isenabled()


@pytest.mark.parametrize(
    "text",
    [
        b'{"items": [{"kind": "Pod", "metadata": {"name": "a\\u00e9"}}], "n": 1.5}',
        b'{"n": 123456789012345678901234567890}',
        b'{"n": NaN, "m": -Infinity}',
        b'{"s": "\\ud800"}',
        b'{"n": 1e400}',
        b'{"a": 1, "a": 2}',
        '{"s": "caf\\u00e9 \\u2603"}',
    ],
)
def test_api_responses_decode_as_the_standard_library_reads_them(text):
    """msgspec reads the API server's responses; whatever it refuses, the standard library
    reads (or refuses, with its own words): the same values either way."""
    import math

    from cluster.fastjson import loads as decode_json

    got, expected = decode_json(text), json.loads(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert type(got) is type(expected)
    if "NaN" in str(text):
        assert math.isnan(got["n"]) and got["m"] == -math.inf


@pytest.mark.parametrize("text", [b'{"a": ', b"[1, 2,]", b'{"a": 1} {"b": 2}'])
def test_invalid_api_responses_are_refused_in_the_standard_librarys_words(text):
    from cluster.fastjson import loads as decode_json

    with pytest.raises(json.JSONDecodeError) as refused:
        decode_json(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    assert str(refused.value) == str(expected.value)


def test_stopped_api_server_fails_the_sync_with_the_reason(live_cluster, fake_api):
    fake_api.stop()
    run = cluster_sync(cluster=live_cluster)
    assert run.status == SyncRun.Status.FAILED and "unreachable" in run.error
    assert not Service.objects.filter(cluster=live_cluster).exists()


def test_state_diff_compares_resource_versions():
    def obj(name, rv):
        return {
            "kind": "Node",
            "metadata": {"name": name, **({"resourceVersion": rv} if rv else {})},
        }

    stored = {
        ("Node", "", "a"): "1",
        ("Node", "", "b"): "2",
        ("Node", "", "d"): "4",
        ("Node", "", "e"): "",
    }
    fetched = [obj("b", "7"), obj("c", "8"), obj("d", "4"), obj("e", None)]
    assert state_diff(stored=stored, fetched=fetched) == {"added": 1, "changed": 2, "removed": 1}


def test_stored_versions_reads_every_kind(live_cluster, fake_api):
    cluster_sync(cluster=live_cluster)
    versions = stored_versions(cluster=live_cluster)
    assert len(versions) == 12
    assert (
        versions[("Pod", "shop", "api-0")]
        == fake_api.store.get("pods", "shop", "api-0")["metadata"]["resourceVersion"]
    )
    assert ("ConfigMap", "kube-system", "kube-proxy") in versions


def test_sync_job_runs_once_and_records_progress(live_cluster):
    job, created = job_create_sync(cluster=live_cluster)
    seen = []
    run = sync_job_run(job_id=job.pk, on_progress=lambda p, m: seen.append(p))
    job.refresh_from_db()
    assert created and job.state == Job.State.SUCCEEDED and job.progress == 100
    assert job.result["sync_run"] == run.pk and "sync succeeded" in job.log
    assert seen == sorted(seen) and seen[-1] >= 80
    assert sync_job_run(job_id=job.pk) is None  # a second delivery does nothing
    assert SyncRun.objects.count() == 1


def test_duplicate_sync_requests_coalesce_into_one_job(
    live_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first, created = sync_request(cluster=live_cluster)
        second, again = sync_request(cluster=live_cluster)
    assert created and not again and first.pk == second.pk
    assert len(callbacks) == 1  # one message for one job
    assert first.task_args == [live_cluster.pk, first.pk]


def test_token_never_reaches_the_database_logs_or_pages(
    live_cluster, caplog, fake_api, django_capture_on_commit_callbacks, admin_client
):
    client = admin_client
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    call_command("sync_cluster", "live", stdout=out)
    fake_api.fail_next("nodes", 500, 500, 500, 500, 500)
    with django_capture_on_commit_callbacks(execute=True):  # eager task: runs, fails, retries
        call_command("sync_cluster", "live", "--async", stdout=out)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert "listed 11 objects (3 nodes, 2 services" in out.getvalue()
    assert "sync succeeded" in out.getvalue()
    failed = Job.objects.get(state=Job.State.FAILED)
    pages = [
        client.get(url, follow=True)
        for url in (
            "/",
            "/clusters/live/",
            "/jobs/",
            f"/jobs/{failed.pk}/",
            f"/api/v1/jobs/{failed.pk}",
            "/api/v1/sync-runs",
            "/api/v1/clusters/live",
        )
    ]
    assert [p.status_code for p in pages] == [200] * 7
    assert "HTTP 500" in pages[3].content.decode()  # the failure is shown ...
    for text in (
        dump.getvalue(),
        caplog.text,
        out.getvalue(),
        *(p.content.decode() for p in pages),
    ):
        assert TOKEN not in text  # ... the credentials never are


def test_add_cluster_command_stores_only_path_and_context(db, kubeconfig, tmp_path):
    out = io.StringIO()
    call_command(
        "add_cluster",
        "prod",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        "fake",
        "--sync-every",
        "120",
        stdout=out,
    )
    cluster = Cluster.objects.get(name="prod")
    assert cluster.kubeconfig_path == str(kubeconfig) and cluster.kube_context == "fake"
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="sync cluster prod")
    assert task.task == "cluster.tasks.sync_cluster_task" and task.interval.every == 120
    assert task.args == f"[{cluster.pk}]"
    with pytest.raises(CommandError, match="context 'nope' not found"):
        call_command("add_cluster", "other", "--kubeconfig", str(kubeconfig), "--context", "nope")
    with pytest.raises(CommandError, match="already exists"):
        call_command("add_cluster", "prod", "--kubeconfig", str(kubeconfig), "--context", "fake")
    with pytest.raises(CommandError, match="Service host/port is not set"):
        call_command("add_cluster", "incl", "--in-cluster")
    assert Cluster.objects.count() == 1


def test_sync_cluster_refuses_an_imported_cluster(db):
    Cluster.objects.create(name="dump")
    with pytest.raises(CommandError, match="was imported, not added with add_cluster"):
        call_command("sync_cluster", "dump")
    with pytest.raises(CommandError, match="no cluster named 'x'"):
        call_command("sync_cluster", "x")


def test_several_live_clusters_side_by_side(live_cluster, fake_api, tmp_path):
    from cluster.testing.fake_apiserver import FakeApiServer

    with FakeApiServer([node("solo", "z-q", ip="192.168.9.1")], token="other") as second:
        path = second.write_kubeconfig(tmp_path / "kc2", context="second")
        other = cluster_add_live(name="other", kubeconfig_path=str(path), context="second")
        assert cluster_sync(cluster=other).status == SyncRun.Status.SUCCEEDED
    assert cluster_sync(cluster=live_cluster).status == SyncRun.Status.SUCCEEDED
    assert _keys(cluster_objects(cluster=other)) == [("Node", "", "solo")]
    assert len(cluster_objects(cluster=live_cluster)) == 12


def test_only_one_sync_of_a_cluster_holds_the_lock(live_cluster):
    from django.db import connections

    from cluster.sync import SyncBusy, cluster_sync_lock

    with cluster_sync_lock(cluster=live_cluster):
        if connections["default"].vendor == "postgresql":
            # Another session (a second connection) cannot take the advisory lock.
            other = connections.create_connection("default")
            with other.cursor() as cursor:
                key = zlib.crc32(f"routescope-sync:{live_cluster.pk}".encode())
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                assert cursor.fetchone()[0] is False
            other.close()
        else:  # SQLite: the one-active-sync-job constraint is the lock
            assert job_create_sync(cluster=live_cluster)[1]
            assert not job_create_sync(cluster=live_cluster)[1]
    assert SyncBusy.__mro__[1] is Exception


def test_the_periodic_task_requests_a_coalesced_sync(
    live_cluster, django_capture_on_commit_callbacks
):
    from cluster.tasks import sync_cluster_task

    with django_capture_on_commit_callbacks(execute=True):
        sync_cluster_task.delay(live_cluster.pk)  # eager here: the request and the run
    job = Job.objects.get(kind=Job.Kind.SYNC)
    assert job.state == Job.State.SUCCEEDED and job.task_args == [live_cluster.pk, job.pk]
    sync_cluster_task.delay(10**9)  # a deleted cluster: nothing happens
    assert Job.objects.count() == 1


def test_schedules_are_created_updated_and_removed(live_cluster):
    from django_celery_beat.models import PeriodicTask

    from cluster.sync_jobs import sync_schedule

    sync_schedule(cluster=live_cluster, every_seconds=60)
    sync_schedule(cluster=live_cluster, every_seconds=30)
    assert PeriodicTask.objects.get(name="sync cluster live").interval.every == 30
    sync_schedule(cluster=live_cluster, every_seconds=0)
    assert not PeriodicTask.objects.filter(name="sync cluster live").exists()


def test_add_live_cluster_refuses_bad_names(db, kubeconfig):
    from cluster.kube.errors import KubeConfigError

    with pytest.raises(KubeConfigError, match="must be 1-253 letters"):
        cluster_add_live(name="bad name", kubeconfig_path=str(kubeconfig), context="fake")
    with pytest.raises(
        KubeConfigError, match="either a kubeconfig path and context, or in-cluster"
    ):
        cluster_add_live(name="x", kubeconfig_path=str(kubeconfig), context="fake", in_cluster=True)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_a_real_dump_synced_from_an_api_server_equals_its_import(db, path, tmp_path):
    """Serving a real dump and syncing it stores what importing the dump stores."""
    from cluster.kube_dump import read_objects
    from cluster.models import Endpoint, EndpointSlice, KubeProxyConfig
    from cluster.services import cluster_import
    from cluster.testing.fake_apiserver import FakeApiServer

    objects = read_objects(path)
    imported = Cluster.objects.get(name=cluster_import(name="dump", objects=objects).cluster)
    with FakeApiServer(objects, token=TOKEN) as server:
        config = server.write_kubeconfig(tmp_path / "kc", context="real")
        live = cluster_add_live(name="live", kubeconfig_path=str(config), context="real")
        run = cluster_sync(cluster=live)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error

    def rows(cluster):
        return {
            "nodes": sorted(
                Node.objects.filter(cluster=cluster).values_list(
                    "name", "zone", "ready", "unschedulable"
                )
            ),
            "services": sorted(
                Service.objects.filter(cluster=cluster).values_list(
                    "namespace",
                    "name",
                    "type",
                    "internal_traffic_policy",
                    "external_traffic_policy",
                    "traffic_distribution",
                    "session_affinity",
                )
            ),
            "slices": sorted(
                EndpointSlice.objects.filter(cluster=cluster).values_list(
                    "namespace", "name", "service__name", "service_missing"
                )
            ),
            "endpoints": sorted(
                Endpoint.objects.filter(cluster=cluster).values_list(
                    "slice__name", "address", "ready", "serving", "terminating", "node_name", "zone"
                )
            ),
            "pods": sorted(
                Pod.objects.filter(cluster=cluster).values_list(
                    "namespace", "name", "node__name", "pod_ip", "ready"
                )
            ),
            "proxy": list(
                KubeProxyConfig.objects.filter(cluster=cluster).values_list(
                    "mode", "ipvs_scheduler"
                )
            ),
        }

    synced = rows(live)
    assert synced["services"] or synced["pods"] or synced["nodes"]
    assert synced == rows(imported)


def test_configmaps_mounted_by_kube_proxy_pods_are_synced(live_cluster, fake_api):
    from cluster.models import KubeProxyConfig
    from cluster.testing.objects import KUBE_PROXY_CONF

    migrating = pod(
        "kube-system", "kube-proxy-nft-abcde", app="kube-proxy", node_name="n3", ip="192.168.0.3"
    )
    migrating["metadata"]["labels"] = {"k8s-app": "kube-proxy"}
    migrating["spec"]["volumes"] = [{"name": "conf", "configMap": {"name": "kube-proxy-nft"}}]
    fake_api.store.upsert(migrating)
    for name in ("kube-proxy-nft", "coredns"):
        fake_api.store.upsert(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "kube-system"},
                "data": {"config.conf": KUBE_PROXY_CONF.replace("iptables", "nftables")},
            }
        )
    run = cluster_sync(cluster=live_cluster)
    assert run.counts["fetched"]["ConfigMap"] == 2
    extra = KubeProxyConfig.objects.get(cluster=live_cluster).extra_config_maps
    assert [m["metadata"]["name"] for m in extra] == ["kube-proxy-nft"]
    assert cluster_sync(cluster=live_cluster).status == SyncRun.Status.UNCHANGED
