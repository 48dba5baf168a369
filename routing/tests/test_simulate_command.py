"""``manage.py simulate`` contract (DESIGN.md): JSON shape, exit codes, one-line errors.

Runs the real command in a subprocess, without a database.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="b"),
        service_obj("web", type="LoadBalancer", etp="Local", lb_ips=["192.0.2.1"], hc_port=32000),
        slice_obj("web", [endpoint_obj("10.1.0.5", "n1"), endpoint_obj("10.1.0.6", "n1")]),
    ]
    path = tmp_path_factory.mktemp("dump") / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "simulate", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": "sqlite:////nonexistent/dir/never-opened.db",
        },
    )


def test_json_answer_has_the_documented_shape(dump: Path) -> None:
    done = run(str(dump), "--service", "default/web", "--source", "pod:n2", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) >= CONTRACT_KEYS
    assert answer["source"] == {"kind": "pod", "node": "n2"} and answer["to"] == "clusterip"
    assert [e["ip"] for e in answer["endpoints"]] == ["10.1.0.5", "10.1.0.6"]
    assert answer["dropped"] + sum(e["share"] for e in answer["endpoints"]) == pytest.approx(1.0)


def test_all_drops_is_still_an_answer(dump: Path) -> None:
    done = run(str(dump), "--service", "default/web", "--source", "external:n2", "--json")
    assert done.returncode == 0
    answer = json.loads(done.stdout)
    assert (answer["action"], answer["dropped"], answer["drop_reason"]) == (
        "drop",
        1.0,
        "LOCAL_NO_ENDPOINT_ON_NODE",
    )
    assert answer["to"] == "nodeport" and answer["client_ip_preserved"] is True


def test_stdin_set_and_proxy_mode(dump: Path) -> None:
    done = run(
        "-",
        "--service",
        "default/web",
        "--source",
        "external:n2",
        "--set",
        "externalTrafficPolicy=Cluster",
        "--proxy-mode",
        "nftables",
        "--json",
        stdin=dump.read_text(),
    )
    answer = json.loads(done.stdout)
    assert answer["proxy_mode"] == "nftables" and answer["action"] == "forward"
    assert answer["client_ip_preserved"] is False


def test_lb_source_and_readable_summary(dump: Path) -> None:
    done = run(str(dump), "--service", "default/web", "--source", "lb")
    assert done.returncode == 0
    assert "action: forward" in done.stdout and "LB_NODES_HEALTH_CHECK" in done.stdout


BAD_INPUT = [
    (["--service", "default/nope", "--source", "pod:n1"], "unknown service"),
    (["--service", "default/web", "--source", "pod:n7"], "unknown node"),
    (["--service", "default/web", "--source", "pod:n1", "--port", "9999"], "has no port"),
    (
        [
            "--service",
            "default/web",
            "--source",
            "pod:n1",
            "--set",
            "internalTrafficPolicy=Sometimes",
        ],
        "internalTrafficPolicy",
    ),
    (["--service", "default/web", "--source", "pod:n1", "--set", "replicas=3"], "cannot override"),
    (["--service", "default/web", "--source", "pod:n1", "--set", "oops"], "not FIELD=VALUE"),
    (["--service", "default/web", "--source", "satellite"], "is not pod:NODE"),
    (["--service", "default/web", "--source", "pod:n1", "--to", "moon"], "destination"),
    (["--service", "default/web", "--source", "pod:n1", "--proxy-mode", "ebpf"], "proxy-mode"),
]


@pytest.mark.parametrize(
    ("args", "needle"),
    BAD_INPUT,
    ids=[
        "service",
        "node",
        "port",
        "override value",
        "override field",
        "malformed set",
        "source",
        "dest",
        "mode",
    ],
)
def test_bad_input_is_a_one_line_exit_2_error(dump: Path, args: list[str], needle: str) -> None:
    """In-process (fast); the subprocess tests below check the same path end to end."""
    with pytest.raises(CommandError) as err:
        call_command("simulate", str(dump), *args, "--json", stdout=io.StringIO())
    assert err.value.returncode == 2
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("args", "needle"),
    [BAD_INPUT[1], (["--service", "default/web"], "--source")],
    ids=["unknown node", "missing flag"],
)
def test_bad_input_exits_2_with_one_line(dump: Path, args: list[str], needle: str) -> None:
    done = run(str(dump), *args, "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr


@pytest.mark.parametrize(
    "content", ["{not json", '{"kind": "List", "items": [42]}'], ids=["garbage", "non-object item"]
)
def test_bad_file_is_a_one_line_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError) as err:
        call_command(
            "simulate",
            str(path),
            "--service",
            "default/web",
            "--source",
            "pod:n1",
            stdout=io.StringIO(),
        )
    assert err.value.returncode == 2 and "\n" not in str(err.value)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    done = run(str(tmp_path / "absent.json"), "--service", "default/web", "--source", "pod:n1")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_node_proxy_mode_flag(dump: Path) -> None:
    done = run(
        str(dump),
        "--service",
        "default/web",
        "--source",
        "external:n2",
        "--node-proxy-mode",
        "n2=ipvs",
        "--json",
    )
    answer = json.loads(done.stdout)
    # IPVS on n2 falls back to remote endpoints instead of dropping (kubernetes#97081).
    assert answer["proxy_mode"] == "ipvs" and answer["action"] == "forward"
    with pytest.raises(CommandError, match="unknown node"):
        call_command(
            "simulate",
            str(dump),
            "--service",
            "default/web",
            "--source",
            "pod:n1",
            "--node-proxy-mode",
            "n9=ipvs",
            stdout=io.StringIO(),
        )
