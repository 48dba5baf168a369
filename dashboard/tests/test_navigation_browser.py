"""Issue 16, search/navigation and phone/live data, in real headless Chromium against a
live server with the demo cluster: each feature on a desktop and on a 390 px phone, in
the light and the dark scheme, each page checked by axe-core (no serious violation)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from playwright import sync_api
from playwright.sync_api import expect

from cluster.generator import Shape, generate_cluster
from cluster.models import Cluster, Endpoint, Node
from cluster.services import cluster_import
from core.testing.browser import PHONE_WIDTH, Page, chromium
from dashboard import answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LAYOUTS = [(1280, "light"), (1280, "dark"), (PHONE_WIDTH, "light"), (PHONE_WIDTH, "dark")]
IDS = ["desktop-light", "desktop-dark", "phone-light", "phone-dark"]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def demo(transactional_db) -> Cluster:
    call_command("load_demo", verbosity=0)
    return Cluster.objects.get(name="demo")


@pytest.fixture(params=LAYOUTS, ids=IDS)
def page(request, browser, live_server) -> Iterator[Page]:
    width, scheme = request.param
    tab = Page(browser, live_server.url, width=width, scheme=scheme)
    yield tab
    tab.close()


def no_serious_violation(page: Page) -> None:
    violations = page.axe()
    assert violations == [], json.dumps(violations, indent=1)


def layout_width(page: Page) -> int:
    size = page.tab.viewport_size
    assert size is not None
    return size["width"]


def layout(page: Page) -> str:
    """ "phone-dark", "desktop-light"…: the screenshot suffix of the tab's layout."""
    dark = page.tab.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    phone = layout_width(page) <= PHONE_WIDTH
    return f"{'phone' if phone else 'desktop'}-{'dark' if dark else 'light'}"


def hosting_node(cluster: Cluster, service: str) -> str:
    ep = (
        Endpoint.objects.filter(service__cluster=cluster, service__name=service, ready=True)
        .exclude(node_name="")
        .order_by("node_name")
        .first()
    )
    assert ep is not None
    return ep.node_name


def test_slash_focuses_search_and_the_keyboard_walks_grouped_results(
    page: Page, demo: Cluster
) -> None:
    tab = page.open("/clusters/demo/")
    box = tab.locator("#global-search")
    tab.locator("h1").click()  # focus on the page, not in a field
    tab.keyboard.press("/")
    expect(box).to_be_focused()
    tab.keyboard.type("check")
    results = tab.locator("#search-results")
    expect(results.locator("[data-search-group]")).to_have_count(2)  # Services, Pods
    assert results.locator(".search-kind").all_text_contents() == ["Services", "Pods"]
    no_serious_violation(page)
    page.shot(f"search-{layout(page)}")
    tab.keyboard.press("ArrowDown")
    first = results.locator("a[data-search-hit]").first
    expect(first).to_be_focused()
    tab.keyboard.press("ArrowDown")
    expect(results.locator("a[data-search-hit]").nth(1)).to_be_focused()
    tab.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    tab.keyboard.press("Enter")
    tab.wait_for_url(re.compile(r"/clusters/demo/services/shop/checkout/$"))

    # Typing "/" into another field types it; it does not jump to the search box.
    tab = page.open("/clusters/demo/services/")
    tab.locator("#q").click()
    tab.keyboard.type("shop/ca")
    expect(tab.locator("#q")).to_have_value("shop/ca")
    expect(box).not_to_be_focused()

    # An IP finds the Service behind it; Escape returns to the box and closes the list.
    box.fill("198.51.100.15")
    expect(results.locator("a[data-search-hit]")).to_have_text(re.compile("shop/frontend"))
    box.press("ArrowDown")
    tab.keyboard.press("Escape")
    expect(box).to_be_focused()
    expect(results.locator("a")).to_have_count(0)

    # Enter in the box opens the full results page, grouped the same way.
    box.fill("node-a")
    box.press("Enter")
    tab.wait_for_url(re.compile(r"/clusters/demo/search/\?q=node-a"))
    nodes = Node.objects.filter(cluster=demo, name__startswith="node-a").count()
    expect(tab.locator("main [data-search-group='Nodes'] a")).to_have_count(nodes)
    no_serious_violation(page)


def test_node_page_shows_pods_and_what_its_loss_would_do(page: Page, demo: Cluster) -> None:
    node = hosting_node(demo, "checkout")
    tab = page.open(f"/clusters/demo/nodes/{node}/")
    expect(tab.locator("h1")).to_have_text(node)
    expect(tab.locator("[data-loss-service]").first).to_be_visible()  # loaded after the page
    assert tab.locator("[data-loss-service='shop/checkout']").count() >= 1
    expect(tab.locator("[data-pod]")).to_have_count(demo.pods.filter(node_name=node).count())
    no_serious_violation(page)
    page.shot(f"node-{layout(page)}")
    tab.locator("a", has_text="What-if: take it down").click()
    tab.wait_for_load_state("networkidle")
    assert f"down={node}" in tab.url


def test_scenarios_page_and_the_switcher_keep_your_place(page: Page, demo: Cluster) -> None:
    call_command("load_demo", "--name", "second", verbosity=0)
    tab = page.open("/clusters/demo/scenarios/")
    expect(tab.locator(".empty")).to_contain_text("No saved scenario yet")
    no_serious_violation(page)
    tab = page.open("/clusters/demo/services/shop/cache/?port=redis")
    tab.select_option("#cluster-switch", "second")
    tab.wait_for_url(re.compile(r"/clusters/second/services/shop/cache/\?port=redis$"))
    expect(tab.locator("#cluster-switch")).to_have_value("second")


def test_logout_and_login_come_back_to_the_same_page(page: Page, demo: Cluster) -> None:
    User.objects.create_user("reader", password="reader-pass-1")
    page.login("reader", "reader-pass-1")
    tab = page.open("/clusters/demo/services/?type=LoadBalancer")
    tab.locator("button", has_text="Log out").click()
    tab.wait_for_load_state("networkidle")
    assert "/accounts/login/" in tab.url
    tab.fill("#id_username", "reader")
    tab.fill("#id_password", "reader-pass-1")
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r"/clusters/demo/services/\?type=LoadBalancer$"))


def test_synced_cluster_shows_data_age_and_reloads_when_the_revision_moves(
    page: Page, demo: Cluster, settings
) -> None:
    settings.ROUTESCOPE_LIVE_POLL_SECONDS = 1
    Cluster.objects.filter(pk=demo.pk).update(
        last_synced_at=timezone.now() - timedelta(minutes=5),
        kubeconfig_path="/etc/kube/config",
    )
    tab = page.open("/clusters/demo/")
    expect(tab.locator("[data-live]")).to_have_text(re.compile(r"data 5 minutes old"))
    no_serious_violation(page)
    with tab.expect_navigation(timeout=10_000):  # the page reloads itself
        Cluster.objects.filter(pk=demo.pk).update(revision=F("revision") + 1)
    tab.wait_for_load_state("networkidle")
    revision = Cluster.objects.get(pk=demo.pk).revision
    expect(tab.locator(".page-head")).to_contain_text(f"revision {revision}")

    # Typing in a form: no reload under the user's fingers, a note offers it.
    tab = page.open("/clusters/demo/services/")
    tab.locator("#q").click()
    tab.evaluate("window.__before = true")
    Cluster.objects.filter(pk=demo.pk).update(revision=F("revision") + 1)
    expect(tab.locator("[data-live-note]")).to_be_visible(timeout=10_000)
    assert tab.evaluate("window.__before") is True  # not reloaded
    with tab.expect_navigation():
        tab.locator("[data-live-reload]").click()


def test_phone_services_table_keeps_its_key_columns_and_flows_are_readable(
    page: Page, demo: Cluster
) -> None:
    tab = page.open("/clusters/demo/services/")
    width = layout_width(page)
    rows = tab.locator("tr[data-service]")
    assert rows.count() > 0
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    for i in range(rows.count()):
        cell = rows.nth(i).locator("td[data-label='Dropped']")
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
        expect(cell).to_be_visible()
    page.shot(f"services-{layout(page)}")
    no_serious_violation(page)

    tab = page.open("/clusters/demo/services/shop/checkout/")
    flow_list = tab.locator("[data-flow-list]").first
    if layout(page).startswith("phone"):
        expect(flow_list).to_be_visible()
        size = flow_list.evaluate(
            "e => parseFloat(getComputedStyle(e.querySelector('li')).fontSize)"
        )
        assert size >= 12
        expect(flow_list).to_contain_text("%")
    else:
        expect(flow_list).to_be_hidden()
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.shot(f"service-flow-{layout(page)}")
    no_serious_violation(page)


def test_overview_legend_labels_critical_services_and_pins_any(page: Page, demo: Cluster) -> None:
    tab = page.open("/clusters/demo/")
    critical = tab.locator("[data-legend-critical]")
    assert critical.count() >= 1
    expect(critical.first).to_contain_text("critical")
    key = critical.first.get_attribute("data-legend") or ""
    critical.first.click()
    pods = Endpoint.objects.filter(
        service__cluster=demo, service__namespace=key.split("/")[0], service__name=key.split("/")[1]
    ).exclude(target_kind="")
    expect(tab.locator(".pod.hl")).to_have_count(pods.count())
    no_serious_violation(page)


def test_a_node_taken_down_sends_nothing_in_the_whatif(page: Page, demo: Cluster) -> None:
    node = hosting_node(demo, "checkout")
    tab = page.open(f"/clusters/demo/what-if/?service=shop/checkout&down={node}")

    def sources(side: str) -> list[str]:
        card = tab.locator(".card", has=tab.locator("h3", has_text=f"{side} · Pods → ClusterIP"))
        expect(card.locator("svg.flow")).to_be_visible()
        return card.locator("svg.flow g.src title").all_text_contents()

    assert node in sources("Before")
    assert node not in sources("After") and sources("After")
    no_serious_violation(page)


def test_overview_legend_scales_past_twenty_services(page: Page, transactional_db) -> None:
    """A generated cluster with more Services than colours: twenty get a colour, the rest
    are folded under "more Services" and still highlight their pods; every Service with a
    critical finding is labelled."""
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=12, services=40, pods=240, zones=3, seed=7), out=out)
    cluster_import(name="big", objects=json.loads(out.getvalue())["items"], source="generated")
    big = Cluster.objects.get(name="big")
    critical = {f.service for f in answers.report(cluster=big).findings if f.severity == "critical"}
    tab = page.open("/clusters/big/")
    colours = tab.evaluate(
        """() => new Set([...document.querySelectorAll('.legend > [data-legend] .pod')]
             .map(d => [...d.classList].find(c => /^c\\d+$/.test(c))).filter(Boolean)).size"""
    )
    assert colours == 20
    labelled = set(
        tab.locator("[data-legend-critical]").evaluate_all("bs => bs.map(b => b.dataset.legend)")
    )
    assert labelled == critical
    more = tab.locator("[data-legend-more]")
    more.locator("summary").click()
    button = more.locator("[data-legend]").first
    key = button.get_attribute("data-legend") or ""
    button.click()
    drawn = tab.locator(f'.pod[data-svc~="{key}"]').count()
    assert drawn > 0
    expect(tab.locator(".pod.hl")).to_have_count(drawn)
    no_serious_violation(page)
    page.shot(f"legend-big-{layout(page)}")
