"""Jobs (state, progress, log, errors), sync runs and the audit trail; rollback of an apply."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import ErrorSerializer
from core.permissions import CanOperate, CanRead
from jobs.api import examples as ex
from jobs.api import serializers as s
from jobs.api.filters import AuditEntryFilterSet, JobFilterSet, SyncRunFilterSet
from jobs.api.serializers import JobLinkSerializer, job_link
from jobs.models import AuditEntry, Job, SyncRun
from jobs.services import JobRefused, job_rollback

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input (field named)."),
    401: OpenApiResponse(ErrorSerializer, description="Login or token needed."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorSerializer, description="No such object."),
}


@extend_schema_view(
    list=extend_schema(
        summary="List jobs (newest first)",
        responses={200: s.JobSerializer, **_ERRORS},
        examples=[ex.JOB],
    ),
    retrieve=extend_schema(
        summary="One job: state, progress, log, error, result",
        responses={200: s.JobDetailSerializer, **_ERRORS},
        examples=[ex.JOB_DETAIL],
    ),
)
class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Background work: syncs, applies, rollbacks. Poll a job's URL to follow it."""

    permission_classes = [CanRead]
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobFilterSet
    serializer_class = s.JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        jobs = Job.objects.select_related("cluster", "created_by")
        return jobs.defer("log", "params", "result", "task_args") if self.action == "list" else jobs

    def get_serializer_class(self) -> type:
        return s.JobSerializer if self.action == "list" else s.JobDetailSerializer

    @extend_schema(
        summary="Roll back a finished apply job (operators)",
        request=s.RollbackRequestSerializer,
        responses={202: JobLinkSerializer, **_ERRORS},
        examples=[ex.ROLLBACK],
    )
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def rollback(self, request: Request, pk: str | None = None) -> Response:
        """Queue a rollback job that restores what the apply changed."""
        apply_job = self.get_object()
        body = s.RollbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = job_rollback(
                job=apply_job,
                user=request.user,
                confirm_restart=body.validated_data["confirm_restart"],
            )
        except JobRefused as error:  # names its field ("job", "confirm_restart") and code
            raise ValidationError(
                {error.field: [ErrorDetail(str(error), code=error.code)]}
            ) from None
        return Response(job_link(request, job, True), status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="List sync runs",
        responses={200: s.SyncRunSerializer, **_ERRORS},
        examples=[ex.SYNC_RUN],
    ),
    retrieve=extend_schema(
        summary="One sync run",
        responses={200: s.SyncRunSerializer, **_ERRORS},
        examples=[ex.SYNC_RUN],
    ),
)
class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Every sync of every cluster: outcome, object counts, timings, error."""

    permission_classes = [CanRead]
    filter_backends = [DjangoFilterBackend]
    filterset_class = SyncRunFilterSet
    serializer_class = s.SyncRunSerializer
    queryset = SyncRun.objects.select_related("cluster").defer("resource_versions")


@extend_schema_view(
    list=extend_schema(
        summary="List audit entries",
        responses={200: s.AuditEntrySerializer, **_ERRORS},
        examples=[ex.AUDIT],
    ),
    retrieve=extend_schema(
        summary="One audit entry",
        responses={200: s.AuditEntrySerializer, **_ERRORS},
        examples=[ex.AUDIT],
    ),
)
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Who changed which object of which cluster, before -> after, and the result."""

    permission_classes = [CanRead]
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEntryFilterSet
    serializer_class = s.AuditEntrySerializer
    queryset = AuditEntry.objects.all()
