"""Existing plain-text tokens (DRF's ``authtoken_token``) become hashed ``ApiToken`` rows.

Hashing rather than revoking: scripts and CI jobs holding these keys keep working through
the upgrade. They get scope ``operate`` (what a plain token could do: its user's rights, no
more) and expire ``ROUTESCOPE_TOKEN_EXPIRY_DAYS`` after the migration, so no old key lives
forever. The plain rows are then deleted: no raw key stays in any table.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

PLAIN_TABLE = "authtoken_token"


def hash_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if PLAIN_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("core", "ApiToken")
    quoted = connection.ops.quote_name(PLAIN_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {quoted}")
        rows = cursor.fetchall()
        days = getattr(settings, "ROUTESCOPE_TOKEN_EXPIRY_DAYS", 90)
        expires = timezone.now() + timedelta(days=days) if days else None
        for key, user_id, created in rows:
            if isinstance(created, str):
                created = parse_datetime(created)
            if isinstance(created, datetime) and timezone.is_naive(created):
                created = timezone.make_aware(created, UTC)
            ApiToken.objects.create(
                user_id=user_id,
                digest=hashlib.sha256(key.encode()).hexdigest(),
                prefix=key[:8],
                scope="operate",
                created=created or timezone.now(),
                expires=expires,
            )
        cursor.execute(f"DELETE FROM {quoted}")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_api_token")]
    operations = [migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop)]
