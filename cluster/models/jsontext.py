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

    def select_format(self, compiler: Any, sql: str, params: Any) -> Any:
        # Read as text, decoded by JSONField.from_db_value: psycopg's own json loader took
        # three to four times as long for the same rows (an export of 150,000 Pods: 2.7 CPU
        # s against 0.8).
        sql, params = super().select_format(compiler, sql, params)  # type: ignore[misc]
        if compiler.connection.vendor == "postgresql":
            return f"({sql})::text", params
        return sql, params

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is not None and not isinstance(value, str):
            return value  # decoded by psycopg: a query that bypassed select_format
        return super().from_db_value(value, expression, connection)
