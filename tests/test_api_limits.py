"""Body limits answer 413 in the error shape, after reading the refused body (drained), so a
client still uploading gets the answer instead of a reset connection."""

from __future__ import annotations

import io
import json
import socket

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import override_settings

from core.api.limits import ApiBodyLimitMiddleware

pytest_plugins = ["cluster.api.testing"]


def _request(body: bytes, **meta: str) -> tuple[WSGIRequest, io.BytesIO]:
    stream = io.BytesIO(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/simulate",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "wsgi.input": stream,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        **meta,
    }
    return WSGIRequest(environ), stream


@override_settings(ROUTESCOPE_API_DRAIN_MAX_BYTES=10 * 1024**2)
def test_an_over_long_body_is_drained_then_refused_in_the_error_shape():
    body = b"x" * (3 * 1024**2)
    request, stream = _request(body)
    request.user = None
    response = ApiBodyLimitMiddleware(lambda r: pytest.fail("the view must not run"))(request)
    assert response.status_code == 413 and stream.tell() == len(body)  # read to the end
    error = json.loads(response.content)["error"]
    assert error["code"] == "too_large" and "anonymous" in error["message"]
    # With credentials the larger limit applies (the token is checked by DRF afterwards).
    request, stream = _request(body, HTTP_AUTHORIZATION="Token x")
    request.user = None
    assert ApiBodyLimitMiddleware(lambda r: "passed on")(request) == "passed on"


@override_settings(ROUTESCOPE_API_DRAIN_MAX_BYTES=1024**2)
def test_draining_is_bounded():
    request, stream = _request(b"x" * (5 * 1024**2))
    request.user = None
    assert ApiBodyLimitMiddleware(lambda r: None)(request).status_code == 413
    assert stream.tell() == 1024**2  # past the bound the server may close the connection


@pytest.mark.django_db(transaction=True)
def test_a_50_mb_body_sent_at_once_gets_the_413_over_a_real_socket(live_server):
    host, port = live_server.url.removeprefix("http://").split(":")
    body = b"x" * (50 * 1024**2)
    head = (
        f"POST /api/v1/simulate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head + body)  # no Expect: 100-continue: the whole body is on its way
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "too_large" and "1048576 bytes" in error["message"]
