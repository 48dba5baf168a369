"""Admin for the stored cluster state. Object rows come from imports and syncs, so their
``raw`` JSON (and everything derived from it) is read-only here: editing one field would
leave the row disagreeing with the object it was parsed from.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.services import cluster_delete


def _pretty(value) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2))


class RawJSONAdmin(admin.ModelAdmin):
    """Read-only rows with the raw object shown as indented JSON."""

    show_full_result_count = False  # avoid COUNT(*) over 150,000-row tables on every page
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields if f.name != "raw"] + ["raw_json"]

    def get_exclude(self, request, obj=None):
        return ["raw"]

    @admin.display(description="raw object")
    def raw_json(self, obj) -> str:
        return _pretty(obj.raw)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Clusters: connection settings are editable, state counters are not."""

    list_display = ("name", "source", "revision", "last_synced_at", "updated_at")
    list_filter = ("source",)
    search_fields = ("name", "description")
    readonly_fields = ("revision", "created_at", "updated_at", "last_synced_at", "summary_json")
    exclude = ("import_summary",)

    @admin.display(description="last import summary")
    def summary_json(self, obj) -> str:
        return _pretty(obj.import_summary)

    def delete_model(self, request, obj) -> None:
        cluster_delete(cluster=obj)

    def delete_queryset(self, request, queryset) -> None:
        for cluster in queryset:
            cluster_delete(cluster=cluster)


@admin.register(Node)
class NodeAdmin(RawJSONAdmin):
    list_display = ("name", "cluster", "zone", "ready", "unschedulable", "kubelet_version")
    list_filter = ("cluster", "ready", "unschedulable", "zone")
    search_fields = ("name",)
    list_select_related = ("cluster",)


@admin.register(Service)
class ServiceAdmin(RawJSONAdmin):
    list_display = (
        "__str__",
        "cluster",
        "type",
        "internal_traffic_policy",
        "external_traffic_policy",
        "traffic_distribution",
        "session_affinity",
    )
    list_filter = ("cluster", "type", "internal_traffic_policy", "external_traffic_policy")
    search_fields = ("namespace", "name", "cluster_ip")
    list_select_related = ("cluster",)


@admin.register(EndpointSlice)
class EndpointSliceAdmin(RawJSONAdmin):
    list_display = ("__str__", "cluster", "service_name", "address_type", "service_missing")
    list_filter = ("cluster", "address_type", "service_missing")
    search_fields = ("namespace", "name", "service_name")
    list_select_related = ("cluster",)


@admin.register(Endpoint)
class EndpointAdmin(RawJSONAdmin):
    list_display = ("address", "slice", "node_name", "zone", "ready", "serving", "terminating")
    list_filter = ("cluster", "ready", "serving", "terminating")
    search_fields = ("address", "node_name", "target_name")
    list_select_related = ("slice",)


@admin.register(Pod)
class PodAdmin(RawJSONAdmin):
    list_display = ("__str__", "cluster", "node_name", "pod_ip", "phase", "ready", "terminating")
    list_filter = ("cluster", "phase", "ready", "terminating")
    search_fields = ("namespace", "name", "pod_ip", "node_name")
    list_select_related = ("cluster",)


@admin.register(KubeProxyConfig)
class KubeProxyConfigAdmin(RawJSONAdmin):
    list_display = ("cluster", "mode", "ipvs_scheduler", "cluster_cidr")
    list_select_related = ("cluster",)

    def raw_json(self, obj) -> str:
        return _pretty(obj.raw) if obj.raw is not None else "(no kube-proxy ConfigMap: defaults)"
