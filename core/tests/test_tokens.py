"""API tokens hashed at rest: the raw key is in no table, expiry, read / operate scope, and
the migration of DRF's plain-text tokens."""

from __future__ import annotations

import importlib
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

hash_migration = importlib.import_module("core.migrations.0002_hash_plain_tokens")


def _cli(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def _api(key: str) -> APIClient:
    return APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {key}")


def _every_stored_value() -> list[str]:
    """Every value of every column of every table, as text."""
    values: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                values.extend(
                    bytes(v).decode(errors="replace")
                    if isinstance(v, (bytes, memoryview))
                    else str(v)
                    for v in row
                )
    return values


def test_the_raw_key_is_in_no_table(client: Client, small_cluster) -> None:
    cli_key, note = _cli("ci-bot", "--create", "--operator")
    assert cli_key not in note  # stderr says what was made, never the key
    page_user = User.objects.create_user("paula", password="paula-pass-1")
    client.force_login(page_user)
    page = client.post("/account/", {"action": "create"}).content.decode()
    page_key = page.split('data-testid="new-token">')[1].split("<")[0]
    for key in (cli_key, page_key):
        assert _api(key).get("/api/v1/clusters").status_code == 200
    stored = _every_stored_value()
    assert len(stored) > 100  # the scan really read the tables
    for key in (cli_key, page_key):
        assert not [value for value in stored if key in value]
        assert key[:8] in stored  # the recognisable prefix is all that is kept


def test_an_expired_token_is_a_401_that_says_so(small_cluster) -> None:
    key, note = _cli("ci-bot", "--create", "--expires-in", "7")
    assert "expires " in note
    token = ApiToken.objects.get(user__username="ci-bot")
    assert token.expires is not None
    assert timedelta(days=6) < token.expires - timezone.now() <= timedelta(days=7)
    assert _api(key).get("/api/v1/clusters").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    refused = _api(key).get("/api/v1/clusters")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token"
    error = refused.json()["error"]
    assert error["code"] == "authentication_failed" and "Token expired on" in error["message"]
    forever, note = _cli("ci-bot", "--expires-in", "0")
    assert "never expires" in note
    assert ApiToken.objects.get(prefix=forever[:8]).expires is None


def test_the_default_expiry_comes_from_settings(settings, small_cluster) -> None:
    settings.ROUTESCOPE_TOKEN_EXPIRY_DAYS = 30
    _cli("ci-bot", "--create")
    token = ApiToken.objects.get(user__username="ci-bot")
    assert token.expires is not None
    assert timedelta(days=29) < token.expires - timezone.now() <= timedelta(days=30)


def test_a_read_token_never_operates_even_for_an_operator(operator, small_cluster) -> None:
    read_key, note = _cli("operator", "--read-only")
    assert "new read token" in note
    operate_key, note = _cli("operator")
    assert "new operate token" in note
    read, operate = _api(read_key), _api(operate_key)
    assert read.get("/api/v1/nodes").status_code == 200
    assert read.post("/api/v1/clusters/small/sync").status_code == 403
    assert read.get("/api/v1/me").json()["can_operate"] is False
    assert operate.post("/api/v1/clusters/small/sync").status_code == 409  # allowed; not live
    assert operate.get("/api/v1/me").json()["can_operate"] is True
    # An operate token is still bounded by its user: take the permission away and it reads.
    operator.user_permissions.remove(Permission.objects.get(codename="operate_cluster"))
    assert operate.post("/api/v1/clusters/small/sync").status_code == 403


def test_contradicting_or_negative_flags_exit_2(operator) -> None:
    from django.core.management import CommandError

    for args in (("--operator", "--read-only"), ("--expires-in", "-1")):
        with pytest.raises(CommandError) as info:
            _cli("operator", *args)
        assert info.value.returncode == 2


def test_plain_tokens_are_hashed_by_the_migration_and_keep_working(reader, small_cluster) -> None:
    plain = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:  # DRF's authtoken table, as an old install has it
        cursor.execute(
            'CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, '
            '"created" timestamp with time zone NOT NULL, "user_id" integer NOT NULL)'
            if connection.vendor == "postgresql"
            else 'CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, '
            '"created" datetime NOT NULL, "user_id" integer NOT NULL)'
        )
        # As DRF's rows read back: a naive UTC string on SQLite, aware on PostgreSQL.
        cursor.execute(
            'INSERT INTO "authtoken_token" VALUES (%s, %s, %s)',
            [plain, "2026-01-02 03:04:05.000006", reader.pk],
        )
    # The migration reads only the editor's connection (SQLite allows no schema editor
    # inside the test's transaction).
    hash_migration.hash_plain_tokens(django_apps, SimpleNamespace(connection=connection))
    token = ApiToken.objects.get(user=reader)
    assert token.expires is not None and token.expires > timezone.now() + timedelta(days=80)
    assert token.scope == "operate"
    assert token.created == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert not [value for value in _every_stored_value() if plain in value]
    assert _api(plain).get("/api/v1/nodes").status_code == 200
    assert _api(plain).post("/api/v1/clusters/small/sync").status_code == 403  # still a reader


def test_a_read_token_cannot_apply_or_edit_others_scenarios(
    reader_client, operator, small_cluster
) -> None:
    body = {
        "name": "cache-cluster",
        "cluster": "small",
        "changes": {"services": {"shop/cache": {"internalTrafficPolicy": "Cluster"}}},
    }
    scenario = reader_client.post("/api/v1/scenarios", body, format="json").json()["id"]
    read, _ = _cli("operator", "--read-only")
    operate, _ = _cli("operator")
    for key, statuses in ((read, (403, 403)), (operate, (400, 200))):
        client = _api(key)  # "small" is imported from a dump: an allowed apply is a 400
        applied = client.post(f"/api/v1/scenarios/{scenario}/apply", {}, format="json")
        edited = client.patch(f"/api/v1/scenarios/{scenario}", {"description": "op"}, format="json")
        assert (applied.status_code, edited.status_code) == statuses


def test_the_hand_written_lookup_loads_what_the_orm_loads():
    """``token_with_user`` (one raw query on every API call) gives the token and its user
    field for field as the ORM's ``select_related`` does: datetimes aware, booleans, null
    expiry, scope; an unknown digest gives None."""
    from core.api.authentication import token_with_user
    from core.api.tokens import token_digest

    user = User.objects.create_user("lookup", password="x", is_staff=True, first_name="Ada")
    user.last_login = timezone.now() - timedelta(days=2)
    user.save()
    for expires in (None, timezone.now() + timedelta(days=3)):
        key = f"k-{expires is None}-0123456789abcdef"
        ApiToken.objects.create(
            user=user, digest=token_digest(key), prefix=key[:8], scope="operate", expires=expires
        )
        found = token_with_user(token_digest(key))
        orm = ApiToken.objects.select_related("user").get(digest=token_digest(key))
        assert found is not None and found.pk == orm.pk
        for field in ApiToken._meta.concrete_fields:
            assert getattr(found, field.attname) == getattr(orm, field.attname), field.name
        for field in User._meta.concrete_fields:
            assert getattr(found.user, field.attname) == getattr(orm.user, field.attname)
        assert found.expires is None or found.expires.tzinfo is not None
        assert found.user.is_staff is True and found.can_operate
        assert found.user.last_login.tzinfo is not None
    assert token_with_user(token_digest("no-such-key")) is None
