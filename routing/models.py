"""Stored what-if scenarios: a user's named set of changes to a cluster, nothing computed."""

from __future__ import annotations

from django.conf import settings
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
