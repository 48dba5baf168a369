"""The what-if field table and the engine's structured errors (field, code): every refusal
names the input at fault as data, never only as text.

Cluster (from ``test_scenario``)::

      zone a                 zone a           zone b
    | n1: web-1, web-2 |   | n2: -   |    | n3: web-3 |
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.engine.errors import QuestionError, ScenarioError
from routing.engine.scenario import SERVICE_FIELDS, Scenario, apply_scenario
from routing.engine.simulate import Question, simulate
from routing.engine.whatif_fields import BY_NAME, FIELDS, field_named
from routing.tests.engine.test_scenario import cluster


def _valid_values(spec):
    return [spec.minimum, spec.maximum] if spec.kind is int else list(spec.choices)


@pytest.mark.parametrize("spec", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_parses_its_own_values_and_refuses_others(spec) -> None:
    for value in _valid_values(spec):
        assert spec.parse(value, where="w") == value
    with pytest.raises(ScenarioError) as err:
        spec.parse("Sideways", where="services.default/web." + spec.name)
    assert err.value.field == f"services.default/web.{spec.name}"
    assert err.value.code == ("invalid" if spec.kind is int else "invalid_choice")
    assert err.value.service_field == spec.name


def test_the_scenario_model_is_derived_from_the_table() -> None:
    assert list(SERVICE_FIELDS) == [f.name for f in FIELDS]
    assert all(SERVICE_FIELDS[f.name] == (f.attr, f.choices) for f in FIELDS)


@pytest.mark.parametrize("spec", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_value_lands_on_the_engine_service(spec) -> None:
    before = cluster()
    for value in _valid_values(spec):
        overrides = {spec.name: value}
        if spec.requires:
            overrides[spec.requires[0]] = spec.requires[1]
        try:
            after = apply_scenario(before, Scenario(service_overrides={"default/web": overrides}))
        except ScenarioError as error:
            assert (
                error.code == "unsupported_release"
            ), error  # the only refusal of a valid value here
            continue
        assert getattr(after.services["default/web"], spec.attr) == spec.engine_value(value)


@dataclass(frozen=True)
class Case:
    name: str
    scenario: Scenario
    field: str
    code: str
    version: str = "v1.35.0"


BAD = (
    Case(
        "unknown field",
        Scenario(service_overrides={"default/web": {"type": "NodePort"}}),
        "services.default/web.type",
        "unknown",
    ),
    Case(
        "value not in the table",
        Scenario(service_overrides={"default/web": {"sessionAffinity": "Cookie"}}),
        "services.default/web.sessionAffinity",
        "invalid_choice",
    ),
    Case(
        "value newer than the release (KEP-3015: PreferSameNode from 1.34)",
        Scenario(service_overrides={"default/web": {"trafficDistribution": "PreferSameNode"}}),
        "services.default/web.trafficDistribution",
        "unsupported_release",
        version="v1.31.2",
    ),
    Case(
        "unknown Service",
        Scenario(service_overrides={"default/nope": {"sessionAffinity": "None"}}),
        "services",
        "unknown",
    ),
    Case("proxy mode", Scenario(proxy_mode="ebpf"), "proxy_mode", "invalid_choice"),
    Case(
        "per-node proxy mode",
        Scenario(node_proxy_modes={"n1": "ebpf"}),
        "node_proxy_modes",
        "invalid_choice",
    ),
    # Upstream: the userspace proxier (pkg/proxy/userspace) was removed in v1.26.0
    # (CHANGELOG-1.26, kubernetes/kubernetes#112133); 1.25 is the last release with it.
    Case(
        "userspace mode after its removal (1.26+)",
        Scenario(proxy_mode="userspace"),
        "proxy_mode",
        "unsupported_release",
        version="v1.26.0",
    ),
    Case(
        "per-node userspace mode after its removal (1.26+)",
        Scenario(node_proxy_modes={"n2": "userspace"}),
        "node_proxy_modes.n2",
        "unsupported_release",
    ),
    Case("scheduler", Scenario(ipvs_scheduler="fastest"), "ipvs_scheduler", "invalid_choice"),
    Case("node", Scenario(nodes_down=frozenset({"n9"})), "nodes_down", "unknown"),
    Case("replicas", Scenario(scale={"default/web": -1}), "scale", "invalid"),
    Case("owner", Scenario(scale={"default/ghost": 2}), "scale", "unknown"),
)


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_scenario_errors_carry_field_and_code(case: Case) -> None:
    with pytest.raises(ScenarioError) as err:
        apply_scenario(cluster(version=case.version), case.scenario)
    assert (err.value.field, err.value.code) == (case.field, case.code)
    assert "\n" not in err.value.message


QUESTIONS = (
    (Question(service="default/nope", source="pod:n1"), "service", "unknown"),
    (Question(service="default/web", source="pod:n9"), "source", "unknown"),
    (Question(service="default/web", source="mars"), "source", "invalid"),
    (Question(service="default/web", source="pod:n1", port="grpc"), "port", "unknown"),
    (Question(service="default/web", source="pod:n1", to="wormhole"), "to", "invalid_choice"),
    (Question(service="default/web", source="pod:n1", to="externalip"), "to", "not_applicable"),
    (
        Question(
            service="default/web", source="pod:n1", overrides={"internalTrafficPolicy": "Nearby"}
        ),
        "services.default/web.internalTrafficPolicy",
        "invalid_choice",
    ),
)


@pytest.mark.parametrize(
    ("question", "field", "code"),
    QUESTIONS,
    ids=["service", "node", "source", "port", "dest", "no externalIP", "set value"],
)
def test_question_errors_carry_field_and_code(question: Question, field: str, code: str) -> None:
    with pytest.raises((QuestionError, ScenarioError)) as err:
        simulate(cluster(), question)
    assert (err.value.field, err.value.code) == (field, code)


def test_an_unknown_name_lists_the_table() -> None:
    with pytest.raises(ScenarioError, match="allowed: " + ", ".join(BY_NAME)) as err:
        field_named("color", where="set.color")
    assert (err.value.field, err.value.code) == ("set.color", "unknown")


# --- sessionAffinityConfig.clientIP.timeoutSeconds -------------------------------------------
# Upstream: pkg/proxy/iptables/proxier.go writes "-m recent --rcheck --seconds <timeout>",
# nftables/proxier.go an affinity set with "timeout <timeout>s", ipvs/proxier.go the virtual
# server's persistence "-p <timeout>"; the API refuses it unless sessionAffinity is ClientIP
# and accepts 1..86400 (validation.go, MaxClientIPServiceAffinitySeconds).

TIMEOUT = "sessionAffinityConfig.clientIP.timeoutSeconds"


def test_affinity_timeout_reaches_the_answer_and_every_mode_s_rules() -> None:
    from routing.engine.rules import render_node_rules

    after = apply_scenario(
        cluster(),
        Scenario(service_overrides={"default/web": {"sessionAffinity": "ClientIP", TIMEOUT: 600}}),
    )
    answer = simulate(after, Question(service="default/web", source="pod:n2")).to_json()
    assert answer["session_affinity"] == {"timeout_seconds": 600}
    assert any("600s" in line for line in answer["explain"])
    # Shares over many clients are unchanged by how long each one sticks.
    plain = simulate(cluster(), Question(service="default/web", source="pod:n2")).to_json()
    assert answer["endpoints"] == plain["endpoints"]
    for mode, text in (
        ("iptables", "--seconds 600"),
        ("nftables", "timeout 600s"),
        ("ipvs", "-p 600"),
    ):
        assert text in render_node_rules(after, "n2", mode, service="default/web").text, mode


def test_affinity_timeout_needs_client_ip_affinity() -> None:
    with pytest.raises(ScenarioError) as err:
        apply_scenario(cluster(), Scenario(service_overrides={"default/web": {TIMEOUT: 600}}))
    assert (err.value.field, err.value.code) == (
        f"services.default/web.{TIMEOUT}",
        "not_applicable",
    )
    assert "needs sessionAffinity=ClientIP" in err.value.message


@pytest.mark.parametrize("value", [0, 86401, "ten"])
def test_affinity_timeout_outside_what_the_api_accepts_is_refused(value: object) -> None:
    with pytest.raises(ScenarioError) as err:
        apply_scenario(
            cluster(),
            Scenario(
                service_overrides={"default/web": {"sessionAffinity": "ClientIP", TIMEOUT: value}}
            ),
        )
    assert (err.value.field, err.value.code) == (f"services.default/web.{TIMEOUT}", "invalid")


@pytest.mark.parametrize(
    ("node", "mode", "service", "field", "code"),
    [
        ("n9", "iptables", None, "node", "unknown"),
        ("n1", "ebpf", None, "mode", "invalid_choice"),
        ("n1", "iptables", "default/nope", "service", "unknown"),
    ],
    ids=["node", "mode", "service"],
)
def test_rules_errors_carry_field_and_code(
    node: str, mode: str, service: str | None, field: str, code: str
) -> None:
    from routing.engine.rules import RulesError, render_node_rules

    with pytest.raises(RulesError) as err:
        render_node_rules(cluster(), node, mode, service=service)
    assert (err.value.field, err.value.code) == (field, code)


def test_descriptions_say_what_a_field_accepts_acts_on_and_needs() -> None:
    etp = BY_NAME["externalTrafficPolicy"].describe()
    assert "Accepts Cluster, Local." in etp and "Acts on NodePort, LoadBalancer Services." in etp
    assert "Acts on" not in BY_NAME["internalTrafficPolicy"].describe()
    assert "Needs sessionAffinity=ClientIP." in BY_NAME[TIMEOUT].describe()


def test_userspace_what_if_is_accepted_up_to_1_25_and_explained_after() -> None:
    """CHANGELOG-1.26: "the userspace proxy mode ... has been removed" (#112133)."""
    after = apply_scenario(cluster(version="v1.25.9"), Scenario(proxy_mode="userspace"))
    assert after.proxy.mode == "userspace"
    with pytest.raises(ScenarioError, match=r"removed after Kubernetes 1\.25.*runs 1\.26"):
        apply_scenario(cluster(version="v1.26.0"), Scenario(proxy_mode="userspace"))
    with pytest.raises(ScenarioError) as err:
        simulate(
            cluster(), Question(service="default/web", source="pod:n1", proxy_mode="userspace")
        )
    assert (err.value.field, err.value.code) == ("proxy_mode", "unsupported_release")
