"""Issue 16 items 2 and 4 in real headless Chromium against a live server with the demo
cluster, at desktop width and on a 390 px phone, in the light and the dark scheme, with
axe-core on every page visited (no serious or critical violation)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright import sync_api
from playwright.sync_api import expect

from core.testing.browser import PHONE_WIDTH, Page, chromium
from dashboard.forms import param_of
from routing.engine.whatif_fields import FIELDS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUTS = [(1280, "light"), (1280, "dark"), (PHONE_WIDTH, "light"), (PHONE_WIDTH, "dark")]
IDS = ["desktop-light", "desktop-dark", "phone-light", "phone-dark"]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as launched:
        yield launched


def _axe(page: Page, found: dict[str, list]) -> None:
    if violations := page.axe():
        found[page.tab.url] = violations


@pytest.mark.parametrize(("width", "scheme"), LAYOUTS, ids=IDS)
def test_findings_page_filters_deep_links_and_fixes(browser, live_server, width, scheme) -> None:
    from routing.reports import cluster_report, report_cache_clear

    report_cache_clear()
    call_command("load_demo", verbosity=0)
    User.objects.create_user("reader", password="reader-pass-1")
    from cluster.models import Cluster

    report = cluster_report(cluster=Cluster.objects.get(name="demo"))
    page = Page(browser, live_server.url, width=width, scheme=scheme)
    page.login("reader", "reader-pass-1")
    found: dict[str, list] = {}
    tab = page.open("/clusters/demo/", shot=f"i16-overview-{width}-{scheme}")
    tab.locator("[data-all-findings]").click()
    tab.wait_for_load_state("networkidle")
    assert tab.url.endswith("/clusters/demo/findings/")
    listed = tab.locator("li.finding")
    assert listed.count() == min(len(report.findings), 50)
    page.shot(f"i16-findings-{width}-{scheme}")
    _axe(page, found)
    # Filter by severity: every listed finding has it, and the count is the report's.
    tab.select_option("#id_severity", "warning")
    tab.get_by_role("button", name="Filter").click()
    tab.wait_for_load_state("networkidle")
    warnings = [f for f in report.findings if f.severity == "warning"]
    assert listed.count() == len(warnings)
    assert set(listed.evaluate_all("els => els.map(e => e.dataset.severity)")) == {"warning"}
    # Deep link: the Service page opens on the finding's own section, scrolled into view.
    first = warnings[0]
    tab.locator("[data-finding-link]").first.click()
    tab.wait_for_load_state("networkidle")
    anchor = tab.url.split("#", 1)[1]
    target = tab.locator(f"#{anchor}")
    expect(target).to_be_visible()
    expect(target).to_be_in_viewport()
    assert target.get_attribute("data-finding") == first.code
    page.shot(f"i16-finding-target-{width}-{scheme}")
    _axe(page, found)
    # Try the fix: the what-if page opens with the field set to the fixing value.
    page.open("/clusters/demo/findings/")
    fix = tab.locator("[data-fix-link]").first
    text = fix.inner_text()
    field, value = text.split(": ", 1)[1].split("=")
    fix.click()
    tab.wait_for_load_state("networkidle")
    param = param_of(next(spec for spec in FIELDS if spec.name == field))
    assert "/what-if/" in tab.url and f"{param}={value}" in tab.url
    chosen = tab.evaluate(
        """name => (document.querySelector(`[name="${name}"]:checked`)
                    || document.querySelector(`select[name="${name}"]`)).value""",
        param,
    )
    assert chosen == value
    page.shot(f"i16-try-fix-{width}-{scheme}")
    page.close()
    assert found == {}, json.dumps(found, indent=1)


@pytest.mark.parametrize(("width", "scheme"), LAYOUTS, ids=IDS)
def test_settings_page_changes_every_figure(browser, live_server, width, scheme) -> None:
    from routing.reports import report_cache_clear

    report_cache_clear()
    call_command("load_demo", verbosity=0)
    User.objects.create_user("reader", password="reader-pass-1")
    page = Page(browser, live_server.url, width=width, scheme=scheme)
    page.login("reader", "reader-pass-1")
    found: dict[str, list] = {}
    tab = page.open("/clusters/demo/services/shop/cache/")
    before_cost = tab.locator("[data-port-cost]").inner_text()
    tab = page.open("/clusters/demo/settings/", shot=f"i16-settings-{width}-{scheme}")
    _axe(page, found)
    fingerprint = tab.locator("[data-fingerprint]").inner_text()
    assert tab.locator("#id_price_per_gb").input_value() == "0.01"
    tab.fill("#id_price_per_gb", "0.04")
    tab.get_by_role("button", name="Save the cost model").click()
    tab.wait_for_load_state("networkidle")
    expect(tab.get_by_role("status")).to_contain_text("Cost model saved")
    assert tab.locator("[data-fingerprint]").inner_text() != fingerprint
    # The Service page's bill follows the new price (4×), as every page's does.
    tab = page.open("/clusters/demo/services/shop/cache/")
    after_cost = tab.locator("[data-port-cost]").inner_text()

    def dollars(text: str) -> float:
        return float(re.sub(r"[^0-9.]", "", text.split("/")[0]))

    assert dollars(after_cost) == pytest.approx(dollars(before_cost) * 4, rel=0.01)
    # One Service's own traffic from its page's "edit the cost model" link.
    tab.get_by_role("link", name="edit the cost model").click()
    tab.wait_for_load_state("networkidle")
    assert tab.locator("#id_svc-service").input_value() == "shop/cache"
    expect(tab.locator("[data-chosen-service]")).to_have_text("shop/cache")
    tab.fill("#id_svc-request_rate", "0")
    tab.fill("#id_svc-external_request_rate", "0")
    tab.get_by_role("button", name="Save for this Service").click()
    tab.wait_for_load_state("networkidle")
    expect(tab.locator('[data-override="shop/cache"]')).to_be_visible()
    # Picking another Service shows its own values (the cluster's defaults here).
    tab.select_option("#pick-service", "shop/cart")
    tab.get_by_role("button", name="Show its traffic").click()
    tab.wait_for_load_state("networkidle")
    assert tab.locator("#id_svc-service").input_value() == "shop/cart"
    assert float(tab.locator("#id_svc-request_rate").input_value()) == 100.0
    page.shot(f"i16-settings-override-{width}-{scheme}")
    _axe(page, found)
    tab = page.open("/clusters/demo/services/shop/cache/")
    assert dollars(tab.locator("[data-total-cost]").inner_text()) == 0.0
    page.close()
    assert found == {}, json.dumps(found, indent=1)
