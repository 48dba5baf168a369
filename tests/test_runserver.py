"""`manage.py runserver` on the local settings serves every page and its static files on a
fresh checkout: no collectstatic, no other step (the manifest storage is production's only).

Runs the real commands in subprocesses, on a database of its own, as a newcomer would:
migrate, load_demo, runserver; then fetches every page and every static file they use.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Environment a test run may carry that the newcomer's shell does not.
NOT_INHERITED = (
    "DATABASE_URL",
    "DEBUG",
    "REDIS_URL",
    "ROUTESCOPE_ANONYMOUS_READ",
    "ROUTESCOPE_SNAPSHOT_DIR",
    "ALLOWED_HOSTS",
)
PAGES = [
    "/",
    "/jobs/",
    "/accounts/login/",
    "/clusters/demo/",
    "/clusters/demo/services/",
    "/clusters/demo/what-if/",
    "/clusters/demo/rules/",
    "/api/v1/",
    "/api/v1/clusters",
    "/api/schema/",
    "/api/docs/",
    "/api/redoc/",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@pytest.mark.slow
def test_runserver_on_the_local_settings_serves_every_page_without_collectstatic(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_INHERITED and not k.startswith("DJANGO_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ROUTESCOPE_SNAPSHOT_DIR=str(tmp_path / "snapshots"),
        SECRET_KEY="runserver-test-key",
    )
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo", "-v", "0"]):
        subprocess.run(
            manage + command, cwd=REPO, env=env, check=True, timeout=300, capture_output=True
        )
    port = _free_port()
    server = subprocess.Popen(
        manage + ["runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "runserver did not start"
                time.sleep(0.2)

        static: set[str] = set()
        for page in PAGES:
            status, body = _get(base + page)
            assert status == 200, (page, status, body[:500])
            static.update(re.findall(r"""(?:src|href)=["'](/static/[^"'?#]+)""", body))
        # A service page, found the way a person finds it: from the services list.
        status, body = _get(base + "/clusters/demo/services/")
        detail = re.search(r'href="(/clusters/demo/services/[^/"]+/[^/"]+/)"', body)
        assert detail, "the services list links no service"
        status, body = _get(base + detail.group(1))
        assert status == 200, (detail.group(1), status)
        static.update(re.findall(r"""(?:src|href)=["'](/static/[^"'?#]+)""", body))

        assert "/static/css/app.css" in static
        for path in sorted(static):
            assert _get(base + path)[0] == 200, path
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_manifest_storage_is_production_only() -> None:
    probe = (
        "import importlib, json; print(json.dumps({m: importlib.import_module("
        "f'config.settings.{m}').STORAGES['staticfiles']['BACKEND'] "
        "for m in ('local', 'test', 'production')}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SECRET_KEY="probe-key", ALLOWED_HOSTS="routescope.example")
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    backends = json.loads(result.stdout)
    assert backends["production"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert (
        backends["local"]
        == backends["test"]
        == ("django.contrib.staticfiles.storage.StaticFilesStorage")
    )
