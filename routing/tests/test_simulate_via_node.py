"""Issue 11, item 9: ``--via-node`` / ``via_node`` (a pod or host process calling another
node's NodePort) on ``manage.py simulate``, ``routescope simulate`` and
``POST /api/v1/simulate``: one answer through every door, and one refusal (exit 2 / 400
naming ``via_node``) for a node the dump does not have."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing.cli.main import main

pytest_plugins = ["cluster.api.testing"]
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cluster" / "fixtures" / "demo.json"
QUESTION = ["--service", "shop/checkout", "--port", "http", "--source", "pod:node-a2"]
QUESTION += ["--to", "nodeport"]


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "simulate", str(DEMO), *QUESTION, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": "sqlite:////nonexistent/dir/never-opened.db",
        },
    )


def routescope(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(["simulate", str(DEMO), *QUESTION, *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_manage_and_routescope_answer_via_node_alike(capsys) -> None:
    # checkout is eTP=Local with 1 endpoint on node-a1 and 3 on node-b1: node-a1 counts the
    # pod of node-a2 as pod traffic (ClusterCIDR detector) and DNATs to all four without
    # SNAT; the three on node-b1 answer node-a2 directly (replies lost).
    done = manage("--via-node", "node-a1", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["via_node"] == "node-a1" and answer["outcome"] == "replies_lost"
    assert answer["effective_dropped"] == pytest.approx(0.75)
    code, out, err = routescope(capsys, "--via-node", "node-a1", "-o", "json")
    assert code == 0, err
    assert json.loads(out) == answer
    plain = json.loads(manage("--json").stdout)
    assert plain["via_node"] is None and plain["outcome"] == "ok"
    table = manage("--via-node", "node-a1")
    assert table.returncode == 0 and "via nodeport of node node-a1" in table.stdout
    assert "outcome: replies_lost" in table.stdout


def test_unknown_via_node_is_one_line_exit_2(capsys) -> None:
    done = manage("--via-node", "node-zz", "--json")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "node-zz" in done.stderr
    code, out, err = routescope(capsys, "--via-node", "node-zz")
    assert code == 2 and out == "" and "node-zz" in err and err.strip().count("\n") == 0


@pytest.mark.django_db
def test_api_via_node(reader_client) -> None:
    body = {
        "cluster_dump": json.loads(DEMO.read_text()),
        "service": "shop/checkout",
        "port": "http",
        "source": "pod:node-a2",
        "to": "nodeport",
        "via_node": "node-a1",
    }
    response = reader_client.post("/api/v1/simulate", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == json.loads(manage("--via-node", "node-a1", "--json").stdout)
    bad = reader_client.post("/api/v1/simulate", {**body, "via_node": "node-zz"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "via_node" and bad.json()["error"]["code"] == "unknown"
    clusterip = reader_client.post("/api/v1/simulate", {**body, "to": "clusterip"}, format="json")
    assert clusterip.status_code == 400 and clusterip.json()["error"]["field"] == "via_node"
