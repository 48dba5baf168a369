"""Framework classes the project overrides, pinned against the stock ones.

Each override saves CPU on a hot path (``bench/bench_api.py``: with the stock classes the
server's CPU per simulate rose from 3.5 to 4.6 ms and per filtered endpoint list from 6.4
to 7.1 ms, enough to miss p95 < 50 ms at 20 clients on 2 workers); each must answer
exactly as the stock class does:

- token authentication (hashed keys) vs DRF's ``TokenAuthentication``: header and messages;
- the lean FilterSet ``__init__`` and cached form class vs django-filter's own;
- the simulate serializer's shallow ``get_fields`` and the raw cluster lookup vs DRF's
  ``Serializer.get_fields`` and an ORM query;
- the fixed-window throttles (one ``cache.incr``) vs DRF's list of request times, inside
  one window.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.test import override_settings
from django_filters import FilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from cluster.api import views as cluster_views
from cluster.models import Cluster
from core.api.authentication import FastTokenAuthentication
from core.api.throttling import AnonThrottle, UserThrottle
from core.api.tokens import api_token_issue
from core.filters import CachedFormFilterSet
from routing.api import serializers as routing_serializers
from routing.api import views as routing_views

pytest_plugins = ["cluster.api.testing"]

# A day-long window: the run never straddles a window edge (where the fixed window resets).
RATES: dict[str, str | None] = {"anon": "3/day", "user": "5/day"}


class StockAnon(AnonRateThrottle):
    THROTTLE_RATES = RATES  # the stock class reads its rates once, at import


class StockUser(UserRateThrottle):
    THROTTLE_RATES = RATES


def _request(user, address: str = "203.0.113.7") -> Request:
    request = Request(APIRequestFactory().get("/api/v1/clusters", REMOTE_ADDR=address))
    request.user = user
    return request


def _decisions(throttle_class, request: Request, count: int) -> list[bool]:
    return [throttle_class().allow_request(request, None) for _ in range(count)]


@pytest.fixture
def _rates():
    rest = {**api_settings.user_settings, "DEFAULT_THROTTLE_RATES": RATES}
    with override_settings(REST_FRAMEWORK=rest):
        cache.clear()
        yield
        cache.clear()


@pytest.mark.usefixtures("_rates")
def test_anonymous_clients_are_limited_as_the_stock_anon_throttle_limits_them() -> None:
    ours = _decisions(AnonThrottle, _request(AnonymousUser()), 6)
    stock = _decisions(StockAnon, _request(AnonymousUser()), 6)
    assert ours == stock == [True, True, True, False, False, False]
    # Another address has its own count, in both.
    assert AnonThrottle().allow_request(_request(AnonymousUser(), "198.51.100.1"), None)
    assert StockAnon().allow_request(_request(AnonymousUser(), "198.51.100.1"), APIView())


@pytest.mark.django_db
@pytest.mark.usefixtures("_rates")
def test_users_are_limited_as_the_stock_user_throttle_limits_them() -> None:
    user = User.objects.create_user("parity")
    ours = _decisions(UserThrottle, _request(user), 7)
    stock = _decisions(StockUser, _request(user), 7)
    assert ours == stock == [True] * 5 + [False] * 2
    # The anonymous throttle never counts a logged-in user, in both.
    assert _decisions(AnonThrottle, _request(user), 5) == [True] * 5
    assert _decisions(StockAnon, _request(user), 5) == [True] * 5


@pytest.mark.usefixtures("_rates")
def test_a_refused_request_says_when_to_retry_within_the_window() -> None:
    throttle = AnonThrottle()
    for _ in range(4):
        allowed = throttle.allow_request(_request(AnonymousUser()), None)
    assert not allowed
    wait = throttle.wait()
    assert wait is not None and 0 < wait <= 86400


def _failure(authentication, key: str) -> str | None:
    try:
        authentication.authenticate_credentials(key)
    except exceptions.AuthenticationFailed as error:
        return str(error.detail)
    return None


@pytest.mark.django_db
def test_token_authentication_answers_as_drf_token_authentication() -> None:
    # Tokens are hashed at rest (core.models.ApiToken), so DRF's lookup by plain key cannot
    # run against them; what a client sees is pinned instead: the stock header parsing and
    # challenge, and the stock messages for an unknown key and an inactive user.
    user = User.objects.create_user("token-parity")
    key = api_token_issue(user=user)
    ours = FastTokenAuthentication()
    assert FastTokenAuthentication.authenticate is TokenAuthentication.authenticate
    request = _request(AnonymousUser())
    assert ours.authenticate_header(request) == TokenAuthentication().authenticate_header(request)
    our_user, our_token = ours.authenticate_credentials(key)
    assert our_user == user and our_token.user == user and our_token.digest != key
    for unknown in ("0" * 40, "nope", ""):
        assert _failure(ours, unknown) == "Invalid token."
    user.is_active = False
    user.save()
    assert _failure(ours, key) == "User inactive or deleted."


LIST_QUERIES = [
    "/api/v1/clusters",
    "/api/v1/clusters?q=small",
    "/api/v1/clusters?source=nope",
    "/api/v1/nodes?cluster=small",
    "/api/v1/nodes?cluster=small&ready=false",
    "/api/v1/nodes?cluster=small&ready=maybe",
    "/api/v1/nodes?cluster=nope",
    "/api/v1/services?cluster=small&ordering=-name",
    "/api/v1/services?q=web",
    "/api/v1/services?cluster=small&internal_traffic_policy=Cluster",
    "/api/v1/endpoint-slices?cluster=small",
    "/api/v1/pods?cluster=small&node=n1",
    "/api/v1/endpoints?cluster=small&service=shop/web",
    "/api/v1/endpoints?cluster=small&node=n1&ready=true",
    "/api/v1/endpoints?cluster=small&ready=yes",
]


def _answers(client, queries: list[str]) -> list[tuple[int, object]]:
    # Twice each: a filter state leaking from one request into the next would show.
    return [(r.status_code, r.json()) for q in queries + queries for r in [client.get(q)]]


def test_lists_filter_as_the_stock_filter_backend_and_filterset_do(
    reader_client, small_cluster, monkeypatch
) -> None:
    ours = _answers(reader_client, LIST_QUERIES)
    monkeypatch.setattr(cluster_views._ReadOnly, "filter_backends", [DjangoFilterBackend])
    monkeypatch.setattr(CachedFormFilterSet, "get_form_class", FilterSet.get_form_class)
    stock = _answers(reader_client, LIST_QUERIES)
    assert ours == stock
    assert {status for status, _ in ours} == {200, 400}


def _stock_cluster_named(name: str, *, field: str = "cluster") -> Cluster:
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None:
        raise exceptions.ValidationError({field: [f"no cluster called {name!r}"]})
    return cluster


SIMULATE_BODIES = [
    {"cluster": "small", "service": "shop/web", "source": "pod:n1"},
    {"cluster": "small", "service": "shop/cache", "source": "pod:n2"},
    {
        "cluster": "small",
        "service": "shop/web",
        "source": "pod:n1",
        "set": {"internalTrafficPolicy": "Local"},
    },
    {
        "cluster": "small",
        "service": "shop/checkout",
        "source": "lb",
        "proxy_mode": "ipvs",
        "ipvs_scheduler": "sh",
        "seed": 3,
    },
    {"cluster": "small", "service": "shop/web", "source": "pod:n1", "kube_version": 1.30},
    {
        "cluster": "small",
        "service": "shop/web",
        "source": "pod:n1",
        "set": {"internalTrafficPolicy": "Sometimes"},
    },
    {"cluster": "small", "service": "shop/web", "source": "pod:n1", "surprise": 1},
    {"cluster": "nope", "service": "shop/web", "source": "pod:n1"},
    {"service": "shop/web", "source": "pod:n1"},
    {"cluster": "small", "service": "shop/nope", "source": "pod:n9", "seed": -1},
]


def _simulate(client) -> list[tuple[int, object]]:
    return [
        (r.status_code, r.json())
        for body in SIMULATE_BODIES + SIMULATE_BODIES
        for r in [client.post("/api/v1/simulate", body, format="json")]
    ]


def test_simulate_answers_as_with_the_stock_serializer_fields_and_orm_lookup(
    reader_client, small_cluster, monkeypatch
) -> None:
    ours = _simulate(reader_client)
    monkeypatch.setattr(
        routing_serializers.SimulateRequestSerializer,
        "get_fields",
        serializers.Serializer.get_fields,
    )
    monkeypatch.setattr(routing_views, "_cluster_named", _stock_cluster_named)
    stock = _simulate(reader_client)
    assert ours == stock
    assert {status for status, _ in ours} == {200, 400}
