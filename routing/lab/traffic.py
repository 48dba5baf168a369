"""Responders that answer with their identity, and bursts of real TCP connections."""

from __future__ import annotations

import contextlib
import errno
import resource
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from routing.lab.netns import inside


class Responders:
    """Listening sockets inside pod namespaces, served by one background thread.

    Each accepted connection gets one line ``<pod-ip> <peer-ip>`` and is closed, so the
    client learns which endpoint it reached and whether its source address survived.
    """

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="lab-responders", daemon=True)
        self._sockets: list[socket.socket] = []

    def listen(self, ns: str, ident: str, port: int) -> None:
        """Answer on 0.0.0.0:``port`` inside ``ns`` as ``ident``."""
        with inside(ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(4096)
        sock.setblocking(False)
        self._sockets.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, ident)

    def start(self) -> None:
        """Begin serving in the background."""
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.5):
                if key.data is None:
                    return
                listener = key.fileobj
                assert isinstance(listener, socket.socket)  # only sockets are registered
                try:
                    conn, peer = listener.accept()
                except OSError:
                    continue
                try:
                    conn.setblocking(True)
                    conn.settimeout(0.5)
                    conn.sendall(f"{key.data} {peer[0]}\n".encode())
                except OSError:
                    pass
                finally:
                    conn.close()

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()


@dataclass
class Outcomes:
    """What N connections did: per endpoint IP, ``drop`` (timeout) and ``reject`` (refused)."""

    counts: Counter = field(default_factory=Counter)
    peers: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


def burst(
    ns: str, dest: str, port: int, n: int, *, timeout: float = 0.6, concurrency: int = 100
) -> Outcomes:
    """Open ``n`` TCP connections from namespace ``ns`` to ``dest:port`` and classify each."""
    return burst_many([(ns, dest, port)], n, timeout=timeout, concurrency=concurrency)[0]


def burst_many(
    targets: list[tuple[str, str, int]], n: int, *, timeout: float = 0.6, concurrency: int = 100
) -> list[Outcomes]:
    """``n`` connections for each (namespace, dest, port), all targets at once.

    Running the sources side by side means a drop (a connection that can only time out)
    costs one timeout per round, not one per source.
    """
    outs = [Outcomes() for _ in targets]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, len(targets) * concurrency + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    remaining = [n] * len(targets)
    while any(remaining):
        batch = [min(concurrency, r) for r in remaining]
        remaining = [r - b for r, b in zip(remaining, batch)]
        _one_round(targets, batch, timeout, outs)
    return outs


def _one_round(
    targets: list[tuple[str, str, int]], counts: list[int], timeout: float, outs: list[Outcomes]
) -> None:
    sel = selectors.DefaultSelector()
    for i, ((ns, dest, port), count) in enumerate(zip(targets, counts)):
        if not count:
            continue
        with inside(ns):
            socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
        for sock in socks:
            sock.setblocking(False)
            err = sock.connect_ex((dest, port))
            if err not in (0, errno.EINPROGRESS):
                _classify_error(err, outs[i])
                sock.close()
                continue
            sel.register(sock, selectors.EVENT_WRITE, (i, False))
    deadline = time.monotonic() + timeout
    while sel.get_map():
        now = time.monotonic()
        # Past the deadline, keep harvesting while events are still ready: connections the
        # kernel completed while this process was not scheduled are outcomes, not drops.
        events = sel.select(timeout=max(0.0, deadline - now) if now < deadline else 0.05)
        if not events and time.monotonic() >= deadline:
            break
        for key, mask in events:
            fileobj, (i, connected) = key.fileobj, key.data
            assert isinstance(fileobj, socket.socket)  # only sockets are registered
            sock = fileobj
            out = outs[i]
            if mask & selectors.EVENT_WRITE and not connected:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    _classify_error(err, out)
                    sel.unregister(sock)
                    sock.close()
                else:
                    sel.modify(sock, selectors.EVENT_READ, (i, True))
                continue
            try:
                data = sock.recv(256)
            except OSError as exc:
                _classify_error(exc.errno or 0, out)
                data = None
            if data:
                parts = data.decode(errors="replace").split()
                out.counts[parts[0]] += 1
                if len(parts) > 1:
                    out.peers[parts[1]] += 1
            elif data is not None:
                out.errors["closed"] += 1
            sel.unregister(sock)
            sock.close()
    for key in list(sel.get_map().values()):
        outs[key.data[0]].counts["drop"] += 1
        assert isinstance(key.fileobj, socket.socket)  # only sockets are registered
        key.fileobj.close()
    sel.close()


def _classify_error(err: int, out: Outcomes) -> None:
    if err == errno.ECONNREFUSED:
        out.counts["reject"] += 1
    elif err == errno.ETIMEDOUT:
        out.counts["drop"] += 1
    else:
        # Anything else (EHOSTUNREACH, …) is a lab fault, never a kube-proxy verdict.
        out.counts["error"] += 1
        out.errors[errno.errorcode.get(err, str(err))] += 1
