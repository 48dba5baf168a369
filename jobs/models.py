"""Rows for background work: what pages and the API show instead of Celery internals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Job(models.Model):
    """One unit of background work (a sync, an apply, a rollback ...) and its progress.

    The row is the source of truth: a Celery message only says "run job N". A task starts
    a job with a conditional QUEUED -> RUNNING update, so a redelivered or duplicated
    message never runs a job twice.
    """

    class Kind(models.TextChoices):
        SYNC = "sync", "Sync"
        APPLY = "apply", "Apply"
        ROLLBACK = "rollback", "Rollback"
        SIMULATE = "simulate", "Simulate"
        PROXY_CHANGE = "proxy_change", "Proxy change"
        ANALYSIS = "analysis", "Analysis shard"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    DONE_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0..100")
    message = models.CharField(max_length=255, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cluster = models.ForeignKey(
        "cluster.Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="For a rollback: the apply job it reverses.",
    )
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    task_name = models.CharField(
        max_length=200, blank=True, help_text="The Celery task that runs this job."
    )
    task_args = models.JSONField(
        default=list, blank=True, help_text="Its JSON arguments (re-sent if the message is lost)."
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the process running the job; "
        "a running job without one for a while has lost it.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="jobs_job_progress_lte_100"
            ),
            # Coalescing in the database itself: at most one queued/running sync per cluster.
            models.UniqueConstraint(
                fields=["cluster"],
                condition=Q(kind="sync", state__in=["queued", "running"]),
                name="jobs_job_one_active_sync_per_cluster",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "created_at"], name="jobs_job_state_created"),
            models.Index(fields=["cluster", "kind", "-created_at"], name="jobs_job_cluster_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def is_done(self) -> bool:
        """True once the job reached a final state."""
        return self.state in self.DONE_STATES


class SyncRun(models.Model):
    """The record of one sync of a cluster: outcome, counts, timings, error."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        UNCHANGED = "unchanged", "Unchanged"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        FULL = "full", "Full list"
        WATCH = "watch", "Watch events"

    cluster = models.ForeignKey(
        "cluster.Cluster", on_delete=models.CASCADE, related_name="sync_runs"
    )
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_runs"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FULL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    counts = models.JSONField(
        default=dict, blank=True, help_text="Objects fetched per kind, and added/changed/removed."
    )
    resource_versions = models.JSONField(
        default=dict, blank=True, help_text="List resourceVersion per resource."
    )
    revision_before = models.PositiveIntegerField(null=True, blank=True)
    revision_after = models.PositiveIntegerField(null=True, blank=True)
    fetch_seconds = models.FloatField(null=True, blank=True)
    apply_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Not a column: set by ``cluster_sync`` on the run it returns (retry the failure?).
    error_transient: bool

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["cluster", "-started_at"], name="jobs_syncrun_cluster")]

    def __str__(self) -> str:
        return f"Sync of cluster {self.cluster_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the run, once finished."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class AuditEntry(models.Model):
    """Who changed which object of which cluster, from what to what, and how it went."""

    class Action(models.TextChoices):
        APPLY = "apply", "Apply"
        ROLLBACK = "rollback", "Rollback"
        PROXY_CHANGE = "proxy_change", "Proxy change"
        RESTART = "restart", "Restart"

    class Result(models.TextChoices):
        APPLIED = "applied", "Applied and verified"
        CONFLICT = "conflict", "Refused: changed concurrently"
        INVALID = "invalid", "Refused by the API server"
        FAILED = "failed", "Failed"
        NOT_VERIFIED = "not_verified", "Applied, verification mismatch"

    created_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="Kept when the user is deleted."
    )
    cluster = models.ForeignKey(
        "cluster.Cluster",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    cluster_name = models.CharField(max_length=200, blank=True)
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    object_kind = models.CharField(max_length=40)
    object_namespace = models.CharField(max_length=253, blank=True)
    object_name = models.CharField(max_length=253)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    resource_version_before = models.CharField(max_length=64, blank=True)
    resource_version_after = models.CharField(max_length=64, blank=True)
    result = models.CharField(max_length=20, choices=Result.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["cluster", "-created_at"], name="jobs_audit_cluster"),
            models.Index(
                fields=["object_kind", "object_namespace", "object_name"], name="jobs_audit_object"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.action} {self.object_kind} {self.object_namespace}/{self.object_name}: "
            f"{self.result}"
        )
