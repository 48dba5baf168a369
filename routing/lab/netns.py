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


NETLINK_NETFILTER = 12
_CT_FLUSH = (1 << 8) | 2  # NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4


def flush_conntrack(ns: str) -> None:
    """Forget every IPv4 connection-tracking entry of namespace ``ns`` (what
    ``conntrack -F`` does: a ctnetlink DELETE without attributes).

    Reprogramming a lab node must not leave the previous rules' NAT decisions behind: a
    connection that never completed (its replies went around the node) keeps a SYN_SENT
    entry for two minutes, and a new connection reusing its ports would follow it."""
    import socket
    import struct

    body = struct.pack("BBH", socket.AF_INET, 0, 0)  # nfgenmsg: family, version, res_id
    header = struct.pack("IHHII", 16 + len(body), _CT_FLUSH, _NLM_F_REQUEST | _NLM_F_ACK, 1, 0)
    with inside(ns), socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
        sock.send(header + body)
        reply = sock.recv(4096)
    # NLMSG_ERROR (2) carrying error 0 is the ack.
    kind = struct.unpack_from("H", reply, 4)[0]
    error = struct.unpack_from("i", reply, 16)[0] if kind == 2 else 0
    if error not in (0, -2):  # -ENOENT: the table was empty
        raise LabError(f"conntrack flush in {ns}: {os.strerror(-error)}")
