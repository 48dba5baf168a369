"""A local HTTP server that speaks the Kubernetes API subset Routescope uses.

Tests and benchmarks reach it with the official ``kubernetes`` client through a kubeconfig
file (``write_kubeconfig``), over a real socket — never a mock patched into the client.
It serves lists with ``limit``/``continue``, watches (HTTP/1.1 chunked, one JSON event per
line, flushed; an ERROR event with a 410 Status for compacted versions), GET, and PATCH with
``dryRun=All`` and 409/422 answers. Fault hooks: ``fail_list_after`` (drop the connection in
the middle of a list), ``break_watches``, ``set_delay``, ``fail_next`` (5xx/429 answers) and
``stop``.

Run it by hand (for benchmarks or a demo) with::

    python -m cluster.testing.fake_apiserver DUMP.json --kubeconfig /tmp/kc --token T
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cluster.testing.fake_store import RESOURCES, ApiError, Store

PATH_RE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?$"
)
WATCH_POLL_SECONDS = 0.05


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self):
        super().setup()
        self.server.open_sockets.add(self.connection)

    def finish(self):
        self.server.open_sockets.discard(self.connection)
        super().finish()

    def log_message(self, format, *args):
        pass  # request lines would drown the test output; ``requests`` records them

    # -- plumbing ----------------------------------------------------------------------
    def _send_json(self, code: int, body: bytes | dict) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def _route(self):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fake = self.server.fake
        fake.requests.append((self.command, parts.path, query))
        fake.request_headers.append((self.command, parts.path, dict(self.headers.items())))
        token = fake.token
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        # The scheme is case-insensitive (RFC 7235): the client's in-cluster loader sends "bearer".
        if token and (scheme.lower() != "bearer" or given != token):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        match = PATH_RE.match(parts.path)
        if (
            not match
            or match["plural"] not in RESOURCES
            or RESOURCES[match["plural"]][0] != match["prefix"]
        ):
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource " f"({parts.path})",
            )
        plural = match["plural"]
        time.sleep(fake.delays.get(plural, 0))
        failures = fake.failures.get(plural)
        if failures:
            code = failures.pop(0)
            raise ApiError(
                code,
                "TooManyRequests" if code == 429 else "InternalError",
                f"injected failure {code}",
            )
        return plural, match["ns"], match["name"], query

    def _guard(self, handler) -> None:
        try:
            handler(*self._route())
        except ApiError as error:
            self._send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- verbs -------------------------------------------------------------------------
    def do_GET(self):
        self._guard(self._get)

    def do_PATCH(self):
        self._guard(self._patch)

    def _get(self, plural, namespace, name, query):
        store = self.server.fake.store
        if name:
            if not RESOURCES[plural][3]:
                namespace = ""
            self._send_json(200, store.get(plural, namespace, name))
        elif query.get("watch") in ("1", "true"):
            self._watch(plural, namespace, query)
        else:
            self._list(plural, namespace, query)

    def _list(self, plural, namespace, query):
        fake = self.server.fake
        limit = int(query["limit"]) if query.get("limit") else None
        rv, items, token, remaining = fake.store.list_page(
            plural, namespace, limit, query.get("continue")
        )
        meta = {"resourceVersion": str(rv)}
        if token:
            meta.update({"continue": token, "remainingItemCount": remaining})
        _prefix, kind, api_version, _ns = RESOURCES[plural]
        head = json.dumps({"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta})
        body = head[:-1].encode() + b',"items":[' + b",".join(items) + b"]}"
        cut = fake.take_list_fault(plural, len(items))
        if cut is None:
            self._send_json(200, body)
            return
        # Die mid-list: promise the whole body, send part of it, drop the connection.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cutoff = len(body) * cut // max(1, len(items))
        self.wfile.write(body[: max(1, min(len(body) - 1, cutoff))])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _watch(self, plural, namespace, query):
        fake, store = self.server.fake, self.server.fake.store
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        generation = fake.watch_generation
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        since = query.get("resourceVersion") or "0"
        with store.lock:
            if since == "0":  # "any version": synthetic ADDED for the current state first
                pending = [
                    {"type": "ADDED", "object": obj}
                    for (ns, _n), obj in sorted(store.objects[plural].items())
                    if namespace is None or ns == namespace
                ]
                last = store.rv
            elif int(since) < store.compacted_rv:
                self._chunk(
                    {
                        "type": "ERROR",
                        "object": ApiError(
                            410,
                            "Expired",
                            f"too old resource version: {since} ({store.compacted_rv})",
                        ).status(),
                    }
                )
                self._end_chunks()
                return
            else:
                pending, last = [], int(since)
        while True:
            for event in pending:
                self._chunk(event)
            with store.lock:
                if not self.server.running or fake.watch_generation != generation:
                    break  # broken stream: drop the socket without the closing chunk
                if time.monotonic() >= deadline:
                    if query.get("allowWatchBookmarks") in ("1", "true"):
                        # As the API server does: a bookmark so the client can resume
                        # from a recent version even when nothing changed.
                        _prefix, kind, api_version, _ns = RESOURCES[plural]
                        self._chunk(
                            {
                                "type": "BOOKMARK",
                                "object": {
                                    "kind": kind,
                                    "apiVersion": api_version,
                                    "metadata": {"resourceVersion": str(store.rv)},
                                },
                            }
                        )
                    self._end_chunks()
                    return
                events = store.events_after(last, plural, namespace)
                if not events:
                    store.lock.wait(WATCH_POLL_SECONDS)
                    events = store.events_after(last, plural, namespace)
                if events:
                    last = events[-1].rv
                pending = [{"type": e.type, "object": e.object} for e in events]
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _chunk(self, event: dict) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _patch(self, plural, namespace, name, query):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise ApiError(
                400, "BadRequest", f'Unsupported value: "{dry_run}": supported ' 'values: "All"'
            )
        try:
            patch = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "BadRequest", "the patch body is not valid JSON") from None
        self.server.fake.patches.append((self.path, patch))
        content_type = self.headers.get("Content-Type", "")
        if not RESOURCES[plural][3]:
            namespace = ""
        result = self.server.fake.store.patch(
            plural, namespace, name, patch, content_type, dry_run == "All"
        )
        self._send_json(200, result)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeApiServer
    running = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_sockets: set[socket.socket] = set()

    def drop_connections(self) -> None:
        """Cut every open client connection (kept-alive ones too), like a dead process."""
        for sock in list(self.open_sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FakeApiServer:
    """The fake API server: ``start()`` it, point a kubeconfig at ``url``, ``stop()`` it."""

    def __init__(
        self,
        objects=(),
        *,
        token: str | None = None,
        port: int = 0,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.tls = tls  # (certificate file, key file): serve HTTPS, as in-cluster clients expect
        self.store = Store()
        self.store.load(objects)
        self.token = token
        self.port = port
        self.requests: list[tuple[str, str, dict]] = []
        #: (method, path, headers) of every request, in the order received.
        self.request_headers: list[tuple[str, str, dict]] = []
        self.patches: list[tuple[str, object]] = []  # (request path, patch body) of every PATCH
        self.delays: dict[str, float] = {}
        self.failures: dict[str, list[int]] = {}
        self.watch_generation = 0
        self._list_faults: dict[str, int] = {}
        self._httpd: _Server | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (``https://`` with ``tls``)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> FakeApiServer:
        """Listen on 127.0.0.1 (a random port unless one was given) in a daemon thread."""
        self._httpd = _Server(("127.0.0.1", self.port), _Handler)
        self._httpd.fake = self
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-apiserver",
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening and end every open watch abruptly (the API server died)."""
        if self._httpd is not None:
            self._httpd.running = False
            with self.store.lock:
                self.store.lock.notify_all()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.drop_connections()
            self._httpd = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- fault injection -----------------------------------------------------------------
    def fail_list_after(self, plural: str, items: int) -> None:
        """The next list of ``plural`` drops its connection once ``items`` were served."""
        self._list_faults[plural] = items

    def take_list_fault(self, plural: str, page_items: int) -> int | None:
        """Consume the armed list fault when this page crosses it (handler side)."""
        remaining = self._list_faults.get(plural)
        if remaining is None:
            return None
        if remaining >= page_items:
            self._list_faults[plural] = remaining - page_items
            return None
        del self._list_faults[plural]
        return remaining

    def expire_continue_tokens(self) -> None:
        """Forget every pinned list snapshot: pending ``continue`` tokens answer 410."""
        with self.store.lock:
            self.store._snapshots.clear()

    def fail_next(self, plural: str, *codes: int) -> None:
        """Answer the next requests for ``plural`` with these HTTP error codes, in order."""
        self.failures.setdefault(plural, []).extend(codes)

    def set_delay(self, plural: str, seconds: float) -> None:
        """Make every request for ``plural`` wait this long first (a slow resource)."""
        self.delays[plural] = seconds

    def break_watches(self) -> None:
        """Drop every open watch stream without its closing chunk."""
        with self.store.lock:
            self.watch_generation += 1
            self.store.lock.notify_all()

    def watch_requests(self, plural: str) -> list[dict]:
        """Query strings of the watch requests received for ``plural`` so far."""
        return [
            q
            for (_m, p, q) in self.requests
            if p.endswith("/" + plural) and q.get("watch") in ("1", "true")
        ]

    # -- kubeconfig ----------------------------------------------------------------------
    def write_kubeconfig(self, path, *, context: str = "fake", token: str | None = None) -> Path:
        """Write a kubeconfig with one context pointing here (token user if any)."""
        token = token if token is not None else self.token
        user = {"token": token} if token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": user}],
            "contexts": [
                {"name": context, "context": {"cluster": context, "user": f"{context}-user"}}
            ],
        }
        path = Path(path)
        path.write_text(json.dumps(config, indent=2))
        return path


def main(argv: list[str] | None = None) -> int:
    """Serve a dump until interrupted; print the URL once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", help="kubectl JSON/YAML dump to serve")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server here")
    args = parser.parse_args(argv)
    from cluster.kube_dump import read_objects  # pure module: no Django set-up needed

    server = FakeApiServer(read_objects(args.dump), token=args.token, port=args.port).start()
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig)
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
