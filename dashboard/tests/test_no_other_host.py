"""Every page, the API docs UIs included, loads only from our own server: a real Chromium
records every request each page makes (scripts, styles, fonts, images, XHR, and what
those load in turn) and none may go to another host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from playwright import sync_api

from core.testing.browser import chromium as launch_chromium
from jobs.models import Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PAGES = [
    "/",
    "/clusters/demo/",
    "/clusters/demo/services/",
    "/clusters/demo/services/shop/checkout/",
    "/clusters/demo/what-if/",
    "/clusters/demo/rules/?node=node-a1&service=shop/checkout",
    "/clusters/demo/search/?q=shop",
    "/clusters/demo/nodes/node-a1/",
    "/clusters/demo/scenarios/",
    "/clusters/demo/findings/",
    "/clusters/demo/findings/?severity=warning",
    "/clusters/demo/settings/",
    "/jobs/",
    "/jobs/{job}/",
    "/account/",
    "/accounts/login/",
    "/admin/",
    "/api/v1/",
    "/api/docs/",
    "/api/redoc/",
]


@pytest.fixture
def chromium() -> Iterator[object]:
    with launch_chromium() as browser:
        yield browser


def test_no_page_loads_anything_from_another_host(chromium, live_server) -> None:
    call_command("load_demo", verbosity=0)
    job = Job.objects.create(kind=Job.Kind.SYNC)
    staff = User.objects.create_superuser("staff", password="staff-pass-1")
    staff.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    ours = urlsplit(live_server.url).netloc
    context = chromium.new_context()
    tab = context.new_page()
    requests: list[tuple[str, str]] = []
    blocked: list[str] = []  # refused by the page's own Content-Security-Policy: never sent
    tab.on("request", lambda r: requests.append((tab.url, r.url)))
    tab.on("requestfailed", lambda r: blocked.append(r.url) if r.failure == "csp" else None)
    tab.goto(live_server.url + "/accounts/login/")
    tab.fill("#id_username", "staff")
    tab.fill("#id_password", "staff-pass-1")
    tab.click("button[type=submit]")
    tab.wait_for_load_state("networkidle")
    for path in PAGES:
        response = tab.goto(live_server.url + path.format(job=job.pk))
        assert response.status == 200, path
        tab.wait_for_load_state("networkidle")
    context.close()
    visited = {page for page, _url in requests}
    assert len(visited) >= len(PAGES)
    foreign = [
        (page, url)
        for page, url in requests
        if urlsplit(url).scheme not in ("data", "blob", "about")
        and urlsplit(url).netloc != ours
        and url not in blocked
    ]
    assert foreign == []
    # Redoc's bundle asks for the Redocly logo on its CDN; the docs page's policy refuses it.
    assert set(blocked) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert any(
        url.endswith(".js") and "/static/drf_spectacular_sidecar/" in url for _p, url in requests
    )
