"""The one what-if door (``routing.whatif``): every surface is derived from the field table,
engine errors become request errors in one place, and the one preview groups every node
by equivalence and weights its figures by node count."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from cluster.apply import Change, _patch_for, parse_changes
from cluster.generator import Shape, generate_cluster
from cluster.testing.fake_store import ApiError, validate
from dashboard.forms import SERVICE_PARAMS, UNSET, WhatIfForm, param_of
from dashboard.patches import current_value
from routing.api.serializers import ServiceOverridesSerializer, SimulateRequestSerializer
from routing.engine.errors import QuestionError, ScenarioError
from routing.engine.kube import SnapshotError, snapshot_from_objects
from routing.engine.whatif_fields import FIELDS, NAMES
from routing.management.commands.simulate import Command as SimulateCommand
from routing.whatif.errors import CHANGES, SIMULATE, request_error
from routing.whatif.preview import SourceGroup, preview, service_entries
from routing.whatif.value import WhatIf


def _a_value(spec):
    return 600 if spec.kind is int else spec.values[-1]


# --- one translation of engine errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "context", "field"),
    [
        (
            ScenarioError("x", field="services.shop/web.sessionAffinity"),
            SIMULATE,
            "set.sessionAffinity",
        ),
        (
            ScenarioError("x", field="services.shop/web.sessionAffinity"),
            CHANGES,
            "changes.services.shop/web.sessionAffinity",
        ),
        (ScenarioError("x", field="services"), SIMULATE, "service"),
        (ScenarioError("x", field="proxy_mode"), SIMULATE, "proxy_mode"),
        (ScenarioError("x", field="nodes_down"), CHANGES, "changes.nodes_down"),
        (QuestionError("x", field="port"), SIMULATE, "port"),
        (SnapshotError("x"), SIMULATE, "cluster_dump"),
        (SnapshotError("x", field="version"), SIMULATE, "kube_version"),
    ],
    ids=[
        "set",
        "changes",
        "unknown service",
        "proxy",
        "changes key",
        "question",
        "dump",
        "release",
    ],
)
def test_engine_fields_become_request_fields(error, context, field) -> None:
    assert request_error(error, context=context).field == field


def test_request_errors_keep_the_engine_code_and_one_line() -> None:
    found = request_error(
        ScenarioError("bad\n  value", field="scale", code="invalid"), context=CHANGES
    )
    assert (str(found), found.field, found.code) == ("bad value", "changes.scale", "invalid")


# --- the parsed value ---------------------------------------------------------------------


def test_whatif_round_trips_a_stored_scenario() -> None:
    changes = {
        "services": {"shop/web": {spec.name: _a_value(spec) for spec in FIELDS}},
        "proxy_mode": "ipvs",
        "nodes_down": ["n2", "n1"],
        "scale": {"shop/web": 2},
    }
    whatif = WhatIf.from_changes(changes)
    assert whatif.changes() == {**changes, "nodes_down": ["n1", "n2"]}
    assert whatif.scenario().service_overrides == changes["services"]
    with pytest.raises(ScenarioError) as err:
        WhatIf.from_changes({"nodes_gone": ["n1"]})
    assert (err.value.field, err.value.code) == ("nodes_gone", "unknown")


def test_numbers_typed_on_the_command_line_become_numbers() -> None:
    for spec in FIELDS:
        whatif = WhatIf.for_service("shop/web", {spec.name: str(_a_value(spec))})
        assert whatif.services["shop/web"][spec.name] == _a_value(spec)


# --- every surface derives from the table ---------------------------------------------------


def test_api_set_serializer_has_every_field_and_validates_it() -> None:
    assert list(ServiceOverridesSerializer().fields) == list(NAMES)
    for spec in FIELDS:
        body = SimulateRequestSerializer(
            data={
                "cluster": "c",
                "service": "a/b",
                "source": "lb",
                "set": {spec.name: _a_value(spec)},
            }
        )
        assert body.is_valid(), body.errors
        assert body.validated_data["set"] == {spec.name: _a_value(spec)}
        bad = SimulateRequestSerializer(
            data={"cluster": "c", "service": "a/b", "source": "lb", "set": {spec.name: "Sideways"}}
        )
        assert not bad.is_valid() and spec.name in bad.errors["set"]


def test_openapi_documents_every_field() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    properties = json.loads(out.getvalue())["components"]["schemas"]["ServiceOverrides"][
        "properties"
    ]
    assert list(properties) == list(NAMES)
    for spec in FIELDS:
        assert spec.help in properties[spec.name]["description"]


def test_page_form_has_a_control_per_field_and_round_trips() -> None:
    assert [spec.name for spec in SERVICE_PARAMS.values()] == list(NAMES)
    for spec in FIELDS:
        for value in ([spec.unset] if spec.unset is not None else []) + [_a_value(spec)]:
            shown = UNSET if value == spec.unset else value
            form = WhatIfForm({"service": "shop/web", param_of(spec): shown})
            assert form.is_valid(), form.errors
            assert form.changes() == {"services": {"shop/web": {spec.name: value}}}
            assert (
                WhatIfForm.initial_from_changes("shop/web", form.changes())[param_of(spec)] == shown
            )


def test_cli_help_lists_every_field() -> None:
    text = " ".join(SimulateCommand().create_parser("manage.py", "simulate").format_help().split())
    for spec in FIELDS:
        assert spec.name in text


def test_apply_patch_puts_every_field_at_its_path() -> None:
    for spec in FIELDS:
        value = _a_value(spec)
        (change,) = parse_changes([{"namespace": "a", "name": "b", "set": {spec.name: value}}])
        node = _patch_for(change)
        for key in spec.path:
            node = node[key]
        assert node == value
        # The page's "before" column reads the same path back.
        assert current_value(
            spec, {"spec": _patch_for(Change("a", "b", {spec.name: value}))["spec"]}
        ) == str(value)


def test_fake_api_server_refuses_what_the_table_refuses() -> None:
    for spec in FIELDS:
        bad: dict[str, Any] = {"metadata": {"name": "b"}, "spec": {"type": "NodePort"}}
        node = bad
        for key in spec.path[:-1]:
            node = node.setdefault(key, {})
        node[spec.path[-1]] = -5 if spec.kind is int else "Sideways"
        with pytest.raises(ApiError):
            validate("services", bad)


# --- one preview, one grouping rule ---------------------------------------------------------


@pytest.fixture(scope="module")
def big():
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=60, services=20, pods=150, zones=3, seed=11), out=out)
    return snapshot_from_objects(json.loads(out.getvalue())["items"])


def test_preview_groups_nodes_and_weights_by_node_count(big) -> None:
    keys = [
        k
        for k, s in sorted(big.services.items())
        if s.type != "ExternalName" and not s.headless and s.ports
    ][:6]
    whatif = WhatIf(services={k: {"internalTrafficPolicy": "Local"} for k in keys})
    result = preview(big, whatif, services=keys)
    every = [SourceGroup(n, (n,), big.zone_of(n)) for n in big.nodes]
    for row in result.services:
        assert row.compared, row.service
        asked = {q["source"] for q in result.questions(row)}
        assert len(asked) < 2 * len(big.nodes) + 1  # grouped, not one question per node
        for diff in row.compared:
            assert diff.before.nodes_total == (1 if diff.before.key == "lb" else len(big.nodes))
            full = {
                e.key: e
                for e in service_entries(
                    result.after, row.service, port=diff.after.port, groups=every
                )
            }
            assert diff.after.dropped == pytest.approx(full[diff.after.key].dropped, abs=1e-9)
        for entry in result.to_json()["services"][
            [r.service for r in result.services].index(row.service)
        ]["entries"]:
            assert (
                sum(
                    q["weight"]
                    for q in result.questions(row)
                    if q["port"] == entry["port"] and q["to"] == entry["to"]
                )
                == entry["nodes"]
            )
