"""A JSON column the application only ever reads back whole: each object's ``raw``."""

from __future__ import annotations

from typing import Any

from django.db import models


class WholeJSONField(models.JSONField):
    """A :class:`~django.db.models.JSONField` stored as ``json`` on PostgreSQL, not ``jsonb``.

    PostgreSQL checks ``json`` input and keeps the text as sent; ``jsonb`` parses it into a
    binary tree (keys sorted, duplicates dropped) and prints it back on every read. For the
    ``raw`` columns — read back whole (export, the engine's snapshot, the API's detail
    bodies, the admin) or by key path (``->`` / ``->>``, which ``json`` has too), never
    compared, indexed or searched with ``jsonb``-only operators (``?``, ``@>``, ``=``) —
    that parse was a third of the server's work in a large import (``bench/README.md``).
    So an object reads back with its keys in the order it was written, as on SQLite.
    Other databases: the plain ``JSONField``.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        adapted = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor == "postgresql":
            # Django sends a JSONField's value as jsonb, which the json column would take
            # in jsonb's key order: send it as json text, as the import's COPY does.
            from psycopg.types.json import Json, Jsonb

            if isinstance(adapted, Jsonb):
                return Json(adapted.obj, adapted.dumps)
        return adapted

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg decodes ``json`` itself (Django has it hand ``jsonb`` over as text, and
        # decodes that here): the value is already the object.
        if connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)
