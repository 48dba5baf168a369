"""One what-if, three doors, the same numbers.

For every Service of the demo cluster (``cluster/fixtures/demo.json``) and every value of
every what-if field (the field table ``routing.engine.whatif_fields.FIELDS``), ask:

- the API: ``POST /api/v1/scenarios`` then ``POST /api/v1/scenarios/{id}/preview``, and
  ``POST /api/v1/simulate`` with ``set``;
- the what-if page's preview fragment (htmx ``GET /clusters/demo/what-if/``);
- the CLI: ``manage.py simulate cluster/fixtures/demo.json ... --set FIELD=VALUE --json``;

and check they agree: the page's node-weighted figures per way in equal the API preview's
``entries``, each source group's diff equals the API's, and for one source per way in the
CLI answer equals the API simulate answer equals the preview's "after". A what-if one door
refuses, every door refuses, naming the same field with the same one-line reason.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from dashboard.forms import UNSET, param_of
from routing.engine.whatif_fields import FIELDS, WhatIfField

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "cluster" / "fixtures" / "demo.json"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _demo_services() -> list[str]:
    items = json.loads(DEMO.read_text())["items"]
    return sorted(
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in items
        if o["kind"] == "Service"
    )


def _values(spec: WhatIfField) -> list[Any]:
    """Every value of a field: each choice (with the unset value), or a number's bounds
    and one value between."""
    if spec.kind is int:
        return [spec.minimum, 600, spec.maximum]
    return list(spec.choices)


CASES = [(spec, value) for spec in FIELDS for value in _values(spec)]


@pytest.fixture
def demo(db: Any) -> Any:
    from cluster.models import Cluster
    from routing.reports import report_cache_clear
    from routing.snapshots import snapshot_cache_clear

    snapshot_cache_clear()
    report_cache_clear()
    call_command("load_demo", verbosity=0)
    yield Cluster.objects.get(name="demo")
    snapshot_cache_clear()
    report_cache_clear()


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("simulate", str(DEMO), *args, "--json", stdout=out)
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out.getvalue()


def _page(client: Client, key: str, spec: WhatIfField, value: Any) -> Any:
    shown = UNSET if spec.unset is not None and value == spec.unset else value
    response = client.get(
        reverse("dashboard:whatif", args=["demo"]), {"service": key, param_of(spec): shown}, **HTMX
    )
    assert response.status_code == 200
    return response.context


def _page_entries(context: Any) -> list[dict[str, Any]]:
    """The page's figures, rounded as the API rounds them."""
    return [
        {
            "entry": d.before.key,
            "port": d.before.port,
            "to": d.before.to,
            "nodes": d.before.nodes_total,
            "dropped": {"before": round(d.before.dropped, 6), "after": round(d.after.dropped, 6)},
            "effective_dropped": {
                "before": round(d.before.effective_dropped, 6),
                "after": round(d.after.effective_dropped, 6),
            },
            "newly_dropped": round(d.newly_dropped, 6),
            "stops_dropping": round(d.stops_dropping, 6),
            "moved": [
                {"ip": ip, "before": round(b, 6), "after": round(a, 6), "change": round(a - b, 6)}
                for ip, b, a in d.moved
            ],
            "changed": d.changed,
        }
        for d, *_views in context["compared"]
    ]


def _brief(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        k: answer[k]
        for k in (
            "action",
            "outcome",
            "dropped",
            "effective_dropped",
            "drop_reason",
            "client_ip_preserved",
            "endpoints",
            "explain",
            "proxy_mode",
        )
    }


@pytest.mark.parametrize("key", _demo_services())
def test_api_page_and_cli_give_the_same_numbers(
    key: str, demo: Any, reader_client: Any, client: Client
) -> None:
    for spec, value in CASES:
        case = f"{key} {spec.name}={value!r}"
        created = reader_client.post(
            "/api/v1/scenarios",
            {"name": case, "cluster": "demo", "changes": {"services": {key: {spec.name: value}}}},
            format="json",
        )
        context = _page(client, key, spec, value)
        if created.status_code != 201:
            simulated = reader_client.post(
                "/api/v1/simulate",
                {
                    "cluster": "demo",
                    "service": key,
                    "source": "pod:node-a1",
                    "set": {spec.name: value},
                },
                format="json",
            )
            code, cli = _cli(
                "--service", key, "--source", "pod:node-a1", "--set", f"{spec.name}={value}"
            )
            # Refused: every door refuses, for the same field and in the same words.
            error = created.json()["error"]
            assert error["field"] == f"changes.services.{key}.{spec.name}", case
            reason = error["message"].split(": ", 1)[1]
            assert context["error"] == reason, case
            assert simulated.status_code == 400, case
            assert simulated.json()["error"] == {
                **simulated.json()["error"],
                "field": f"set.{spec.name}",
                "code": error["code"],
                "message": f"set.{spec.name}: {reason}",
            }, case
            assert code == 2 and cli == reason, case
            continue
        preview = reader_client.post(
            f"/api/v1/scenarios/{created.json()['id']}/preview", {"services": [key]}, format="json"
        )
        assert preview.status_code == 200, case
        (row,) = preview.json()["services"]
        if context.get("not_proxied"):
            # kube-proxy leaves it alone (ExternalName, headless): no way in to compare. The
            # page and the preview say why; simulate answers what DNS returns, the same in
            # the CLI and the API, and gives the same reason.
            reason = context["not_proxied"].reason.message
            assert row["questions"] == [] and row["entries"] == [] and row["error"] == reason, case
            code, cli = _cli(
                "--service", key, "--source", "pod:node-a1", "--set", f"{spec.name}={value}"
            )
            api = reader_client.post(
                "/api/v1/simulate",
                {
                    "cluster": "demo",
                    "service": key,
                    "source": "pod:node-a1",
                    "set": {spec.name: value},
                },
                format="json",
            )
            assert code == 0 and api.status_code == 200 and api.json() == json.loads(cli), case
            assert any(reason in line for line in api.json()["explain"]), case
            continue
        page = _page_entries(context)
        port = page[0]["port"]
        assert [e for e in row["entries"] if e["port"] == port] == page, case
        # Each source group's diff, in the page's order.
        questions = [q for q in row["questions"] if q["port"] == port]
        page_diffs = [diff for d, *_views in context["compared"] for _label, diff in d.diffs]
        assert [q["diff"] for q in questions] == page_diffs, case
        # One source per way in: the CLI, the API's simulate and the preview agree.
        for entry in page:
            question = next(q for q in questions if q["to"] == entry["to"])
            args = [
                "--service",
                key,
                "--source",
                question["source"],
                "--to",
                question["to"],
                "--port",
                port,
                "--set",
                f"{spec.name}={value}",
            ]
            code, cli = _cli(*args)
            assert code == 0, (case, cli)
            api = reader_client.post(
                "/api/v1/simulate",
                {
                    "cluster": "demo",
                    "service": key,
                    "source": question["source"],
                    "to": question["to"],
                    "port": port,
                    "set": {spec.name: value},
                },
                format="json",
            )
            assert api.status_code == 200, (case, api.content)
            assert api.json() == json.loads(cli), (case, question["source"])
            assert _brief(api.json()) == question["after"], (case, question["source"])
