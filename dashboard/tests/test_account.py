"""The account page: role, and the API token shown once, masked after, rotated and revoked."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.models import ApiToken

pytestmark = pytest.mark.django_db


def _api_status(key: str) -> int:
    return Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/me").status_code


def _shown_key(html: str) -> str:
    match = re.search(r'data-testid="new-token">([0-9a-f]{40})<', html)
    assert match, "the new key is shown"
    return match.group(1)


def test_anonymous_is_sent_to_log_in(client: Client) -> None:
    response = client.get("/account/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_create_shows_the_key_once_then_only_masked(client: Client, reader: User) -> None:
    client.force_login(reader)
    page = client.get("/account/").content.decode()
    assert "You have no API token." in page and "reader" in page
    created = client.post("/account/", {"action": "create"})
    key = _shown_key(created.content.decode())
    token = ApiToken.objects.get(user=reader)
    assert token.scope == "read" and key not in (token.digest, token.prefix)
    assert _api_status(key) == 200
    again = client.get("/account/").content.decode()
    assert key not in again
    assert f"{key[:8]}…" in again
    assert "no-store" in client.get("/account/")["Cache-Control"]


def test_rotate_kills_the_old_key_and_revoke_kills_the_new(client: Client, operator: User) -> None:
    client.force_login(operator)
    old = _shown_key(client.post("/account/", {"action": "create"}).content.decode())
    new = _shown_key(client.post("/account/", {"action": "rotate"}).content.decode())
    assert new != old
    assert _api_status(old) == 401 and _api_status(new) == 200
    assert "operator" in client.get("/account/").content.decode()
    client.post("/account/", {"action": "revoke"})
    assert not ApiToken.objects.filter(user=operator).exists()
    assert _api_status(new) == 401


def test_an_unknown_action_is_a_400_and_changes_nothing(client: Client, reader: User) -> None:
    client.force_login(reader)
    response = client.post("/account/", {"action": "steal"})
    assert response.status_code == 400 and "Unknown action" in response.content.decode()
    assert not ApiToken.objects.filter(user=reader).exists()


def test_create_when_a_token_exists_never_shows_it_again(client: Client, reader: User) -> None:
    client.force_login(reader)
    key = _shown_key(client.post("/account/", {"action": "create"}).content.decode())
    again = client.post("/account/", {"action": "create"})  # a stale form, a second tab
    body = again.content.decode()
    assert again.status_code == 409 and key not in body
    assert 'data-testid="new-token"' not in body and "rotate it to get a new key" in body
    assert [t.prefix for t in ApiToken.objects.filter(user=reader)] == [key[:8]]
    assert _api_status(key) == 200


def test_an_operator_chooses_the_scope_a_reader_gets_read(
    client: Client, operator: User, reader: User
) -> None:
    client.force_login(operator)
    client.post("/account/", {"action": "create", "scope": "read"})
    assert list(operator.api_tokens.values_list("scope", flat=True)) == ["read"]
    client.post("/account/", {"action": "rotate", "scope": "operate"})
    assert list(operator.api_tokens.values_list("scope", flat=True)) == ["operate"]
    client.force_login(reader)
    client.post("/account/", {"action": "create", "scope": "operate"})
    assert list(reader.api_tokens.values_list("scope", flat=True)) == ["read"]


def test_an_expired_token_is_marked_so(client: Client, reader: User) -> None:
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(reader)
    key = _shown_key(client.post("/account/", {"action": "create"}).content.decode())
    ApiToken.objects.filter(user=reader).update(expires=timezone.now() - timedelta(days=1))
    assert "<strong>expired</strong>" in client.get("/account/").content.decode()
    assert _api_status(key) == 401


def test_revoke_one_token_keeps_the_others(client: Client, reader: User, operator: User) -> None:
    from core.api.tokens import api_token_issue

    keep, drop = api_token_issue(user=reader), api_token_issue(user=reader)
    others = api_token_issue(user=operator)
    client.force_login(reader)
    dropped = ApiToken.objects.get(prefix=drop[:8])
    owned_elsewhere = ApiToken.objects.get(prefix=others[:8])
    client.post("/account/", {"action": "revoke", "token": str(owned_elsewhere.pk)})
    client.post("/account/", {"action": "revoke", "token": str(dropped.pk)})
    assert (_api_status(keep), _api_status(drop), _api_status(others)) == (200, 401, 200)
