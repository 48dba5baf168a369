"""Saving a named question (a scenario, a timeline): a name is one per cluster, a clash is
refused on the name field and nothing is stored twice (``routing.services._save_named``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import call_command

from routing.models import SavedTimeline, Scenario
from routing.services import InputError, saved_timeline_create, scenario_create

pytestmark = pytest.mark.django_db

DRAIN = {"event": "drain:node-a1", "lb_preset": "gcp"}
FLIP = {"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}}}


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)
    from cluster.models import Cluster

    return Cluster.objects.get(name="demo")


def _timeline(cluster, name, user=None):
    return saved_timeline_create(
        cluster=cluster, name=name, service="shop/checkout", question=DRAIN, user=user
    )


def _scenario(cluster, name, user=None):
    return scenario_create(cluster=cluster, name=name, changes=FLIP, user=user)


@pytest.mark.parametrize(
    ("save", "model", "kind"),
    [(_scenario, Scenario, "scenario"), (_timeline, SavedTimeline, "timeline")],
)
def test_a_name_clash_is_refused_on_the_name_field(demo, save, model, kind):
    author = User.objects.create_user("ana", password="x")
    first = save(demo, "drain a1", author)
    assert first.created_by == author
    with pytest.raises(InputError) as refused:
        save(demo, "drain a1")
    assert refused.value.field == "name"
    assert str(refused.value) == f"cluster demo already has a {kind} called 'drain a1'"
    assert model.objects.filter(cluster=demo, name="drain a1").count() == 1
    # Another name is fine, and an anonymous author is stored as nobody.
    assert save(demo, "drain a1 again", AnonymousUser()).created_by is None
