"""Single sign-on through a stand-in OpenID Connect provider (a real HTTP server): the code
flow end to end with Django's test client on our side, group -> reader / operator mapping,
refusals. The same flow in a real browser is in test_sso_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client

from core.tests.oidc_provider import StandInProvider

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

USERS = {
    "olga": {"groups": ["rs-operators", "staff"]},
    "rita": {"groups": ["rs-readers"]},
    "nina": {"groups": ["marketing"]},
}


def configure(settings, provider: StandInProvider) -> None:
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    settings.OIDC_OPERATOR_GROUPS = ["rs-operators"]
    settings.OIDC_READER_GROUPS = ["rs-readers"]


@pytest.fixture
def idp(settings) -> Iterator[StandInProvider]:
    with StandInProvider(users={name: dict(claims) for name, claims in USERS.items()}) as provider:
        configure(settings, provider)
        yield provider


def sso_login(client: Client, idp: StandInProvider, login: str) -> str:
    """Log in through the provider; returns where our callback sent the browser."""
    start = client.get("/oidc/authenticate/?next=/account/")
    assert start.status_code == 302
    authorize = urlparse(start["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{idp.issuer}/authorize"
    query = {key: values[0] for key, values in parse_qs(authorize.query).items()}
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert requests.get(start["Location"], timeout=10).status_code == 200  # the login form
    back = requests.post(
        f"{idp.issuer}/authorize", data={**query, "login": login}, allow_redirects=False, timeout=10
    )
    assert back.status_code == 302
    callback = urlparse(back.headers["Location"])
    assert callback.path == "/oidc/callback/"
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302
    return done["Location"]


def test_an_operator_group_member_may_operate(client: Client, idp, small_cluster) -> None:
    assert sso_login(client, idp, "olga") == "/account/"
    user = User.objects.get(username="olga")
    assert user.email == "olga@example.test" and not user.has_usable_password()
    assert user.has_perm("cluster.operate_cluster")
    me = client.get("/api/v1/me", HTTP_HOST="127.0.0.1").json()
    assert (me["username"], me["auth"], me["can_operate"]) == ("olga", "session", True)
    assert client.post("/api/v1/clusters/small/sync", HTTP_HOST="127.0.0.1").status_code == 409
    assert "operator: may sync" in client.get("/account/").content.decode()
    assert 8 * 3600 - 60 < client.session.get_expiry_age() <= 8 * 3600  # then sign in again
    assert idp.token_requests == [
        {"grant_type": "authorization_code", "redirect_uri": "http://testserver/oidc/callback/"}
    ]


def test_a_reader_group_member_only_reads(client: Client, idp, small_cluster) -> None:
    assert sso_login(client, idp, "rita") == "/account/"
    assert not User.objects.get(username="rita").has_perm("cluster.operate_cluster")
    assert client.get("/api/v1/me", HTTP_HOST="127.0.0.1").json()["can_operate"] is False
    assert client.get("/api/v1/nodes", HTTP_HOST="127.0.0.1").status_code == 200
    assert client.post("/api/v1/clusters/small/sync", HTTP_HOST="127.0.0.1").status_code == 403


def test_the_role_follows_the_groups_at_each_login(client: Client, idp) -> None:
    sso_login(client, idp, "olga")
    assert User.objects.get(username="olga").has_perm("cluster.operate_cluster")
    client.logout()
    idp.users["olga"]["groups"] = ["rs-readers"]
    sso_login(client, idp, "olga")
    assert not User.objects.get(username="olga").has_perm("cluster.operate_cluster")


def test_someone_in_no_allowed_group_is_refused(client: Client, idp) -> None:
    assert sso_login(client, idp, "nina") == "/accounts/login/?sso=failed"
    assert not User.objects.filter(username="nina").exists()
    page = client.get("/accounts/login/?sso=failed").content.decode()
    assert "Single sign-on did not log you in" in page
    assert client.get("/api/v1/me", HTTP_HOST="127.0.0.1").json()["authenticated"] is False


def test_an_empty_reader_list_lets_every_idp_user_read(client: Client, idp, settings) -> None:
    settings.OIDC_READER_GROUPS = []
    assert sso_login(client, idp, "nina") == "/account/"
    assert not User.objects.get(username="nina").has_perm("cluster.operate_cluster")


def test_sso_never_takes_over_a_local_account_with_a_password(client: Client, idp) -> None:
    User.objects.create_user("olga", password="local-pass-1")
    assert sso_login(client, idp, "olga") == "/accounts/login/?sso=failed"
    assert not User.objects.get(username="olga").has_perm("cluster.operate_cluster")


def test_an_id_token_for_another_client_is_refused(client: Client, idp, settings) -> None:
    # The provider signs for its own client id; we pretend to be another client that
    # shares its secret: the audience check refuses the token.
    start = client.get("/oidc/authenticate/")
    query = {k: v[0] for k, v in parse_qs(urlparse(start["Location"]).query).items()}
    back = requests.post(
        f"{idp.issuer}/authorize",
        data={**query, "login": "olga"},
        allow_redirects=False,
        timeout=10,
    )
    idp.client_id = settings.OIDC_RP_CLIENT_ID = "someone-else"
    idp._grants = {
        code: grant.__class__(**{**grant.__dict__, "client_id": "routescope"})
        for code, grant in idp._grants.items()
    }
    callback = urlparse(back.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}")
    assert done["Location"] == "/accounts/login/?sso=failed"
    assert not User.objects.filter(username="olga").exists()


def test_without_settings_there_is_no_sso(client: Client) -> None:
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    page = client.get("/accounts/login/").content.decode()
    assert 'data-testid="sso-login"' not in page


def test_the_login_page_offers_sso_when_configured(client: Client, idp) -> None:
    page = client.get("/accounts/login/?next=/jobs/").content.decode()
    assert 'href="/oidc/authenticate/?next=/jobs/"' in page.replace("%2F", "/")


def test_no_provider_token_lands_in_a_table_or_the_log(client: Client, idp, caplog) -> None:
    from django.contrib.sessions.models import Session

    from core.tests.test_tokens import _every_stored_value

    with caplog.at_level("DEBUG"):
        sso_login(client, idp, "olga")
    secrets = [*idp.issued, idp.client_secret]
    assert len(secrets) == 3
    stored = _every_stored_value() + [str(s.get_decoded()) for s in Session.objects.all()]
    for secret in secrets:
        assert not [value for value in stored if secret in value]
        assert secret not in caplog.text
