"""The container image: the Containerfile's structure (cheap, always) and, where the image
was built here (`make image`), the image itself: it starts as a non-root user, answers
/healthz and /readyz, starts its node agent with only the broker URL, and writes nothing
outside /tmp (so a read-only root filesystem holds).

podman cannot start containers in this sandbox (its OCI runtime's setrlimit is refused),
so the image is run with ``buildah run --isolation chroot`` (the image's own filesystem,
user, environment and entry point; the host's network)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cluster.testing.workers import RedisServer, free_port

REPO = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("ROUTESCOPE_IMAGE", "localhost/routescope:dev")


def _stages(text: str) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_containerfile_is_multi_stage_non_root_and_registry_free() -> None:
    text = (REPO / "Containerfile").read_text()
    stages = _stages(text)
    assert len(stages) >= 2, "a build stage and a run stage"
    assert re.search(
        r"^ARG BASE=localhost/", text, re.M
    ), "the base is the one make image builds locally"
    assert all(
        s[0] in ("FROM ${BASE} AS build", "FROM ${BASE}") for s in stages
    ), "no base from a registry"
    assert not re.search(r"^\s*ADD\s+https?://", text, re.M | re.I)
    build, run = stages[0], stages[-1]
    assert any("--require-hashes" in line and "requirements.lock" in line for line in build)
    users = [line.split()[1] for line in run if line.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) >= 1000
    entry = next(line for line in run if line.startswith("ENTRYPOINT"))
    script = REPO / json.loads(entry.split(None, 1)[1])[0].removeprefix("/opt/routescope/app/")
    assert os.access(script, os.X_OK)
    roles = set(re.findall(r"^\s+([a-z]+)\)$", script.read_text(), re.M))
    assert {"web", "worker", "beat", "agent", "migrate", "manage"} <= roles
    ignored = (REPO / ".containerignore").read_text().split()
    assert {".git", ".venv", "node_modules", ".secret_key", "var"} <= set(ignored)


def test_build_script_makes_the_base_from_debian_packages() -> None:
    script = (REPO / "scripts" / "build-image.sh").read_text()
    assert "mmdebstrap" in script and "buildah build" in script and "buildah from scratch" in script
    assert "image:" in (REPO / "Makefile").read_text()


def _image_missing() -> str | None:
    if shutil.which("buildah") is None:
        return "buildah is not installed (apt-get install buildah)"
    if (
        subprocess.run(
            ["buildah", "inspect", "--type", "image", IMAGE], capture_output=True
        ).returncode
        != 0
    ):
        return (
            f"image {IMAGE} not built on this machine:"
            " `make image` builds it (minutes, so `make test` does not)"
        )
    return None


@pytest.mark.slow
@pytest.mark.skipif(_image_missing() is not None, reason=_image_missing() or "")
def test_built_image_serves_healthz_and_readyz_as_non_root(tmp_path) -> None:
    name = f"routescope-test-{os.getpid()}"
    subprocess.run(["buildah", "from", "--name", name, IMAGE], check=True, capture_output=True)
    stamp = tmp_path / "started"
    stamp.touch()
    time.sleep(1.1)  # file times have a resolution; anything written later is newer
    port = free_port()
    env = [
        "--env",
        f"SECRET_KEY={os.urandom(32).hex()}",
        "--env",
        "ALLOWED_HOSTS=localhost",
        "--env",
        "DATABASE_URL=sqlite:////tmp/routescope.sqlite3",
        "--env",
        f"PORT={port}",
    ]
    run = ["buildah", "run", "--isolation", "chroot", "--network", "host", *env, name, "--"]
    entry = "/opt/routescope/app/deploy/image/entrypoint.sh"
    server = None
    try:
        who = subprocess.run([*run, "id", "-u"], capture_output=True, text=True, timeout=60)
        assert who.stdout.strip() == "10001", who.stderr
        migrate = subprocess.run(
            [*run, entry, "migrate", "-v", "0"], capture_output=True, text=True, timeout=180
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        server = subprocess.Popen(
            [*run, entry, "web"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        answers: dict[str, tuple[int, Any]] = {}
        while time.monotonic() < deadline and len(answers) < 2:
            for path in ("/healthz", "/readyz"):
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}{path}", timeout=5
                    ) as response:
                        answers[path] = (response.status, json.loads(response.read()))
                except OSError:
                    time.sleep(0.5)
        assert answers.get("/healthz") == (200, {"status": "ok"})
        assert answers.get("/readyz") == (
            200,
            {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}},
        )
        _agent_starts_with_only_the_broker_url(name, tmp_path)
        # Read-only root filesystem: migrate, web and agent wrote nothing outside /tmp.
        root = subprocess.run(
            ["buildah", "mount", name], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            written = subprocess.run(
                [
                    "find",
                    root,
                    "-xdev",
                    "-newer",
                    str(stamp),
                    "-not",
                    "-type",
                    "d",
                    "-not",
                    "-path",
                    f"{root}/tmp/*",
                ],
                capture_output=True,
                text=True,
            ).stdout.split()
        finally:
            subprocess.run(["buildah", "umount", name], capture_output=True)
        assert written == []
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        subprocess.run(["buildah", "rm", name], capture_output=True)


def _agent_starts_with_only_the_broker_url(name: str, tmp_path: Path) -> None:
    """The image's agent role, with the DaemonSet's environment (no database, no secret key)."""
    redis = RedisServer(tmp_path).start()
    agent = subprocess.Popen(
        [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "--env",
            f"REDIS_URL={redis.url}",
            "--env",
            "DJANGO_SETTINGS_MODULE=config.settings.agent",
            "--env",
            "NODE_NAME=node-x",
            name,
            "--",
            "/opt/routescope/app/deploy/image/entrypoint.sh",
            "agent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        assert agent.stdout is not None  # stdout=PIPE
        for line in agent.stdout:
            lines.append(line)
            if " ready." in line or time.monotonic() > deadline:
                break
        assert any("agent-node-x@" in line and " ready." in line for line in lines), "".join(
            lines[-20:]
        )
        assert any("node.node-x" in line for line in lines), "".join(lines)
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        agent.wait(timeout=30)
        redis.stop()
