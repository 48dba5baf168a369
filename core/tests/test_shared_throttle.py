"""Throttles are one limit across processes when REDIS_URL is set (the Django cache is then
Redis), and per process without it: real gunicorn servers, real Redis (its DB 12)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/12"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@contextlib.contextmanager
def _servers(tmp_path: Path, envs: list[dict[str, str]]) -> Iterator[list[str]]:
    """One gunicorn process per environment; yields their base URLs."""
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJANGO_") and k not in ("REDIS_URL", "CACHE_URL")
    }
    base_env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        SECRET_KEY="throttle-test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        THROTTLE_ANON="4/day",
        ROUTESCOPE_ANONYMOUS_READ="true",
    )
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    procs, urls = [], []
    try:
        for extra in envs:
            port = _free_port()
            procs.append(
                subprocess.Popen(
                    [
                        gunicorn,
                        "config.wsgi",
                        "-b",
                        f"127.0.0.1:{port}",
                        "-w",
                        "1",
                        "--log-level",
                        "warning",
                    ],
                    cwd=REPO,
                    env={**base_env, **extra},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        for proc, url in zip(procs, urls):
            port = int(url.rsplit(":", 1)[1])
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_two_processes_share_one_limit_through_redis_and_not_without(tmp_path) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    shared = {"REDIS_URL": REDIS_URL}
    with _servers(tmp_path, [shared, shared, {}, {}]) as (a, b, c, d):
        # Through Redis: 4 a day for this client, whichever process answers.
        alternating = [_status(f"{url}/api/v1/") for url in (a, b) * 3]
        # In each process's memory: 4 a day per process, so 8 in all.
        apart = [_status(f"{url}/api/v1/") for url in (c, d) * 5]
    assert alternating == [200, 200, 200, 200, 429, 429]
    assert apart == [200] * 8 + [429, 429]
    keys = redis.Redis.from_url(REDIS_URL).keys("routescope:*throttle:anon:*")
    assert len(keys) == 1
