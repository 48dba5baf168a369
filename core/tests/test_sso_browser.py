"""Single sign-on in a real headless Chromium: from our login page to the stand-in
provider's form and back to the dashboard, as an operator and as a reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright import sync_api

from core.testing.browser import chromium
from core.tests.oidc_provider import StandInProvider
from core.tests.test_oidc import USERS, configure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def idp(settings) -> Iterator[StandInProvider]:
    with StandInProvider(users={name: dict(claims) for name, claims in USERS.items()}) as provider:
        configure(settings, provider)
        yield provider


def _sign_in(
    browser: sync_api.Browser, base: str, login: str
) -> tuple[sync_api.BrowserContext, sync_api.Page, list[str]]:
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.goto(f"{base}/accounts/login/")
    tab.click("[data-testid=sso-login]")
    tab.wait_for_selector("text=Stand-in IdP")
    tab.fill("input[name=login]", login)
    tab.click("button[type=submit]")
    tab.wait_for_load_state("networkidle")
    return context, tab, errors


def _me(tab: sync_api.Page, base: str) -> dict:
    """``/api/v1/me`` with the tab's cookies: who the session is."""
    return tab.request.get(f"{base}/api/v1/me").json()


def test_sso_from_the_login_page_to_the_dashboard(browser, live_server, idp) -> None:
    context, tab, errors = _sign_in(browser, live_server.url, "olga")
    assert tab.url == f"{live_server.url}/"  # back on the dashboard, logged in
    me = _me(tab, live_server.url)
    assert (me["username"], me["auth"], me["can_operate"]) == ("olga", "session", True)
    tab.goto(f"{live_server.url}/account/")
    assert "operator: may sync clusters" in tab.inner_text("body")
    context.close()

    context, tab, reader_errors = _sign_in(browser, live_server.url, "rita")
    assert tab.url == f"{live_server.url}/"
    me = _me(tab, live_server.url)
    assert (me["username"], me["can_operate"]) == ("rita", False)
    tab.goto(f"{live_server.url}/account/")
    assert "reader: may read everything" in tab.inner_text("body")
    context.close()

    context, tab, refused_errors = _sign_in(browser, live_server.url, "nina")
    assert tab.url == f"{live_server.url}/accounts/login/?sso=failed"
    assert "Single sign-on did not log you in" in tab.inner_text("body")
    context.close()
    assert errors == reader_errors == refused_errors == []
