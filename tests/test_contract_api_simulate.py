"""Contract: ``POST /api/v1/simulate`` gives the CLI's answer for the same question.

Questions are asked three ways — ``manage.py simulate FILE``, the API with the same dump
inline (``cluster_dump``) and the API with the dump stored (``cluster``) — and the JSON
answers must be equal. A question the CLI refuses (exit 2) is a 400 with the one error
shape naming the field; nothing is ever a 500. Tokens come from ``create_api_token``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from tests.contract import run, small_dump, write

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[1] / "cluster" / "fixtures" / "demo.json"

#: (service, source, to, port, set, proxy_mode) asked of the demo cluster.
DEMO_QUESTIONS = [
    ("shop/checkout", "lb", None, None, {}, None),
    ("shop/checkout", "external:node-a1", None, None, {}, None),
    ("shop/checkout", "pod:node-b1", "loadbalancer", None, {}, None),
    ("shop/checkout", "lb", None, None, {"externalTrafficPolicy": "Cluster"}, None),
    ("shop/cache", "pod:node-c3", None, None, {}, None),
    ("shop/cache", "pod:node-c3", None, None, {"internalTrafficPolicy": "Cluster"}, "ipvs"),
    ("shop/cart", "pod:node-a1", None, None, {"trafficDistribution": "PreferClose"}, "nftables"),
    ("shop/payments", "pod:node-b2", None, None, {"sessionAffinity": "ClientIP"}, None),
    # userspace: refused on this 1.26+ cluster (see BAD_QUESTIONS); iptables named explicitly
    ("default/kubernetes", "pod:node-a1", None, "https", {}, "iptables"),
]


def _cli(path: str, service, source, to, port, sets, mode):
    args = [path, "--service", service, "--source", source, "--json"]
    args += ["--to", to] if to else []
    args += ["--port", port] if port else []
    args += ["--proxy-mode", mode] if mode else []
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return run("simulate", *args)


def _body(service, source, to, port, sets, mode):
    body = {"service": service, "source": source}
    for key, value in (("to", to), ("port", port), ("proxy_mode", mode)):
        if value:
            body[key] = value
    if sets:
        body["set"] = sets
    return body


@pytest.fixture
def token():
    """A reader's token, printed by ``create_api_token --create``."""
    result = run("create_api_token", "reader", "--create")
    assert result.code == 0, result
    return result.out.strip()


@pytest.fixture
def api(token):
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def post(body) -> tuple[int, dict]:
        response = client.post(
            "/api/v1/simulate", json.dumps(body), content_type="application/json"
        )
        return response.status_code, response.json()

    return post


@pytest.mark.parametrize("question", DEMO_QUESTIONS, ids=lambda q: f"{q[0]} {q[1]} {q[5] or ''}")
def test_api_answers_as_the_cli_for_stored_and_inline_dumps(question, api):
    assert run("import_cluster", str(DEMO), "--name", "demo").code == 0
    cli = _cli(str(DEMO), *question)
    assert cli.code == 0, cli
    expected = json.loads(cli.out)
    status, stored = api({"cluster": "demo", **_body(*question)})
    assert status == 200, stored
    assert stored == expected
    status, inline = api({"cluster_dump": json.loads(DEMO.read_text()), **_body(*question)})
    assert status == 200, inline
    assert inline == expected


#: (request changes, field named by the API, a word the CLI's one line carries; the API's
#: message names the word too unless the field's format alone is wrong)
BAD_QUESTIONS = {
    "unknown service": ({"service": "default/nope"}, "service", "nope"),
    "service without namespace": (
        {"service": "web"},
        "service",
        "web",
    ),  # API: "must be namespace/name"
    "unknown node": ({"source": "pod:n9"}, "source", "n9"),
    "pod without node": ({"source": "pod:"}, "source", "pod:"),
    "unknown source kind": ({"source": "foo:bar"}, "source", "foo:bar"),
    "external without node": ({"source": "external:"}, "source", "external:"),
    "unknown port": ({"port": "81"}, "port", "81"),
    "destination unknown": ({"to": "bogus"}, "to", "bogus"),
    "lb to the ClusterIP": ({"source": "lb", "to": "clusterip"}, "to", "lb"),
    "bad set value": (
        {"set": {"internalTrafficPolicy": "Foo"}},
        "set.internalTrafficPolicy",
        "Foo",
    ),
    "unknown set field": ({"set": {"foo": "bar"}}, "set.foo", "foo"),
    "set value newer than the cluster": (
        {"set": {"trafficDistribution": "PreferSameNode"}},
        "set.trafficDistribution",
        "PreferSameNode",
    ),
    # the dump runs 1.30; userspace was removed in 1.26 (CHANGELOG-1.26, #112133)
    "mode removed before the cluster's release": (
        {"proxy_mode": "userspace"},
        "proxy_mode",
        "userspace",
    ),
    "bad proxy mode": ({"proxy_mode": "bogus"}, "proxy_mode", "bogus"),
    "bad IPVS scheduler": ({"ipvs_scheduler": "bogus"}, "ipvs_scheduler", "bogus"),
}


def _cli_args_for(body: dict) -> list[str]:
    args = ["--service", body["service"], "--source", body["source"], "--json"]
    for key, flag in (
        ("to", "--to"),
        ("port", "--port"),
        ("proxy_mode", "--proxy-mode"),
        ("ipvs_scheduler", "--ipvs-scheduler"),
    ):
        if key in body:
            args += [flag, body[key]]
    for key, value in body.get("set", {}).items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.mark.parametrize("change,field,word", BAD_QUESTIONS.values(), ids=BAD_QUESTIONS.keys())
def test_question_the_cli_refuses_is_a_400_naming_the_field(change, field, word, api, tmp_path):
    dump = small_dump()
    body = {"service": "default/web", "source": "pod:n1", **change}
    cli = run("simulate", write(tmp_path, dump), *_cli_args_for(body))
    assert cli.code == 2 and cli.one_line_error and word in cli.err, cli
    status, answer = api({"cluster_dump": dump, **body})
    assert status == 400, answer
    assert answer["error"]["field"] == field, answer
    assert (
        word in answer["error"]["message"]
        or field in ("service", "source")
        and "must be" in answer["error"]["message"]
    ), answer


#: cluster_dump values that are not a usable dump; the API must say so, naming cluster_dump
#: (or the field inside it), never answer 500.
BAD_DUMPS = {
    "a number": 42,
    "a string": "kind: List",
    "null": None,
    "empty list": [],
    "items not a list": {"apiVersion": "v1", "kind": "List", "items": {"a": 1}},
    "object without kind": {"metadata": {"name": "x"}},
    "port as a string": 'mutate:2.spec.ports.0.port="80"',
    "endpoint IP not an address": 'mutate:3.endpoints.0.addresses=["10.0.0.300"]',
    "IPv6 endpoint in an IPv4 slice": 'mutate:3.endpoints.0.addresses=["fd00::1"]',
    "taint as a string": 'mutate:0.spec.taints=["x"]',
    "ingress as a string": 'mutate:2.status.loadBalancer.ingress=["x"]',
    "endpoint zone as a number": "mutate:3.endpoints.0.zone=7",
    "endpoint conditions as a list": "mutate:3.endpoints.0.conditions=[]",
    "owner references as strings": 'mutate:4.metadata.ownerReferences=["rs"]',
}


def _dump_for(value):
    if not (isinstance(value, str) and value.startswith("mutate:")):
        return value
    path, _, raw = value[len("mutate:") :].partition("=")
    dump = small_dump()
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = dump["items"]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = json.loads(raw)
    return dump


@pytest.mark.parametrize("value", BAD_DUMPS.values(), ids=BAD_DUMPS.keys())
def test_malformed_cluster_dump_is_a_400_naming_cluster_dump(value, api):
    status, answer = api(
        {"cluster_dump": _dump_for(value), "service": "default/web", "source": "pod:n1"}
    )
    assert status == 400, answer
    assert answer["error"]["field"] == "cluster_dump", answer


#: Wrong JSON types for every request field.
WRONG_TYPES = {
    "service": 7,
    "source": ["pod:n1"],
    "to": 3,
    "port": {"name": "http"},
    "set": "Local",
    "proxy_mode": True,
    "ipvs_scheduler": 5,
    "seed": "x",
    "kube_version": 1.29,
    "cluster": ["demo"],
}


@pytest.mark.parametrize("field,value", WRONG_TYPES.items(), ids=WRONG_TYPES.keys())
def test_wrong_type_for_a_field_is_a_400_naming_it(field, value, api):
    body = {
        "cluster_dump": small_dump(),
        "service": "default/web",
        "source": "pod:n1",
        field: value,
    }
    if field == "cluster":
        del body["cluster_dump"]
    status, answer = api(body)
    assert status == 400, answer
    assert answer["error"]["field"] == field, answer


def test_unknown_cluster_is_a_400_naming_cluster(api):
    status, answer = api({"cluster": "nope", "service": "default/web", "source": "pod:n1"})
    assert status == 400 and answer["error"]["field"] == "cluster", answer


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b"null", b"42"],
    ids=["empty", "truncated", "array", "null", "number"],
)
def test_body_that_is_not_a_json_object_is_a_4xx(body, token):
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post("/api/v1/simulate", body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert "error" in response.json()


def test_dump_without_nodes_takes_any_node_name_as_the_cli_does(api, tmp_path):
    """`kubectl get svc,endpointslices` has no Node objects: the CLI answers for any node
    name, and the API used to refuse the same question ("no node")."""
    dump = small_dump()
    dump["items"] = [o for o in dump["items"] if o["kind"] != "Node"]
    cli = run(
        "simulate",
        write(tmp_path, dump),
        "--service",
        "default/web",
        "--source",
        "pod:elsewhere",
        "--json",
    )
    assert cli.code == 0, cli
    status, answer = api(
        {"cluster_dump": dump, "service": "default/web", "source": "pod:elsewhere"}
    )
    assert status == 200, answer
    assert answer == json.loads(cli.out)
