"""Serializers of the per-node rules, the rules diff and the cluster analysis."""

from __future__ import annotations

from rest_framework import serializers

from routing.engine.rules.model import MODES as RULE_MODES

SERVICE_KEY = r"^[^/\s]+/[^/\s]+$"


# --- rules ------------------------------------------------------------------------------


class RulesQuerySerializer(serializers.Serializer):
    """Which node's rules, in which mode, for which Service."""

    node = serializers.CharField(help_text="Node whose kube-proxy rules to render.")
    mode = serializers.ChoiceField(
        RULE_MODES, required=False, help_text="Default: the node's kube-proxy mode."
    )
    service = serializers.RegexField(
        SERVICE_KEY, required=False, help_text="Only this Service's rules (namespace/name)."
    )


class RuleLineSerializer(serializers.Serializer):
    """One rule line with the policy reason it exists for."""

    text = serializers.CharField()
    service = serializers.CharField(allow_null=True)
    reason = serializers.CharField(help_text="Reason code of the policy the line implements.")
    why = serializers.CharField()


class RulesSerializer(serializers.Serializer):
    """The rules one node's kube-proxy programs, as restore-ready text and line by line."""

    cluster = serializers.CharField()
    node = serializers.CharField()
    mode = serializers.ChoiceField(RULE_MODES)
    service = serializers.CharField(allow_null=True)
    text = serializers.CharField(
        help_text="What iptables-restore / nft -f / ipvsadm-restore " "accepts."
    )
    lines = RuleLineSerializer(many=True)
    companions = serializers.DictField(
        child=serializers.CharField(), help_text="IPVS: the ipset / iptables text beside it."
    )
    notes = serializers.ListField(child=serializers.CharField())


class RulesDiffQuerySerializer(serializers.Serializer):
    """The mode to compare in, and optionally one node / Service."""

    mode = serializers.ChoiceField(RULE_MODES, required=False, default="iptables")
    node = serializers.CharField(
        required=False, help_text="Also return this node's " "unified diff."
    )
    service = serializers.RegexField(SERVICE_KEY, required=False)


class NodeRuleChangeSerializer(serializers.Serializer):
    """How one node's rules change: lines added / removed, Services."""

    node = serializers.CharField()
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    services = serializers.ListField(child=serializers.CharField())


class RulesDiffSerializer(serializers.Serializer):
    """Which nodes' rules a scenario changes, by how many lines (and one node's diff)."""

    mode = serializers.ChoiceField(RULE_MODES)
    services = serializers.ListField(child=serializers.CharField())
    nodes_total = serializers.IntegerField()
    nodes_changed = serializers.IntegerField()
    render_classes = serializers.IntegerField()
    nodes = NodeRuleChangeSerializer(many=True)
    node = serializers.CharField(allow_null=True)
    node_diff = serializers.CharField(allow_null=True, help_text="Unified diff of ``node``.")


# --- analysis ---------------------------------------------------------------------------


class AnalysisQuerySerializer(serializers.Serializer):
    """Filters and paging of the analysis' Service rows and findings."""

    service = serializers.RegexField(
        SERVICE_KEY, required=False, help_text="Only this Service's rows (namespace/name)."
    )
    dropping = serializers.BooleanField(
        required=False, default=False, help_text="Only rows where some calls drop."
    )
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
    offset = serializers.IntegerField(required=False, default=0, min_value=0)
    endpoints = serializers.BooleanField(
        required=False, default=False, help_text="Add per-endpoint shares to every source."
    )
    max_findings = serializers.IntegerField(
        required=False, default=100, min_value=0, max_value=10000
    )
    code = serializers.CharField(
        required=False, help_text="Only findings with this code, " "e.g. ITP_LOCAL_DROPS."
    )


class FindingSerializer(serializers.Serializer):
    """One ranked problem, with a stable code (e.g. ITP_LOCAL_DROPS)."""

    code = serializers.CharField()
    severity = serializers.CharField(help_text="critical, warning or info")
    impact = serializers.FloatField(help_text="0..1, ranks findings.")
    service = serializers.CharField()
    port = serializers.CharField()
    # A field named `source`: DRF-stubs type the Field.source attribute (the dotted path).
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    message = serializers.CharField()
    nodes = serializers.ListField(child=serializers.CharField())


#: ``AnalysisStatus.to_json()["state"]`` (routing.stored_analysis).
ANALYSIS_STATES = ("current", "queued", "running", "failed", "none")


class AnalysisProgressSerializer(serializers.Serializer):
    """The analysis of the current revision while it runs."""

    revision = serializers.IntegerField()
    shards_done = serializers.IntegerField()
    shards_total = serializers.IntegerField()
    percent = serializers.IntegerField()
    error = serializers.CharField(allow_null=True, help_text="Why it failed, when it did.")


class AnalysisStateSerializer(serializers.Serializer):
    """Which revision the stored figures are of, and the progress of the one in flight."""

    state = serializers.ChoiceField(
        choices=ANALYSIS_STATES,
        help_text="current: the figures are the current revision's; queued / running: "
        "the current revision is being analysed (the figures are an older revision's); "
        "failed: its analysis failed.",
    )
    revision = serializers.IntegerField(
        allow_null=True, help_text="The revision the figures are of."
    )
    current_revision = serializers.IntegerField()
    finished_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True)
    progress = AnalysisProgressSerializer(allow_null=True)


class AnalysisPendingSerializer(serializers.Serializer):
    """202: no analysis of the cluster is stored yet."""

    cluster = serializers.CharField()
    analysis = AnalysisStateSerializer()


class AnalysisSerializer(serializers.Serializer):
    """The cluster-wide report: summary, Service rows (paged), ranked findings."""

    cluster = serializers.CharField()
    revision = serializers.IntegerField(help_text="The revision the report is of.")
    analysis = AnalysisStateSerializer(
        required=False,
        help_text="A stored cluster's analysis state (absent for scenarios and files).",
    )
    summary = serializers.DictField(
        help_text="Counts: nodes, zones, services, findings by "
        "severity, ports dropping, cross-zone cost."
    )
    cost_model = serializers.DictField(child=serializers.FloatField())
    count = serializers.IntegerField(help_text="Service rows matching the filters.")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    services = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per Service port: type, policies, endpoint counts, nodes covered, dropped "
        "share (kube-proxy's) and effective_dropped (not working: dropped, refused or replies "
        "lost), imbalance, locality, and per source class statistics (each with simulate's "
        "outcome, effective_dropped and replies_lost).",
    )
    findings = FindingSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
