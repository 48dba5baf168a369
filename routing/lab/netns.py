"""Network namespace plumbing: run commands in a namespace, open sockets inside one."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()


class LabError(RuntimeError):
    """The lab could not be built or programmed (one line, names the failing command)."""


def run(args: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command, return stdout; ``LabError`` with its stderr's first line on failure."""
    proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(args[:6])}: {first[0] if first else f'exit {proc.returncode}'}")
    return proc.stdout


def ns_run(ns: str, args: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command inside namespace ``ns``."""
    return run(["ip", "netns", "exec", ns, *args], stdin=stdin, check=check)


def ip_batch(ns: str | None, commands: Sequence[str]) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``), inside ``ns`` if given."""
    if not commands:
        return
    prefix = ["ip", "-n", ns] if ns else ["ip"]
    run([*prefix, "-batch", "-"], stdin="\n".join(commands) + "\n")


def existing(prefix: str) -> list[str]:
    """Names of namespaces that start with ``prefix``."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def delete(names: Sequence[str]) -> list[str]:
    """Delete namespaces (missing ones are fine); returns the ones that could not be deleted."""
    failed = []
    for name in names:
        if os.path.exists(os.path.join(NETNS_DIR, name)):
            proc = subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, text=True, timeout=30
            )
            if proc.returncode != 0:
                failed.append(name)
    return failed


@contextmanager
def inside(ns: str) -> Iterator[None]:
    """Switch the calling thread into namespace ``ns`` (sockets made here stay there)."""
    with _setns_lock:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise LabError(f"setns {ns}: {os.strerror(ctypes.get_errno())}")
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - would be fatal
                    raise LabError(f"cannot return from namespace {ns}")
        finally:
            os.close(target)
            os.close(own)
