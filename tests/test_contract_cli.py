"""Contract: the management commands of DESIGN.md — exit status, one-line errors, shapes.

``simulate`` and ``analyze`` on a FILE need no database (proved by a real process whose
``DATABASE_URL`` points nowhere); every bad input exits 2 with one line on stderr;
``render_rules`` output loads into the real kernel for every real fixture and node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from routing.tests.netns_helpers import scratch_namespace
from tests.contract import REAL, run, small_dump, write

ROOT = Path(__file__).resolve().parents[1]

#: The DESIGN.md answer: key -> allowed JSON types.
ANSWER_KEYS = {
    "service": (str,),
    "port": (str, int),
    "source": (dict,),
    "to": (str,),
    "proxy_mode": (str,),
    "action": (str,),
    "dropped": (float, int),
    "drop_reason": (str, type(None)),
    "client_ip_preserved": (bool,),
    "endpoints": (list,),
    "explain": (list,),
}


def _check_answer(answer: dict) -> None:
    for key, types in ANSWER_KEYS.items():
        assert isinstance(answer[key], types), (key, answer[key])
    assert set(answer["source"]) >= {"kind", "node"}
    assert answer["action"] in ("forward", "drop", "reject")
    for endpoint in answer["endpoints"]:
        assert set(endpoint) >= {"ip", "node", "zone", "share"} and endpoint["share"] > 0
    assert abs(answer["dropped"] + sum(e["share"] for e in answer["endpoints"]) - 1) < 1e-9


def test_simulate_runs_without_a_database_and_reads_stdin(tmp_path):
    """A real process: the database URL names a directory that does not exist."""
    env = {**os.environ, "DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "-",
            "--service",
            "default/web",
            "--source",
            "pod:n1",
            "--json",
        ],
        input=json.dumps(small_dump()),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    _check_answer(answer)
    assert answer["service"] == "default/web" and answer["source"] == {"kind": "pod", "node": "n1"}
    bad = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "-",
            "--service",
            "default/nope",
            "--source",
            "pod:n1",
            "--json",
        ],
        input=json.dumps(small_dump()),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "Traceback" not in bad.stderr and "nope" in bad.stderr


def test_analyze_runs_without_a_database(tmp_path):
    env = {**os.environ, "DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}
    path = write(tmp_path, small_dump())
    proc = subprocess.run(
        [sys.executable, "manage.py", "analyze", path, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), dict)


def test_simulate_answers_every_source_and_destination(tmp_path):
    path = write(tmp_path, small_dump())
    for source, to in (
        ("pod:n1", None),
        ("pod:n2", "nodeport"),
        ("pod:n1", "loadbalancer"),
        ("pod:n2", "externalip"),
        ("external:n1", None),
        ("external:n2", "loadbalancer"),
        ("external:n1", "externalip"),
        ("lb", None),
        ("lb", "nodeport"),
    ):
        result = run(
            "simulate",
            path,
            "--service",
            "default/web",
            "--source",
            source,
            "--json",
            *(["--to", to] if to else []),
        )
        assert result.code == 0, (source, to, result)
        answer = json.loads(result.out)
        _check_answer(answer)
        assert answer["to"] == (
            to
            or {"pod": "clusterip", "external": "nodeport", "lb": "loadbalancer"}[
                source.split(":")[0]
            ]
        )


def test_simulate_all_drop_exits_0(tmp_path):
    dump = small_dump()
    dump["items"][3]["endpoints"] = [dump["items"][3]["endpoints"][0]]  # only n1 hosts one
    result = run(
        "simulate",
        write(tmp_path, dump),
        "--service",
        "default/web",
        "--source",
        "external:n2",
        "--proxy-mode",
        "iptables",
        "--json",
    )  # eTP=Local and no endpoint on n2
    assert result.code == 0, result
    answer = json.loads(result.out)
    _check_answer(answer)
    assert answer["action"] == "drop" and answer["dropped"] == 1.0 and answer["endpoints"] == []


SIMULATE_BAD = {
    "unknown service": (["--service", "default/nope", "--source", "pod:n1"], "nope"),
    "unknown node": (["--service", "default/web", "--source", "pod:n9"], "n9"),
    "unknown port": (["--service", "default/web", "--source", "pod:n1", "--port", "81"], "81"),
    "pod without node": (["--service", "default/web", "--source", "pod:"], "pod:"),
    "unknown source kind": (["--service", "default/web", "--source", "foo:bar"], "foo:bar"),
    "external without node": (["--service", "default/web", "--source", "external:"], "external:"),
    "lb with a node": (["--service", "default/web", "--source", "lb:n1"], "lb:n1"),
    "lb to the ClusterIP": (
        ["--service", "default/web", "--source", "lb", "--to", "clusterip"],
        "lb",
    ),
    "unknown destination": (
        ["--service", "default/web", "--source", "pod:n1", "--to", "bogus"],
        "bogus",
    ),
    "bad set value": (
        ["--service", "default/web", "--source", "pod:n1", "--set", "internalTrafficPolicy=Foo"],
        "Foo",
    ),
    "unknown set field": (
        ["--service", "default/web", "--source", "pod:n1", "--set", "foo=bar"],
        "foo",
    ),
    "set without =": (
        ["--service", "default/web", "--source", "pod:n1", "--set", "Local"],
        "Local",
    ),
    "bad proxy mode": (
        ["--service", "default/web", "--source", "pod:n1", "--proxy-mode", "bogus"],
        "bogus",
    ),
    # the dump runs 1.30; the userspace proxier was removed in 1.26 (CHANGELOG-1.26)
    "userspace on 1.30": (
        ["--service", "default/web", "--source", "pod:n1", "--proxy-mode", "userspace"],
        "removed after Kubernetes 1.25",
    ),
    "bad IPVS scheduler": (
        ["--service", "default/web", "--source", "pod:n1", "--ipvs-scheduler", "bogus"],
        "bogus",
    ),
    "missing --service": (["--source", "pod:n1"], "--service"),
}


@pytest.mark.parametrize("args,word", SIMULATE_BAD.values(), ids=SIMULATE_BAD.keys())
def test_simulate_bad_question_exits_2_in_one_line(args, word, tmp_path):
    result = run("simulate", write(tmp_path, small_dump()), *args, "--json")
    assert result.code == 2 and result.one_line_error and word in result.err, result


@pytest.mark.parametrize(
    "content,word",
    [
        (None, "cannot read"),
        (b"{", "invalid JSON"),
        (b"\x00\xff", "UTF-8"),
        (
            b'{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},'
            b' "spec": {"taints": ["x"]}}',
            "spec.taints[0]",
        ),
    ],
    ids=["missing file", "truncated", "binary", "malformed field"],
)
def test_simulate_and_analyze_and_render_rules_refuse_a_bad_file_in_one_line(
    content, word, tmp_path
):
    path = str(tmp_path / "missing.json") if content is None else write(tmp_path, content)
    for command, args in (
        ("simulate", ["--service", "default/web", "--source", "pod:n1", "--json"]),
        ("analyze", ["--json"]),
        ("render_rules", ["--node", "n1", "--mode", "iptables"]),
    ):
        result = run(command, path, *args)
        assert result.code == 2 and result.one_line_error and word in result.err, (command, result)


@pytest.mark.parametrize(
    "args,word",
    [
        (["--node", "n9", "--mode", "iptables"], "n9"),
        (["--node", "n1", "--mode", "bogus"], "bogus"),
        (["--mode", "iptables"], "--node"),
        (["--node", "n1", "--mode", "iptables", "--service", "default/nope"], "nope"),
        (["--node", "n1", "--mode", "iptables", "--set", "foo=bar"], "foo"),
    ],
    ids=["unknown node", "unknown mode", "missing --node", "unknown service", "bad set"],
)
def test_render_rules_bad_input_exits_2_in_one_line(args, word, tmp_path):
    result = run("render_rules", write(tmp_path, small_dump()), *args)
    assert result.code == 2 and result.one_line_error and word in result.err, result


def test_render_rules_accepts_a_node_of_a_dump_without_node_objects(tmp_path):
    """As simulate does: `kubectl get svc,endpointslices` has no Nodes, yet endpoints name them."""
    dump = small_dump()
    dump["items"] = [o for o in dump["items"] if o["kind"] != "Node"]
    path = write(tmp_path, dump)
    rules = run("render_rules", path, "--node", "n2", "--mode", "iptables")
    assert rules.code == 0, rules
    assert "10.244.2.5:8080" in rules.out
    answer = run("simulate", path, "--service", "default/web", "--source", "pod:n2", "--json")
    assert answer.code == 0, answer


def _nodes_of(path: Path) -> list[str]:
    from cluster.kube_dump import read_objects
    from routing.engine.kube import snapshot_from_objects

    snapshot = snapshot_from_objects(read_objects(path))
    named = {
        ep.node
        for ports in snapshot.endpoint_index.values()
        for eps in ports.values()
        for ep in eps
        if ep.node
    }
    return sorted(snapshot.nodes) or sorted(named | {"any-node"})


@pytest.mark.netns
def test_rendered_rules_of_every_real_fixture_and_node_load_into_the_kernel():
    from cluster.kube_dump import read_objects
    from routing.engine.kube import snapshot_from_objects
    from routing.engine.rules import render_node_rules

    with scratch_namespace() as ns:
        for path in REAL:
            snapshot = snapshot_from_objects(read_objects(path))
            for node in _nodes_of(path):
                for mode, check in (
                    ("iptables", ["iptables-restore", "--test"]),
                    ("nftables", ["nft", "-c", "-f", "-"]),
                ):
                    text = render_node_rules(snapshot, node, mode).text
                    proc = subprocess.run(
                        ["ip", "netns", "exec", ns, *check],
                        input=text,
                        text=True,
                        capture_output=True,
                    )
                    assert proc.returncode == 0, (path.name, node, mode, proc.stderr)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args,word",
    [
        (["x"], "--kubeconfig"),
        (
            ["x", "--kubeconfig", "/nonexistent/kubeconfig", "--context", "c"],
            "/nonexistent/kubeconfig",
        ),
        (["x", "--kubeconfig", "KUBECONFIG", "--context", "nope"], "nope"),
        (
            ["x", "--kubeconfig", "KUBECONFIG", "--context", "c", "--sync-every", "-5"],
            "--sync-every",
        ),
    ],
    ids=["no kubeconfig", "missing kubeconfig", "unknown context", "negative interval"],
)
def test_add_cluster_bad_input_exits_2_in_one_line(args, word, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    result = run("add_cluster", *[str(kubeconfig) if a == "KUBECONFIG" else a for a in args])
    assert result.code == 2 and result.one_line_error and word in result.err, result


@pytest.mark.django_db
def test_sync_cluster_of_an_unknown_or_imported_cluster_exits_2(tmp_path):
    unknown = run("sync_cluster", "nope")
    assert unknown.code == 2 and unknown.one_line_error and "nope" in unknown.err, unknown
    assert run("import_cluster", write(tmp_path, small_dump()), "--name", "dump").code == 0
    imported = run("sync_cluster", "dump")
    assert imported.code == 2 and imported.one_line_error and "imported" in imported.err, imported


@pytest.mark.django_db
def test_analyze_of_an_unknown_cluster_and_a_stored_one():
    unknown = run("analyze", "--cluster", "nope", "--json")
    assert unknown.code == 2 and unknown.one_line_error and "nope" in unknown.err, unknown
    assert run("load_demo").code == 0
    report = run("analyze", "--cluster", "demo", "--json")
    assert report.code == 0, report
    assert json.loads(report.out)


@pytest.mark.django_db
def test_create_api_token_unknown_user_exits_2_and_prints_only_the_key_otherwise():
    missing = run("create_api_token", "nobody")
    assert missing.code == 2 and missing.one_line_error and "nobody" in missing.err, missing
    created = run("create_api_token", "someone", "--create")
    assert (
        created.code == 0 and len(created.out.split()) == 1 and len(created.out.strip()) >= 20
    ), created
    # Only a hash is stored, so a key is printed once: a second run prints a new token,
    # and both work until they expire (or --rotate revokes the others).
    again = run("create_api_token", "someone")
    assert again.code == 0 and len(again.out.split()) == 1 and again.out != created.out, again


@pytest.mark.django_db
def test_generate_cluster_small_imports_and_bad_sizes_exit_2(tmp_path):
    path = str(tmp_path / "gen.json")
    made = run(
        "generate_cluster",
        "--nodes",
        "4",
        "--services",
        "3",
        "--pods",
        "12",
        "--zones",
        "2",
        "--seed",
        "7",
        "-o",
        path,
    )
    assert made.code == 0, made
    assert run("import_cluster", path, "--name", "gen").code == 0
    for args in (["--nodes", "0"], ["--zones", "0"], ["--pods", "-1"]):
        bad = run("generate_cluster", *args, "-o", path)
        assert bad.code == 2 and bad.one_line_error, (args, bad)
    unwritable = run("generate_cluster", "--nodes", "2", "-o", str(tmp_path / "no" / "dir.json"))
    assert unwritable.code == 2 and unwritable.one_line_error, unwritable
