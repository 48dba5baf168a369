"""Serializers of jobs, sync runs and audit entries (what the API shows of background work)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request

from jobs.models import AuditEntry, Job, SyncRun


class JobSerializer(serializers.ModelSerializer):
    """A job's state and progress (the list leaves the log out)."""

    # Model, not Cluster/User: this app never imports ``cluster`` (it is below it).
    cluster: serializers.SlugRelatedField[Model] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    created_by: serializers.SlugRelatedField[Model] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-job-detail")
    done = serializers.BooleanField(source="is_done", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "kind",
            "state",
            "done",
            "progress",
            "message",
            "error",
            "cluster",
            "created_by",
            "parent",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]


class JobDetailSerializer(JobSerializer):
    """A job with its log, input parameters and result."""

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "log", "params", "result", "attempts", "heartbeat_at"]


class SyncRunSerializer(serializers.ModelSerializer):
    """One sync of a cluster: outcome, counts, timings, error."""

    cluster: serializers.SlugRelatedField[Model] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "cluster",
            "job",
            "mode",
            "status",
            "counts",
            "revision_before",
            "revision_after",
            "fetch_seconds",
            "apply_seconds",
            "duration_seconds",
            "error",
            "started_at",
            "finished_at",
        ]


class AuditEntrySerializer(serializers.ModelSerializer):
    """Who changed which object, from what to what, and how it went."""

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "username",
            "cluster_name",
            "job",
            "action",
            "object_kind",
            "object_namespace",
            "object_name",
            "before",
            "after",
            "resource_version_before",
            "resource_version_after",
            "result",
            "message",
        ]


class RollbackRequestSerializer(serializers.Serializer):
    """Roll back a finished apply job."""

    confirm_restart = serializers.BooleanField(
        default=False,
        help_text="Needed to roll back a kube-proxy change: kube-proxy restarts "
        "and reprograms its rules on every node.",
    )


class JobLinkSerializer(serializers.Serializer):
    """Where to follow a job that an action started."""

    job_id = serializers.IntegerField()
    state = serializers.CharField()
    url = serializers.CharField(help_text="GET this to follow progress, log and errors.")
    created = serializers.BooleanField(
        help_text="False when an already queued or running "
        "job was returned instead of a new one."
    )


def job_link(request: Request, job: Any, created: bool) -> dict[str, Any]:
    """The body of a 202 answer: the job's id, state and the URL to follow it at."""
    url = request.build_absolute_uri(reverse("api-job-detail", kwargs={"pk": job.pk}))
    return {"job_id": job.pk, "state": job.state, "url": url, "created": created}
