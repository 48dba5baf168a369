"""Real Celery workers and real Redis servers for end-to-end task tests.

A worker is ``celery -A config worker`` in a subprocess, pointed at a Redis broker and at
the SAME database the test uses (``database_url_for_tests``): on SQLite the test settings
put the test database in a file for this reason; on PostgreSQL it is ``test_<name>``.
Tests that use a worker must use ``transactional_db`` so their rows are committed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_tests() -> str:
    """The URL of the database the running tests use (for a worker subprocess)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{settings['NAME']}"


class Worker:
    """``celery -A config worker --pool=solo`` running in a subprocess until ``stop()``."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        name: str = "test",
        env: dict[str, str] | None = None,
        own_session: bool = False,
    ) -> None:
        """``own_session``: started in a session of its own, as a worker run as a service
        is (with the kernel's autogroups, each session gets its share of the CPU: workers
        left in the starter's session share one session's share between them)."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REDIS_URL": broker_url,
            "DATABASE_URL": database_url,
            "PYTHONPATH": str(REPO),
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        celery = Path(sys.executable).with_name("celery")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [
                str(celery),
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}-{os.getpid()}@%h",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=own_session,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None  # started with stdout=PIPE
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 30) -> Worker:
        """Block until the worker logs ``ready.``."""
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("celery worker not ready:\n" + "\n".join(self.lines[-30:]))
        return self

    def log(self) -> str:
        """Everything the worker printed so far."""
        return "\n".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, its message stays unacknowledged."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """Warm shutdown (TERM), then kill if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class RedisServer:
    """A private ``redis-server`` with an append-only file, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory = free_port(), directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Broker URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        """Stop it (SIGTERM: the append-only file is flushed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Make THIS process send tasks to ``broker_url`` (not eager) for the block."""
    from celery import current_app

    app = current_app._get_current_object()  # the project's app (config.celery)

    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    _reset_pools(app)
    app.conf.update(broker_url=broker_url, result_backend=None, task_always_eager=False)
    try:
        yield
    finally:
        _reset_pools(app)
        app.conf.update(saved)


def _reset_pools(app) -> None:
    # Connection and producer pools are cached on first use; drop them so the next
    # publish connects to the broker configured now.
    # kombu also keeps a process-wide producer pool per broker URL that holds on to the
    # connection pool closed here; without clearing it the next eager apply_async (which
    # still acquires a producer) fails with "Acquire on closed pool".
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
