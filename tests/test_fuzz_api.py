"""Hostile input against the API: a generated corpus of bad bodies, queries and paths.

Every case must be answered 4xx (never 5xx, never a cut connection) in the API's error shape
with a one-line message of bounded length, within a memory ceiling, and leave the stored
state exactly as it was (the cluster exported before and after, and every row count).
The corpus is generated here (big inputs are never stored); its figures are printed at the
end of each test (``pytest -s``).
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

pytest_plugins = ["cluster.api.testing"]

MB = 1024**2
#: Bodies from this size up have their peak memory traced (and bounded).
TRACE_FROM = 64 * 1024
LIST_PATHS = (
    "clusters",
    "nodes",
    "services",
    "endpoint-slices",
    "endpoints",
    "pods",
    "jobs",
    "sync-runs",
    "audit-entries",
    "scenarios",
)


@dataclass(frozen=True)
class Case:
    """One hostile request: who sends it, and what."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str = "application/json"
    who: str = "reader"  # anon | reader | operator
    expect: tuple[int, ...] = ()  # exact statuses, when the test knows them
    allow_ok: bool = False  # a 2xx is a fine answer too (a filter that matches nothing)


def _nested(depth: int, *, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def _simulate(body: str | bytes, name: str, **kw: Any) -> Case:
    raw = body.encode() if isinstance(body, str) else body
    return Case(name, "POST", "/api/v1/simulate", raw, **kw)


def _simulate_json(fields: dict[str, Any], name: str, **kw: Any) -> Case:
    body = {"cluster": "small", "service": "shop/web", "source": "pod:n1", **fields}
    return _simulate(json.dumps({k: v for k, v in body.items() if v is not ...}), name, **kw)


def simulate_cases() -> Iterator[Case]:
    """Bodies for POST /api/v1/simulate: structure, size, types, encodings."""
    for depth in (65, 200, 949, 950, 1000, 5000, 100_000):
        yield _simulate(
            '{"cluster_dump": ' + _nested(depth) + ', "service": "a/b", "source": "lb"}',
            f"list nested {depth}",
            expect=(400,),
        )
        yield _simulate(
            _nested(depth, opener='{"a":', closer="}"), f"object nested {depth}", expect=(400,)
        )
    yield _simulate(
        '{"seed": %s, "service": "a/b", "source": "lb"}' % ("9" * 5000),
        "integer of 5000 digits",
        expect=(400,),
    )
    yield _simulate(
        '{"seed": 1e999, "service": "a/b", "source": "lb"}', "float overflow", expect=(400,)
    )
    for literal in ("NaN", "Infinity", "-Infinity"):
        yield _simulate(
            '{"seed": ' + literal + ', "cluster": "small", "service": "shop/web", "source": "lb"}',
            f"literal {literal}",
            expect=(400,),
        )
    yield _simulate(
        '{"cluster": "small", "service": "shop/\\ud800", "source": "pod:n1"}',
        "lone surrogate",
        expect=(400,),
    )
    yield _simulate(b'{"cluster": "\xff\xfe"}', "invalid UTF-8", expect=(400,))
    yield _simulate(b"\x00" * 64, "NUL bytes", expect=(400,))
    yield _simulate("", "empty body", expect=(400,))
    yield _simulate("[]", "a list, not an object", expect=(400,))
    yield _simulate('"just a string"', "a bare string", expect=(400,))
    yield _simulate("{" * 3, "truncated", expect=(400,))
    yield _simulate(
        '{"cluster": "small"}', "plain text body", content_type="text/plain", expect=(415,)
    )
    yield _simulate(
        "a=b", "form body", content_type="application/x-www-form-urlencoded", expect=(400,)
    )
    yield _simulate(
        "--x--", "broken multipart", content_type="multipart/form-data; boundary=x", expect=(400,)
    )
    yield _simulate_json({"k" * 100_000: 1}, "100 kB unknown key", expect=(400,))
    yield _simulate_json({"cluster": "c" * 100_000}, "100 kB cluster name", expect=(400,))
    yield _simulate_json({"cluster": "%"}, "cluster named %", expect=(400,))
    yield _simulate_json({"cluster": "\x00"}, "cluster named NUL", expect=(400,))
    bad_values: dict[str, list[Any]] = {
        "service": [1, None, [], {}, "a", "a/b/c", "%/%", "/", " / ", "x" * 10_000],
        "source": [1, None, "pod:", "node:n1", "lb:x", "pod:n1 x", ["lb"]],
        "to": ["moon", 1, {}],
        "port": [{}, [], 2**80, -1],
        "set": [
            [],
            "Local",
            {"internalTrafficPolicy": "Sideways"},
            {"x": 1},
            {"sessionAffinity": ["ClientIP"]},
        ],
        "proxy_mode": ["kernelspace", 1],
        "ipvs_scheduler": ["random", []],
        "kube_version": [1.3, "one", "1." + "9" * 5000],
        "seed": [-1, 2**64, "x", 1.5, True],
    }
    for field, values in bad_values.items():
        for value in values:
            yield _simulate_json({field: value}, f"{field}={json.dumps(value)[:40]}", expect=(400,))
    yield _simulate_json({"cluster": ..., "cluster_dump": {}}, "empty inline dump", expect=(400,))
    yield _simulate_json(
        {"cluster_dump": {"kind": "List", "items": [[[]]] * 3}},
        "both cluster and dump",
        expect=(400,),
    )
    dump: Any
    for dump in (
        "x",
        1,
        None,
        [],
        {"kind": "List", "items": "x"},
        {"kind": "List", "items": [{"kind": "Service"}]},
        {"kind": "List", "items": [{"kind": "Pod", "metadata": "m"}]},
        {"kind": "Service", "metadata": {"name": "\ud800"}},
    ):
        yield _simulate_json(
            {"cluster": ..., "cluster_dump": dump}, f"dump {json.dumps(dump)[:40]}", expect=(400,)
        )
    many = {
        "kind": "List",
        "items": [{"kind": "ConfigMap", "metadata": {"name": f"c{i}"}} for i in range(2001)],
    }
    yield _simulate_json(
        {"cluster": ..., "cluster_dump": many},
        "anonymous dump of 2001 objects",
        who="anon",
        expect=(413,),
    )
    yield _simulate("x" * (MB + 1), "anonymous body over 1 MB", who="anon", expect=(413,))
    yield _simulate(
        '{"cluster_dump": "%s"}' % ("x" * (2 * MB)),
        "anonymous 2 MB dump",
        who="anon",
        expect=(413,),
    )


def query_cases() -> Iterator[Case]:
    """Query strings and paths of the read API."""
    bad_values = [
        "%",
        "%%",
        "-1",
        "9" * 30,
        " ",
        "x" * 5000,
        "[]",
        "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    ]
    for path in LIST_PATHS:
        for param in ("limit", "offset"):
            for value in ("-1", "9223372036854775808", "1e400", "abc"):
                yield Case(
                    f"{path}?{param}={value[:20]}",
                    "GET",
                    f"/api/v1/{path}?{param}={value}",
                    expect=(400,),
                )
    for path, params in {
        "endpoints": ("service", "cluster", "ready", "node", "ordering", "q"),
        "endpoint-slices": ("service", "address_type", "service_missing"),
        "services": ("type", "internal_traffic_policy", "ordering", "q", "namespace"),
        "pods": ("ip", "phase", "ready", "ordering"),
        "nodes": ("ready", "zone", "ordering"),
        "jobs": ("kind", "state", "active", "cluster"),
        "audit-entries": ("job", "action", "result", "name"),
        "sync-runs": ("status", "mode", "cluster"),
        "scenarios": ("cluster", "name"),
    }.items():
        for param in params:
            for value in bad_values:
                yield Case(
                    f"{path}?{param}={value[:20]!r}",
                    "GET",
                    f"/api/v1/{path}?{param}={_quote(value)}",
                    allow_ok=True,
                )
    for path in (
        "nodes",
        "services",
        "pods",
        "endpoints",
        "jobs",
        "scenarios",
        "sync-runs",
        "audit-entries",
        "endpoint-slices",
    ):
        for key in ("99999999999999999999999", "-1", "1e400", "%25", "x" * 300):
            yield Case(f"{path}/{key[:20]}", "GET", f"/api/v1/{path}/{key}", expect=(404,))
    for key in ("%25", "..", "x" * 300):
        yield Case(
            f"clusters/{key[:20]}/analysis",
            "GET",
            f"/api/v1/clusters/{key}/analysis",
            expect=(404,),
        )
    for path in (
        "clusters/%00",
        "clusters/%00/analysis",
        "clusters/small/rules?node=%00",
        "pods?cluster=%00",
        "scenarios?cluster=%00",
        "nodes?zone=a%00b",
    ):
        yield Case(f"NUL in {path}", "GET", f"/api/v1/{path}", expect=(400,))
    for value in ("-1", "9" * 30, "x", "1e400"):
        for param in ("limit", "offset", "max_findings"):
            # A far offset is an empty page (200), not an error.
            yield Case(
                f"analysis?{param}={value[:20]}",
                "GET",
                f"/api/v1/clusters/small/analysis?{param}={value}",
                expect=(400,),
                allow_ok=param == "offset" and value == "9" * 30,
            )
    for node in ("x" * 300, "%25"):
        yield Case(
            f"rules?node={node[:20]}",
            "GET",
            f"/api/v1/clusters/small/rules?node={node}",
            expect=(400,),
        )


def write_cases() -> Iterator[Case]:
    """Bodies for the endpoints that write: scenarios, apply, rollback, sync."""
    bodies = [
        b"",
        b"[]",
        b"null",
        b'"x"',
        b"{" * 2,
        _nested(2000).encode(),
        b'{"name": "\\ud800", "cluster": "small", "changes": {}}',
        b'{"name": "%s", "cluster": "small", "changes": {}}' % (b"n" * 100_000),
        b'{"name": "x", "cluster": "small", "changes": {"services": {"%": {}}}}',
        b'{"name": "x", "cluster": "small", "changes": {"scale": {"a/b": 1e400}}}',
        b'{"name": "x", "cluster": "small", "changes": {"nodes_down": "n1"}}',
        b'{"name": "x", "cluster": "\\u0000", "changes": {}}',
        b'{"name": "x", "cluster": "small", "changes": [], "id": 7}',
        b'{"name": "x", "cluster": "small", "changes": {"scale": {"a/b": 99999999999}}}',
    ]
    for index, body in enumerate(bodies):
        yield Case(f"create scenario #{index}", "POST", "/api/v1/scenarios", body, expect=(400,))
        yield Case(
            f"update scenario #{index}", "PUT", "/api/v1/scenarios/{scenario}", body, expect=(400,)
        )
        yield Case(
            f"preview #{index}",
            "POST",
            "/api/v1/scenarios/{scenario}/preview",
            body,
            # An empty body (also [] or null) previews everything the scenario touches.
            expect=(400,),
            allow_ok=body in (b"", b"[]", b"null"),
        )
        yield Case(
            f"apply #{index}",
            "POST",
            "/api/v1/scenarios/{scenario}/apply",
            body,
            who="operator",
            expect=(400,),
        )
        yield Case(
            f"rollback #{index}",
            "POST",
            "/api/v1/jobs/{job}/rollback",
            body,
            who="operator",
            expect=(400,),
        )
    yield Case(
        "sync of an imported cluster",
        "POST",
        "/api/v1/clusters/small/sync",
        b"",
        who="operator",
        expect=(409,),
    )
    yield Case("anonymous scenario", "POST", "/api/v1/scenarios", b"{}", who="anon", expect=(401,))


def _quote(value: str) -> str:
    from urllib.parse import quote

    return value if value.startswith("%") else quote(value, safe="")


#: Rows a read may write because they are computed from the stored state, never input.
DERIVED = frozenset({"routing.ClusterAnalysis", "routing.AnalysisPart"})


def _state() -> dict[str, Any]:
    """Everything a hostile request could change: the exported cluster and row counts."""
    from django.apps import apps

    from core.models import ApiToken

    out = io.StringIO()
    call_command("export_cluster", "small", stdout=out)
    counts = {
        model._meta.label: model._default_manager.count()
        for app in ("cluster", "routing", "jobs")
        for model in apps.get_app_config(app).get_models()
        # Derived, not stored state: the first read of a revision stores its analysis.
        if model._meta.label not in DERIVED
    }
    return {"export": out.getvalue(), "counts": counts, "tokens": ApiToken.objects.count()}


@dataclass
class Figures:
    """What the corpus cost: inputs tried, worst peak memory, worst time."""

    tried: int = 0
    worst_peak: int = 0
    worst_peak_case: str = ""
    worst_seconds: float = 0.0
    worst_seconds_case: str = ""

    def show(self, title: str) -> None:
        print(
            f"\n{title}: {self.tried} inputs; worst peak {self.worst_peak / MB:.1f} MB "
            f"({self.worst_peak_case}); worst time {self.worst_seconds:.2f}s "
            f"({self.worst_seconds_case})"
        )


def _check(case: Case, send: Callable[[Case], Any], figures: Figures) -> list[str]:
    """Send one case; return what was wrong with the answer (empty: all good)."""
    traced = len(case.body or b"") >= TRACE_FROM  # tracing slows Python down: big inputs only
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        response = send(case)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        if traced:
            tracemalloc.stop()
    figures.tried += 1
    if peak > figures.worst_peak:
        figures.worst_peak, figures.worst_peak_case = peak, case.name
    if seconds > figures.worst_seconds:
        figures.worst_seconds, figures.worst_seconds_case = seconds, case.name
    problems = []
    size = len(case.body or b"") + len(case.path)
    if peak > 3 * size + 100 * MB:
        problems.append(f"peak memory {peak / MB:.0f} MB for a {size}-byte input")
    status = response.status_code
    if status < 400 and case.allow_ok:
        return problems
    if not 400 <= status < 500 or (case.expect and status not in case.expect):
        problems.append(
            f"status {status} (wanted {case.expect or '4xx'}): " f"{response.content[:300]!r}"
        )
        return problems
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return problems + [f"not the error shape: {response.content[:300]!r}"]
    if set(error) != {"code", "message", "field", "details"}:
        problems.append(f"error keys {sorted(error)}")
    message = str(error.get("message"))
    if "\n" in message or len(message) > 300 or not message:
        problems.append(f"message not one short line ({len(message)} chars)")
    return problems


def _run(cases: list[Case], send: Callable[[Case], Any], title: str) -> None:
    send(Case("warm-up", "GET", "/api/v1/clusters/small"))  # imports are not the input's cost
    before = _state()
    figures = Figures()
    failures: list[str] = []
    for case in cases:
        problems = _check(case, send, figures)
        failures.extend(f"{case.who} {case.method} {case.name}: {p}" for p in problems)
    figures.show(title)
    assert not failures, "\n".join(failures[:40])
    assert _state() == before, "a refused request changed the stored state"


def _sender(clients: dict[str, Any], fill: dict[str, Any]) -> Callable[[Case], Any]:
    def send(case: Case) -> Any:
        client = clients[case.who]
        path = case.path.format(**fill)
        call = getattr(client, case.method.lower())
        if case.body is None:
            return call(path)
        return call(path, data=case.body, content_type=case.content_type)

    return send


@pytest.fixture
def targets(small_cluster, reader, operator, anon_client, reader_client, operator_client):
    """Clients per caller kind, and a saved scenario and finished apply job to aim at."""
    from jobs.models import Job
    from jobs.services import job_create, job_finish
    from routing.services import scenario_create

    scenario = scenario_create(
        cluster=small_cluster,
        name="fix-cache",
        user=reader,
        changes={"services": {"shop/cache": {"internalTrafficPolicy": "Cluster"}}},
    )
    job = job_finish(
        job=job_create(kind=Job.Kind.APPLY, cluster=small_cluster), state=Job.State.SUCCEEDED
    )
    # The test client has no throttle of its own: lift the rates for the corpus.
    rates = {"anon": "100000/minute", "user": "100000/minute"}
    clients = {"anon": anon_client, "reader": reader_client, "operator": operator_client}
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        yield _sender(clients, {"scenario": scenario.pk, "job": job.pk})


def _rest_framework() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)


def test_hostile_simulate_bodies_are_4xx_and_change_nothing(targets):
    _run(list(simulate_cases()), targets, "simulate bodies")


def test_hostile_queries_and_paths_are_4xx(targets):
    _run(list(query_cases()), targets, "queries and paths")


def test_hostile_writes_are_4xx_and_change_nothing(targets):
    _run(list(write_cases()), targets, "write bodies")


def test_authenticated_body_limit_is_a_413_in_the_error_shape(targets):
    with override_settings(ROUTESCOPE_API_MAX_BODY_BYTES=64 * 1024):
        case = _simulate_json(
            {"cluster_dump": "x" * 100_000}, "over the authenticated limit", expect=(413,)
        )
        _run([case], targets, "authenticated limit")


def test_endpoint_without_target_is_null_and_the_schema_says_it_may_be(
    reader_client, small_objects
):
    from cluster.models import Endpoint
    from cluster.services import cluster_import

    slice_ = next(o for o in small_objects if o["kind"] == "EndpointSlice")
    for endpoint in slice_["endpoints"]:
        endpoint.pop("targetRef")
    cluster_import(name="untargeted", objects=small_objects)
    endpoint = Endpoint.objects.filter(cluster__name="untargeted", target_name="").first()
    assert reader_client.get(f"/api/v1/endpoints/{endpoint.pk}").json()["target"] is None
    spec = json.loads(reader_client.get("/api/schema/?format=json").content)
    assert spec["components"]["schemas"]["Endpoint"]["properties"]["target"]["nullable"] is True
