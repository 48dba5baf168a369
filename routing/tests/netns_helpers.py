"""A throw-away network namespace for tests that load rules into the real kernel."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_namespace() -> Iterator[str]:
    """Create ``rs-test-<random>``, yield its name, always delete it."""
    name = f"rs-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def load(ns: str, mode: str, text: str) -> subprocess.CompletedProcess:
    """Flush the namespace's ruleset and load ``text`` with iptables-restore or nft -f."""
    subprocess.run(["ip", "netns", "exec", ns, "nft", "flush", "ruleset"], check=True)
    cmd = ["iptables-restore"] if mode == "iptables" else ["nft", "-f", "-"]
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], input=text, capture_output=True, text=True
    )


def saved(ns: str, mode: str) -> str:
    """What the kernel holds now (iptables-save / nft list ruleset)."""
    cmd = ["iptables-save"] if mode == "iptables" else ["nft", "list", "ruleset"]
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=True
    ).stdout
