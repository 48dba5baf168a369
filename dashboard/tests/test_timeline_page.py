"""The disruption timeline page (issue 14): server-side facts, links, strict CSP; and the
same page in real headless Chromium (marked ``browser``)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from cluster.models import Cluster
from dashboard.middleware import CONTENT_SECURITY_POLICY
from dashboard.tests.test_browser import (
    browser,
)

pytestmark = pytest.mark.django_db
URL = "/clusters/demo/services/shop/checkout/timeline/"


def test_service_detail_links_to_the_timeline(client: Client, demo: Cluster) -> None:
    html = client.get("/clusters/demo/services/shop/checkout/").content.decode()
    assert f'href="{URL}"' in html and "What happens during a rollout / drain / outage?" in html


def test_what_if_explorer_links_to_the_timeline(client: Client, demo: Cluster) -> None:
    html = client.get("/clusters/demo/what-if/", {"service": "shop/checkout"}).content.decode()
    assert 'href="/clusters/demo/timeline/?service=shop/checkout"' in html
    response = client.get("/clusters/demo/timeline/", {"service": "shop/checkout"})
    assert response.status_code == 302 and response.headers["Location"] == URL
    assert client.get("/clusters/demo/timeline/", {"service": "nope"}).status_code == 404


def test_form_only_until_an_event_is_chosen(client: Client, demo: Cluster) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'value="drain:node-a1"' in html
        and 'value="zone-down:eu-west-1b"' in html
        and "<svg" not in html
    )


def test_drain_story_chart_windows_and_recommendations(client: Client, demo: Cluster) -> None:
    response = client.get(URL, {"event": "drain:node-a1", "lb_preset": "gcp"})
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.content.decode()
    # No inline script or style: the chart is shapes and classes only.
    assert (
        not re.search(r"<script(?![^>]*\bsrc=)", html)
        and "style=" not in html
        and "<style" not in html
    )
    assert html.count('data-timeline-source="') == 3
    assert 'class="tl-window tl-timeline_lb_health_check_lag"' in html
    assert "2 s – 26 s (24 s)" in html  # gcp: 3 x 8 s after the health check fails at 2 s
    assert "26 s: load balancer takes out: node-a1" in html and 'class="tl-event tl-mark"' in html
    assert "a preStop sleep of 30 s" in html
    # The preStop is re-run on this page; eTP=Cluster opens the what-if with the change.
    assert "prestop=30&amp;grace=35" in html
    assert "/clusters/demo/what-if/?service=shop%2Fcheckout&amp;etp=Cluster" in html


def test_the_recommended_prestop_leaves_no_window(client: Client, demo: Cluster) -> None:
    html = client.get(
        URL, {"event": "drain:node-a1", "lb_preset": "gcp", "prestop": "30", "grace": "35"}
    ).content.decode()
    assert "data-no-windows" in html


def test_node_failure_offers_a_faster_health_check(client: Client, demo: Cluster) -> None:
    html = client.get(URL, {"event": "node-down:node-a1", "lb_preset": "aws-nlb"}).content.decode()
    assert "TIMELINE_NODE_DOWN" in html and "a load-balancer health check every 5 s" in html
    found = re.search(r'href="([^"]*probe_interval=5[^"]*)"', html)
    assert found is not None
    link = found.group(1).replace("&amp;", "&")
    assert "lb_preset" not in link and "unhealthy_threshold=2" in link
    again = client.get(link).content.decode()
    assert "0 s – 10 s (10 s)" in again  # the LB now gives node-a1 up after 2 x 5 s


def test_bad_input_is_shown_not_raised(client: Client, demo: Cluster) -> None:
    html = client.get(URL, {"event": "drain:node-a1", "prestop": "90"}).content.decode()
    assert "data-timeline-error" in html and "longer than the grace period" in html
    assert client.get("/clusters/demo/services/shop/nope/timeline/").status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_timeline_page_in_chromium(browser, live_server, transactional_db) -> None:
    from django.core.management import call_command

    from dashboard.tests.test_browser import Page

    call_command("load_demo", verbosity=0)
    page = Page(browser, live_server.url)
    # Page.open returns the playwright tab, typed object in test_browser
    tab = page.open("/clusters/demo/services/shop/checkout/")
    tab.click("[data-timeline-link]")
    tab.select_option("#tl-event", "drain:node-a1")
    tab.select_option("#tl-preset", "gcp")
    tab.click("button[type=submit]")
    tab.wait_for_load_state("networkidle")
    page.shot("timeline-drain")
    assert tab.locator("svg.timeline").count() == 3
    assert (
        tab.locator("[data-timeline-source='lb'] rect.tl-timeline_lb_health_check_lag").count() == 1
    )
    box = tab.locator("[data-timeline-source='lb'] svg.timeline").bounding_box()
    assert box and box["width"] > 300  # the stylesheet applied (no inline style needed)
    tab.locator("[data-recommendation] a").first.click()
    tab.wait_for_load_state("networkidle")
    assert "prestop=30" in tab.url and tab.locator("[data-no-windows]").count() == 1
    page.close()  # fails on any console error (a CSP violation is one)
    phone = Page(browser, live_server.url, width=390)
    tab = phone.open(URL + "?event=drain:node-a1&lb_preset=gcp", "timeline-phone")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.close()
