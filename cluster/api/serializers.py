"""Read serializers for stored cluster state.

List serializers leave out ``raw`` (the object's JSON can be large); detail serializers add
it. Connection settings are summarised as ``live``: a kubeconfig *path* is a server detail
and its contents are a credential, so neither ever leaves the server.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.redact import pod_redacted


class KubeProxyConfigSerializer(serializers.ModelSerializer):
    """The cluster's kube-proxy configuration (from the kube-system/kube-proxy ConfigMap)."""

    present = serializers.SerializerMethodField(
        help_text="False when the ConfigMap was absent " "and kube-proxy's defaults apply."
    )

    class Meta:
        model = KubeProxyConfig
        fields = [
            "mode",
            "ipvs_scheduler",
            "cluster_cidr",
            "detect_local_mode",
            "masquerade_all",
            "node_overrides",
            "present",
        ]

    def get_present(self, obj: KubeProxyConfig) -> bool:
        return obj.raw is not None


class ClusterSerializer(serializers.ModelSerializer):
    """A stored cluster; ``live`` tells whether it can be synced from an API server."""

    live = serializers.SerializerMethodField(
        help_text="True when the cluster has connection settings (sync and apply possible)."
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-cluster-detail", lookup_field="name")

    class Meta:
        model = Cluster
        fields = [
            "url",
            "name",
            "source",
            "revision",
            "description",
            "live",
            "kube_context",
            "in_cluster",
            "last_synced_at",
            "created_at",
            "updated_at",
        ]

    def get_live(self, obj: Cluster) -> bool:
        return bool(obj.kubeconfig_path or obj.in_cluster)


class ClusterDetailSerializer(ClusterSerializer):
    """A cluster with its kube-proxy configuration and what its last load found."""

    kube_proxy = serializers.SerializerMethodField()

    class Meta(ClusterSerializer.Meta):
        fields = [*ClusterSerializer.Meta.fields, "kube_proxy", "import_summary"]

    @extend_schema_field(KubeProxyConfigSerializer(allow_null=True))
    def get_kube_proxy(self, obj: Cluster) -> dict[str, Any] | None:
        config = getattr(obj, "kube_proxy_config", None)
        return KubeProxyConfigSerializer(config).data if config is not None else None


class _ScopedSerializer(serializers.ModelSerializer):
    """Rows that belong to a cluster name it (and keep ``raw`` for the detail view)."""

    cluster: serializers.SlugRelatedField[Cluster] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )


class NodeSerializer(_ScopedSerializer):
    """A node: zone, readiness, cordon, addresses, versions."""

    class Meta:
        model = Node
        fields = [
            "id",
            "cluster",
            "name",
            "zone",
            "region",
            "ready",
            "unschedulable",
            "labels",
            "taints",
            "internal_ips",
            "pod_cidrs",
            "kubelet_version",
            "kube_proxy_version",
        ]


class NodeDetailSerializer(NodeSerializer):
    """A node with its raw Kubernetes object."""

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "addresses", "raw"]


class ServiceSerializer(_ScopedSerializer):
    """A Service with the fields kube-proxy reads; policies as written ("" = omitted)."""

    key = serializers.SerializerMethodField(help_text="namespace/name")
    effective_internal_traffic_policy = serializers.SerializerMethodField()
    effective_external_traffic_policy = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = [
            "id",
            "cluster",
            "key",
            "namespace",
            "name",
            "type",
            "cluster_ip",
            "cluster_ips",
            "ports",
            "selector",
            "internal_traffic_policy",
            "external_traffic_policy",
            "effective_internal_traffic_policy",
            "effective_external_traffic_policy",
            "traffic_distribution",
            "topology_mode",
            "session_affinity",
            "session_affinity_timeout",
            "health_check_node_port",
            "external_ips",
            "load_balancer_ingress",
            "publish_not_ready_addresses",
        ]

    def get_key(self, obj: Service) -> str:
        return f"{obj.namespace}/{obj.name}"

    def get_effective_internal_traffic_policy(self, obj: Service) -> str:
        return obj.internal_traffic_policy or "Cluster"

    def get_effective_external_traffic_policy(self, obj: Service) -> str:
        return obj.external_traffic_policy or "Cluster"


class ServiceDetailSerializer(ServiceSerializer):
    """A Service with labels, annotations and its raw object."""

    class Meta(ServiceSerializer.Meta):
        fields = [
            *ServiceSerializer.Meta.fields,
            "ip_families",
            "ip_family_policy",
            "load_balancer_source_ranges",
            "external_name",
            "labels",
            "annotations",
            "raw",
        ]


class EndpointSliceSerializer(_ScopedSerializer):
    """An EndpointSlice; ``service_missing`` flags a slice whose Service is not stored."""

    class Meta:
        model = EndpointSlice
        fields = [
            "id",
            "cluster",
            "namespace",
            "name",
            "service_name",
            "service_missing",
            "address_type",
            "ports",
            "managed_by",
        ]


class EndpointSliceDetailSerializer(EndpointSliceSerializer):
    """A slice with its labels and raw object."""

    class Meta(EndpointSliceSerializer.Meta):
        fields = [*EndpointSliceSerializer.Meta.fields, "labels", "raw"]


class EndpointSerializer(_ScopedSerializer):
    """One endpoint; conditions with kube-proxy's defaults applied."""

    slice: serializers.SlugRelatedField[EndpointSlice] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    service = serializers.SerializerMethodField(
        help_text="namespace/name of the owning Service (from the slice's label)"
    )
    target = serializers.SerializerMethodField(help_text="targetRef as Kind/namespace/name")

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "cluster",
            "service",
            "slice",
            "address",
            "addresses",
            "ready",
            "serving",
            "terminating",
            "node_name",
            "zone",
            "hostname",
            "hints_for_zones",
            "hints_for_nodes",
            "target",
        ]

    def to_representation(self, obj: Endpoint) -> dict[str, Any]:
        # Written out by hand: endpoint lists are the API's hottest path, and DRF's
        # per-field machinery costs more than the query. A test keeps it equal to the
        # generic rendering of the declared fields.
        slice_ = obj.slice
        return {
            "id": obj.pk,
            "cluster": obj.cluster.name,
            "service": f"{slice_.namespace}/{slice_.service_name}",
            "slice": slice_.name,
            "address": obj.address,
            "addresses": obj.addresses,
            "ready": obj.ready,
            "serving": obj.serving,
            "terminating": obj.terminating,
            "node_name": obj.node_name,
            "zone": obj.zone,
            "hostname": obj.hostname,
            "hints_for_zones": obj.hints_for_zones,
            "hints_for_nodes": obj.hints_for_nodes,
            "target": self.get_target(obj),
        }

    def get_service(self, obj: Endpoint) -> str:
        return f"{obj.slice.namespace}/{obj.slice.service_name}"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_target(self, obj: Endpoint) -> str | None:
        if not obj.target_name:
            return None
        return f"{obj.target_kind}/{obj.target_namespace}/{obj.target_name}"


class EndpointDetailSerializer(EndpointSerializer):
    """An endpoint with the raw entry of its slice."""

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "raw"]

    def to_representation(self, obj: Endpoint) -> dict[str, Any]:
        return {**super().to_representation(obj), "raw": obj.raw}


class PodSerializer(_ScopedSerializer):
    """A pod: where it runs, its IPs, phase and readiness."""

    class Meta:
        model = Pod
        fields = [
            "id",
            "cluster",
            "namespace",
            "name",
            "node_name",
            "pod_ip",
            "pod_ips",
            "host_network",
            "labels",
            "phase",
            "ready",
            "terminating",
        ]


class PodDetailSerializer(PodSerializer):
    """A pod with its raw object (never its literal env values: ``cluster.redact``)."""

    class Meta(PodSerializer.Meta):
        fields = [*PodSerializer.Meta.fields, "raw"]

    def to_representation(self, obj: Pod) -> dict[str, Any]:
        data = super().to_representation(obj)
        data["raw"] = pod_redacted(data["raw"])  # rows stored before redaction existed
        return data


class MeSerializer(serializers.Serializer):
    """The caller: identity, how it authenticated, and its rights."""

    authenticated = serializers.BooleanField()
    username = serializers.CharField(allow_null=True)
    auth = serializers.ChoiceField(("token", "session"), allow_null=True)
    can_read = serializers.BooleanField()
    can_operate = serializers.BooleanField(help_text="May sync clusters and apply changes.")
