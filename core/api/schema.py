"""The OpenAPI schema view, safe under concurrent first requests.

drf-spectacular loads its extension classes lazily and not thread-safely: several threads
building the schema for the first time in a process (gunicorn threads, a docs page and a
client at once) answered 500 (``'NoneType' object has no attribute 'startswith'``). One
build at a time; building it is a rare, cacheable request anyway.
"""

from __future__ import annotations

import threading
from typing import Any

from drf_spectacular.views import SpectacularAPIView

_build = threading.Lock()


class SchemaView(SpectacularAPIView):
    """``SpectacularAPIView`` that builds one schema at a time per process."""

    # dispatch, not get: the schema documents get (its own extend_schema) and must not
    # see an undocumented override.
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with _build:
            return super().dispatch(request, *args, **kwargs)
