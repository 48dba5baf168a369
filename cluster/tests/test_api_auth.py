"""API auth: create_api_token, token and session auth, throttling, offline docs pages."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command, load_command_class
from django.test import override_settings
from rest_framework.test import APIClient

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db


def _token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_token_creates_an_operator_and_prints_only_the_key(small_cluster):
    key, note = _token("ci-bot", "--create", "--operator")
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    assert "created user ci-bot" in note
    user = get_user_model().objects.get(username="ci-bot")
    assert user.has_perm("cluster.operate_cluster")
    assert not user.has_usable_password()
    client = APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/clusters").status_code == 200
    # A second run prints a new key (only hashes are kept); both work. --rotate kills both.
    second, _ = _token("ci-bot")
    assert second != key and user.api_tokens.count() == 2
    rotated, _ = _token("ci-bot", "--rotate")
    assert rotated not in (key, second)
    assert [t.prefix for t in user.api_tokens.all()] == [rotated[:8]]
    old = APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {key}")
    refused = old.get("/api/v1/clusters")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_create_api_token_for_an_unknown_user_exits_2_in_one_line(tmp_path):
    with pytest.raises(CommandError) as info:
        _token("ghost")
    assert info.value.returncode == 2
    assert str(info.value) == "no user 'ghost' (pass --create to create it)"


def test_create_api_token_command_line_exit_status(capsys):
    # What manage.py does with the command: exit status 2, one line on stderr, no stdout.
    command = load_command_class("cluster", "create_api_token")
    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(["manage.py", "create_api_token", "ghost"])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        "CommandError: no user 'ghost' (pass --create to create it)"
    ]


def test_operator_flag_is_needed_to_sync(reader, small_cluster):
    key, _ = _token("reader")
    client = APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/v1/clusters/small/sync").status_code == 403
    operate_key, note = _token("reader", "--operator")
    assert "new operate token" in note
    operate = APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {operate_key}")
    assert operate.post("/api/v1/clusters/small/sync").status_code == 409  # allowed; not live
    # The first token was made with read scope: it never operates, operator user or not.
    refused = client.post("/api/v1/clusters/small/sync")
    assert refused.status_code == 403 and "scope 'operate'" in refused.json()["error"]["message"]
    assert client.get("/api/v1/me").json()["can_operate"] is False


def test_garbage_token_is_401_even_with_anonymous_read(small_cluster):
    client = APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/services")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_throttling_answers_429_in_the_error_shape(anon_client, small_cluster):
    # Per day: the only window edge is midnight UTC, so the test never straddles one.
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/day"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        statuses = [anon_client.get("/api/v1/clusters").status_code for _ in range(4)]
        last = anon_client.get("/api/v1/clusters")
    assert statuses == [200, 200, 200, 429]
    assert last.json()["error"]["code"] == "throttled"
    assert int(last["Retry-After"]) > 0


def test_user_throttle_counts_each_user_apart(reader_client, operator_client, small_cluster):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/day"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        reader = [reader_client.get("/api/v1/nodes").status_code for _ in range(3)]
        operator = operator_client.get("/api/v1/nodes").status_code
    assert reader == [200, 200, 429]
    assert operator == 200


def test_docs_pages_load_only_local_files(anon_client):
    for path in ("/api/docs/", "/api/redoc/"):
        page = anon_client.get(path)
        assert page.status_code == 200
        html = page.content.decode()
        assert "http://" not in html and "https://" not in html and "//cdn" not in html
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith(("/static/", "/api/")) for s in sources)
    script = anon_client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_schema_is_served(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/simulate" in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_me_tells_who_the_caller_is(anon_client, reader_client, operator_client, client, reader):
    assert anon_client.get("/api/v1/me").json() == {
        "authenticated": False,
        "username": None,
        "auth": None,
        "can_read": True,
        "can_operate": False,
    }
    assert reader_client.get("/api/v1/me").json()["can_operate"] is False
    me = operator_client.get("/api/v1/me").json()
    assert (me["username"], me["auth"], me["can_operate"]) == ("operator", "token", True)
    client.force_login(reader)
    assert client.get("/api/v1/me", HTTP_HOST="127.0.0.1").json()["auth"] == "session"


def test_inactive_user_token_is_refused(reader, reader_client, small_cluster):
    assert reader_client.get("/api/v1/nodes").status_code == 200
    reader.is_active = False
    reader.save(update_fields=["is_active"])
    refused = reader_client.get("/api/v1/nodes")
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "authentication_failed",
        "field": None,
        "message": "User inactive or deleted.",
        "details": None,
    }
