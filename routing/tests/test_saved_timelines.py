"""Saved timelines (issue 14): ``/api/v1/timelines`` list / create / retrieve / delete / run
with the scenarios' permissions, the question only stored and run fresh, in the schema."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from routing.models import SavedTimeline

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

DRAIN = {"event": "drain:node-a1", "lb_preset": "gcp"}


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)


def _create(client, **fields):
    body = {
        "name": "checkout drain",
        "cluster": "demo",
        "service": "shop/checkout",
        "question": DRAIN,
        **fields,
    }
    return client.post("/api/v1/timelines", body, format="json")


def test_create_list_retrieve_and_run_give_the_timeline_json(reader_client, reader, demo):
    created = _create(reader_client)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] == "reader" and body["service"] == "shop/checkout"
    stored = SavedTimeline.objects.get(pk=body["id"])
    assert stored.question == DRAIN and stored.created_by == reader  # the input, nothing computed
    listing = reader_client.get("/api/v1/timelines", {"service": "shop/checkout"}).json()
    assert [t["name"] for t in listing["results"]] == ["checkout drain"]
    assert reader_client.get("/api/v1/timelines", {"service": "shop/web"}).json()["results"] == []
    got = reader_client.get(f"/api/v1/timelines/{body['id']}").json()
    assert got["question"]["event"] == "drain:node-a1" and got["question"]["lb_preset"] == "gcp"
    ran = reader_client.get(f"/api/v1/timelines/{body['id']}/run")
    assert ran.status_code == 200
    direct = reader_client.post(
        "/api/v1/timeline",
        {"cluster": "demo", "service": "shop/checkout", **DRAIN},
        format="json",
    )
    assert ran.json() == direct.json()  # the same door as POST /api/v1/timeline
    lag = [w for w in ran.json()["windows"] if w["code"] == "TIMELINE_LB_HEALTH_CHECK_LAG"]
    assert lag and lag[0]["seconds"] == 24.0  # gcp: 3 x 8 s


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service": "shop/nope"}, "service"),
        ({"service": "nope"}, "service"),
        ({"question": {"event": "drain:node-zz"}}, "question"),
        ({"question": {"event": "drain:node-a1", "prestop": 90}}, "question"),
        ({"question": {"event": "drain:node-a1", "colour": "red"}}, "question.colour"),
        ({"question": {"lb_preset": "gcp"}}, "question.event"),
        ({"cluster": "nope"}, "cluster"),
    ],
)
def test_bad_questions_are_refused_naming_the_field(reader_client, demo, fields, field):
    response = _create(reader_client, **fields)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not SavedTimeline.objects.exists()


def test_duplicate_name_is_refused(reader_client, demo):
    assert _create(reader_client).status_code == 201
    again = _create(reader_client)
    assert again.status_code == 400 and again.json()["error"]["field"] == "name"


def test_permissions_are_the_scenarios(
    reader_client, operator_client, anon_client, demo, django_user_model
):
    pk = _create(reader_client).json()["id"]
    from cluster.api.testing import _client

    other = _client(django_user_model.objects.create_user("other"), token=True)
    assert other.get(f"/api/v1/timelines/{pk}").status_code == 200  # readers read
    assert other.delete(f"/api/v1/timelines/{pk}").status_code == 403  # not the author
    assert _create(anon_client, name="anon").status_code in (401, 403)  # log in to save
    with override_settings(ROUTESCOPE_ANONYMOUS_READ=False):
        assert anon_client.get("/api/v1/timelines").status_code == 401
    assert operator_client.delete(f"/api/v1/timelines/{pk}").status_code == 204
    pk = _create(reader_client).json()["id"]
    assert reader_client.delete(f"/api/v1/timelines/{pk}").status_code == 204  # the author
    assert not SavedTimeline.objects.exists()
    assert reader_client.get(f"/api/v1/timelines/{pk}").status_code == 404


def test_openapi_schema_documents_saved_timelines_with_examples(reader_client):
    doc = json.loads(reader_client.get("/api/schema/", {"format": "json"}).content)
    create = doc["paths"]["/api/v1/timelines"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert {"201", "400"} <= set(create["responses"])
    assert {"get", "delete"} <= set(doc["paths"]["/api/v1/timelines/{id}"])
    run = doc["paths"]["/api/v1/timelines/{id}/run"]["get"]
    assert run["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Timeline"
    )
    question = doc["components"]["schemas"]["SavedQuestion"]["properties"]
    assert "event" in question and "cluster" not in question and "service" not in question
