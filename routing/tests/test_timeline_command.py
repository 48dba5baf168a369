"""``manage.py timeline`` (issue 14): the contract shape, the demo story end to end, one-line
errors with exit 2, --cluster; and ``POST /api/v1/timeline`` giving the identical JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.contract import run as run_command

pytest_plugins = ["cluster.api.testing"]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cluster" / "fixtures" / "demo.json"
KEYS = {"service", "event", "timing", "steps", "windows", "recommendations"}
STEP_KEYS = {"t", "source", "shares", "dropped", "failing"}
WINDOW_KEYS = {"source", "start", "end", "seconds", "share", "cause", "code"}
STORY = (
    "--service",
    "shop/checkout",
    "--event",
    "drain:node-a1",
    "--lb-preset",
    "gcp",
    "--on-sigterm",
    "stop",
)


def cli(*args: str) -> subprocess.CompletedProcess:
    """The real command in a subprocess, with a database path that cannot be opened."""
    return subprocess.run(
        [sys.executable, "manage.py", "timeline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": "sqlite:////nonexistent/dir/never-opened.db",
        },
    )


def test_demo_story_end_to_end_without_a_database():
    done = cli(str(DEMO), *STORY, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == KEYS
    assert all(set(step) == STEP_KEYS for step in out["steps"])
    assert all(set(w) == WINDOW_KEYS for w in out["windows"])
    assert all(set(r) == {"change", "windows_after"} for r in out["recommendations"])
    # gcp: 3 failed probes 8 s apart -> the LB keeps node-a1 for 24 s after its health check fails.
    lag = [
        w
        for w in out["windows"]
        if w["source"] == "lb" and w["code"] == "TIMELINE_LB_HEALTH_CHECK_LAG"
    ]
    assert [(w["start"], w["seconds"], w["share"]) for w in lag] == [(2.0, 24.0, 0.5)]
    prestop, cluster_policy = out["recommendations"]
    assert prestop["change"]["set"]["prestop_s"] == 30.0 and prestop["windows_after"] == []
    assert "loses the client IP" in cluster_policy["change"]["text"]
    assert not [
        w for w in cluster_policy["windows_after"] if w["code"] == "TIMELINE_LB_HEALTH_CHECK_LAG"
    ]

    # The recommended preStop, given on the command line, closes it.
    fixed = json.loads(cli(str(DEMO), *STORY, "--prestop", "30", "--grace", "35", "--json").stdout)
    assert [w for w in fixed["windows"] if not w["source"].endswith(":established")] == []
    # eTP=Cluster: no load-balancer health-check window at all.
    flipped = json.loads(
        cli(str(DEMO), *STORY, "--set", "externalTrafficPolicy=Cluster", "--json").stdout
    )
    assert not [w for w in flipped["windows"] if w["code"] == "TIMELINE_LB_HEALTH_CHECK_LAG"]


def test_probe_numbers_and_timing_fields(tmp_path):
    out = json.loads(
        run_command(
            "timeline",
            str(DEMO),
            "--service",
            "shop/checkout",
            "--event",
            "drain:node-a1",
            "--probe-interval",
            "10",
            "--unhealthy-threshold",
            "2",
            "--set",
            "endpointslice_s=3",
            "--json",
        ).out
    )
    assert out["timing"]["lb"]["preset"] is None and out["timing"]["lb"]["out_after_s"] == 20
    lag = [w for w in out["windows"] if w["code"] == "TIMELINE_LB_HEALTH_CHECK_LAG"]
    assert [(w["start"], w["seconds"]) for w in lag] == [(4.0, 20.0)]
    text = run_command("timeline", str(DEMO), *STORY)
    assert text.code == 0 and "recommendation: a preStop sleep of 30 s" in text.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--event", "explode"), "is not drain:NODE"),
        (("--event", "drain:node-zz"), "unknown node"),
        (("--event", "rollout", "--lb-preset", "oracle"), "unknown load-balancer preset"),
        (("--event", "rollout", "--lb-preset", "gcp", "--probe-interval", "5"), "not both"),
        (("--event", "rollout", "--set", "nonsense"), "is not FIELD=VALUE"),
        (("--event", "rollout", "--set", "warp=9"), "unknown timing field"),
        (("--event", "rollout", "--prestop", "60"), "longer than the grace period"),
        (("--event", "rollout", "--grace", "soon"), "must be a number"),
        (("--event", "rollout", "--set", "externalTrafficPolicy=Sometimes"), "is not one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    done = run_command("timeline", str(DEMO), "--service", "shop/checkout", *args, "--json")
    assert done.code == 2 and done.out == ""
    assert done.one_line_error and message in done.err, done


def test_missing_flags_and_file_are_one_line():
    missing = cli(str(DEMO), "--service", "shop/checkout")  # argparse, as a shell sees it
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    done = run_command(
        "timeline", "/nonexistent.json", "--service", "shop/checkout", "--event", "rollout"
    )
    assert done.code == 2 and done.one_line_error


@pytest.mark.django_db
def test_cli_and_api_give_identical_json(reader_client):
    call_command("import_cluster", str(DEMO), "--name", "demo", verbosity=0)
    for extra, body in [
        ((), {}),
        (("--lb-preset", "azure", "--prestop", "5"), {"lb_preset": "azure", "prestop": 5}),
        (
            ("--set", "externalTrafficPolicy=Cluster", "--on-sigterm", "serve"),
            {"set": {"externalTrafficPolicy": "Cluster"}, "on_sigterm": "serve"},
        ),
    ]:
        stored = run_command(
            "timeline",
            "--cluster",
            "demo",
            "--service",
            "shop/checkout",
            "--event",
            "drain:node-a1",
            *extra,
            "--json",
        )
        assert stored.code == 0, stored
        from_file = json.loads(
            run_command(
                "timeline",
                str(DEMO),
                "--service",
                "shop/checkout",
                "--event",
                "drain:node-a1",
                *extra,
                "--json",
            ).out
        )
        question = {"service": "shop/checkout", "event": "drain:node-a1", **body}
        api = reader_client.post("/api/v1/timeline", {"cluster": "demo", **question}, format="json")
        assert api.status_code == 200, api.json()
        inline = reader_client.post(
            "/api/v1/timeline",
            {"cluster_dump": json.loads(DEMO.read_text()), **question},
            format="json",
        )
        assert api.json() == json.loads(stored.out) == from_file == inline.json()


@pytest.mark.django_db
def test_api_bad_input_uses_the_error_shape(reader_client, anon_client, small_cluster):
    bad = reader_client.post(
        "/api/v1/timeline",
        {"cluster": "small", "service": "shop/checkout", "event": "drain:zz"},
        format="json",
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert set(error) == {"code", "message", "field", "details"} and error["field"] == "event"
    assert "unknown node" in error["message"]
    typo = reader_client.post(
        "/api/v1/timeline",
        {"cluster": "small", "service": "shop/checkout", "event": "rollout", "presto": 5},
        format="json",
    )
    assert typo.status_code == 400 and typo.json()["error"]["field"] == "presto"
    unknown = reader_client.post(
        "/api/v1/timeline",
        {"cluster": "nope", "service": "shop/checkout", "event": "rollout"},
        format="json",
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "cluster"
    both = reader_client.post(
        "/api/v1/timeline", {"service": "shop/checkout", "event": "rollout"}, format="json"
    )
    assert both.status_code == 400 and both.json()["error"]["field"] == "cluster"
    preset = reader_client.post(
        "/api/v1/timeline",
        {"cluster": "small", "service": "shop/checkout", "event": "rollout", "lb_preset": "oracle"},
        format="json",
    )
    assert preset.status_code == 400 and preset.json()["error"]["field"] == "lb_preset"
    policy = reader_client.post(
        "/api/v1/timeline",
        {
            "cluster": "small",
            "service": "shop/checkout",
            "event": "drain:n1",
            "set": {"externalTrafficPolicy": "Sometimes"},
        },
        format="json",
    )
    assert policy.status_code == 400 and policy.json()["error"]["field"] == "set"
    with override_settings(ROUTESCOPE_ANONYMOUS_READ=False):
        refused = anon_client.post(
            "/api/v1/timeline",
            {"cluster": "small", "service": "shop/checkout", "event": "drain:n1"},
            format="json",
        )
    assert refused.status_code == 401


@pytest.mark.django_db
def test_openapi_schema_documents_the_endpoint_with_examples(reader_client):
    schema = reader_client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    doc = json.loads(schema.content)
    op = doc["paths"]["/api/v1/timeline"]["post"]
    body = op["requestBody"]["content"]["application/json"]
    assert (
        body.get("examples")
        and "event" in doc["components"]["schemas"]["TimelineQuestionRequest"]["properties"]
    )
    assert (
        op["responses"]["200"]["content"]["application/json"]["examples"]
        and "400" in op["responses"]
    )
    assert {"steps", "windows", "recommendations"} <= set(
        doc["components"]["schemas"]["Timeline"]["properties"]
    )
