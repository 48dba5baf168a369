"""Nodes, Services and Pods as stored rows."""

from __future__ import annotations

from django.db import models

from cluster.models.cluster import Cluster
from cluster.models.jsontext import WholeJSONField


class Node(models.Model):
    """A Node: where kube-proxy runs and where traffic enters and lands.

    ``zone``/``region`` come from ``topology.kubernetes.io/zone|region``, falling back to
    the deprecated ``failure-domain.beta.kubernetes.io/*`` labels; "" when neither is set.
    ``ready`` is the Ready condition (a node without one counts as ready, as kube-proxy does).
    """

    # No single-column index on cluster: the (cluster, name) unique constraint leads with it,
    # and each extra index slows a 150,000-row import. No foreign-key constraint in the
    # database either: the import and sync hold the Cluster row (select_for_update) while
    # they write a cluster's rows, a watch batch updates it (its revision) in the same
    # transaction and reads it back (a batch for a deleted cluster rolls back), and
    # cluster_delete deletes the rows under that lock; so the constraint's check of every
    # row at commit (a third of the checks, ~1 server CPU s in a 5,000-node import) could
    # not fail. The ORM's cascade stays. The same holds for the models below.
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="nodes",
        db_index=False,
        db_constraint=False,
    )
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64, blank=True)
    zone = models.CharField(max_length=253, blank=True)
    region = models.CharField(max_length=253, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    taints = models.JSONField(default=list, blank=True)
    ready = models.BooleanField(default=True)
    unschedulable = models.BooleanField(default=False, help_text="Cordoned.")
    addresses = models.JSONField(default=list, blank=True, help_text="[{type, address}, ...]")
    internal_ips = models.JSONField(default=list, blank=True, help_text="InternalIP addresses.")
    pod_cidrs = models.JSONField(default=list, blank=True)
    kubelet_version = models.CharField(max_length=64, blank=True)
    kube_proxy_version = models.CharField(max_length=64, blank=True)
    raw = WholeJSONField()

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="node_unique_cluster_name")
        ]
        indexes = [
            models.Index(fields=["cluster", "zone"], name="node_cluster_zone"),
            # The dashboard's search: name prefixes (LIKE 'x%' on PostgreSQL needs the
            # pattern operator class; other databases ignore ``opclasses``).
            models.Index(
                fields=["cluster", "name"],
                name="node_cluster_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ServiceType(models.TextChoices):
    """``spec.type``."""

    CLUSTER_IP = "ClusterIP", "ClusterIP"
    NODE_PORT = "NodePort", "NodePort"
    LOAD_BALANCER = "LoadBalancer", "LoadBalancer"
    EXTERNAL_NAME = "ExternalName", "ExternalName"


class TrafficPolicy(models.TextChoices):
    """``spec.internalTrafficPolicy`` / ``spec.externalTrafficPolicy``."""

    CLUSTER = "Cluster", "Cluster"
    LOCAL = "Local", "Local"


class Service(models.Model):
    """A Service with the fields kube-proxy reads, indexed for the pages' filters.

    Policies are stored as written in the object: "" when the field is omitted (kube-proxy
    then behaves as ``Cluster``). ``ports`` keeps each ``spec.ports`` entry as found.
    """

    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="services",
        db_index=False,
        db_constraint=False,
    )
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=16, choices=ServiceType.choices, default="ClusterIP")
    cluster_ip = models.CharField(max_length=64, blank=True)
    cluster_ips = models.JSONField(default=list, blank=True)
    ip_families = models.JSONField(default=list, blank=True)
    ip_family_policy = models.CharField(max_length=32, blank=True)
    ports = models.JSONField(default=list, blank=True)
    selector = models.JSONField(null=True, blank=True, help_text="Null: a selectorless Service.")
    internal_traffic_policy = models.CharField(
        max_length=16, choices=TrafficPolicy.choices, blank=True
    )
    external_traffic_policy = models.CharField(
        max_length=16, choices=TrafficPolicy.choices, blank=True
    )
    traffic_distribution = models.CharField(max_length=32, blank=True)
    topology_mode = models.CharField(
        max_length=32, blank=True, help_text="service.kubernetes.io/topology-mode annotation."
    )
    session_affinity = models.CharField(max_length=16, default="None")
    session_affinity_timeout = models.PositiveIntegerField(null=True, blank=True)
    health_check_node_port = models.PositiveIntegerField(null=True, blank=True)
    external_ips = models.JSONField(default=list, blank=True)
    load_balancer_ingress = models.JSONField(default=list, blank=True)
    load_balancer_source_ranges = models.JSONField(default=list, blank=True)
    external_name = models.CharField(max_length=253, blank=True)
    publish_not_ready_addresses = models.BooleanField(default=False)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    raw = WholeJSONField()

    class Meta:
        ordering = ["cluster", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="service_unique_cluster_ns_name"
            )
        ]
        indexes = [
            models.Index(fields=["cluster", "name"], name="service_cluster_name"),
            models.Index(fields=["cluster", "type"], name="service_cluster_type"),
            models.Index(fields=["cluster", "internal_traffic_policy"], name="service_cluster_itp"),
            models.Index(fields=["cluster", "external_traffic_policy"], name="service_cluster_etp"),
            models.Index(fields=["cluster", "traffic_distribution"], name="service_cluster_td"),
            # The dashboard's search: ClusterIP, name and namespace prefixes.
            models.Index(fields=["cluster", "cluster_ip"], name="service_cluster_clusterip"),
            models.Index(
                fields=["cluster", "name"],
                name="service_cluster_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["cluster", "namespace"],
                name="service_cluster_ns_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Pod(models.Model):
    """A Pod: the workload behind endpoints, and the source of in-cluster calls."""

    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="pods",
        db_index=False,
        db_constraint=False,
    )
    node = models.ForeignKey(
        Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="pods"
    )
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64, blank=True)
    node_name = models.CharField(max_length=253, blank=True)
    pod_ip = models.CharField(max_length=64, blank=True)
    pod_ips = models.JSONField(default=list, blank=True)
    host_network = models.BooleanField(default=False)
    labels = models.JSONField(default=dict, blank=True)
    phase = models.CharField(max_length=16, blank=True)
    ready = models.BooleanField(default=False, help_text="The Ready condition is True.")
    terminating = models.BooleanField(default=False, help_text="deletionTimestamp is set.")
    raw = WholeJSONField()

    class Meta:
        ordering = ["cluster", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="pod_unique_cluster_ns_name"
            )
        ]
        indexes = [
            models.Index(fields=["cluster", "node_name"], name="pod_cluster_node"),
            models.Index(fields=["cluster", "pod_ip"], name="pod_cluster_ip"),
            # The dashboard's search: pod name prefixes.
            models.Index(
                fields=["cluster", "name"],
                name="pod_cluster_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
