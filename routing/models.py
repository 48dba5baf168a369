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
