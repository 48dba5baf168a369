"""The API docs pages (Swagger UI, Redoc), served only from local static files.

drf-spectacular's stock Redoc page pulls fonts from Google and its Swagger page inlines a
script; ours load everything from ``/static/drf_spectacular_sidecar/`` (the sidecar package)
and keep scripts in files, so the pages work offline and under a strict CSP.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.template import Context, Engine
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request

_REDOC_PAGE = Engine().from_string("""<!DOCTYPE html>
<html lang="en">
  <head>
    <title>{{ title }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <redoc spec-url="{{ schema_url }}"></redoc>
    <script src="{{ redoc_standalone }}"></script>
  </body>
</html>
""")


REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; "
    "frame-ancestors 'none'"
)


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a separate file (``?script``)."""


class RedocView(SpectacularRedocView):
    """Redoc without the web fonts the stock page fetches from a third-party host."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        page = _REDOC_PAGE.render(
            Context(
                {
                    "title": self.title,
                    "schema_url": self._get_schema_url(request),
                    "redoc_standalone": self._redoc_standalone(),
                }
            )
        )
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
        # Redoc's bundle shows the Redocly logo from its CDN in the menu footer: the policy
        # keeps the browser from fetching it (the logo hides itself; the page needs nothing
        # else from another host). Redoc styles itself inline and searches in a blob: worker.
        response.headers["Content-Security-Policy"] = REDOC_CSP
        return response
