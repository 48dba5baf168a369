"""Server mode: the same questions as ``local``, asked of a Routescope REST API.

Standard library only (``urllib``), so a script needs no HTTP code and the command no
extra dependency. A refusal by the server (its error body) becomes one line, exit 2.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from routing.cli.errors import CliError

TIMEOUT_S = 120


class Server:
    """A Routescope server at ``url`` called with an API ``token`` (may be empty)."""

    def __init__(self, url: str, token: str | None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CliError(f"--server {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.token = token

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        """``GET /api/v1/{path}?query`` as JSON."""
        params = {k: _param(v) for k, v in (query or {}).items() if v not in (None, False, "")}
        suffix = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call("GET", f"{path}{suffix}", None)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """``POST /api/v1/{path}`` with a JSON body, as JSON."""
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, data: bytes | None) -> Any:
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(
            f"{self.url}/api/v1/{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise CliError(f"server: {error.code} {_error_line(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach {self.url}: {reason}") from None
        return json.loads(payload)


def _param(value: Any) -> str:
    return "true" if value is True else str(value)


def _error_line(body: bytes) -> str:
    """The server's error body (``{"error": {"message", "field"}}``) as one line."""
    try:
        error = json.loads(body)["error"]
        field = f"{error['field']}: " if error.get("field") else ""
        return f"{field}{error['message']}"
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")[:200]
