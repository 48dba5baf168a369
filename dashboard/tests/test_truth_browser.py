"""Truth first and the Service facts header (issue 16, items 1 and 3) in real headless
Chromium against a live server with the demo cluster, at desktop width and on a 390 px
phone, in the light and the dark colour scheme: what a reader sees, axe-core with no serious
or critical violation, no horizontal scrolling of the page, nothing fetched from another
host, no console error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright import sync_api

from cluster.models import Endpoint, Node, Service
from core.testing.browser import PHONE_WIDTH, Page, chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUTS = [(1280, "light"), (1280, "dark"), (PHONE_WIDTH, "light"), (PHONE_WIDTH, "dark")]
IDS = ["desktop-light", "desktop-dark", "phone-light", "phone-dark"]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, live_server, request) -> Iterator[Page]:
    width, scheme = request.param
    call_command("load_demo", verbosity=0)
    User.objects.create_user("reader", password="reader-pass-1")
    tab = Page(browser, live_server.url, width=width, scheme=scheme)
    requests: list[str] = []
    tab.tab.on("request", lambda r: requests.append(r.url))
    tab.login("reader", "reader-pass-1")
    yield tab
    ours = urlsplit(live_server.url).netloc
    foreign = [
        u
        for u in requests
        if urlsplit(u).scheme not in ("data", "blob", "about") and urlsplit(u).netloc != ours
    ]
    assert foreign == []
    tab.close()


def visit(page: Page, path: str, shot: str) -> sync_api.Page:
    width = page.tab.viewport_size["width"] if page.tab.viewport_size else 0
    tab = page.open(path, f"truth-{shot}-{width}")
    violations = page.axe()
    assert violations == [], json.dumps(violations, indent=1)
    # Wide content scrolls inside its own box (tables, rule text), never the whole page.
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{path}: the page scrolls sideways by {overflow}px"
    return tab


def colour(tab: sync_api.Page, selector: str) -> str:
    return tab.eval_on_selector(selector, "e => getComputedStyle(e).color")


def token(tab: sync_api.Page, name: str) -> str:
    """The computed rgb() of a design token (e.g. --ok) in the page's scheme."""
    return tab.evaluate(
        """name => { const probe = document.createElement('span');
            probe.style.color = `var(${name})`; document.body.append(probe);
            const c = getComputedStyle(probe).color; probe.remove(); return c; }""",
        name,
    )


@pytest.mark.parametrize("page", LAYOUTS, ids=IDS, indirect=True)
def test_service_page_facts_and_by_design_drops(page: Page) -> None:
    tab = visit(page, "/clusters/demo/services/shop/checkout/", "checkout")
    facts = tab.locator("[data-facts='shop/checkout']")
    sync_api.expect(facts.locator("[data-fact='cluster-ips']")).to_contain_text("10.96.0.13")
    sync_api.expect(facts.locator("[data-fact='lb-ingress']")).to_contain_text("198.51.100.13")
    sync_api.expect(facts.locator("[data-fact='selector']")).to_have_text("app=checkout")
    service = Service.objects.get(namespace="shop", name="checkout")
    port = service.ports[0]
    row = facts.locator(f"tr[data-port='{port['name']}']")
    sync_api.expect(row).to_contain_text(str(port["nodePort"]))
    sync_api.expect(row).to_contain_text(str(port["targetPort"]))
    for ep in Endpoint.objects.filter(service=service):
        sync_api.expect(facts.locator(f"tr[data-endpoint='{ep.address}']")).to_contain_text(
            ep.target_name
        )
    # The NodePort drops sit on nodes the LB avoids: calm, not the outage red.
    tile = tab.locator("[data-entry-failing='nodeport']")
    sync_api.expect(tile).to_have_text("0.0%")
    assert colour(tab, "[data-entry-failing='nodeport']") == token(tab, "--info")
    assert colour(tab, "[data-entry-failing='nodeport']") != token(tab, "--bad")
    sync_api.expect(tab.locator("[data-entry-outcome='nodeport']")).to_contain_text(
        "dropped by design on nodes the load balancer avoids"
    )
    # shop/cache (iTP=Local) drops pods' calls for real: red.
    tab = visit(page, "/clusters/demo/services/shop/cache/", "cache")
    assert colour(tab, "[data-entry-failing='pod']") == token(tab, "--bad")
    hosting = {e.node_name for e in Endpoint.objects.filter(service__name="cache", ready=True)}
    nodes = Node.objects.count()
    sync_api.expect(tab.locator("[data-entry-failing='pod']")).to_have_text(
        f"{(nodes - len(hosting)) / nodes * 100:.1f}%"
    )


@pytest.mark.parametrize("page", LAYOUTS, ids=IDS, indirect=True)
def test_external_name_and_headless_pages(page: Page) -> None:
    tab = visit(page, "/clusters/demo/services/shop/mail/", "externalname")
    sync_api.expect(tab.locator("#not-proxied-h")).to_have_text(
        "DNS alias to smtp.mail.example.com, not proxied"
    )
    sync_api.expect(tab.locator("[data-fact='type']")).to_have_text("ExternalName")
    assert tab.locator(".alert-bad").count() == 0
    tab = visit(page, "/clusters/demo/services/batch/reports/", "headless")
    sync_api.expect(tab.locator("[data-type-badge]")).to_have_text(
        "ClusterIP · headless (clusterIP: None)"
    )
    sync_api.expect(tab.locator("#not-proxied-h")).to_have_text(
        "DNS returns pod IPs, no kube-proxy rules"
    )
    for ep in Endpoint.objects.filter(service__name="reports"):
        sync_api.expect(tab.locator("[data-dns-addresses]")).to_contain_text(ep.address)
    assert tab.locator(".alert-bad").count() == 0


@pytest.mark.parametrize("page", LAYOUTS, ids=IDS, indirect=True)
def test_ipvs_whatif_is_never_green_and_its_rules_are_replaced(page: Page) -> None:
    tab = visit(page, "/clusters/demo/what-if/?service=shop/checkout&proxy_mode=ipvs", "ipvs")
    verdict = tab.locator("[data-verdict='nodeport']")
    sync_api.expect(verdict).to_be_visible()
    assert verdict.locator(".badge-ok, .diff-add").count() == 0
    assert colour(tab, "[data-after-failing='nodeport']") != token(tab, "--ok")
    assert tab.locator("[data-after-outcome='nodeport'] .outcome-ok").count() == 0
    sync_api.expect(tab.locator("[data-after-outcome='nodeport']")).to_contain_text(
        "80.0% replies lost on nodes the load balancer avoids"
    )
    tab.locator("[data-verdict='nodeport'] ~ details summary").first.click()
    sync_api.expect(
        tab.locator("td[data-client-ip]").filter(has_text="kept, replies lost").first
    ).to_be_visible()
    # Flipping eTP to Cluster ends drops no LB client met: a by-design change, not a rescue.
    tab = visit(page, "/clusters/demo/what-if/?service=shop/checkout&etp=Cluster", "etp")
    sync_api.expect(
        tab.locator("[data-verdict='nodeport'] [data-verdict-badge='by design']")
    ).to_have_text("by design, on nodes the LB avoids: 80.0% → 0.0%")
    assert tab.locator("[data-verdict-badge='stops failing']").count() == 0
    tab = visit(
        page, "/clusters/demo/rules/?node=edge-1&service=shop/checkout&proxy_mode=ipvs", "switch"
    )
    sync_api.expect(tab.locator("[data-rules-switch]")).to_contain_text(
        "switches from iptables to ipvs (scheduler rr): the whole rule set is replaced"
    )
    assert tab.locator("[data-rules-diff] .diff-del").count() > 50
    assert tab.locator("[data-rules-diff] .diff-add").count() > 50
