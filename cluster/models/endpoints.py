"""EndpointSlices and their endpoints."""

from __future__ import annotations

from django.db import models

from cluster.models.cluster import Cluster
from cluster.models.jsontext import WholeJSONField
from cluster.models.objects import Service


class EndpointSlice(models.Model):
    """An EndpointSlice. ``service`` is None when no stored Service matches its
    ``kubernetes.io/service-name`` label; such a slice is kept and flagged
    (``service_missing``), as kube-proxy would simply never use it.
    """

    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="endpoint_slices",
        db_index=False,
        db_constraint=False,
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="endpoint_slices"
    )
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64, blank=True)
    service_name = models.CharField(
        max_length=253, blank=True, help_text="The kubernetes.io/service-name label."
    )
    service_missing = models.BooleanField(default=False)
    address_type = models.CharField(max_length=8, help_text="IPv4, IPv6 or FQDN.")
    ports = models.JSONField(default=list, blank=True)
    managed_by = models.CharField(max_length=253, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    raw = WholeJSONField()

    class Meta:
        ordering = ["cluster", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="slice_unique_cluster_ns_name"
            )
        ]
        indexes = [
            models.Index(
                fields=["cluster", "namespace", "service_name"], name="slice_cluster_service"
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Endpoint(models.Model):
    """One entry of an EndpointSlice's ``endpoints``.

    Conditions are stored with kube-proxy's defaults applied (omitted ``ready`` and
    ``serving`` mean True, omitted ``terminating`` means False); ``raw`` keeps the entry
    as written. ``address`` is the first address, the only one kube-proxy uses.
    """

    # Indexed through (cluster, node_name) and the (slice, position) unique constraint.
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="endpoints",
        db_index=False,
        db_constraint=False,
    )
    slice = models.ForeignKey(
        EndpointSlice, on_delete=models.CASCADE, related_name="endpoints", db_index=False
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="endpoints"
    )
    position = models.PositiveIntegerField(help_text="Index in the slice's endpoints list.")
    address = models.CharField(max_length=253)
    addresses = models.JSONField(default=list)
    ready = models.BooleanField(default=True)
    serving = models.BooleanField(default=True)
    terminating = models.BooleanField(default=False)
    node_name = models.CharField(max_length=253, blank=True)
    zone = models.CharField(max_length=253, blank=True)
    hostname = models.CharField(max_length=253, blank=True)
    hints_for_zones = models.JSONField(default=list, blank=True)
    hints_for_nodes = models.JSONField(default=list, blank=True)
    target_kind = models.CharField(max_length=64, blank=True)
    target_namespace = models.CharField(max_length=253, blank=True)
    target_name = models.CharField(max_length=253, blank=True)
    raw = WholeJSONField()

    class Meta:
        ordering = ["slice", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["slice", "position"], name="endpoint_unique_slice_position"
            )
        ]
        indexes = [
            models.Index(fields=["cluster", "node_name"], name="endpoint_cluster_node"),
            models.Index(fields=["cluster", "address"], name="endpoint_cluster_address"),
        ]

    def __str__(self) -> str:
        return self.address
