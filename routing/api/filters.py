"""FilterSet of saved scenarios (shared by the API list and the scenarios page)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from cluster.models import Cluster
from core.filters import CachedFormFilterSet
from routing.models import SavedTimeline, Scenario


class ScenarioFilterSet(CachedFormFilterSet):
    """Scenarios by cluster name, author, free text."""

    cluster = filters.ModelChoiceFilter(queryset=Cluster.objects.all(), to_field_name="name")
    created_by = filters.CharFilter(field_name="created_by__username")
    q = filters.CharFilter(method="filter_q", label="Search")
    ordering = filters.OrderingFilter(fields=("name", "created_at", "updated_at"))

    class Meta:
        model = Scenario
        fields = ["cluster", "created_by"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Search names and descriptions."""
        for word in value.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word))
        return queryset


class SavedTimelineFilterSet(CachedFormFilterSet):
    """Saved timelines by cluster name, Service (ns/name), author."""

    cluster = filters.ModelChoiceFilter(queryset=Cluster.objects.all(), to_field_name="name")
    service = filters.CharFilter(help_text="namespace/name")
    created_by = filters.CharFilter(field_name="created_by__username")

    class Meta:
        model = SavedTimeline
        fields = ["cluster", "service", "created_by"]
