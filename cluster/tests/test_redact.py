"""Read without secrets: literal Pod env values are neither stored (import, sync) nor served."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from cluster.models import Pod
from cluster.redact import LAST_APPLIED, pod_redacted
from cluster.services import cluster_import
from cluster.sync import cluster_sync
from cluster.testing.fixtures import fake_api, kubeconfig, live_cluster
from cluster.testing.objects import pod, sample_cluster

SECRET = "hunter2-db-password"


def _leaky(obj: dict) -> dict:
    """A Pod with a literal env value, a Secret reference and a last-applied copy."""
    obj = copy.deepcopy(obj)
    env: list[dict[str, Any]] = [
        {"name": "DB_PASSWORD", "value": SECRET},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}},
    ]
    obj["spec"]["containers"][0]["env"] = env
    obj["spec"]["initContainers"] = [{"name": "init", "image": "i:1", "env": [dict(env[0])]}]
    obj["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(obj), "team": "db"}
    return obj


def _assert_clean(raw: dict) -> None:
    assert SECRET not in json.dumps(raw)
    container = raw["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "DB_PASSWORD"},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}},
    ]
    assert raw["metadata"]["annotations"] == {"team": "db"}


def test_redaction_keeps_references_and_never_touches_its_input():
    original = _leaky(pod("shop", "db-0", app="db", node_name="n1", ip="10.244.1.9"))
    kept = copy.deepcopy(original)
    _assert_clean(pod_redacted(original))
    assert original == kept
    plain = pod("shop", "web-0", app="web", node_name="n1", ip="10.244.1.10")
    assert pod_redacted(plain) is plain  # nothing to hide: no copy


@pytest.mark.django_db
def test_import_stores_no_env_values_and_the_api_serves_none():
    objects = [_leaky(o) if o["kind"] == "Pod" else o for o in sample_cluster()]
    cluster_import(name="leaky", objects=objects)
    stored = Pod.objects.filter(cluster__name="leaky")
    assert stored.count() == 4
    for row in stored:
        _assert_clean(row.raw)
    row = stored.first()
    # A row stored before redaction existed is still served without the value.
    Pod.objects.filter(pk=row.pk).update(raw=_leaky(row.raw))
    response = APIClient(HTTP_HOST="127.0.0.1").get(f"/api/v1/pods/{row.pk}")
    assert response.status_code == 200
    _assert_clean(response.json()["raw"])


def test_sync_stores_no_env_values(live_cluster, fake_api):
    served = fake_api.store.get("pods", "shop", "web-0")
    fake_api.store.upsert(_leaky(served))
    assert cluster_sync(cluster=live_cluster).status == "succeeded"
    _assert_clean(Pod.objects.get(cluster=live_cluster, name="web-0").raw)
