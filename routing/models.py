"""Stored what-if scenarios: a user's named set of changes to a cluster, nothing computed."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Scenario(models.Model):
    """A named what-if on one cluster: the changes a user wants to try, as they typed them.

    ``changes`` keeps only the user's input (STYLE §5); previews are computed from it and
    the cluster's current state each time, so a scenario stays meaningful after a sync.
    Its JSON shape is documented and validated in ``routing.services.scenario_changes_clean``::

        {"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}},
         "proxy_mode": "ipvs", "ipvs_scheduler": "wrr",
         "nodes_down": ["node-a1"], "nodes_cordoned": [], "nodes_drained": [],
         "scale": {"shop/checkout": 3}}
    """

    name = models.CharField(max_length=200)
    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="scenarios"
    )
    description = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scenarios",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], name="routing_scenario_unique_name_per_cluster"
            ),
        ]
        indexes = [models.Index(fields=["cluster", "-updated_at"], name="routing_scenario_recent")]

    def __str__(self) -> str:
        return self.name


class RulesDriftReport(models.Model):
    """One node agent's check of a node's real kube-proxy rules against the prediction.

    Written by ``routing.services.drift_report_record`` when ``check_node_rules`` runs on
    the node's queue. ``cluster_revision`` is the revision the prediction was rendered
    from, so a report older than the cluster's current state reads as such. ``diff`` is a
    bounded text (``-`` missing, ``+`` unexpected lines) truncated with a note: a badly
    drifted big node must not store megabytes per check.
    """

    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="drift_reports"
    )
    node = models.CharField(max_length=253)
    mode = models.CharField(max_length=16)
    checked_at = models.DateTimeField()
    cluster_revision = models.PositiveBigIntegerField(default=0)
    in_sync = models.BooleanField()
    missing_count = models.PositiveIntegerField(default=0)
    unexpected_count = models.PositiveIntegerField(default=0)
    diff = models.TextField(blank=True)
    agent_hostname = models.CharField(max_length=253, blank=True)
    agent_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(
                fields=["cluster", "node", "-checked_at"], name="routing_drift_node_recent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.node} ({self.mode}) {'in sync' if self.in_sync else 'drifted'}"


class SavedTimeline(models.Model):
    """A disruption timeline question saved to be shared: the Service, the event, the timing
    model and the Service what-ifs, as ``POST /api/v1/timeline`` takes them, nothing computed.

    Like a scenario it is re-run on the cluster's current state each time it is opened
    (``routing.services.saved_timeline_run``). ``question`` holds the timeline fields of
    ``routing.timeline_input.FIELDS`` other than ``service`` (which has its own column so a
    Service page can list its timelines)::

        {"event": "drain:node-a1", "lb_preset": "gcp", "prestop": 30, "grace": 35,
         "on_sigterm": "stop", "set": {"externalTrafficPolicy": "Cluster"}}
    """

    name = models.CharField(max_length=200)
    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="saved_timelines"
    )
    service = models.CharField(max_length=507, help_text="namespace/name")
    question = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="saved_timelines",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"], name="routing_timeline_unique_name_per_cluster"
            ),
        ]
        indexes = [models.Index(fields=["cluster", "service"], name="routing_timeline_service")]

    def __str__(self) -> str:
        return self.name


class ClusterAnalysis(models.Model):
    """The cluster-wide analysis of one cluster revision, computed by Celery workers.

    Keyed by cluster, ``revision`` and ``inputs`` (the fingerprint of what besides the
    stored state the analysis depends on: ``routing.analysis_jobs.analysis_inputs``). The
    work is split into ``shards_total`` shards of Services (``jobs.Job`` rows of kind
    ``analysis``, one per shard, whose parts are ``AnalysisPart`` rows); the last shard
    merges them and stores the result here. Pages and the API read these rows only
    (``routing.stored_analysis``): while a revision is analysed they show the newest
    ``done`` one with the progress of the one in flight.

    ``report`` holds what the overview needs, small (``summary``, ``cost_model``,
    ``notes``, the ``top_findings`` and ``findings_total``); ``findings`` every ranked
    finding, ``rows`` the rows' API JSON (``analysis_body``), ``figures`` the services
    table's per-Service figures ``{"ns/name": [dropped, imbalance, nodes_covered,
    nodes_total]}`` (its worst port).

    ``findings`` and ``rows`` (~4 and ~13 MB for 10,000 Services) are JSON *text*, only
    ever read whole (``routing.stored_analysis`` decodes them): storing them as ``jsonb``
    made PostgreSQL parse them in the merge's serial end (~0.6 s at rest); as text they
    are copied and compressed (lz4 where the server has it: migration 0006). An analysis
    merged from shards leaves ``rows`` empty (``""``): its rows stay in its parts, each
    written by its own shard, and readers join them in shard order
    (``routing.stored_analysis.rows_text``), so the merge neither reads nor writes them.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="analyses"
    )
    revision = models.PositiveBigIntegerField()
    inputs = models.CharField(max_length=64, help_text="Fingerprint of analysis_inputs().")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    shards_total = models.PositiveIntegerField(default=1)
    shards_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    findings = models.TextField(default="[]", blank=True, help_text="JSON text (a list).")
    rows = models.TextField(default="[]", blank=True, help_text="JSON text (a list).")
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-revision", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "revision", "inputs"], name="routing_analysis_one_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["cluster", "state", "-revision"], name="routing_analysis_recent")
        ]

    def __str__(self) -> str:
        return f"Analysis of cluster {self.cluster_id} r{self.revision} ({self.state})"

    @property
    def progress(self) -> int:
        """Percent of shards done."""
        return 100 * self.shards_done // max(1, self.shards_total)


class AnalysisPart(models.Model):
    """One shard's share of a ``ClusterAnalysis``: ``data``, the rest of its part (a pickled
    ``routing.analysis_jobs.ShardPart`` without rows: its findings, figures and sums),
    until the last shard merges the parts (then emptied), and ``rows``, its rows' API
    JSON (an array), kept with the analysis: they are its stored rows, in shard order.

    Only this project's workers write it (as the snapshot pickles of ``routing.cache``).
    """

    analysis = models.ForeignKey(ClusterAnalysis, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    data = models.BinaryField()
    rows = models.TextField(default="[]", blank=True, help_text="JSON text (a list).")

    class Meta:
        ordering = ["analysis", "index"]
        constraints = [
            models.UniqueConstraint(fields=["analysis", "index"], name="routing_part_one_per_shard")
        ]

    def __str__(self) -> str:
        return f"Part {self.index} of analysis {self.analysis_id}"


class CostSettings(models.Model):
    """One cluster's traffic and cost model inputs (``routing.engine.costmodel``).

    Defaults are the engine's (``CostModel()``); ``version`` goes up on every save of these
    settings or of a Service's ``ServiceTraffic``, and is part of what the cached report
    depends on (through ``routing.costs.cost_inputs(cluster).fingerprint()``)."""

    cluster = models.OneToOneField(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="cost_settings"
    )
    request_rate = models.FloatField(default=100.0, validators=[MinValueValidator(0)])
    external_request_rate = models.FloatField(default=100.0, validators=[MinValueValidator(0)])
    request_bytes = models.PositiveIntegerField(default=2_048)
    response_bytes = models.PositiveIntegerField(default=16_384)
    price_per_gb = models.FloatField(default=0.01, validators=[MinValueValidator(0)])
    same_node_ms = models.FloatField(default=0.05, validators=[MinValueValidator(0)])
    same_zone_ms = models.FloatField(default=0.25, validators=[MinValueValidator(0)])
    cross_zone_ms = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    unknown_ms = models.FloatField(default=0.5, validators=[MinValueValidator(0)])
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"cost settings of {self.cluster_id} v{self.version}"


class ServiceTraffic(models.Model):
    """One Service's own traffic, overriding the cluster's defaults in ``CostSettings``."""

    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="service_traffic"
    )
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    request_rate = models.FloatField(validators=[MinValueValidator(0)])
    external_request_rate = models.FloatField(validators=[MinValueValidator(0)])
    request_bytes = models.PositiveIntegerField()
    response_bytes = models.PositiveIntegerField()

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="routing_service_traffic_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
