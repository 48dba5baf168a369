"""Real headless Chromium for page tests: one launch recipe, one tab recorder, one axe-core check.

Every page test in the project drives the distribution's Chromium through Playwright's
sync API with the flags below (no sandbox in containers, nothing fetched from other hosts),
records console errors and fails on any, and can run axe-core (installed by npm, see
``package.json``) against what it sees. Tabs can be opened at a phone width and in the
dark colour scheme, so one test can walk a page in every layout it promises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright import sync_api

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SHOTS = REPO / "artifacts" / "screenshots"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE_WIDTH = 390
# axe-core impacts that fail a page test ("minor" and "moderate" are reported, not fatal).
FATAL_IMPACTS = ("serious", "critical")


@contextmanager
def chromium() -> Iterator[sync_api.Browser]:
    """One headless Chromium for a module's tests."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A browser tab on the live server that records console errors and takes screenshots.

    ``width`` sets the viewport (``PHONE_WIDTH`` for the phone layout); ``scheme`` the
    ``prefers-color-scheme`` the page sees.
    """

    def __init__(
        self,
        browser: sync_api.Browser,
        base: str,
        *,
        width: int = 1280,
        scheme: Literal["light", "dark"] = "light",
    ) -> None:
        height = 844 if width <= PHONE_WIDTH else 900
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, color_scheme=scheme
        )
        self.tab = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str, shot: str | None = None) -> sync_api.Page:
        self.tab.goto(self.base + path)
        self.tab.wait_for_load_state("networkidle")
        if shot:
            self.shot(shot)
        return self.tab

    def shot(self, name: str) -> None:
        self.tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def login(self, username: str, password: str) -> None:
        self.open("/accounts/login/")
        self.tab.fill("#id_username", username)
        self.tab.fill("#id_password", password)
        self.tab.click("button[type=submit]")
        self.tab.wait_for_load_state("networkidle")

    def axe(self) -> list[dict[str, Any]]:
        """Run axe-core on the page as it is now; the violations whose impact is fatal."""
        return axe_violations(self.tab)

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"console errors: {self.errors}"


def axe_violations(
    tab: sync_api.Page, *, impacts: tuple[str, ...] = FATAL_IMPACTS
) -> list[dict[str, Any]]:
    """axe-core's violations of the page in ``tab`` with one of ``impacts``, each reduced to
    its rule id, impact, help text and the first few offending selectors.

    axe is evaluated through the DevTools protocol (not a script tag), so the pages'
    Content-Security-Policy stays as strict in tests as in production.
    """
    assert AXE.exists(), "run npm ci (make frontend): axe-core is a dev dependency"
    tab.evaluate(AXE.read_text() + "\n;void 0")
    raw = tab.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return JSON.stringify(result.violations);
        }"""
    )
    found = [
        {
            "id": v["id"],
            "impact": v.get("impact"),
            "help": v.get("help"),
            "nodes": [", ".join(n.get("target", [])) for n in v.get("nodes", [])[:5]],
        }
        for v in json.loads(raw)
    ]
    return [v for v in found if v["impact"] in impacts]
