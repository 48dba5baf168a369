"""The OpenAPI schema is a tested artefact: it builds without warnings, validates, and the
API answers what it documents (schemathesis: no 5xx, responses match the schema)."""

from __future__ import annotations

import io
import json

import pytest
import schemathesis
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, settings

pytest_plugins = ["cluster.api.testing"]

# The schema as the server serves it, fetched in-process once; the generated calls then go
# over HTTP to a live server (a real socket, real request parsing, both token kinds).
live_schema = schemathesis.openapi.from_dict(
    json.loads(Client(HTTP_HOST="127.0.0.1").get("/api/schema/?format=json").content)
)

#: Cases per operation and token kind (documented examples and random ones): enough to walk
#: every parameter, small enough for CI (the exhaustive coverage phase alone takes minutes
#: on this API, and CI's whole budget is 20).
EXAMPLES = 10


def test_schema_builds_and_validates_without_warnings():
    out = io.StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    assert '"/api/v1/simulate"' in out.getvalue()


def test_every_operation_documents_its_responses_and_errors():
    import json

    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    spec = json.loads(out.getvalue())
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{method.upper()} {path} documents no success response"
            if code := next((c for c in success if c != "204"), None):
                assert "content" in responses[code], f"{method.upper()} {path}: untyped {code}"
            takes_input = operation.get("parameters") or "requestBody" in operation
            if takes_input and method != "delete":
                assert "400" in responses, f"{method.upper()} {path}: no 400"
            if method in ("post", "put", "patch") and "requestBody" in operation:
                assert operation["requestBody"]["content"], f"{method.upper()} {path}: untyped body"
            if method != "delete":
                assert _examples(operation), f"{method.upper()} {path}: no example"


def _examples(operation):
    """Every example the operation documents (request body and responses)."""
    found = []
    contents = [operation.get("requestBody", {}).get("content", {})]
    contents += [r.get("content", {}) for r in operation["responses"].values()]
    for content in contents:
        for media in content.values():
            found.extend((media.get("examples") or {}).values())
    return found


@pytest.fixture(params=["reader", "operator"])
def api_token(request, transactional_db, small_cluster, operator, reader):
    """A stored cluster, a saved scenario and a finished job for the generated calls to hit,
    and the token of a reader or of an operator (each answers differently: 403 vs 202)."""
    from core.api.tokens import api_token_issue
    from jobs.models import Job
    from jobs.services import job_create, job_finish
    from routing.services import scenario_create

    scenario_create(
        cluster=small_cluster,
        name="fix-cache",
        user=reader,
        changes={"services": {"shop/cache": {"internalTrafficPolicy": "Cluster"}}},
    )
    job_finish(job=job_create(kind=Job.Kind.SYNC, cluster=small_cluster), state=Job.State.SUCCEEDED)
    user = {"reader": reader, "operator": operator}[request.param]
    return {"Authorization": f"Token {api_token_issue(user=user)}"}


@pytest.mark.slow
def test_api_conforms_to_its_schema(api_token, live_server):
    """Over real HTTP (a live server), as a reader and as an operator: no 5xx, and every
    answer matches the schema, for each operation's documented examples and random cases.

    One test per token walks every operation (rather than one test per operation): each
    live-server test empties the database afterwards, which on PostgreSQL costs a second.
    """
    from hypothesis import given
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(), *operation.get_strategies_from_examples())

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            case.call_and_validate(
                base_url=live_server.url,
                headers=api_token,
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            conforms()
        except Exception as error:
            error.add_note(f"operation: {operation.label}")
            raise


RACE = """
import os, threading, django
django.setup()
from django.test import Client
codes, barrier = [], threading.Barrier(6)
def fetch():
    barrier.wait()
    codes.append(Client(HTTP_HOST="127.0.0.1").get("/api/schema/?format=json").status_code)
threads = [threading.Thread(target=fetch) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sorted(codes))
"""


def test_concurrent_first_schema_requests_all_succeed():
    """A fresh process (the schema machinery loads lazily, once) asked six times at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", RACE],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.stdout.strip().splitlines()[-1] == str([200] * 6), done.stderr[-2000:]


def _json_schema(node):
    """OpenAPI 3.0 ``nullable`` -> JSON Schema (what ``jsonschema`` understands)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def test_documented_response_examples_match_their_schemas():
    import json

    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    spec = _json_schema(json.loads(out.getvalue()))
    registry = Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec))
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                for media in response.get("content", {}).values():
                    schema = json.loads(
                        json.dumps(media["schema"]).replace(
                            '"#/components', '"urn:spec#/components'
                        )
                    )
                    for name, example in (media.get("examples") or {}).items():
                        errors = list(
                            jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(
                                example["value"]
                            )
                        )
                        assert not errors, f"{method.upper()} {path} {code} {name}: {errors[0]}"
                        checked += 1
    assert checked >= 20
