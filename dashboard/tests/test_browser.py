"""Real headless Chromium against a live server with the demo cluster.

One browser for the module; every test collects console errors and fails on any. Each
page visited is saved as a screenshot under the git-ignored ``artifacts/screenshots/``.
Needs ``bash scripts/vendor.sh`` to have filled ``static/vendor`` (``make test`` does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from playwright import sync_api
from playwright.sync_api import expect

from cluster.kube_dump import read_objects
from cluster.models import Cluster, Endpoint, Node
from cluster.testing.fake_apiserver import FakeApiServer
from core.testing.browser import SHOTS, Page, chromium
from jobs.models import Job
from routing.models import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_DUMP = Path(settings.BASE_DIR) / "cluster" / "fixtures" / "demo.json"


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    assert (
        Path(settings.BASE_DIR) / "static" / "vendor" / "htmx.min.js"
    ).exists(), "run scripts/vendor.sh"
    with chromium() as launched:
        yield launched


@pytest.fixture
def demo(transactional_db) -> Cluster:
    call_command("load_demo", verbosity=0)
    return Cluster.objects.get(name="demo")


@pytest.fixture
def page(browser, live_server) -> Iterator[Page]:
    tab = Page(browser, live_server.url)
    yield tab
    tab.close()


def dropped_share(cluster: Cluster, name: str) -> str:
    hosting = set(
        Endpoint.objects.filter(
            service__cluster=cluster, service__name=name, ready=True
        ).values_list("node_name", flat=True)
    )
    nodes = list(Node.objects.filter(cluster=cluster).values_list("name", flat=True))
    return f"{sum(1 for n in nodes if n not in hosting) / len(nodes) * 100:.1f}%"


def test_every_page_loads_and_shows_its_facts(page: Page, demo: Cluster) -> None:
    tab = page.open("/", "overview")
    assert tab.locator("h1").inner_text() == "demo"
    assert (
        tab.locator(".node.notready").count()
        == Node.objects.filter(cluster=demo, ready=False).count()
    )
    tab.locator(
        ".pod[data-svc='shop/cache']"
    ).first.hover()  # hovering a pod shows its Service's pods
    assert tab.locator(".pod.hl").count() == Endpoint.objects.filter(service__name="cache").count()
    tab.locator("[data-legend='shop/checkout']").click()  # pin a Service: its pods stand out
    assert (
        tab.locator(".pod.hl").count() == Endpoint.objects.filter(service__name="checkout").count()
    )
    page.shot("overview-highlight")

    tab = page.open("/clusters/demo/services/", "services")
    tab.fill("#q", "checkout")
    expect(tab.locator("[data-service]")).to_have_count(1)
    assert "q=checkout" in tab.url  # htmx pushed the filtered URL

    tab = page.open("/clusters/demo/services/shop/checkout/", "service-detail")
    assert tab.locator("[data-entry-dropped='nodeport']").inner_text() == dropped_share(
        demo, "checkout"
    )
    # Those drops are on nodes checkout's LB avoids (eTP=Local): drawn as by design.
    assert tab.locator("svg.flow path.link.expected").count() > 0

    tab = page.open("/clusters/demo/rules/?node=node-a1&service=shop/checkout", "rules")
    assert "KUBE-SVC-" in tab.locator("table").inner_text()
    page.open("/jobs/", "jobs")
    page.open("/accounts/login/", "login")
    tab = page.open("/clusters/demo/services/shop/checkout/")
    tab.click("[data-theme-toggle]")
    chosen = tab.evaluate("document.documentElement.dataset.theme")
    assert chosen in ("dark", "light")
    tab.reload()
    assert tab.evaluate("document.documentElement.dataset.theme") == chosen  # remembered
    page.shot("service-detail-toggled-theme")


def test_phone_width_has_no_horizontal_scroll(browser, live_server, demo: Cluster) -> None:
    phone = Page(browser, live_server.url, width=390)
    for path, name in (
        ("/clusters/demo/", "phone-overview"),
        ("/clusters/demo/services/shop/cache/", "phone-detail"),
        ("/clusters/demo/what-if/?service=shop/cache&itp=Cluster", "phone-whatif"),
        ("/clusters/demo/services/", "phone-services"),
    ):
        tab = phone.open(path, name)
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    phone.close()


def test_flipping_a_whatif_control_updates_the_preview_in_place(page: Page, demo: Cluster) -> None:
    tab = page.open("/clusters/demo/what-if/?service=shop/checkout")
    tab.evaluate("window.__noReload = true")
    assert tab.locator("[data-after-dropped='nodeport']").inner_text() == dropped_share(
        demo, "checkout"
    )
    tab.select_option("#id_etp", "Cluster")
    expect(tab.locator("[data-after-dropped='nodeport']")).to_have_text("0.0%")
    assert tab.evaluate("window.__noReload") is True  # the page was not reloaded
    assert "etp=Cluster" in tab.url
    page.shot("whatif")
    tab.keyboard.press("Tab")  # keyboard focus is visible somewhere on the page
    assert tab.evaluate("document.activeElement !== document.body")


def test_saving_a_scenario_and_reopening_its_url(page: Page, demo: Cluster) -> None:
    User.objects.create_user("reader", password="reader-pass-1")
    page.login("reader", "reader-pass-1")
    tab = page.open("/clusters/demo/what-if/?service=shop/cache&itp=Cluster")
    tab.fill("#scenario-name", "cache reachable everywhere")
    tab.click("form[action$='/save/'] button[type=submit]")
    tab.wait_for_url(re.compile(r"/scenarios/\d+/"))
    scenario = Scenario.objects.get(name="cache reachable everywhere")
    browser = tab.context.browser
    assert browser is not None  # the context came from a launched browser
    fresh = Page(browser, page.base)
    again = fresh.open(f"/scenarios/{scenario.pk}/", "scenario")
    assert again.locator("h1").inner_text() == "Scenario “cache reachable everywhere”"
    assert again.locator("#id_itp").input_value() == "Cluster"
    assert again.locator("[data-after-dropped='pod']").inner_text() == "0.0%"
    fresh.close()
    # a reader sees Apply disabled, with the reason
    tab = page.open(f"/scenarios/{scenario.pk}/")
    assert tab.locator("[data-apply]").is_disabled()
    assert "operate-cluster permission" in tab.locator("[data-apply-reason]").inner_text()


def test_apply_is_offered_to_operators_runs_a_job_and_rolls_back(
    page: Page, demo: Cluster, tmp_path: Path
) -> None:
    operator = User.objects.create_user("operator", password="operator-pass-1")
    operator.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    with FakeApiServer(read_objects(DEMO_DUMP)) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        Cluster.objects.filter(pk=demo.pk).update(
            kubeconfig_path=str(kubeconfig), kube_context="fake"
        )
        scenario = Scenario.objects.create(
            cluster=demo,
            name="checkout eTP Cluster",
            changes={"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}}},
        )
        page.login("operator", "operator-pass-1")
        # First a sync from the overview: the stored state takes the API server's versions.
        tab = page.open("/clusters/demo/")
        tab.click("button:has-text('Sync now')")
        tab.wait_for_url(re.compile(r"/jobs/\d+/"))
        expect(tab.locator("#job-status [data-job-state]")).to_have_text(
            "Succeeded", timeout=15_000
        )
        tab = page.open(f"/scenarios/{scenario.pk}/")
        tab.click("[data-apply]")
        assert (
            "spec.externalTrafficPolicy: Local → Cluster"
            in tab.locator("[data-patch]").inner_text()
        )
        page.shot("apply-confirmation")
        tab.click("#apply-dialog button[type=submit]")
        tab.wait_for_url(re.compile(r"/jobs/\d+/"))
        expect(tab.locator("#job-status [data-job-state]")).to_have_text(
            "Succeeded", timeout=15_000
        )
        page.shot("job")
        job = Job.objects.get(kind="apply")
        assert Job.objects.get(kind="sync").state == "succeeded"
        assert job.state == "succeeded" and job.created_by == operator
        patched = api.store.get("services", "shop", "checkout")
        assert patched["spec"]["externalTrafficPolicy"] == "Cluster"
        # The job page lists the audited change and offers the rollback.
        assert (
            "externalTrafficPolicy: Local → Cluster"
            in tab.locator("[data-audit='applied']").inner_text()
        )
        tab.click("[data-rollback]")
        tab.wait_for_url(re.compile(rf"/jobs/(?!{job.pk}/)\d+/"))
        expect(tab.locator("#job-status [data-job-state]")).to_have_text(
            "Succeeded", timeout=15_000
        )
        page.shot("rollback")
        assert (
            api.store.get("services", "shop", "checkout")["spec"]["externalTrafficPolicy"]
            == "Local"
        )


def test_the_whatif_copy_button_copies_the_kubectl_patch_on_an_imported_cluster(
    page: Page, demo: Cluster
) -> None:
    """No Apply on the imported demo, but the patch is one click away (static copytext.js,
    bound again after the htmx swap that brings it)."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.base)
    tab = page.open("/clusters/demo/what-if/?service=shop/checkout")
    tab.select_option("#id_etp", "Cluster")  # the preview (and the copies) arrive by htmx
    expect(tab.locator("[data-after-dropped='nodeport']")).to_have_text("0.0%")
    tab.locator("details[data-export='kubectl'] summary").click()
    button = tab.locator("[data-copy-from='export-kubectl']")
    button.click()
    expect(button).to_have_text("Copied")
    copied = tab.evaluate("navigator.clipboard.readText()")
    assert copied == (
        "kubectl patch service checkout -n shop --type merge -p "
        '\'{"spec":{"externalTrafficPolicy":"Cluster"}}\''
    )
    page.shot("whatif-copy")
