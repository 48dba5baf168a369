"""FilterSets of the jobs app's rows (shared by the API lists and the jobs page)."""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django_filters import rest_framework as filters

from core.filters import CachedFormFilterSet, StrictBooleanFilter
from jobs.models import AuditEntry, Job, SyncRun


def _cluster_model() -> type[Model]:
    model = Job._meta.get_field("cluster").related_model
    assert not isinstance(model, str)  # resolved to the class once the app registry is ready
    return model


#: Jobs name the cluster they acted on by a lazy model reference ("cluster.Cluster"):
#: this app is below ``cluster`` and never imports it.
Cluster = _cluster_model()


class JobFilterSet(CachedFormFilterSet):
    """Jobs by cluster name, kind, state; ``active=true`` for queued or running ones."""

    cluster = filters.ModelChoiceFilter(
        queryset=Cluster._default_manager.all(), to_field_name="name"
    )
    kind = filters.ChoiceFilter(choices=Job.Kind.choices)
    state = filters.ChoiceFilter(choices=Job.State.choices)
    active = StrictBooleanFilter(method="filter_active")
    ordering = filters.OrderingFilter(fields=("created_at", "updated_at", "state", "kind"))

    class Meta:
        model = Job
        fields = ["cluster", "kind", "state", "active"]

    def filter_active(self, queryset: QuerySet[Job], name: str, value: bool) -> QuerySet[Job]:
        """Queued or running (true), or finished (false)."""
        if value:
            return queryset.filter(state__in=Job.ACTIVE_STATES)
        return queryset.exclude(state__in=Job.ACTIVE_STATES)


class SyncRunFilterSet(CachedFormFilterSet):
    """Sync runs by cluster name, status, mode."""

    cluster = filters.ModelChoiceFilter(
        queryset=Cluster._default_manager.all(), to_field_name="name"
    )
    status = filters.ChoiceFilter(choices=SyncRun.Status.choices)
    mode = filters.ChoiceFilter(choices=SyncRun.Mode.choices)

    class Meta:
        model = SyncRun
        fields = ["cluster", "status", "mode"]


class AuditEntryFilterSet(CachedFormFilterSet):
    """Audit entries by cluster name, job, action, result, object namespace/name."""

    cluster = filters.ModelChoiceFilter(
        queryset=Cluster._default_manager.all(), to_field_name="name"
    )
    # Bounded and whole: an id past 64 bits (or 1e300) overflowed in the database (a 500).
    job = filters.NumberFilter(
        field_name="job_id", min_value=1, max_value=2**63 - 1, decimal_places=0
    )
    action = filters.ChoiceFilter(choices=AuditEntry.Action.choices)
    result = filters.ChoiceFilter(choices=AuditEntry.Result.choices)
    namespace = filters.CharFilter(field_name="object_namespace")
    name = filters.CharFilter(field_name="object_name")

    class Meta:
        model = AuditEntry
        fields = ["cluster", "job", "action", "result", "namespace", "name"]
