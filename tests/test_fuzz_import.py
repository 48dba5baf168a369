"""Fuzz suite for the import side (issue 17): hostile dumps against ``import_cluster``.

The bad-input corpus is generated here (nothing large is stored in the repository) and run
by ``tests/fuzz_import_runner.py``: each input in its own forked process, as a person at a
shell would run ``manage.py import_cluster FILE --name fuzz`` over a stored cluster. For
every input: exit status 2, exactly one line on standard error (no traceback, bounded
length), the stored cluster unchanged (its export and revision compared before and
after), and the child's peak RSS under its ceiling: the RSS it started with plus three
times the input size plus 100 MB. The figures (inputs tried, worst peak memory, worst time)
are printed at the end of the test (``pytest -s`` shows them); set FUZZ_IMPORT_RESULTS=FILE
to keep the per-input results as JSON.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from cluster.testing.workers import database_url_for_tests
from cluster.tests import builders as b
from cluster.tests.test_bounds import alias_bomb

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]
#: The longest acceptable error line (a 1 MB name must not make a 1 MB line).
MAX_LINE = 1100


def _list(*items: dict[str, Any]) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)}).encode()


def _proxy_map(conf: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": conf},
    }


def _node_yaml(spec_lines: str, name: str = "n1") -> bytes:
    return (
        f"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n"
        f"  metadata:\n    name: {name}\n  spec:\n{spec_lines}"
    ).encode()


def _with_meta(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    obj["metadata"].update(meta)
    return obj


def _service_port(**port: Any) -> dict[str, Any]:
    service = b.service()
    service["spec"]["ports"] = [{"port": 80, **port}]
    return service


def _gzip_blanks(mebibytes: int) -> bytes:
    packer = zlib.compressobj(1, wbits=31)
    block = b" " * 1024**2
    return b"".join(packer.compress(block) for _ in range(mebibytes)) + packer.flush()


def _big_dump_bad_at_the_end(field: bytes) -> bytes:
    """A generated 1,500-node / 45,000-pod dump (about 30 MB, valid in every way) whose
    last object ends with ``field``: decoded whole first, it would cost some seven times
    its size before the refusal (issue 17)."""
    from cluster.generator import Shape, generate_cluster

    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=1500, services=3000, pods=45_000, seed=3), out=out)
    text = out.getvalue().encode()
    end = text.rindex(b"}", 0, text.rindex(b"]"))  # the last object's closing brace
    return text[:end] + b', "x": ' + field + text[end:]


def _big_dump_misnamed_at_the_end() -> bytes:
    """The same generated dump with its last object's name one Kubernetes refuses: the
    importer's own checks, not the reader's bounds, refuse it — still within the bound."""
    from cluster.generator import Shape, generate_cluster

    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=1500, services=3000, pods=45_000, seed=3), out=out)
    text = out.getvalue().encode()
    start = text.rindex(b'"name":"') + len(b'"name":"')
    return text[:start] + b"Bad_Name!" + text[text.index(b'"', start) :]


def corpus() -> dict[str, bytes]:
    """label -> file content; every one must be refused with exit 2."""
    node = b.node("n1")
    deep_spec = "[" * 300 + "]" * 300
    cases: dict[str, bytes] = {
        # YAML alias expansion ("billion laughs") in config.conf and in a Node's spec.
        "alias bomb 8 levels in config.conf": _list(
            node, _proxy_map("mode: ipvs\n" + alias_bomb(8))
        ),
        "alias bomb 9 levels in config.conf": _list(
            node, _proxy_map("mode: ipvs\n" + alias_bomb(9))
        ),
        "alias bomb 9 levels in a Node spec": _node_yaml(alias_bomb(9, indent="    ")),
        "alias bomb 12 levels in a Node spec": _node_yaml(alias_bomb(12, indent="    ")),
        "merge-key bomb in a Node spec": _node_yaml(
            "    a0: &a0 {x: 1}\n"
            + "".join(
                f"    a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}]}}\n" for i in range(1, 9)
            )
        ),
        "recursive alias": _node_yaml("    a: &a [*a]\n"),
        "alias bomb in config.conf as YAML dump": (
            "apiVersion: v1\nkind: ConfigMap\n"
            "metadata:\n  name: kube-proxy\n  namespace: kube-system\n"
            "data:\n  config.conf: |\n"
            + "".join(f"    {line}\n" for line in alias_bomb(9).splitlines())
        ).encode(),
        # Strings Python or PostgreSQL cannot store.
        "lone surrogate in a label (JSON)": _list(_with_meta(b.node("n1"), labels={"a": "\ud800"})),
        "lone surrogate in a name (JSON)": _list(_with_meta(b.node("n1"), name="n\udfff1")),
        "lone surrogate in config.conf": _list(node, _proxy_map('mode: ipvs\nx: "\\ud800"\n')),
        "NUL in an annotation": _list(_with_meta(b.node("n1"), annotations={"a": "x\x00y"})),
        # Numbers past Python's 4,300-digit limit, and non-finite ones.
        "5,000-digit integer (JSON)": _list(node).replace(
            b'"n1"', b'"n1", "generation": ' + b"9" * 5000, 1
        ),
        "5,000-digit integer (YAML)": _node_yaml("    x: " + "9" * 5000 + "\n"),
        "5,000-digit integer in config.conf": _list(
            node, _proxy_map("mode: ipvs\nx: " + "9" * 5000 + "\n")
        ),
        "100,000-digit float (JSON)": _list(node).replace(
            b'"n1"', b'"n1", "generation": 1.' + b"5" * 100_000, 1
        ),
        "NaN (JSON)": _list(node).replace(b'"n1"', b'"n1", "generation": NaN', 1),
        "1.0e+999 (YAML)": _node_yaml("    x: 1.0e+999\n"),
        # Sizes.
        "1 MB Service name": _list(b.service("x" * 1_000_000)),
        "1 MB label key": _list(_with_meta(b.node("n1"), labels={"k" * 1_000_000: "v"})),
        "2 MB annotation value": _list(
            _with_meta(b.node("n1"), annotations={"a": "v" * 2_000_000})
        ),
        # Many tiny containers: 25 times their bytes once decoded, refused at the first.
        "3,000,000 empty lists": b"[" + b",".join([b"[]"] * 3_000_000) + b"]",
        "1,000,000 empty mappings in a List": b'{"apiVersion": "v1", "kind": "List", "items": ['
        + b",".join([b"{}"] * 1_000_000)
        + b"]}",
        # Valid-looking large dumps, bad only in their last field: refused within the
        # memory bound (the elements past it are checked, dropped, decoded again later).
        "30 MB dump, 2 MB string in its last field": _big_dump_bad_at_the_end(
            b'"' + b"v" * 2_000_000 + b'"'
        ),
        "30 MB dump, 5,000-digit integer in its last field": _big_dump_bad_at_the_end(b"9" * 5000),
        "30 MB dump, a name Kubernetes refuses in its last object": (
            _big_dump_misnamed_at_the_end()
        ),
        # Nesting.
        "JSON nested 100,000 levels": b"[" * 100_000 + b"]" * 100_000,
        "YAML nested 100,000 levels": b"- " * 100_000 + b"x\n",
        "List nested 3,000 levels": b'{"apiVersion": "v1", "kind": "List", "items": [' * 3000
        + b"]}" * 3000,
        "Node spec nested 300 levels": _list(node).replace(
            b'"spec": {', b'"spec": {"x": ' + deep_spec.encode() + b", ", 1
        ),
        "config.conf nested 300 levels": _list(
            node, _proxy_map("mode: ipvs\nx: " + deep_spec + "\n")
        ),
        # Names and fields Kubernetes refuses.
        "Service named a/b": _list(b.service("a/b")),
        "namespace with an underscore": _list(b.service("web", namespace="shop_1")),
        "label value with a space": _list(_with_meta(b.node("n1"), labels={"app": "a b"})),
        "port 70000": _list(_service_port(port=70000)),
        "protocol HTTP": _list(_service_port(protocol="HTTP")),
        "IP 999.1.1.1": _list(b.service(clusterIP="999.1.1.1", clusterIPs=["999.1.1.1"])),
        # Dumps that would wipe the stored cluster.
        "one Secret": _list(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "namespace": "shop"},
                "data": {"k": "dg=="},
            }
        ),
        "20,000 Events": _list(
            *(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "reason": "Pulled",
                    "metadata": {"name": f"e{i}", "namespace": "shop"},
                }
                for i in range(20_000)
            )
        ),
        "one Node instead of the cluster": _list(b.node("n9", ip="10.0.0.9")),
        "empty List": _list(),
        # Not YAML/JSON a dump can hold.
        "!!binary value": _node_yaml("    x: !!binary aGk=\n"),
        "!!set value": _node_yaml("    x: !!set {a, b}\n"),
        "python tag": b'!!python/object/apply:os.system ["true"]\n',
        "invalid UTF-8": b'{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "\xff\xfe"}}',
        "gzip bomb: 200 MiB of blanks": _gzip_blanks(200),
        "gzip of a 5,000-digit integer": gzip.compress(
            _list(node).replace(b'"n1"', b'"n1", "x": ' + b"7" * 5000, 1)
        ),
    }
    return cases


#: What each refusal must say (a part of its one line): the input is refused for the
#: reason it was built for, not by a later, unrelated check.
EXPECTED = {
    "alias bomb 8 levels in config.conf": "data.config.conf a1[0] is a YAML alias",
    "alias bomb 9 levels in config.conf": "data.config.conf a1[0] is a YAML alias",
    "alias bomb 9 levels in a Node spec": "(Node n1): spec.a1[0] is a YAML alias",
    "alias bomb 12 levels in a Node spec": "(Node n1): spec.a1[0] is a YAML alias",
    "merge-key bomb in a Node spec": "merge keys (<<) are not accepted",
    "recursive alias": "(Node n1): spec.a[0] is a YAML alias",
    "alias bomb in config.conf as YAML dump": "data.config.conf a1[0] is a YAML alias",
    "lone surrogate in a label (JSON)": "metadata.labels.a holds a lone surrogate",
    "lone surrogate in a name (JSON)": "metadata.name holds a lone surrogate",
    "lone surrogate in config.conf": "data.config.conf is not valid YAML",
    "NUL in an annotation": "metadata.annotations.a holds a NUL character",
    "5,000-digit integer (JSON)": "metadata.generation is a number 5,000 characters long",
    "5,000-digit integer (YAML)": "spec.x is a number 5,000 characters long",
    "5,000-digit integer in config.conf": "data.config.conf x is a number 5,000 characters long",
    "100,000-digit float (JSON)": "is a number 100,002 characters long",
    "NaN (JSON)": "metadata.generation is NaN, not a finite number",
    "1.0e+999 (YAML)": "spec.x is inf, not a finite number",
    "1 MB Service name": "(1,000,000 characters) is not a valid Service name",
    "1 MB label key": "(1,000,000 characters) name part must be no more than 63",
    "2 MB annotation value": "metadata.annotations.a is a string of 2,000,000 characters",
    "3,000,000 empty lists": "top level, item 0 is an empty list, not a Kubernetes object",
    "1,000,000 empty mappings in a List": "items[0] is not a Kubernetes object: it has no kind",
    "30 MB dump, 2 MB string in its last field": "x is a string of 2,000,000 characters",
    "30 MB dump, 5,000-digit integer in its last field": "x is a number 5,000 characters long",
    "30 MB dump, a name Kubernetes refuses in its last object": "'Bad_Name!' is not a valid",
    "JSON nested 100,000 levels": "nests too deeply",
    "YAML nested 100,000 levels": "nest",  # libyaml ("exceeded maximum nesting depth") or ours
    "List nested 3,000 levels": "nests too deeply",
    "Node spec nested 300 levels": "nests more than 100 levels deep",
    "config.conf nested 300 levels": "nests more than 100 levels deep",
    "Service named a/b": "metadata.name 'a/b' is not a valid Service name",
    "namespace with an underscore": (
        "metadata.namespace 'shop_1' must be a lowercase RFC 1123 label"
    ),
    "label value with a space": "metadata.labels.app value 'a b'",
    "port 70000": "spec.ports[0].port 70000 is not a port number",
    "protocol HTTP": "spec.ports[0].protocol 'HTTP' is not one of",
    "IP 999.1.1.1": "'999.1.1.1' is not an IP address",
    "one Secret": "holds none of the kinds Routescope stores",
    "20,000 Events": "holds none of the kinds Routescope stores",
    "one Node instead of the cluster": "importing would drop 5 of the 6 objects",
    "empty List": "holds no Kubernetes objects",
    "!!binary value": "spec.x is binary data",
    "!!set value": "spec.x is a set",
    "python tag": "could not determine a constructor",
    "invalid UTF-8": "not UTF-8",
    "gzip bomb: 200 MiB of blanks": "decompresses to more than 100 times its size",
    "gzip of a 5,000-digit integer": "metadata.x is a number 5,000 characters long",
}


def test_hostile_dumps_exit_2_in_one_line_change_nothing_and_stay_bounded(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_bytes(
        _list(*b.small_cluster(), b.kube_proxy_configmap("mode: ipvs\nipvs:\n  scheduler: lc\n"))
    )
    call_command("import_cluster", str(good), "--name", "fuzz", stdout=open(os.devnull, "w"))  # noqa: SIM115

    inputs = []
    cases = corpus()
    for index, (label, content) in enumerate(cases.items()):
        path = tmp_path / f"input-{index}"
        path.write_bytes(content)
        inputs.append([label, str(path), []])
    tried = len(cases)
    del cases  # the test process keeps none of it while the children run
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"cluster": "fuzz", "inputs": inputs}))
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz_import_runner.py"), str(manifest)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    (Path(os.environ.get("FUZZ_IMPORT_RESULTS", os.devnull))).write_text(done.stdout)

    failures = []
    for r in results:
        lines = [line for line in r["stderr"].splitlines() if line.strip()]
        problems = []
        if r["exit"] != 2:
            problems.append(f"exit {r['exit']}")
        if len(lines) != 1 or "Traceback" in r["stderr"]:
            problems.append(f"{len(lines)} stderr lines")
        elif len(lines[0]) > MAX_LINE:
            problems.append(f"a {len(lines[0]):,}-character line")
        elif "not enough memory" in lines[0]:
            problems.append("ran out of memory")
        elif EXPECTED[r["label"]] not in lines[0]:
            problems.append(f"not refused for {EXPECTED[r['label']]!r}")
        if not r["unchanged"]:
            problems.append("stored cluster changed")
        if r["peak_rss"] > r["ceiling"]:
            problems.append(f"peak RSS {r['peak_rss'] >> 20} MB over {r['ceiling'] >> 20} MB")
        if problems:
            failures.append(f"{r['label']}: {', '.join(problems)}: {r['stderr'][-300:]!r}")

    worst_memory = max(results, key=lambda r: r["peak_rss"])
    worst_time = max(results, key=lambda r: r["seconds"])
    with capsys.disabled():
        print(
            f"\nimport fuzz: {len(results)} inputs tried;"
            f" worst peak RSS {worst_memory['peak_rss'] >> 20} MB"
            f" ({worst_memory['label']}, {worst_memory['bytes']:,} bytes; the parent process had"
            f" {worst_memory['baseline_rss'] >> 20} MB); worst time {worst_time['seconds']:.2f} s"
            f" ({worst_time['label']})"
        )
    assert not failures, "\n".join(failures)
    assert len(results) == tried == len(EXPECTED)
