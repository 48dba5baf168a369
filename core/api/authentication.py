"""Token authentication (``Authorization: Token <key>``) against hashed, expiring tokens.

The key is looked up by its SHA-256 digest (one query, token joined to its user), so a
deleted or rotated token stops working at once, in every process. Unknown key, expired
token or inactive user -> 401 with a message saying which. ``request.auth`` is the
:class:`core.models.ApiToken`, whose scope :mod:`core.permissions` checks.

Every API call pays for this lookup, so it is one hand-written query (the SQL built once
per database connection's vendor) instead of the ORM's ``select_related`` queryset, whose
compilation cost several times the query itself (bench/bench_api.py: ~1.1 of ~5 ms CPU per
simulate). The rows are turned into model instances with the converters the ORM applies.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.api.tokens import token_digest
from core.models import ApiToken

#: one column's converters as the ORM applies them: (the column expression, its functions)
Converters = list[tuple[Any, list[Any]]]


@functools.cache
def _query(alias: str) -> tuple[str, type[Model], list[Field], list[Field], Converters]:
    """The lookup's SQL on database ``alias`` (token columns, then its user's columns), the
    user model, both field lists and, per column, the converters the ORM would apply."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    user_field = ApiToken._meta.get_field("user")
    user_model: type[Model] = user_field.related_model  # type: ignore[assignment]
    token_fields = list(ApiToken._meta.concrete_fields)  # type: ignore[attr-defined]
    user_fields = list(user_model._meta.concrete_fields)  # type: ignore[attr-defined]
    token_table, user_table = ApiToken._meta.db_table, user_model._meta.db_table
    columns = [f"t.{quote(f.column)}" for f in token_fields]
    columns += [f"u.{quote(f.column)}" for f in user_fields]
    user_pk = user_model._meta.pk.column
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(token_table)} t "
        f"JOIN {quote(user_table)} u ON u.{quote(user_pk)} = t.{quote(user_field.column)} "
        f"WHERE t.{quote('digest')} = %s"
    )
    converters: Converters = []
    for field, table in [(f, token_table) for f in token_fields] + [
        (f, user_table) for f in user_fields
    ]:
        col = field.get_col(table)
        chain = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        converters.append((col, chain))
    return sql, user_model, token_fields, user_fields, converters


def token_with_user(digest: str) -> ApiToken | None:
    """The token whose key has SHA-256 ``digest``, its ``user`` loaded; None if unknown."""
    alias = router.db_for_read(ApiToken)
    sql, user_model, token_fields, user_fields, converters = _query(alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (col, chain) in enumerate(converters):
        for convert in chain:
            values[index] = convert(values[index], col, connection)
    split = len(token_fields)
    token = ApiToken.from_db(alias, [f.attname for f in token_fields], values[:split])
    token.user = user_model.from_db(alias, [f.attname for f in user_fields], values[split:])  # type: ignore[assignment]
    return token


class FastTokenAuthentication(TokenAuthentication):
    """``TokenAuthentication`` over :class:`ApiToken` (digest lookup, expiry, scope)."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = token_with_user(token_digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.is_expired:
            assert token.expires is not None
            raise exceptions.AuthenticationFailed(
                f"Token expired on {token.expires:%Y-%m-%d %H:%M} UTC; create a new one on "
                "the account page or with 'manage.py create_api_token USER --rotate'."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
