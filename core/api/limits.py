"""Bounds on what one API request may cost: body size, JSON shape, list pages.

Three layers, each answering in the API's error shape (``core.api.errors``):

- :class:`ApiBodyLimitMiddleware` (Django level, before any view reads the body): a body
  whose ``Content-Length`` is over the caller's limit is refused with 413. Callers that send
  credentials (a session or an ``Authorization`` header) get
  ``ROUTESCOPE_API_MAX_BODY_BYTES``, anonymous ones the much smaller
  ``ROUTESCOPE_API_MAX_ANON_BODY_BYTES``.
- :class:`BoundedJSONParser` (DRF level, after authentication): the same limits by the user
  DRF authenticated (an invalid token counts as anonymous), bodies without a length are
  read only up to the limit, and JSON nested deeper than ``ROUTESCOPE_API_MAX_JSON_DEPTH``
  is a 400 instead of a ``RecursionError`` deep inside a serializer.
- :class:`BoundedLimitOffsetPagination`: ``limit`` / ``offset`` must be integers in range
  (a 64-bit overflow in the database was a 500).

A refused body is read and thrown away (up to ``ROUTESCOPE_API_DRAIN_MAX_BYTES``) before the
413 goes out: a server that closes a socket with unread data makes the kernel reset the
connection, and a client still uploading then sees "connection reset", not the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.utils import json  # DRF's: strict about NaN / Infinity

_CHUNK = 256 * 1024


def body_limit(*, authenticated: bool) -> int:
    """The largest request body (bytes) the API reads for this kind of caller."""
    limit = int(
        settings.ROUTESCOPE_API_MAX_BODY_BYTES
        if authenticated
        else settings.ROUTESCOPE_API_MAX_ANON_BODY_BYTES
    )
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # Django's own ceiling, when set
    return limit if django_limit is None else min(limit, int(django_limit))


def too_large_message(*, limit: int, authenticated: bool) -> str:
    """The one line a 413 says (the limit, and what to do instead)."""
    who = "" if authenticated else " from an anonymous caller (log in or send a token for more)"
    return (
        f"Request body is larger than the server accepts{who}: {limit} bytes; import big "
        "dumps with 'manage.py import_cluster' and name the cluster."
    )


class BodyTooLarge(exceptions.APIException):
    """413 in the error shape, naming the limit that applied."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, *, limit: int, authenticated: bool) -> None:
        super().__init__(too_large_message(limit=limit, authenticated=authenticated))


def drain(stream: Any, *, already: int = 0) -> None:
    """Read and discard what is left of a refused body, up to the drain bound."""
    budget = int(settings.ROUTESCOPE_API_DRAIN_MAX_BYTES) - already
    try:
        while budget > 0:
            chunk = stream.read(min(_CHUNK, budget))
            if not chunk:
                return
            budget -= len(chunk)
    except OSError:
        return  # the client went away: nothing left to be polite to


def _content_length(meta: dict[str, Any]) -> int:
    try:
        return max(0, int(meta.get("CONTENT_LENGTH") or 0))
    except (TypeError, ValueError):
        return 0


def _has_nul(request: Any) -> bool:
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
    )


class ApiBodyLimitMiddleware:
    """Refuse an over-long API body (by its Content-Length) before anything reads it, and
    a URL holding NUL (no database stores it in text: PostgreSQL answers with an error)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        # Imported here: core.api.errors imports DRF's views, which load the parser
        # classes (this module) from the settings.
        from core.api.errors import error_body

        if request.path.startswith("/api/") and _has_nul(request):
            return JsonResponse(
                error_body(
                    code="invalid",
                    message="the URL holds a NUL character (%00), which no name, "
                    "id or filter value may contain",
                ),
                status=400,
            )
        if request.path.startswith("/api/"):
            length = _content_length(request.META)
            claims = bool(request.META.get("HTTP_AUTHORIZATION")) or bool(
                getattr(request, "user", None) and request.user.is_authenticated
            )
            limit = body_limit(authenticated=claims)
            if length > limit:
                drain(request)
                message = too_large_message(limit=limit, authenticated=claims)
                return JsonResponse(
                    error_body(code="too_large", message=message),
                    status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                )
        return self.get_response(request)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _strings(data: Any) -> Iterator[str]:
    """Every string in parsed JSON, keys included (iteratively)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            yield from node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _not_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_depth_error(data: Any, *, max_depth: int) -> str | None:
    """Why ``data`` is nested too deeply (an iterative walk: no recursion), or None."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels"
        if isinstance(node, dict):
            stack.extend(
                (value, depth + 1) for value in node.values() if isinstance(value, (dict, list))
            )
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node if isinstance(value, (dict, list)))
    return None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size bound per caller and a nesting bound."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        context = parser_context or {}
        request = context.get("request")
        user = getattr(request, "user", None)
        authenticated = bool(user and user.is_authenticated)
        limit = body_limit(authenticated=authenticated)
        meta = request._request.META if request is not None else {}
        if stream is None:
            return {}
        if _content_length(meta) > limit:
            drain(stream)
            raise BodyTooLarge(limit=limit, authenticated=authenticated)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            drain(stream, already=len(raw))
            raise BodyTooLarge(limit=limit, authenticated=authenticated)
        return self._loads(raw, encoding=context.get("encoding") or settings.DEFAULT_CHARSET)

    def _loads(self, raw: bytes, *, encoding: str) -> Any:
        max_depth = int(settings.ROUTESCOPE_API_MAX_JSON_DEPTH)
        try:
            text = raw.decode(encoding)
            constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=constant)
        except RecursionError:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {max_depth} " "levels"
            ) from None
        except (ValueError, LookupError) as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        problem = json_depth_error(data, max_depth=max_depth)
        if problem:
            raise exceptions.ParseError(f"JSON parse error - {problem}")
        if "\\u0000" in text and any("\x00" in value for value in _strings(data)):
            # No database stores NUL in text (PostgreSQL refuses it): a 400 here, not a 500
            # wherever the string lands.
            raise exceptions.ParseError(
                "JSON parse error - a string holds a NUL character " "(\\u0000)"
            )
        if _SURROGATE_ESCAPE.search(text) and any(map(_not_text, _strings(data))):
            # json accepts "\ud800" alone, but no database or UTF-8 encoder does: refuse it
            # here, once, instead of a 500 wherever the string is stored or printed.
            raise exceptions.ParseError(
                "JSON parse error - a string holds a lone UTF-16 "
                "surrogate (\\ud800-\\udfff), which is not text"
            )
        return data


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` 1..``max_limit`` and ``offset`` 0..``MAX_OFFSET``; anything else is a 400."""

    max_limit = 1000
    MAX_OFFSET = 2**31 - 1

    def get_limit(self, request: Any) -> int | None:
        value = request.query_params.get(self.limit_query_param)
        if value is None:
            return self.default_limit
        return self._bounded(value, name=self.limit_query_param, low=1, high=self.max_limit)

    def get_offset(self, request: Any) -> int:
        value = request.query_params.get(self.offset_query_param)
        if value is None:
            return 0
        return self._bounded(value, name=self.offset_query_param, low=0, high=self.MAX_OFFSET)

    @staticmethod
    def _bounded(value: str, *, name: str, low: int, high: int) -> int:
        text = value.strip()
        number = int(text) if text.lstrip("-").isdigit() and len(text) <= 20 else None
        if number is None or not low <= number <= high:
            raise exceptions.ValidationError({name: [f"must be an integer from {low} to {high}"]})
        return number

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: (1, self.max_limit),
            self.offset_query_param: (0, self.MAX_OFFSET),
        }
        for parameter in parameters:
            low, high = bounds.get(parameter["name"], (None, None))
            if low is not None:
                parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters


def kube_object_count(data: Any) -> int:
    """How many Kubernetes objects an inline dump holds (Lists and their items, iteratively)."""
    count, stack = 0, [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            items = node.get("items")
            if isinstance(items, list):
                stack.extend(items)
            else:
                count += 1
    return count


def inline_dump_limit(*, authenticated: bool) -> int:
    """The most objects an inline ``cluster_dump`` may hold for this kind of caller."""
    return int(
        settings.ROUTESCOPE_INLINE_DUMP_MAX_OBJECTS
        if authenticated
        else settings.ROUTESCOPE_INLINE_DUMP_MAX_OBJECTS_ANON
    )
