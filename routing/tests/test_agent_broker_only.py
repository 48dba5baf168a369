"""A node agent started with only its own settings (the broker URL of its own Redis user:
no database, no secret key) checks its node through the broker: its collect step on
``node.<NODE>``, the compare step on a central worker that has the database. Real Redis
with the ACL users of deploy/overlays/trial, real workers, a real netns."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from cluster.models import Cluster
from cluster.testing.workers import (
    Worker,
    database_url_for_tests,
    free_port,
    publishing_to,
    wait_for,
)
from routing.agent.tasks import drift_checks_queue
from routing.engine.rules import render_node_rules
from routing.models import RulesDriftReport
from routing.snapshots import snapshot_cache_clear, snapshot_for_cluster
from routing.tests.netns_helpers import load, scratch_namespace

pytestmark = [pytest.mark.netns, pytest.mark.worker]
REPO = Path(__file__).resolve().parents[2]
#: What a node's container gets: nothing but these (no DATABASE_URL, SECRET_KEY, ...).
AGENT_ENV_KEYS = ("PATH", "HOME", "LANG")


@contextlib.contextmanager
def redis_with_users(directory: Path):
    """redis-server with the trial overlay's users: default off, "routescope" (all
    commands), "agent" (no admin or dangerous commands). Yields (app URL, agent URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--user",
            "default",
            "off",
            "--user",
            "routescope",
            "on",
            ">app-pw",
            "~*",
            "&*",
            "+@all",
            "--user",
            "agent",
            "on",
            ">agent-pw",
            "~*",
            "&*",
            "+@all",
            "-@admin",
            "-@dangerous",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield (
            f"redis://routescope:app-pw@127.0.0.1:{port}/0",
            f"redis://agent:agent-pw@127.0.0.1:{port}/0",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _agent_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in AGENT_ENV_KEYS if k in os.environ}
    return {**env, "REDIS_URL": redis_url, "PYTHONPATH": str(REPO), **extra}


def _start_agent(
    node: str, *, redis_url: str, netns: str
) -> tuple[subprocess.Popen, threading.Event, list]:
    env = _agent_env(redis_url, ROUTESCOPE_AGENT_NETNS=netns)
    proc = subprocess.Popen(
        [sys.executable, "-m", "routing.agent", "--node", node],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready, lines = threading.Event(), []

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    return proc, ready, lines


def test_agent_with_only_the_broker_url_checks_its_node(transactional_db, tmp_path) -> None:
    snapshot_cache_clear()
    call_command("load_demo", verbosity=0)
    demo = Cluster.objects.get(name="demo")
    expected = render_node_rules(snapshot_for_cluster(cluster=demo), "node-b1", "iptables")
    with redis_with_users(tmp_path) as (app_url, agent_url):
        central = Worker(broker_url=app_url, database_url=database_url_for_tests(), name="central")
        agent = None
        try:
            with scratch_namespace() as ns:
                assert load(ns, "iptables", expected.text).returncode == 0
                agent, ready, lines = _start_agent("node-b1", redis_url=agent_url, netns=ns)
                central.wait_ready()
                assert ready.wait(60), "".join(lines[-20:])
                # The DaemonSet's liveness probe, with the agent's settings only.
                ping = subprocess.run(
                    [sys.executable, "manage.py", "worker_ping", "--agent-node", "node-b1"],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=_agent_env(agent_url, DJANGO_SETTINGS_MODULE="config.settings.agent"),
                )
                assert ping.returncode == 0 and ping.stdout.strip().endswith(": pong"), ping.stderr
                # The worker Deployment's liveness probe (a central worker by name);
                # nobody -> exit 1.
                central_name = f"central-{os.getpid()}@{socket.gethostname()}"
                app_env = {
                    **os.environ,
                    "PYTHONPATH": str(REPO),
                    "REDIS_URL": app_url,
                    "DJANGO_SETTINGS_MODULE": "config.settings.test",
                }
                for name, code in ((central_name, 0), ("nobody@nowhere", 1)):
                    ping = subprocess.run(
                        [
                            sys.executable,
                            "manage.py",
                            "worker_ping",
                            "--name",
                            name,
                            "--timeout",
                            "3",
                        ],
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                        timeout=60,
                        env=app_env,
                    )
                    assert ping.returncode == code, (name, ping.stdout, ping.stderr)
                with publishing_to(app_url):
                    drift_checks_queue(cluster_id=demo.pk, nodes=["node-b1"], mode="iptables")
                report = wait_for(
                    lambda: RulesDriftReport.objects.filter(cluster=demo, node="node-b1").first(),
                    timeout=60,
                    what="the drift report\nagent:\n"
                    + "".join(lines[-15:])
                    + "\ncentral:\n"
                    + "\n".join(central.lines[-15:]),
                )
                assert report.in_sync and report.mode == "iptables" and ns in report.agent_hostname
                # The agent ran the collect step, the central worker the compare step.
                assert "routing.agent.collect_node_rules" in "".join(lines)
                assert "routing.agent.compare_node_rules" in central.log()
                assert "routing.agent.compare_node_rules" not in "".join(lines)
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait(timeout=20)
            central.stop()
