"""One JSON error shape for the whole API (DRF ``EXCEPTION_HANDLER``).

Every error response under ``/api/`` has this body::

    {"error": {"code": "invalid", "message": "service: no Service shop/nope in cluster demo",
               "field": "service", "details": {"service": ["no Service shop/nope ..."]}}}

- ``code``: a stable machine word (``invalid``, ``required``, ``not_found``,
  ``not_authenticated``, ``permission_denied``, ``throttled``, ``method_not_allowed``,
  ``parse_error``, ``unsupported_media_type``, ``conflict``, ``too_large``, ``server_error``).
- ``message``: one line a person understands; it names the field at fault first.
- ``field``: the request field at fault as a dotted path (``set.internalTrafficPolicy``), or
  null when the error is not about one field.
- ``details``: every field error DRF collected (``{field: [messages]}``), or null.

Scripts can rely on ``error.code`` and ``error.field``; the message is for people.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class RequestInputError(ValueError):
    """Input refused below the API (``routing.whatif.errors.InputError`` derives from it):
    one line, the request ``field`` at fault and a ``code``. The handler turns it into a
    400 (413 for ``too_large``) without knowing the app that raised it."""

    field: str | None
    code: str


#: Fields DRF uses for errors that belong to no single field.
_NON_FIELD_KEYS = ("non_field_errors", "detail")


class RequestTooLarge(exceptions.APIException):
    """A request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django refuses to read it)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self) -> None:
        limit = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None)
        super().__init__(
            f"Request body is larger than the server accepts ({limit} bytes); "
            "import big dumps with 'manage.py import_cluster' and name the cluster."
        )


class ErrorDetailSerializer(serializers.Serializer):
    """The inside of an error response (for the OpenAPI schema)."""

    code = serializers.CharField(help_text="Stable machine word, e.g. invalid, not_found.")
    message = serializers.CharField(help_text="One line for a person; names the field first.")
    field = serializers.CharField(allow_null=True, help_text="Dotted request field at fault.")
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        allow_null=True,
        help_text="Every field error: {field: [messages]}.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx/5xx body of the API: ``{"error": {...}}``."""

    error = ErrorDetailSerializer()


#: Longest message / field name an error repeats: input echoed back (a 1 MB key named in
#: "unknown field") must not make a 1 MB error line.
TEXT_MAX = 300


def _short(text: str) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= TEXT_MAX else one_line[: TEXT_MAX - 1] + "…"


def error_body(
    *, code: str, message: str, field: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The documented error body; views that answer an error themselves use it too.

    Message and field are one line of bounded length; so is everything in ``details``.
    """
    if details is not None:
        details = {
            _short(name): [_short(m) for m in messages[:20]]
            for name, messages in list(details.items())[:50]
        }
    return {
        "error": {
            "code": code,
            "message": _short(message),
            "field": None if field is None else _short(field),
            "details": details,
        }
    }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn any exception raised by an API view into the one error shape.

    DRF's own handler first maps Http404 / PermissionDenied / APIException to a response;
    we then rewrite its body. Anything else is a bug: it is logged with its traceback and
    answered as a JSON 500 in the same shape (never an HTML page, never the exception text,
    which could carry a credential).
    """
    if isinstance(exc, RequestInputError):
        exc = _invalid_input(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("unhandled error in %s", type(view).__name__ if view else "API view")
        set_rollback()
        return Response(
            error_body(code="server_error", message="Internal error; the server log has details."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.APIException):
        response.data = _body_for(exc)
    return response


class InputTooLarge(exceptions.APIException):
    """An input over one of its size bounds (e.g. an inline dump over ``ROUTESCOPE_DUMP_MAX_*``)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The input is over a size bound."

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


def _invalid_input(error: RequestInputError) -> exceptions.APIException:
    """The one place an input the engine refused (``routing.whatif.errors.InputError``,
    carrying its request field and code) becomes a 400 (a 413 when it is over a size bound)."""
    if error.code == "too_large":
        return InputTooLarge(str(error), field=error.field)
    detail = exceptions.ErrorDetail(str(error), code=error.code)
    return exceptions.ValidationError({error.field or "non_field_errors": [detail]})


def _body_for(exc: exceptions.APIException) -> dict[str, Any]:
    detail = exc.detail
    codes = exc.get_codes()
    if isinstance(detail, (dict, list)) and isinstance(exc, exceptions.ValidationError):
        flat = _flatten(detail, prefix="")
        flat_codes = _flatten(codes, prefix="") if isinstance(codes, (dict, list)) else {}
        field, messages = next(iter(flat.items()), (None, ["Invalid input."]))
        code = ((flat_codes.get(field) if field is not None else None) or ["invalid"])[0]
        shown_field = None if field in _NON_FIELD_KEYS or field == "" else field
        message = messages[0] if shown_field is None else f"{shown_field}: {messages[0]}"
        return error_body(code=str(code), message=message, field=shown_field, details=flat)
    code = codes if isinstance(codes, str) else exc.default_code
    if isinstance(exc, InputTooLarge) and exc.field:
        return error_body(code=str(code), message=f"{exc.field}: {detail}", field=exc.field)
    return error_body(code=str(code), message=str(detail))


def _flatten(detail: Any, *, prefix: str) -> dict[str, list[str]]:
    """``{"set": {"x": ["bad"]}}`` -> ``{"set.x": ["bad"]}``; list indexes become ``a.0``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            # A nested object's own error (e.g. "set" is not a mapping) belongs to it.
            nested_own = prefix and key in _NON_FIELD_KEYS
            name = prefix if nested_own else f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, prefix=name))
    elif (
        isinstance(detail, list) and detail and not any(isinstance(v, (dict, list)) for v in detail)
    ):
        out[prefix] = [str(v) for v in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value in ({}, [], None):
                continue  # DRF marks the valid items of a list with {}
            out.update(_flatten(value, prefix=f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix] = [str(detail)]
    return out


class UnknownEndpointView(APIView):
    """Any other path under /api/v1/: the JSON 404 of the error shape, not an HTML page.

    It has no handler methods, so the OpenAPI schema lists nothing for it.
    """

    permission_classes: list = []
    authentication_classes: list = []
    throttle_classes: list = []

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound(f"no API endpoint {request.path} (see /api/docs/)")
