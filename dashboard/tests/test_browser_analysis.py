"""The stored analysis' progress on the overview, in real headless Chromium, with a real
Celery worker on a real Redis: while a new revision is analysed the page shows the
previous revision's findings with a progress bar and their age; once the analysis is
stored the page reloads itself with the new results (issue 13).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from cluster.kube_dump import read_objects
from cluster.models import Cluster
from cluster.signals import watch_idle
from cluster.testing.workers import (
    RedisServer,
    Worker,
    database_url_for_tests,
    publishing_to,
    wait_for,
)
from cluster.watch_events import events_apply
from dashboard.tests.test_browser import DEMO_DUMP, Page, browser
from routing.models import ClusterAnalysis
from routing.snapshots import snapshot_cache_clear

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


@pytest.fixture
def broker(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _worker(broker: RedisServer) -> Worker:
    return Worker(
        broker_url=broker.url, database_url=database_url_for_tests(), name="page"
    ).wait_ready()


def _done(cluster: Cluster, revision: int) -> ClusterAnalysis:
    return wait_for(
        lambda: ClusterAnalysis.objects.filter(
            cluster=cluster, revision=revision, state=ClusterAnalysis.State.DONE
        ).first(),
        timeout=60,
        what=f"the analysis of revision {revision}",
    )


def test_the_overview_shows_progress_then_the_new_results(
    browser,
    live_server,
    broker,
    settings,
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the live server reads stored results only
    snapshot_cache_clear()
    page = Page(browser, live_server.url)
    worker = None
    try:
        with publishing_to(broker.url):
            worker = _worker(broker)
            call_command("load_demo", verbosity=0)
            demo = Cluster.objects.get(name="demo")
            first = _done(demo, demo.revision)
            worker.stop()  # no worker: the next revision's analysis waits in the queue

            # A watch batch makes a new revision: shop/cache's iTP goes from Local to Cluster.
            service = next(
                o
                for o in read_objects(DEMO_DUMP)
                if o["kind"] == "Service" and o["metadata"]["name"] == "cache"
            )
            service = json.loads(json.dumps(service))
            service["spec"]["internalTrafficPolicy"] = "Cluster"
            assert events_apply(cluster=demo, events=[("MODIFIED", service)])["applied"] == 1
            watch_idle.send(sender=Cluster, cluster=demo)
            demo.refresh_from_db()

            tab = page.open("/clusters/demo/", "overview-analysing")
            status = tab.locator("#analysis-status")
            expect(status).to_be_visible()
            expect(status.locator("progress")).to_be_visible()
            expect(status).to_contain_text(f"Analysing revision {demo.revision}")
            expect(status.locator("[data-analysis-revision]")).to_have_text(str(first.revision))
            expect(status).to_contain_text("ago")
            # The previous revision's findings are shown meanwhile: cache's iTP=Local drop.
            expect(
                tab.locator("[data-finding='ITP_LOCAL_DROPS']", has_text="shop/cache")
            ).to_have_count(1)

            worker = _worker(broker)
            _done(demo, demo.revision)
            # The poll sees the stored analysis and reloads the page: no progress bar, and
            # the new revision's findings (shop/cache no longer drops).
            expect(tab.locator("#analysis-status")).to_have_count(0, timeout=30_000)
            expect(
                tab.locator("[data-finding='ITP_LOCAL_DROPS']", has_text="shop/cache")
            ).to_have_count(0)
            expect(tab.locator("[data-finding]").first).to_be_visible()
            page.shot("overview-analysed")
    finally:
        if worker is not None:
            worker.stop()
        page.close()
