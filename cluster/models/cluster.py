"""The cluster itself and its kube-proxy configuration."""

from __future__ import annotations

from django.db import models

from cluster.models.jsontext import WholeJSONField


class ClusterSource(models.TextChoices):
    """Where a cluster's state came from."""

    IMPORTED = "imported", "Imported from a dump"
    SYNCED = "synced", "Synced from a live API server"
    DEMO = "demo", "Demo cluster"
    GENERATED = "generated", "Generated for benchmarks"


class Cluster(models.Model):
    """A Kubernetes cluster whose Service routing Routescope explains.

    Connection settings name a kubeconfig file and context (or in-cluster config); the
    credentials themselves are never stored. ``revision`` grows by one on every change to
    the cluster's objects, so caches of derived data (engine snapshots) key on it.
    """

    name = models.CharField(max_length=253, unique=True, help_text="Unique, e.g. 'prod-eu'.")
    source = models.CharField(
        max_length=16, choices=ClusterSource.choices, default=ClusterSource.IMPORTED
    )
    revision = models.PositiveBigIntegerField(
        default=0, help_text="Bumped on every change to the cluster's objects."
    )
    description = models.TextField(blank=True)
    kubeconfig_path = models.CharField(
        max_length=1024, blank=True, help_text="Path to a kubeconfig file (never its content)."
    )
    kube_context = models.CharField(max_length=253, blank=True)
    in_cluster = models.BooleanField(
        default=False, help_text="Use the pod's service account instead of a kubeconfig."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    import_summary = models.JSONField(
        default=dict, blank=True, help_text="Counts, skipped kinds and flags of the last load."
    )
    #: ``{"revision": n, "counts": {kind: rows}}``: the rows per kind at revision ``n``, as
    #: the import or sync that wrote them counted them and each watch batch since moved
    #: them on (``cluster.selectors.written_counts``), so pages need no COUNT over the Pods.
    row_counts = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("operate_cluster", "Can sync clusters and apply changes")]

    def __str__(self) -> str:
        return self.name

    @property
    def state_key(self) -> tuple[int, int, float]:
        """Cache key of the cluster's current state: pk, revision and creation time.

        The revision alone is not enough: a deleted cluster's pk can be handed out again
        (SQLite reuses the highest rowid) with its revision restarting at 1, and a
        rolled-back test database does the same; the creation time tells them apart.
        """
        created = self.created_at.timestamp() if self.created_at else 0.0
        return (self.pk, self.revision, created)


class ProxyMode(models.TextChoices):
    """kube-proxy's ``mode``; an empty mode means iptables on Linux."""

    IPTABLES = "iptables", "iptables"
    NFTABLES = "nftables", "nftables"
    IPVS = "ipvs", "IPVS"
    USERSPACE = "userspace", "userspace (removed in 1.26)"


class KubeProxyConfig(models.Model):
    """The cluster's kube-proxy configuration, from the ``kube-system/kube-proxy`` ConfigMap.

    Parsed from its ``config.conf`` (a KubeProxyConfiguration). A cluster without that
    ConfigMap gets kube-proxy's defaults (iptables) and ``raw`` = None. ``node_overrides``
    maps a node name to the fields that differ on that node, e.g.
    ``{"n7": {"mode": "ipvs", "ipvsScheduler": "lc"}}``.
    """

    cluster = models.OneToOneField(
        Cluster, on_delete=models.CASCADE, related_name="kube_proxy_config"
    )
    mode = models.CharField(max_length=16, choices=ProxyMode.choices, default=ProxyMode.IPTABLES)
    ipvs_scheduler = models.CharField(max_length=16, default="rr")
    cluster_cidr = models.CharField(
        max_length=512, blank=True, help_text="clusterCIDR, comma-separated for dual-stack."
    )
    detect_local_mode = models.CharField(max_length=32, blank=True)
    masquerade_all = models.BooleanField(default=False)
    node_overrides = models.JSONField(default=dict, blank=True)
    config = models.JSONField(
        default=dict, blank=True, help_text="The parsed config.conf, as found."
    )
    # Kept as written, like every object's raw (cluster.models.jsontext).
    raw = WholeJSONField(null=True, blank=True, help_text="The ConfigMap; null when absent.")
    extra_config_maps = WholeJSONField(
        default=list,
        blank=True,
        help_text="Other kube-system ConfigMaps kube-proxy Pods mount (e.g. a second"
        " DaemonSet's during a mode migration), kept as found.",
    )

    class Meta:
        verbose_name = "kube-proxy configuration"

    def __str__(self) -> str:
        return f"{self.cluster.name}: {self.mode}"
