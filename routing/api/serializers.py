"""Typed request and response serializers of the routing API (simulate, scenarios, rules).

Requests are strict: an unknown key (a typo such as ``"srouce"``) is a 400 naming it,
never silently ignored. Responses mirror ``Answer.to_json()`` (the DESIGN.md contract)
field by field, so the OpenAPI schema documents exactly what a script receives.
"""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from cluster.models import Cluster

# Rules and analysis serializers live in their own module (size); views use them as s.X.
from routing.api.report_serializers import (  # noqa: F401 - re-exported
    RULE_MODES,
    AnalysisPendingSerializer,
    AnalysisQuerySerializer,
    AnalysisSerializer,
    FindingSerializer,
    NodeRuleChangeSerializer,
    RuleLineSerializer,
    RulesDiffQuerySerializer,
    RulesDiffSerializer,
    RulesQuerySerializer,
    RulesSerializer,
)
from routing.engine.candidates import DESTINATIONS
from routing.engine.simulate import OUTCOMES
from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES
from routing.engine.whatif_fields import FIELDS, WhatIfField
from routing.models import Scenario

SERVICE_KEY = r"^[^/\s]+/[^/\s]+$"
SOURCE = r"^((pod|external):[^\s]+|lb)$"


class StrictMixin:
    """Refuse keys the serializer does not declare (typos must not pass silently)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))  # type: ignore[attr-defined]
            if unknown:
                known = ", ".join(self.fields)  # type: ignore[attr-defined]
                raise serializers.ValidationError({unknown[0]: [f"unknown field (known: {known})"]})
        return super().to_internal_value(data)  # type: ignore[misc]


def whatif_field(spec: WhatIfField) -> serializers.Field:
    """The DRF field (validation and OpenAPI docs) of one what-if field table row."""
    if spec.kind is int:
        return serializers.IntegerField(
            required=False,
            # None is DRF's own default (no bound); its stubs type these parameters as int.
            min_value=spec.minimum,  # type: ignore[arg-type]
            max_value=spec.maximum,  # type: ignore[arg-type]
            help_text=spec.describe(),
        )
    return serializers.ChoiceField(spec.choices, required=False, help_text=spec.describe())


class ServiceOverridesSerializer(serializers.Serializer):
    """Service fields a what-if may set (the CLI's ``--set FIELD=VALUE``), one per row of
    the field table ``routing.engine.whatif_fields.FIELDS``. Keys are the Kubernetes field
    names, dotted when nested (``sessionAffinityConfig.clientIP.timeoutSeconds``)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {spec.name: whatif_field(spec) for spec in FIELDS}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Keyed by the whole name: DRF's own walk would read a dotted name as a path.
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["must be an object of field: value"]}
            )
        fields = self.fields
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: [f"unknown field (known: {', '.join(fields)})"]}
            )
        out, errors = {}, {}
        for name, value in data.items():
            try:
                out[name] = fields[name].run_validation(value)
            except serializers.ValidationError as error:
                errors[name] = error.detail
        if errors:
            raise serializers.ValidationError(errors)
        return out


# --- simulate ---------------------------------------------------------------------------


class SimulateRequestSerializer(StrictMixin, serializers.Serializer):
    """The CLI's ``simulate`` flags by the same names, plus where the cluster comes from."""

    cluster = serializers.CharField(required=False, help_text="Name of a stored cluster.")
    cluster_dump = serializers.JSONField(
        required=False,
        help_text="An inline kubectl dump (a List, or one object) instead of " "a stored cluster.",
    )
    service = serializers.RegexField(
        SERVICE_KEY,
        help_text="namespace/name",
        error_messages={"invalid": "must be namespace/name"},
    )
    # A field named `source`: DRF-stubs type the Field.source attribute (the dotted path).
    source = serializers.RegexField(  # type: ignore[assignment]
        SOURCE,
        help_text="pod:NODE (a pod on NODE), external:NODE (a client outside the "
        "cluster arriving at NODE) or lb (behind the cloud load balancer).",
        error_messages={"invalid": "must be pod:NODE, external:NODE or lb"},
    )
    to = serializers.ChoiceField(
        DESTINATIONS,
        required=False,
        allow_null=True,
        help_text="Default: clusterip for pods, nodeport for "
        "external:NODE, loadbalancer for lb.",
    )
    port = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Port name or number; needed when the Service has " "several ports.",
    )
    set = ServiceOverridesSerializer(required=False, help_text="What-if Service fields.")
    proxy_mode = serializers.ChoiceField(PROXY_MODES, required=False, allow_null=True)
    ipvs_scheduler = serializers.ChoiceField(IPVS_SCHEDULERS, required=False, allow_null=True)
    family = serializers.ChoiceField(
        ("IPv4", "IPv6"),
        required=False,
        allow_null=True,
        help_text="Which family's kube-proxy answers for a dual-stack Service (default: its "
        "primary family, spec.clusterIPs[0]).",
    )
    client_ip = serializers.IPAddressField(
        required=False,
        allow_null=True,
        help_text="The client's source address, checked against loadBalancerSourceRanges at "
        "the LB IP. Default: a pod's from its node's podCIDR, a host process's its "
        "node IP, an external or lb client's unknown (taken as inside the ranges).",
    )
    via_node = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=253,
        help_text="A pod:NODE or host:NODE source calling this node's NodePort (default: its "
        "own node). Its kube-proxy's detectLocalMode decides whether the packet counts as pod "
        "traffic; externalIPs and LB IPs are captured on the source's own node.",
    )
    kube_version = serializers.RegexField(
        r"^v?\d+\.\d+(\.\d+)?$", required=False, help_text="kube-proxy release to model, e.g. 1.29."
    )
    seed = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Seed of the IPVS request-level simulation.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies every declared field per request, re-running each field's
        # __init__: about a fifth of a simulate's CPU. bind() only sets attributes on the
        # copy, so plain fields are copied shallowly; the nested serializer stays deep.
        return {
            name: copy.deepcopy(field)
            if isinstance(field, serializers.BaseSerializer)
            else copy.copy(field)
            for name, field in self._declared_fields.items()
        }

    def validate_kube_version(self, value: str) -> str:
        # CharField would take the JSON number 1.30 as "1.3": a release must be a string.
        if not isinstance(self.initial_data.get("kube_version"), str):
            raise serializers.ValidationError('must be a string such as "1.29"')
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("cluster" in attrs) == ("cluster_dump" in attrs):
            raise serializers.ValidationError(
                {"cluster": ["give either cluster (a stored cluster's name) or cluster_dump"]}
            )
        return attrs


class SimulateSourceSerializer(serializers.Serializer):
    """Where the connection starts: a pod on a node, an external client at a node, or the LB."""

    kind = serializers.ChoiceField(("pod", "external", "lb"))
    node = serializers.CharField(allow_null=True)


class AnswerEndpointSerializer(serializers.Serializer):
    """One endpoint that receives new connections, with its share."""

    ip = serializers.CharField()
    node = serializers.CharField(allow_null=True)
    zone = serializers.CharField(allow_null=True)
    share = serializers.FloatField(help_text="Share of all new connections (0..1).")


class LatencySerializer(serializers.Serializer):
    """Expected hop latency, and the IPVS simulation's percentiles when one ran."""

    expected = serializers.FloatField(allow_null=True, help_text="Mean hop latency, ms.")
    scheduler = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="p50/p95/p99 from the IPVS simulation.",
    )


class CostSerializer(serializers.Serializer):
    """Cross-zone traffic and what it costs under the cost model."""

    cross_zone_bytes_per_s = serializers.FloatField()
    usd_per_month = serializers.FloatField()


class NodeShareSerializer(serializers.Serializer):
    """A node and the share of connections that enter the cluster there."""

    node = serializers.CharField()
    share = serializers.FloatField()


class AffinitySerializer(serializers.Serializer):
    """ClientIP session affinity: one client sticks to one endpoint for this long."""

    timeout_seconds = serializers.IntegerField()


class ReasonSerializer(serializers.Serializer):
    """One step of the explanation trail: a stable code and a sentence."""

    code = serializers.CharField(help_text="Stable reason code, e.g. LOCAL_NO_ENDPOINT_ON_NODE.")
    message = serializers.CharField()
    more = serializers.IntegerField(
        required=False,
        help_text="Further distinct lines of this code left out (present when above 0); "
        "the explain line ends '(and N more like it)'.",
    )


class SimulateAnswerSerializer(serializers.Serializer):
    """Where new connections land and what is dropped (the DESIGN.md simulate object)."""

    service = serializers.CharField()
    port = serializers.CharField()
    # A field named `source`: DRF-stubs type the Field.source attribute (the dotted path).
    source = SimulateSourceSerializer()  # type: ignore[assignment]
    to = serializers.ChoiceField(DESTINATIONS)
    proxy_mode = serializers.ChoiceField(PROXY_MODES)
    action = serializers.ChoiceField(
        ("forward", "drop", "reject"), help_text="kube-proxy's verdict for the connection."
    )
    outcome = serializers.ChoiceField(
        OUTCOMES,
        help_text=(
            "Whether the connections work: ok, partly_dropped, replies_lost (forwarded but the "
            "replies never reach the client), dropped, refused, not_proxied."
        ),
    )
    dropped = serializers.FloatField()
    effective_dropped = serializers.FloatField(
        help_text="Share that does not work: dropped, refused, or forwarded with replies lost."
    )
    drop_reason = serializers.CharField(allow_null=True)
    client_ip_preserved = serializers.BooleanField()
    endpoints = AnswerEndpointSerializer(many=True)
    explain = serializers.ListField(child=serializers.CharField())
    rejected = serializers.FloatField()
    client_ip_preserved_share = serializers.FloatField(
        required=False, help_text="Share of forwarded connections that keep the client IP."
    )
    nodes = serializers.DictField(child=serializers.FloatField())
    zones = serializers.DictField(child=serializers.FloatField())
    locality = serializers.DictField(child=serializers.FloatField())
    latency_ms = LatencySerializer()
    cost = CostSerializer()
    imbalance = serializers.FloatField(allow_null=True)
    ingress_nodes = NodeShareSerializer(many=True)
    session_affinity = AffinitySerializer(allow_null=True)
    reasons = ReasonSerializer(many=True)
    family = serializers.ChoiceField(
        ("IPv4", "IPv6"),
        allow_null=True,
        required=False,
        help_text="IP family of the kube-proxy that answered.",
    )
    proxied = serializers.BooleanField(
        required=False,
        help_text="False: kube-proxy does not handle the Service (headless, "
        "ExternalName, service-proxy-name label); see dns.",
    )
    dns = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="When not proxied: what cluster DNS returns.",
    )


# --- scenarios --------------------------------------------------------------------------


class ScenarioChangesSerializer(StrictMixin, serializers.Serializer):
    """A what-if: Service fields per Service, proxy changes, nodes, endpoints, scale."""

    services = serializers.DictField(
        child=ServiceOverridesSerializer(),
        required=False,
        help_text='{"namespace/name": {field: value}}',
    )
    proxy_mode = serializers.ChoiceField(PROXY_MODES, required=False, allow_null=True)
    ipvs_scheduler = serializers.ChoiceField(IPVS_SCHEDULERS, required=False, allow_null=True)
    node_proxy_modes = serializers.DictField(
        child=serializers.ChoiceField(PROXY_MODES), required=False
    )
    node_ipvs_schedulers = serializers.DictField(
        child=serializers.ChoiceField(IPVS_SCHEDULERS), required=False
    )
    nodes_down = serializers.ListField(child=serializers.CharField(), required=False)
    nodes_cordoned = serializers.ListField(child=serializers.CharField(), required=False)
    nodes_drained = serializers.ListField(child=serializers.CharField(), required=False)
    endpoints_not_ready = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Pods (ns/name) or endpoint IPs."
    )
    endpoints_terminating = serializers.ListField(child=serializers.CharField(), required=False)
    scale = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=100000),
        required=False,
        help_text='{"ns/deployment": replicas}',
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # The stored input as the user gave it: no nulls for the keys they left out.
        return {key: value for key, value in dict(instance).items() if key in self.fields}

    def validate_services(self, value: dict[str, Any]) -> dict[str, Any]:
        for key, fields in value.items():
            if "/" not in key or not fields:
                raise serializers.ValidationError(
                    f"{key!r}: give a namespace/name and at least one field to change"
                )
        return value


class ScenarioSerializer(serializers.ModelSerializer):
    """A saved what-if on one cluster (only the user's input is stored)."""

    cluster = serializers.SlugRelatedField(slug_field="name", queryset=Cluster.objects.all())
    changes = ScenarioChangesSerializer()
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-scenario-detail")

    class Meta:
        model = Scenario
        fields = [
            "id",
            "url",
            "name",
            "cluster",
            "description",
            "changes",
            "created_by",
            "created_at",
            "updated_at",
        ]
        # Uniqueness is checked by the service (one clear message naming "name").
        validators: list = []

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - {f for f, v in self.fields.items() if not v.read_only})
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown or read-only field"]})
        return super().to_internal_value(data)


class ScenarioUpdateSerializer(ScenarioSerializer):
    """A scenario's name, description or changes (its cluster never changes)."""

    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)


class PreviewRequestSerializer(StrictMixin, serializers.Serializer):
    """Narrow a preview to some Services and sources (default: the ones the scenario touches)."""

    # Bounded: every Service x source x port is two simulations.
    services = serializers.ListField(
        child=serializers.RegexField(SERVICE_KEY), required=False, max_length=50
    )
    sources = serializers.ListField(
        child=serializers.RegexField(SOURCE), required=False, max_length=50
    )


class AnswerBriefSerializer(serializers.Serializer):
    """The part of a simulate answer a preview shows beside the diff."""

    action = serializers.ChoiceField(("forward", "drop", "reject"))
    outcome = serializers.ChoiceField(OUTCOMES)
    dropped = serializers.FloatField()
    effective_dropped = serializers.FloatField()
    drop_reason = serializers.CharField(allow_null=True)
    client_ip_preserved = serializers.BooleanField()
    endpoints = AnswerEndpointSerializer(many=True)
    explain = serializers.ListField(child=serializers.CharField())
    proxy_mode = serializers.CharField()


class MovedSerializer(serializers.Serializer):
    """One endpoint whose share of new connections changes."""

    ip = serializers.CharField()
    before = serializers.FloatField()
    after = serializers.FloatField()
    change = serializers.FloatField()


class BeforeAfterTextSerializer(serializers.Serializer):
    """A text value before and after the scenario."""

    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)


class BeforeAfterBoolSerializer(serializers.Serializer):
    """A yes/no value before and after the scenario."""

    before = serializers.BooleanField()
    after = serializers.BooleanField()


class NumberChangeSerializer(serializers.Serializer):
    """A number before and after the scenario, and the change."""

    before = serializers.FloatField(allow_null=True)
    after = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)


class AnswerDiffSerializer(serializers.Serializer):
    """What a scenario changes for one question (``diff_answers``)."""

    moved = MovedSerializer(many=True)
    newly_dropped = serializers.FloatField()
    stops_dropping = serializers.FloatField()
    action = BeforeAfterTextSerializer()
    outcome = BeforeAfterTextSerializer(
        help_text="Whether the connections work (ok, replies_lost, dropped, refused, ...)."
    )
    drop_reason = BeforeAfterTextSerializer()
    client_ip_preserved = BeforeAfterBoolSerializer()
    latency_ms = NumberChangeSerializer()
    cost_usd_per_month = NumberChangeSerializer()
    cross_zone = NumberChangeSerializer()
    imbalance = NumberChangeSerializer()


class PreviewQuestionSerializer(serializers.Serializer):
    """One source asking one Service port: before, after, diff."""

    # A field named `source`: DRF-stubs type the Field.source attribute (the dotted path).
    source = serializers.CharField(help_text="The source asked: one node of its group, or lb.")  # type: ignore[assignment]
    port = serializers.CharField()
    to = serializers.CharField()
    nodes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Every node this answer stands for (same zone and "
        "kube-proxy, no endpoint or hint of the Service).",
    )
    weight = serializers.IntegerField(help_text="How many sources the answer counts for.")
    before = AnswerBriefSerializer()
    after = AnswerBriefSerializer()
    diff = AnswerDiffSerializer()


class BeforeAfterNumberSerializer(serializers.Serializer):
    """A number before and after the scenario."""

    before = serializers.FloatField()
    after = serializers.FloatField()


class PreviewEntrySerializer(serializers.Serializer):
    """One way into a Service port, over all its sources, weighted by node count."""

    entry = serializers.ChoiceField(("pod", "nodeport", "lb"))
    port = serializers.CharField()
    to = serializers.CharField()
    nodes = serializers.IntegerField(help_text="Source nodes counted.")
    dropped = BeforeAfterNumberSerializer()
    effective_dropped = BeforeAfterNumberSerializer(
        help_text="Share that does not work: dropped, refused or forwarded with replies lost."
    )
    newly_dropped = serializers.FloatField(help_text="Newly failing (effective_dropped rises).")
    stops_dropping = serializers.FloatField(
        help_text="Failing before and working after (effective_dropped falls)."
    )
    moved = MovedSerializer(many=True)
    changed = serializers.BooleanField()


class PreviewServiceSerializer(serializers.Serializer):
    """The questions asked of one Service."""

    service = serializers.CharField()
    type = serializers.CharField()
    questions = PreviewQuestionSerializer(many=True)
    entries = PreviewEntrySerializer(
        many=True, help_text="Node-weighted figures per way in " "(what the what-if page shows)."
    )
    error = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="Why nothing was asked (e.g. kube-proxy does not proxy "
        "a headless Service: DNS answers instead).",
    )


class PreviewSummarySerializer(serializers.Serializer):
    """Counts over every question of the preview."""

    services = serializers.IntegerField()
    questions = serializers.IntegerField()
    questions_newly_dropping = serializers.IntegerField()
    worst_newly_dropped = serializers.FloatField()
    questions_stop_dropping = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Questions whose answer changes at all.")
    entries_newly_dropping = serializers.IntegerField()
    worst_entry_newly_dropped = serializers.FloatField(
        help_text="Largest node-weighted newly dropped share of one way in."
    )


class PreviewSerializer(serializers.Serializer):
    """Before / after / diff for every Service and source the scenario touches."""

    cluster = serializers.CharField()
    revision = serializers.IntegerField()
    changes = serializers.JSONField()
    services = PreviewServiceSerializer(many=True)
    summary = PreviewSummarySerializer()


class ApplyRequestSerializer(StrictMixin, serializers.Serializer):
    """Confirmations an apply may need."""

    confirm_restart = serializers.BooleanField(
        default=False,
        help_text="Needed for a proxy mode / scheduler change: kube-proxy "
        "restarts and reprograms its rules on every node.",
    )


class JobLinksSerializer(serializers.Serializer):
    """The jobs an apply started (Service patches, and a kube-proxy change if any)."""

    job_id = serializers.IntegerField(help_text="The first job's id.")
    state = serializers.CharField()
    url = serializers.CharField(help_text="GET this to follow progress, log and errors.")
    jobs = serializers.ListField(child=serializers.DictField())


class PatchQuerySerializer(serializers.Serializer):
    """Which form of the scenario's Service patch (``routing.whatif.export``)."""

    format = serializers.ChoiceField(
        ("patch", "kubectl", "kustomize", "yaml"),
        required=False,
        default="patch",
        help_text="patch: JSON merge patch per Service (JSON Lines); kubectl: `kubectl patch` "
        "commands; kustomize: a `patches:` list; yaml: each changed Service.",
    )


class ServicePatchSerializer(serializers.Serializer):
    service = serializers.CharField(help_text="namespace/name")
    merge_patch = serializers.DictField(help_text="RFC 7386 JSON merge patch of the Service.")
    changed = serializers.DictField(help_text="The Service after the patch (no status).")


class PatchSerializer(serializers.Serializer):
    """A scenario's Service changes, taken away as text and as JSON."""

    scenario = serializers.IntegerField()
    cluster = serializers.CharField()
    format = serializers.CharField()
    text = serializers.CharField(help_text="What `routescope whatif -o FORMAT` prints.")
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Changes that are no Service patch (proxy mode...).",
    )
    services = ServicePatchSerializer(many=True)
