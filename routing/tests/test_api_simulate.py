"""API: POST /api/v1/simulate — the CLI's question over HTTP, same answer shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

CONTRACT_KEYS = {
    "service",
    "port",
    "source",
    "to",
    "proxy_mode",
    "action",
    "dropped",
    "drop_reason",
    "client_ip_preserved",
    "endpoints",
    "explain",
}


def _post(client, body):
    return client.post("/api/v1/simulate", body, format="json")


def test_stored_cluster_answer_follows_the_contract(reader_client, small_cluster):
    response = _post(reader_client, {"cluster": "small", "service": "shop/web", "source": "pod:n1"})
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) >= CONTRACT_KEYS
    assert answer["source"] == {"kind": "pod", "node": "n1"}
    assert answer["to"] == "clusterip"
    assert answer["action"] == "forward"
    ips = [e["ip"] for e in answer["endpoints"]]
    assert ips == sorted(ips) == ["10.244.1.5", "10.244.2.5", "10.244.3.5"]
    assert sum(e["share"] for e in answer["endpoints"]) + answer["dropped"] == pytest.approx(1)


def test_itp_local_drops_calls_from_a_node_without_endpoint(reader_client, small_cluster):
    answer = _post(
        reader_client, {"cluster": "small", "service": "shop/cache", "source": "pod:n2"}
    ).json()
    assert answer["action"] == "drop"
    assert answer["dropped"] == 1.0
    assert answer["endpoints"] == []
    # ... and the what-if "iTP=Cluster" brings the calls back.
    fixed = _post(
        reader_client,
        {
            "cluster": "small",
            "service": "shop/cache",
            "source": "pod:n2",
            "set": {"internalTrafficPolicy": "Cluster"},
        },
    ).json()
    assert fixed["action"] == "forward"
    assert [e["ip"] for e in fixed["endpoints"]] == ["10.244.1.6"]


def test_inline_dump_gives_the_same_answer_as_the_stored_cluster(
    reader_client, small_cluster, small_dump
):
    question = {"service": "shop/checkout", "source": "external:n2", "to": "nodeport"}
    stored = _post(reader_client, {"cluster": "small", **question}).json()
    inline = _post(reader_client, {"cluster_dump": small_dump, **question}).json()
    assert inline == stored
    assert stored["action"] == "drop"  # eTP=Local and no checkout endpoint on n2


def test_api_answer_equals_the_cli_answer(reader_client, small_dump, tmp_path):
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(small_dump))
    cli = subprocess.run(
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "simulate",
            str(dump),
            "--service",
            "shop/web",
            "--source",
            "pod:n3",
            "--set",
            "internalTrafficPolicy=Local",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    api = _post(
        reader_client,
        {
            "cluster_dump": small_dump,
            "service": "shop/web",
            "source": "pod:n3",
            "set": {"internalTrafficPolicy": "Local"},
        },
    )
    assert api.json() == json.loads(cli.stdout)


@pytest.mark.parametrize(
    "change, field, code",
    [
        ({"service": "shop/nope"}, "service", "unknown"),
        ({"service": "no-namespace"}, "service", "invalid"),
        ({"source": "pod:n9"}, "source", "unknown"),
        ({"source": "somewhere"}, "source", "invalid"),
        ({"port": "grpc"}, "port", "unknown"),
        ({"to": "nodeport"}, "to", "not_applicable"),  # shop/web is a ClusterIP: no nodePort
        ({"to": "moon"}, "to", "invalid_choice"),
        (
            {"set": {"internalTrafficPolicy": "Sideways"}},
            "set.internalTrafficPolicy",
            "invalid_choice",
        ),
        ({"set": {"replicas": "3"}}, "set.replicas", "invalid"),
        ({"proxy_mode": "ebpf"}, "proxy_mode", "invalid_choice"),
        ({"ipvs_scheduler": "fifo"}, "ipvs_scheduler", "invalid_choice"),
        ({"cluster": "nope"}, "cluster", "invalid"),
        ({"srouce": "pod:n1"}, "srouce", "invalid"),
        ({"seed": -1}, "seed", "min_value"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(reader_client, small_cluster, change, field, code):
    body = {"cluster": "small", "service": "shop/web", "source": "pod:n1", **change}
    response = _post(reader_client, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == field
    # The engine's own code (routing.engine.errors) when the engine refused, DRF's otherwise.
    assert error["code"] == code
    assert "\n" not in error["message"] and error["message"].startswith(field)


def test_both_or_neither_cluster_source_is_refused(reader_client, small_cluster, small_dump):
    both = _post(
        reader_client,
        {"cluster": "small", "cluster_dump": small_dump, "service": "shop/web", "source": "pod:n1"},
    )
    neither = _post(reader_client, {"service": "shop/web", "source": "pod:n1"})
    for response in (both, neither):
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "cluster"


@pytest.mark.parametrize(
    "dump, needle",
    [
        ({"kind": "List", "apiVersion": "v1", "items": [{"metadata": {"name": "x"}}]}, "kind"),
        ([], "no Kubernetes objects"),
        ("not a dump", "cluster_dump"),
    ],
)
def test_bad_inline_dump_is_a_400(reader_client, dump, needle):
    response = _post(
        reader_client, {"cluster_dump": dump, "service": "shop/web", "source": "pod:n1"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "cluster_dump"
    assert needle in error["message"]


def test_malformed_json_body_is_a_400_parse_error(reader_client):
    response = reader_client.post("/api/v1/simulate", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_oversized_body_is_a_413(reader_client):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = reader_client.post(
            "/api/v1/simulate", {"cluster_dump": "x" * 5000}, format="json"
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_anonymous_simulate_follows_the_read_setting(anon_client, small_cluster):
    body = {"cluster": "small", "service": "shop/web", "source": "lb"}
    response = _post(anon_client, body)
    assert response.status_code == 400  # answered (shop/web has no load balancer) ...
    assert response.json()["error"]["field"] == "source"
    with override_settings(ROUTESCOPE_ANONYMOUS_READ=False):
        refused = _post(anon_client, body)
    assert refused.status_code == 401  # ... but not without a login when reading needs one


def test_session_login_works_too(client, reader, small_cluster):
    client.force_login(reader)
    response = client.post(
        "/api/v1/simulate",
        {"cluster": "small", "service": "shop/checkout", "source": "lb"},
        content_type="application/json",
        HTTP_HOST="127.0.0.1",
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["to"] == "loadbalancer"
    assert answer["client_ip_preserved"] is True  # eTP=Local keeps the client IP
