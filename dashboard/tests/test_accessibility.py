"""axe-core on every page, in real headless Chromium against a live server with the demo
cluster: desktop in the light scheme and a 390 px phone in the dark one. Serious and
critical violations fail the test; the report names the rule and the offending elements."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright import sync_api

from core.testing.browser import PHONE_WIDTH, Page, chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/clusters/demo/",
    "/clusters/demo/services/",
    "/clusters/demo/services/shop/checkout/",
    "/clusters/demo/what-if/?service=shop/checkout&externalTrafficPolicy=Cluster",
    "/clusters/demo/rules/?node=node-a1&service=shop/checkout",
    "/clusters/demo/services/shop/checkout/timeline/",
    "/clusters/demo/search/?q=shop",
    "/clusters/demo/nodes/node-a1/",
    "/clusters/demo/scenarios/",
    "/clusters/demo/findings/",
    "/clusters/demo/findings/?severity=warning",
    "/clusters/demo/settings/",
    "/jobs/",
    "/account/",
    "/accounts/login/",
]
LAYOUTS = [(1280, "light"), (PHONE_WIDTH, "dark")]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize(("width", "scheme"), LAYOUTS, ids=["desktop-light", "phone-dark"])
def test_no_serious_accessibility_violation_on_any_page(
    browser, live_server, width, scheme
) -> None:
    call_command("load_demo", verbosity=0)
    User.objects.create_user("reader", password="reader-pass-1")
    page = Page(browser, live_server.url, width=width, scheme=scheme)
    page.login("reader", "reader-pass-1")
    found = {}
    for path in PAGES:
        page.open(path)
        if violations := page.axe():
            found[path] = violations
    page.close()
    assert found == {}, json.dumps(found, indent=1)
