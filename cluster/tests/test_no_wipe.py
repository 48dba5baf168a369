"""An import never wipes a cluster by accident (issue 17).

A dump holding none of the kinds Routescope stores (one Secret, only Events) is refused
like an empty one; an import that would drop more than half of a cluster's stored objects
needs ``import_cluster --replace``, and the refusal says how many objects of which kinds.
"""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from cluster.models import Cluster
from cluster.tests import builders as b
from tests.contract import export, run

pytestmark = pytest.mark.django_db


def _write(tmp_path, objects, name="dump.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)


@pytest.fixture
def stored(tmp_path):
    """Cluster "c" from the small dump; yields a check that it is unchanged."""
    assert (
        run("import_cluster", _write(tmp_path, b.small_cluster(), "good.json"), "--name", "c").code
        == 0
    )
    before, revision = export("c"), Cluster.objects.get(name="c").revision
    return lambda: export("c") == before and Cluster.objects.get(name="c").revision == revision


def _secret(name="s"):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "shop"},
        "data": {"k": "dmFsdWU="},
    }


def _event(index):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"e{index}", "namespace": "shop"},
        "reason": "Pulled",
    }


@pytest.mark.parametrize(
    "objects",
    [
        [_secret()],
        [_event(i) for i in range(500)],
        [_secret(), {**b.service(), "apiVersion": "v2"}],
    ],
    ids=["one-secret", "only-events", "secret-and-unknown-version"],
)
def test_a_dump_without_stored_kinds_is_refused(objects, stored, tmp_path):
    result = run("import_cluster", _write(tmp_path, objects), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert "holds none of the kinds Routescope stores" in result.err
    assert "nothing imported" in result.err
    assert stored()
    # Also for a new cluster name: no empty cluster is created.
    assert run("import_cluster", _write(tmp_path, objects), "--name", "fresh").code == 2
    assert not Cluster.objects.filter(name="fresh").exists()


def test_losing_more_than_half_needs_replace(stored, tmp_path):
    small = [b.node("n1")]
    result = run("import_cluster", _write(tmp_path, small), "--name", "c")
    assert result.code == 2 and result.one_line_error, result
    assert result.err == (
        "CommandError: importing would drop 5 of the 6 objects stored in cluster 'c':"
        " 1 Node (2 -> 1), 1 Service (1 -> 0), 1 EndpointSlice (1 -> 0), 2 Pod (2 -> 0);"
        " nothing imported (use --replace to replace the cluster anyway)\n"
    )
    assert stored()
    replaced = run("import_cluster", _write(tmp_path, small), "--name", "c", "--replace")
    assert replaced.code == 0, replaced
    assert Cluster.objects.get(name="c").nodes.count() == 1


def test_losing_half_or_less_needs_no_flag(stored, tmp_path):
    fewer = [o for o in b.small_cluster() if o["kind"] != "Pod"]
    assert run("import_cluster", _write(tmp_path, fewer), "--name", "c").code == 0


def test_the_share_is_a_setting(stored, tmp_path):
    fewer = [o for o in b.small_cluster() if o["kind"] != "Pod"]
    with override_settings(ROUTESCOPE_IMPORT_MAX_LOSS=0.1):
        result = run("import_cluster", _write(tmp_path, fewer), "--name", "c")
    assert result.code == 2 and "importing would drop" in result.err and stored()


def test_a_bad_field_is_reported_before_the_loss(stored, tmp_path):
    bad = b.service()
    bad["spec"]["ports"][0]["port"] = "x"
    result = run("import_cluster", _write(tmp_path, [bad]), "--name", "c")
    assert result.code == 2 and "spec.ports[0].port must be an integer" in result.err
    assert stored()
