"""Admin for job rows: read-mostly, since workers write them."""

from django.contrib import admin

from jobs.models import AuditEntry, Job, SyncRun


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs with state and progress; everything but state is read-only."""

    list_display = (
        "id",
        "kind",
        "state",
        "progress",
        "message",
        "cluster",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "state")
    search_fields = ("message", "error", "cluster__name")
    readonly_fields = (
        "kind",
        "progress",
        "message",
        "log",
        "error",
        "cluster",
        "created_by",
        "parent",
        "params",
        "result",
        "task_name",
        "task_args",
        "celery_task_id",
        "attempts",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
    )


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Sync runs: outcome, counts and timings."""

    list_display = (
        "id",
        "cluster",
        "mode",
        "status",
        "started_at",
        "finished_at",
        "fetch_seconds",
        "apply_seconds",
    )
    list_filter = ("status", "mode")
    readonly_fields = [f.name for f in SyncRun._meta.fields]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail is evidence: nobody edits or deletes it here."""

    list_display = (
        "created_at",
        "username",
        "cluster_name",
        "action",
        "object_kind",
        "object_namespace",
        "object_name",
        "result",
    )
    list_filter = ("action", "result")
    search_fields = ("username", "cluster_name", "object_name")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
