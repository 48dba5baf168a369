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
    cluster = models.ForeignKey("cluster.Cluster", on_delete=models.CASCADE,
                                related_name="scenarios")
    description = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="scenarios")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"],
                                    name="routing_scenario_unique_name_per_cluster"),
        ]
        indexes = [models.Index(fields=["cluster", "-updated_at"], name="routing_scenario_recent")]

    def __str__(self) -> str:
        return self.name
