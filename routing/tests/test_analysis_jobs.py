"""The cluster-wide analysis as a job per revision, run by real Celery workers on a real
Redis (issue 13): stored and shown, superseded mid-flight by a newer revision, retried
after a worker is killed mid-shard while pages keep showing the previous results.

The test process imports clusters with tasks going to the private Redis (not eager), as a
web process or ``import_cluster`` with ``REDIS_URL`` does; the revision hook queues the
analysis' shard jobs and the workers (``cluster.testing.workers``) run them.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from cluster.generator import Shape, generate_cluster
from cluster.kube_dump import read_objects
from cluster.models import Cluster
from cluster.services import cluster_import
from cluster.signals import watch_idle
from cluster.testing.workers import (
    RedisServer,
    Worker,
    database_url_for_tests,
    publishing_to,
    wait_for,
)
from cluster.watch_events import events_apply
from jobs.models import Job
from routing.analysis_jobs import analysis_inputs, inputs_fingerprint
from routing.engine.analysis import analyze
from routing.models import AnalysisPart, ClusterAnalysis
from routing.snapshots import snapshot_cache_clear, snapshot_for_cluster
from routing.stored_analysis import rows_text

# One xdist worker runs the module (pytest-xdist, --dist loadgroup): the BIG objects are
# generated once (module fixture) and the mid-flight tests do not compete with each other.
pytestmark = [
    pytest.mark.worker,
    pytest.mark.timeout(240),
    pytest.mark.xdist_group("analysis_jobs"),
]

LOST = 2.0  # seconds without a heartbeat that make a running shard dead
WORKER_ENV = {"JOB_HEARTBEAT_SECONDS": "0.3", "JOB_LOST_SECONDS": str(LOST)}
SHARDS = 4
#: Big enough that a worker needs a few seconds to build the snapshot of a shard: the
#: window in which a newer revision or a SIGKILL lands "mid-flight".
BIG = Shape(nodes=1000, services=3000, pods=30000, seed=7)


@pytest.fixture
def broker(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def with_workers(broker, settings) -> Iterator[None]:
    """This process sends tasks to the private Redis and requests analyses like a web
    process with ``REDIS_URL`` set."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ROUTESCOPE_ANALYSIS_SHARDS = SHARDS
    settings.ROUTESCOPE_JOB_LOST_SECONDS = LOST
    snapshot_cache_clear()
    with publishing_to(broker.url):
        yield
    snapshot_cache_clear()


@pytest.fixture(scope="module")
def big_objects(tmp_path_factory) -> list[dict]:
    out = io.StringIO()
    generate_cluster(shape=BIG, out=out)
    path = tmp_path_factory.mktemp("big") / "big.json"
    path.write_text(out.getvalue())
    return read_objects(path)


def _worker(broker: RedisServer, name: str) -> Worker:
    return Worker(
        broker_url=broker.url, database_url=database_url_for_tests(), name=name, env=WORKER_ENV
    ).wait_ready()


def _done(cluster: Cluster, revision: int) -> ClusterAnalysis:
    return wait_for(
        lambda: ClusterAnalysis.objects.filter(
            cluster=cluster, revision=revision, state=ClusterAnalysis.State.DONE
        ).first(),
        timeout=120,
        interval=0.2,
        what=f"the analysis of revision {revision}",
    )


def _shard_jobs(analysis: ClusterAnalysis):
    return Job.objects.filter(kind=Job.Kind.ANALYSIS, params__analysis=analysis.pk).order_by("id")


def _watch_batch(cluster: Cluster, objects: list[dict], note: str) -> int:
    """One watch batch (a Service's label changed), then the watch goes idle, as
    ``watch_cluster`` does: a new revision, announced. Returns the new revision."""
    service = json.loads(json.dumps(next(o for o in objects if o["kind"] == "Service")))
    service["metadata"].setdefault("labels", {})["routescope-test"] = note
    assert events_apply(cluster=cluster, events=[("MODIFIED", service)])["applied"] == 1
    watch_idle.send(sender=Cluster, cluster=cluster)
    cluster.refresh_from_db()
    return cluster.revision


def test_a_revision_is_analysed_by_workers_stored_and_shown(
    transactional_db, broker, with_workers
) -> None:
    workers = [_worker(broker, "one"), _worker(broker, "two")]
    try:
        call_command("load_demo", verbosity=0)  # the revision hook queues the analysis
        demo = Cluster.objects.get(name="demo")
        stored = _done(demo, demo.revision)
    finally:
        for worker in workers:
            worker.stop()
    assert stored.inputs == inputs_fingerprint(analysis_inputs(demo))
    assert (stored.shards_done, stored.shards_total) == (SHARDS, SHARDS)
    jobs = list(_shard_jobs(stored))
    assert [j.params["shard"] for j in jobs] == list(range(SHARDS))
    assert {j.state for j in jobs} == {Job.State.SUCCEEDED}
    # Merged: each part keeps only its rows (the stored rows, joined by the readers).
    parts = AnalysisPart.objects.filter(analysis=stored).order_by("index")
    assert [bytes(p.data) for p in parts] == [b""] * SHARDS and stored.rows == ""

    # The merged shards are exactly the whole analysis of the revision.
    whole = analyze(snapshot_for_cluster(cluster=demo)).to_json(endpoints=False)
    assert json.loads(rows_text(stored.pk)) == whole["services"]  # the shards' JSON text
    assert stored.report["summary"] == whole["summary"]
    assert json.loads(stored.findings) == whole["findings"]
    assert stored.report["top_findings"] == whole["findings"][: len(stored.report["top_findings"])]
    assert stored.report["findings_total"] == len(whole["findings"])
    assert stored.figures["shop/checkout"][0] > 0  # the demo's iTP=Local drop

    page = Client().get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert 'data-finding="ITP_LOCAL_DROPS"' in page
    assert 'id="analysis-status"' not in page  # the results are the current revision's
    api = Client().get("/api/v1/clusters/demo/analysis?service=shop/checkout").json()
    assert api["revision"] == demo.revision
    assert api["analysis"]["state"] == "current" and api["analysis"]["progress"] is None
    assert api["services"] == [r for r in whole["services"] if r["service"] == "shop/checkout"]


def test_a_newer_revision_supersedes_the_analysis_in_flight(
    transactional_db, broker, with_workers, big_objects
) -> None:
    worker = _worker(broker, "solo")
    try:
        cluster_import(name="big", objects=big_objects)
        cluster = Cluster.objects.get(name="big")
        first = ClusterAnalysis.objects.get(cluster=cluster, revision=cluster.revision)
        running = wait_for(
            lambda: _shard_jobs(first).filter(state=Job.State.RUNNING).first(),
            what="a shard of the first revision running",
        )
        assert first.shards_done < SHARDS  # still in flight
        revision = _watch_batch(cluster, big_objects, "second")
        # The shard running when the new revision arrived ends without storing its part
        # (its finished job row is pruned once the newer analysis is stored).
        ended = wait_for(
            lambda: Job.objects.filter(pk=running.pk).exclude(state=Job.State.RUNNING).first(),
            interval=0.05,
            what="the running shard of the first revision ended",
        )
        assert ended.state == Job.State.CANCELLED and "superseded" in ended.message
        assert not AnalysisPart.objects.filter(analysis_id=first.pk, index=ended.params["shard"])
        second = _done(cluster, revision)
        wait_for(
            lambda: not Job.objects.filter(
                kind=Job.Kind.ANALYSIS, state__in=Job.ACTIVE_STATES
            ).exists(),
            what="every shard job finished",
        )
    finally:
        worker.stop()
    assert second.revision == first.revision + 1
    # The first analysis never landed: superseded, then pruned with its jobs.
    assert list(
        ClusterAnalysis.objects.filter(cluster=cluster).values_list("revision", "state")
    ) == [(second.revision, "done")]
    assert not _shard_jobs(first).exists()
    assert {j.state for j in _shard_jobs(second)} == {Job.State.SUCCEEDED}
    api = Client().get("/api/v1/clusters/big/analysis?limit=1").json()
    assert api["revision"] == second.revision and api["analysis"]["state"] == "current"


def test_a_worker_killed_mid_shard_is_retried_and_pages_keep_the_previous_results(
    transactional_db, broker, with_workers, big_objects
) -> None:
    doomed = _worker(broker, "doomed")
    heir = None
    try:
        cluster_import(name="big", objects=big_objects)
        cluster = Cluster.objects.get(name="big")
        previous = _done(cluster, cluster.revision)
        _watch_batch(cluster, big_objects, "second")
        snapshot_cache_clear()
        pending = ClusterAnalysis.objects.get(cluster=cluster, revision=cluster.revision)
        victim = wait_for(
            lambda: _shard_jobs(pending).filter(state=Job.State.RUNNING).first(),
            what="a shard of the new revision running",
        )
        doomed.kill()  # SIGKILL mid-shard: the job stays "running", its heartbeat stops
        killed = time.monotonic()

        # Meanwhile pages show the previous revision's results and the progress.
        client = Client()
        page = client.get(reverse("dashboard:overview", args=["big"])).content.decode()
        assert 'id="analysis-status"' in page and "<progress" in page
        assert f"data-analysis-revision>{previous.revision}<" in page
        assert f"Analysing revision {pending.revision}" in page
        table = client.get(reverse("dashboard:services", args=["big"])).content.decode()
        assert 'id="analysis-status"' in table and "data-service" in table
        assert f"data-analysis-revision>{previous.revision}<" in table
        api = client.get("/api/v1/clusters/big/analysis?limit=1").json()
        assert api["revision"] == previous.revision
        assert api["analysis"]["state"] in ("queued", "running")
        assert api["analysis"]["progress"]["revision"] == pending.revision

        # The page's status poll finds the dead shard once its heartbeat is old enough
        # and re-queues it; a new worker runs it.
        status_url = reverse("dashboard:analysis-status", args=["big"])
        wait_for(
            lambda: client.get(status_url, {"shown": previous.revision}) is not None
            and Job.objects.get(pk=victim.pk).state == Job.State.QUEUED,
            timeout=LOST + 15,
            interval=0.3,
            what="the killed shard re-queued",
        )
        assert time.monotonic() - killed >= LOST - 0.5
        heir = _worker(broker, "heir")
        stored = _done(cluster, pending.revision)
    finally:
        doomed.stop()
        if heir is not None:
            heir.stop()
    victim.refresh_from_db()
    assert victim.state == Job.State.SUCCEEDED and victim.attempts == 2
    assert "worker lost: no heartbeat" in victim.log
    assert stored.shards_done == SHARDS
    # The previous results are gone now (newest done + none in flight are kept).
    assert list(
        ClusterAnalysis.objects.filter(cluster=cluster).values_list("revision", flat=True)
    ) == [pending.revision]
    response = Client().get(reverse("dashboard:analysis-status", args=["big"]), {"shown": "1"})
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_without_a_broker_the_first_page_analyses_inline(db) -> None:
    """The embedded default (eager tasks, no worker): the analysis still happens, in the
    request, and is stored like the workers' (the demo and ``make run`` need no Redis)."""
    call_command("load_demo", verbosity=0)
    demo = Cluster.objects.get(name="demo")
    assert not ClusterAnalysis.objects.exists()  # no hook without workers
    page = Client().get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert 'data-finding="ITP_LOCAL_DROPS"' in page and 'id="analysis-status"' not in page
    stored = ClusterAnalysis.objects.get(cluster=demo)
    assert (stored.revision, stored.state) == (demo.revision, "done")
    assert not Job.objects.filter(kind=Job.Kind.ANALYSIS).exists()


def test_before_the_first_analysis_is_stored_pages_and_api_say_it_runs(db, settings) -> None:
    """With workers configured but none done yet: no blocked request, no figures, the
    progress (0 of the shards) on the page and a 202 from the API."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ROUTESCOPE_ANALYSIS_SHARDS = SHARDS
    call_command("load_demo", verbosity=0)  # (the hook's on-commit never fires in `db`)
    client = Client()
    response = client.get("/api/v1/clusters/demo/analysis")
    assert response.status_code == 202 and response["Retry-After"] == "2"
    body = response.json()
    assert body["analysis"]["state"] == "queued" and body["analysis"]["revision"] is None
    assert body["analysis"]["progress"] == {
        "revision": 1,
        "shards_done": 0,
        "shards_total": SHARDS,
        "percent": 0,
        "error": None,
    }
    page = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert 'data-analysis-state="queued"' in page and "0/4 shards" in page
    assert "data-findings-pending" in page and "data-finding=" not in page
    # One analysis, requested once however many requests ask.
    assert ClusterAnalysis.objects.count() == 1
    assert Job.objects.filter(kind=Job.Kind.ANALYSIS, state=Job.State.QUEUED).count() == SHARDS


def test_a_shard_failed_for_good_fails_its_analysis_and_pages_say_so(db, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ROUTESCOPE_ANALYSIS_SHARDS = SHARDS
    call_command("load_demo", verbosity=0)
    client = Client()
    assert client.get("/api/v1/clusters/demo/analysis").status_code == 202  # requested
    shard = Job.objects.filter(kind=Job.Kind.ANALYSIS).order_by("id").first()
    assert shard is not None
    Job.objects.filter(pk=shard.pk).update(
        state=Job.State.FAILED, error="internal error: MemoryError: "
    )  # what routing.tasks records for a shard that raised
    body = client.get("/api/v1/clusters/demo/analysis").json()
    assert body["analysis"]["state"] == "failed"
    assert body["analysis"]["progress"]["error"] == "internal error: MemoryError: "
    page = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert 'data-analysis-state="failed"' in page and "failed: internal error" in page
    assert ClusterAnalysis.objects.get().state == ClusterAnalysis.State.FAILED
