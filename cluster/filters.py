"""One FilterSet per stored model, shared by the API lists and the dashboard tables.

Every FilterSet takes ``cluster`` (the cluster's *name*), ``q`` (free-text search) and
``ordering`` (a field name, ``-`` for descending), plus the model's own filters. An unknown
cluster name or a bad choice is a validation error naming the parameter, never an empty
page that looks like "no services".

Policies are filtered by their *effective* value: an omitted ``internalTrafficPolicy`` is
``Cluster`` to kube-proxy, so ``internal_traffic_policy=Cluster`` matches it too.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from cluster.models import (
    Cluster,
    ClusterSource,
    Endpoint,
    EndpointSlice,
    Node,
    Pod,
    Service,
    ServiceType,
    TrafficPolicy,
)
from core.filters import CachedFormFilterSet, StrictBooleanFilter


def _search(queryset: QuerySet, fields: tuple[str, ...], value: str) -> QuerySet:
    """Rows where every whitespace-separated word occurs in one of ``fields``."""
    for word in value.split():
        condition = Q()
        for field in fields:
            condition |= Q(**{f"{field}__icontains": word})
        queryset = queryset.filter(condition)
    return queryset


class _ClusterScoped(CachedFormFilterSet):
    """Common filters of the models that belong to a cluster."""

    cluster = filters.ModelChoiceFilter(
        queryset=Cluster.objects.all(),
        to_field_name="name",
        field_name="cluster",
        label="Cluster name",
    )
    search_fields: tuple[str, ...] = ()

    q = filters.CharFilter(method="filter_q", label="Search")

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Free-text search over the model's ``search_fields``."""
        return _search(queryset, self.search_fields, value)


class ClusterFilterSet(CachedFormFilterSet):
    """Clusters by name, source, free text."""

    q = filters.CharFilter(method="filter_q", label="Search")
    source = filters.ChoiceFilter(choices=ClusterSource.choices)
    ordering = filters.OrderingFilter(fields=("name", "revision", "created_at", "last_synced_at"))

    class Meta:
        model = Cluster
        fields = ["name", "source"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Search names and descriptions."""
        return _search(queryset, ("name", "description"), value)


class NodeFilterSet(_ClusterScoped):
    """Nodes by zone, region, readiness, cordon, kube-proxy version."""

    search_fields = ("name", "zone")
    zone = filters.CharFilter()
    region = filters.CharFilter()
    ready = StrictBooleanFilter()
    unschedulable = StrictBooleanFilter()
    ordering = filters.OrderingFilter(fields=("name", "zone", "region", "ready", "unschedulable"))

    class Meta:
        model = Node
        fields = ["cluster", "name", "zone", "region", "ready", "unschedulable"]


class ServiceFilterSet(_ClusterScoped):
    """Services by namespace, type, policies, traffic distribution, affinity."""

    search_fields = ("name", "namespace")
    namespace = filters.CharFilter()
    type = filters.ChoiceFilter(choices=ServiceType.choices)
    internal_traffic_policy = filters.ChoiceFilter(
        choices=TrafficPolicy.choices,
        method="filter_policy",
        label="Effective internalTrafficPolicy (omitted counts as Cluster)",
    )
    external_traffic_policy = filters.ChoiceFilter(
        choices=TrafficPolicy.choices,
        method="filter_policy",
        label="Effective externalTrafficPolicy (omitted counts as Cluster)",
    )
    traffic_distribution = filters.CharFilter()
    session_affinity = filters.ChoiceFilter(choices=(("None", "None"), ("ClientIP", "ClientIP")))
    ordering = filters.OrderingFilter(fields=("namespace", "name", "type"))

    class Meta:
        model = Service
        fields = [
            "cluster",
            "namespace",
            "name",
            "type",
            "internal_traffic_policy",
            "external_traffic_policy",
            "traffic_distribution",
            "session_affinity",
        ]

    def filter_policy(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Match the effective policy: an omitted field behaves as ``Cluster``."""
        if value == TrafficPolicy.CLUSTER:
            return queryset.filter(Q(**{name: value}) | Q(**{name: ""}))
        return queryset.filter(**{name: value})


def _service_filter(queryset: QuerySet, prefix: str, value: str) -> QuerySet:
    namespace, _, name = value.partition("/")
    if not name:
        return queryset.none()  # the field validator below reports the bad form first
    return queryset.filter(**{f"{prefix}namespace": namespace, f"{prefix}service_name": name})


def _validate_service_key(value: str) -> None:
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        # The value goes in as a parameter: Django %-formats messages, and a "%" in the
        # input would otherwise turn a 400 into a TypeError (a 500).
        raise ValidationError(
            "%(value)r is not a Service as namespace/name", code="invalid", params={"value": value}
        )


class EndpointSliceFilterSet(_ClusterScoped):
    """EndpointSlices by namespace, owning service (``ns/name``), address type."""

    search_fields = ("name", "service_name", "namespace")
    namespace = filters.CharFilter()
    service = filters.CharFilter(
        method="filter_service",
        validators=[_validate_service_key],
        label="Service as namespace/name",
    )
    service_missing = StrictBooleanFilter()
    address_type = filters.ChoiceFilter(
        choices=(("IPv4", "IPv4"), ("IPv6", "IPv6"), ("FQDN", "FQDN"))
    )
    ordering = filters.OrderingFilter(fields=("namespace", "name", "service_name"))

    class Meta:
        model = EndpointSlice
        fields = ["cluster", "namespace", "name", "service", "service_missing", "address_type"]

    def filter_service(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Slices labelled ``kubernetes.io/service-name`` = the service, in its namespace."""
        return _service_filter(queryset, "", value)


class EndpointFilterSet(_ClusterScoped):
    """Endpoints by service, node, zone, conditions, address."""

    search_fields = ("address", "node_name", "target_name")
    service = filters.CharFilter(
        method="filter_service",
        validators=[_validate_service_key],
        label="Service as namespace/name",
    )
    namespace = filters.CharFilter(field_name="slice__namespace")
    node = filters.CharFilter(field_name="node_name")
    zone = filters.CharFilter()
    address = filters.CharFilter()
    ready = StrictBooleanFilter()
    serving = StrictBooleanFilter()
    terminating = StrictBooleanFilter()
    ordering = filters.OrderingFilter(fields=("address", "node_name", "zone", "ready"))

    class Meta:
        model = Endpoint
        fields = [
            "cluster",
            "service",
            "namespace",
            "node",
            "zone",
            "address",
            "ready",
            "serving",
            "terminating",
        ]

    def filter_service(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Endpoints of the service's slices."""
        return _service_filter(queryset, "slice__", value)


class PodFilterSet(_ClusterScoped):
    """Pods by namespace, node, phase, readiness, IP."""

    search_fields = ("name", "namespace", "pod_ip")
    namespace = filters.CharFilter()
    node = filters.CharFilter(field_name="node_name")
    phase = filters.CharFilter()
    ready = StrictBooleanFilter()
    terminating = StrictBooleanFilter()
    ip = filters.CharFilter(field_name="pod_ip")
    ordering = filters.OrderingFilter(fields=("namespace", "name", "node_name", "phase"))

    class Meta:
        model = Pod
        fields = ["cluster", "namespace", "name", "node", "phase", "ready", "terminating", "ip"]
