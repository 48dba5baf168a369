"""Take the README's screenshots: the demo cluster in a scratch database, served by
``manage.py runserver`` on a free loopback port, photographed by the project's headless
Chromium recipe (``core.testing.browser``) into ``docs/screenshots/``.

    .venv/bin/python scripts/screenshots.py [--only NAME ...]

A page that does not answer 200 (e.g. a page another branch adds) is reported and left
out; the others are still taken. Nothing is fetched from another host.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "docs" / "screenshots"


@dataclass(frozen=True)
class Shot:
    """One screenshot: the page, the viewport, the scheme, and what to do before."""

    name: str
    path: str
    width: int = 1280
    height: int = 1000
    scheme: str = "light"
    full_page: bool = False
    #: type this into the top bar's search box first ("" for nothing).
    search: str = ""
    #: scroll this element to the top of the viewport first ("" for the page's top).
    scroll_to: str = ""


SHOTS = [
    Shot("service-header", "/clusters/demo/services/shop/checkout/", height=820),
    Shot("service-detail", "/clusters/demo/services/shop/checkout/", height=1900),
    Shot("findings", "/clusters/demo/findings/"),
    Shot("what-if", "/clusters/demo/what-if/?service=shop/cache&itp=Cluster"),
    Shot("overview", "/clusters/demo/"),
    Shot("search", "/clusters/demo/", height=620, search="shop/c"),
    Shot("node", "/clusters/demo/nodes/node-a1/", height=900),
    Shot("services-dark", "/clusters/demo/services/", height=760, scheme="dark"),
    Shot("phone-services", "/clusters/demo/services/", width=390, height=844, scheme="dark"),
    Shot(
        "phone-flow",
        "/clusters/demo/services/shop/checkout/",
        width=390,
        height=844,
        scroll_to="svg.flow",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    python = sys.executable
    for args in (["migrate", "--noinput", "-v", "0"], ["load_demo", "-v", "0"]):
        subprocess.run([python, "manage.py", *args], cwd=REPO, env=env, check=True)
    server = subprocess.Popen(
        [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        try:
            if status(f"http://127.0.0.1:{port}/accounts/login/") == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("runserver did not answer")


def take(base: str, shots: list[Shot]) -> list[str]:
    from core.testing.browser import Page, chromium

    skipped = []
    OUT.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for shot in shots:
            code = status(base + shot.path)
            if code != 200:
                skipped.append(f"{shot.name}: {shot.path} answered {code}")
                continue
            page = Page(browser, base, width=shot.width, scheme=shot.scheme)  # type: ignore[arg-type]
            page.tab.set_viewport_size({"width": shot.width, "height": shot.height})
            tab = page.open(shot.path)
            if shot.search:
                tab.fill("#global-search", shot.search)
                tab.locator("#search-results a[data-search-hit]").first.wait_for()
            if shot.scroll_to:
                tab.locator(shot.scroll_to).first.evaluate(
                    "e => { e.scrollIntoView(); window.scrollBy(0, -60); }"
                )
            tab.screenshot(path=str(OUT / f"{shot.name}.png"), full_page=shot.full_page)
            print(f"{shot.name}.png  {shot.width}×{shot.height} {shot.scheme}  {shot.path}")
            page.close()
    return skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="screenshot names to take (default: all)")
    args = parser.parse_args()
    shots = [s for s in SHOTS if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory(prefix="routescope-shots-") as scratch:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{scratch}/db.sqlite3",
            "ROUTESCOPE_SNAPSHOT_DIR": f"{scratch}/snapshots",
            "ROUTESCOPE_ANONYMOUS_READ": "true",
        }
        port = free_port()
        server = serve(env, port)
        try:
            skipped = take(f"http://127.0.0.1:{port}", shots)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for line in skipped:
        print(f"not taken: {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
