"""The disruption timeline page (issue 14): server-side facts, links, strict CSP; and the
same page in real headless Chromium (marked ``browser``)."""

from __future__ import annotations

import re
from typing import Any

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


def _save(client: Client, name: str = "checkout drain") -> Any:
    return client.post(
        "/clusters/demo/services/shop/checkout/timeline/save/",
        {"name": name, "query": "event=drain%3Anode-a1&lb_preset=gcp&prestop=30&grace=35"},
    )


def test_saving_needs_a_login_like_scenarios(client: Client, demo: Cluster) -> None:
    from routing.models import SavedTimeline

    html = client.get(URL, {"event": "drain:node-a1"}).content.decode()
    assert "data-timeline-save" not in html and "Log in to save this timeline" in html
    response = _save(client)
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/accounts/login/"
    )
    assert not SavedTimeline.objects.exists()


def test_saved_timeline_has_a_shareable_url_listed_on_the_service(
    client: Client, demo: Cluster, reader
) -> None:
    from routing.models import SavedTimeline

    client.force_login(reader)
    html = client.get(URL, {"event": "drain:node-a1", "lb_preset": "gcp"}).content.decode()
    assert "data-timeline-save" in html and 'name="query" value="event=drain%3Anode-a1' in html
    response = _save(client)
    saved = SavedTimeline.objects.get(name="checkout drain")
    assert response.status_code == 302 and response.headers["Location"] == f"/timelines/{saved.pk}/"
    assert saved.service == "shop/checkout" and saved.created_by == reader
    assert saved.question == {  # as the API stores it (its serializer)
        "event": "drain:node-a1",
        "lb_preset": "gcp",
        "prestop": 30.0,
        "grace": 35.0,
    }
    # Anyone who can read opens the shared URL: the question re-run, the form filled in.
    client.logout()
    shared = client.get(f"/timelines/{saved.pk}/").content.decode()
    assert "data-saved-timeline" in shared and "checkout drain" in shared and "by reader" in shared
    assert 'value="drain:node-a1" selected' in shared and 'value="30"' in shared
    assert "data-no-windows" in shared  # the preStop of 30 s closes the LB window
    assert f'action="{URL}"' in shared  # changing the form asks the Service's page
    for page in ("/clusters/demo/services/shop/checkout/", URL):
        listed = client.get(page).content.decode()
        assert f'href="/timelines/{saved.pk}/"' in listed and "data-saved-timelines" in listed
    assert (
        "data-saved-timelines"
        not in client.get("/clusters/demo/services/shop/web/").content.decode()
    )
    client.force_login(reader)
    again = _save(client)  # the same name again: refused, nothing saved, back to the page
    assert again.status_code == 302 and again.headers["Location"].startswith(URL + "?event=")
    assert SavedTimeline.objects.count() == 1
    bad = client.post(
        "/clusters/demo/services/shop/checkout/timeline/save/",
        {"name": "x", "query": "event=drain%3Anode-a1&lb_preset=nope"},
    )
    assert bad.status_code == 302 and SavedTimeline.objects.count() == 1
    assert client.get("/timelines/999999/").status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_save_share_and_open_the_recommendation_in_the_what_if_in_chromium(
    browser, live_server, transactional_db
) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from dashboard.tests.test_browser import Page
    from routing.models import SavedTimeline

    call_command("load_demo", verbosity=0)
    User.objects.create_user("reader", password="reader-pass-1")
    page = Page(browser, live_server.url)
    page.login("reader", "reader-pass-1")
    tab = page.open(URL + "?event=drain:node-a1&lb_preset=gcp")
    tab.fill("#tl-name", "checkout drain in gcp")
    tab.click("[data-timeline-save] button[type=submit]")
    tab.wait_for_url(re.compile(r"/timelines/\d+/$"))
    saved = SavedTimeline.objects.get(name="checkout drain in gcp")
    page.shot("timeline-saved")
    fresh = Page(browser, live_server.url)  # someone else, not logged in, opens the link
    shared = fresh.open(f"/timelines/{saved.pk}/")
    assert shared.locator("[data-saved-timeline]").count() == 1
    assert shared.locator("#tl-event").input_value() == "drain:node-a1"
    assert shared.locator("[data-window-code='TIMELINE_LB_HEALTH_CHECK_LAG']").count() == 1
    # The eTP=Cluster recommendation opens the what-if with the change already made.
    shared.locator("[data-recommendation] a", has_text="Open in the what-if").click()
    shared.wait_for_load_state("networkidle")
    assert "/what-if/" in shared.url and "etp=Cluster" in shared.url
    assert shared.locator("#id_etp").input_value() == "Cluster"
    assert shared.locator("[data-after-dropped='nodeport']").inner_text() == "0.0%"
    fresh.close()
    page.close()
