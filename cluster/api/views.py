"""Read-only API over stored cluster state, plus the per-cluster sync trigger.

Every list has a fixed number of queries whatever the page size: one for the cluster
filter (when given), one count, one page — related rows come by ``select_related`` and the
big ``raw`` columns are left out of lists.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.api import examples as ex
from cluster.api import serializers as s
from cluster.filters import (
    ClusterFilterSet,
    EndpointFilterSet,
    EndpointSliceFilterSet,
    NodeFilterSet,
    PodFilterSet,
    ServiceFilterSet,
)
from cluster.models import Cluster, Endpoint, EndpointSlice, Node, Pod, Service
from core.api.errors import ErrorSerializer, error_body
from core.permissions import CanOperate, CanRead, request_can_operate, user_can_read
from jobs.api.serializers import JobLinkSerializer, job_link

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad filter value (field named)."),
    401: OpenApiResponse(ErrorSerializer, description="Login or token needed."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorSerializer, description="No such object."),
}


class _LeanFilterInit:
    """A FilterSet ``__init__`` that copies its filters shallowly.

    django-filter deep-copies every declared filter (and its lazy queryset) per request,
    about a millisecond per list; a request only sets ``model`` and ``parent`` on its
    filters, so a shallow copy keeps requests apart just as well.
    """

    def __init__(
        self,
        data: Any = None,
        queryset: QuerySet | None = None,
        *,
        request: Any = None,
        prefix: str | None = None,
    ) -> None:
        if queryset is None:
            queryset = self._meta.model._default_manager.all()  # type: ignore[attr-defined]
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: copy.copy(filter_) for name, filter_ in self.base_filters.items()}  # type: ignore[attr-defined]
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self
            if filter_.method is not None:  # rebind its FilterMethod to this copy
                filter_.method = filter_.method


_lean_classes: dict[type, type] = {}


class _LeanFilterBackend(DjangoFilterBackend):
    """``DjangoFilterBackend`` using the view's FilterSet with :class:`_LeanFilterInit`."""

    def get_filterset_class(self, view: Any, queryset: QuerySet | None = None) -> Any:
        cls = super().get_filterset_class(view, queryset)
        if cls is None:
            return None
        if cls not in _lean_classes:
            _lean_classes[cls] = type(
                cls.__name__,
                (_LeanFilterInit, cls),
                {"__module__": cls.__module__, "__doc__": cls.__doc__},
            )
        return _lean_classes[cls]


class _ReadOnly(viewsets.ReadOnlyModelViewSet):
    """A list + detail endpoint: list serializer for lists, detail serializer (with raw) else."""

    permission_classes = [CanRead]
    filter_backends = [_LeanFilterBackend]
    detail_serializer_class: type[serializers.Serializer]
    list_only: tuple[str, ...] = ()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "retrieve":
            return self.detail_serializer_class
        assert self.serializer_class is not None  # every subclass sets one
        return self.serializer_class

    def get_queryset(self) -> QuerySet:
        assert self.queryset is not None  # every subclass sets one
        queryset = self.queryset.all()
        return queryset.defer(*self.list_only) if self.action == "list" else queryset


@extend_schema_view(
    list=extend_schema(
        summary="List clusters",
        responses={200: s.ClusterSerializer, **_ERRORS},
        examples=[ex.CLUSTER],
    ),
    retrieve=extend_schema(
        summary="One cluster, with its kube-proxy configuration",
        responses={200: s.ClusterDetailSerializer, **_ERRORS},
        examples=[ex.CLUSTER_DETAIL],
    ),
)
class ClusterViewSet(_ReadOnly):
    """Stored clusters, looked up by name."""

    queryset = Cluster.objects.select_related("kube_proxy_config")
    serializer_class = s.ClusterSerializer
    detail_serializer_class = s.ClusterDetailSerializer
    filterset_class = ClusterFilterSet
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet:
        if self.action == "list":
            return Cluster.objects.defer("import_summary")
        return super().get_queryset()

    @extend_schema(
        summary="Sync the cluster from its API server (operators)",
        request=None,
        responses={
            202: JobLinkSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="The cluster has no connection settings."
            ),
            **_ERRORS,
        },
        examples=[ex.JOB_STARTED],
    )
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def sync(self, request: Request, name: str | None = None) -> Response:
        """Start (or join) a sync job; follow it at the returned job URL."""
        from cluster.sync_jobs import sync_request

        cluster = self.get_object()
        if not (cluster.kubeconfig_path or cluster.in_cluster):
            return _conflict(
                f"cluster {cluster.name!r} was {cluster.get_source_display().lower()}"
                " and has no connection settings; add one with "
                "'manage.py add_cluster NAME --kubeconfig PATH --context CTX'"
            )
        job, created = sync_request(cluster=cluster, user=request.user)
        job.refresh_from_db(fields=["state"])
        return Response(job_link(request, job, created), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The cluster as a kubectl-style List (what `manage.py export_cluster` prints)",
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="apiVersion v1, kind " "List, items: every stored object",
            ),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "A List",
                response_only=True,
                value={
                    "apiVersion": "v1",
                    "kind": "List",
                    "metadata": {"resourceVersion": ""},
                    "items": [
                        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a1"}}
                    ],
                },
            )
        ],
    )
    @action(detail=True, methods=["get"], permission_classes=[CanRead])
    def export(self, request: Request, name: str | None = None) -> StreamingHttpResponse:
        """Streamed object by object (`routescope check --server` reads it)."""
        from cluster.selectors import cluster_iter_objects

        objects = cluster_iter_objects(cluster=self.get_object())
        return StreamingHttpResponse(_list_chunks(objects), content_type="application/json")


def _list_chunks(objects: Any) -> Any:
    import json

    yield '{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": ['
    for index, obj in enumerate(objects):
        yield ("" if index == 0 else ",") + json.dumps(obj, ensure_ascii=False)
    yield "]}"


def _conflict(message: str) -> Response:
    return Response(error_body(code="conflict", message=message), status=status.HTTP_409_CONFLICT)


def _read_only_schema(
    name: str,
    list_serializer: type,
    detail_serializer: type,
    example: OpenApiExample,
    detail_example: OpenApiExample,
) -> Any:
    return extend_schema_view(
        list=extend_schema(
            summary=f"List {name}", responses={200: list_serializer, **_ERRORS}, examples=[example]
        ),
        retrieve=extend_schema(
            summary=f"One of the {name}, with its raw object",
            responses={200: detail_serializer, **_ERRORS},
            examples=[detail_example],
        ),
    )


@_read_only_schema("nodes", s.NodeSerializer, s.NodeDetailSerializer, ex.NODE, ex.NODE_DETAIL)
class NodeViewSet(_ReadOnly):
    """Nodes of the stored clusters."""

    queryset = Node.objects.select_related("cluster")
    serializer_class = s.NodeSerializer
    detail_serializer_class = s.NodeDetailSerializer
    filterset_class = NodeFilterSet
    list_only = ("raw", "addresses", "cluster__import_summary")


@_read_only_schema(
    "services", s.ServiceSerializer, s.ServiceDetailSerializer, ex.SERVICE, ex.SERVICE_DETAIL
)
class ServiceViewSet(_ReadOnly):
    """Services of the stored clusters."""

    queryset = Service.objects.select_related("cluster")
    serializer_class = s.ServiceSerializer
    detail_serializer_class = s.ServiceDetailSerializer
    filterset_class = ServiceFilterSet
    list_only = ("raw", "labels", "annotations", "cluster__import_summary")


@_read_only_schema(
    "EndpointSlices",
    s.EndpointSliceSerializer,
    s.EndpointSliceDetailSerializer,
    ex.SLICE,
    ex.SLICE_DETAIL,
)
class EndpointSliceViewSet(_ReadOnly):
    """EndpointSlices of the stored clusters."""

    queryset = EndpointSlice.objects.select_related("cluster")
    serializer_class = s.EndpointSliceSerializer
    detail_serializer_class = s.EndpointSliceDetailSerializer
    filterset_class = EndpointSliceFilterSet
    list_only = ("raw", "labels", "cluster__import_summary")


@_read_only_schema(
    "endpoints", s.EndpointSerializer, s.EndpointDetailSerializer, ex.ENDPOINT, ex.ENDPOINT_DETAIL
)
class EndpointViewSet(_ReadOnly):
    """Endpoints (one row per entry of an EndpointSlice)."""

    # In primary-key order (= slice order at import): sorting on (slice, position) made
    # SQLite pick the cluster index and sort every endpoint of a big cluster per page.
    queryset = Endpoint.objects.select_related("cluster", "slice").order_by("pk")
    serializer_class = s.EndpointSerializer
    detail_serializer_class = s.EndpointDetailSerializer
    filterset_class = EndpointFilterSet
    list_only = ("raw", "slice__raw", "slice__labels", "slice__ports", "cluster__import_summary")
    #: Exactly the columns EndpointSerializer renders: the hottest list loads no more.
    list_columns = (
        "cluster__name",
        "slice__name",
        "slice__namespace",
        "slice__service_name",
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
        "target_kind",
        "target_namespace",
        "target_name",
    )

    def get_queryset(self) -> QuerySet:
        if self.action == "list":
            return self.queryset.all().only(*self.list_columns)
        return super().get_queryset()


@_read_only_schema("pods", s.PodSerializer, s.PodDetailSerializer, ex.POD, ex.POD_DETAIL)
class PodViewSet(_ReadOnly):
    """Pods of the stored clusters."""

    queryset = Pod.objects.select_related("cluster")
    serializer_class = s.PodSerializer
    detail_serializer_class = s.PodDetailSerializer
    filterset_class = PodFilterSet
    list_only = ("raw", "cluster__import_summary")


class MeView(APIView):
    """``GET /api/v1/me``: who the request authenticates as, and what it may do.

    Lets a script check its token before it tries to apply ("am I an operator?").
    """

    permission_classes: list = []

    @extend_schema(
        summary="Who am I: user, how authenticated, read/operate rights",
        responses={200: s.MeSerializer, 401: _ERRORS[401]},
        examples=[ex.ME],
    )
    def get(self, request: Request) -> Response:
        """The caller's identity and rights (anonymous callers get ``authenticated: false``)."""
        user = request.user
        authenticator = request.successful_authenticator
        method = (
            "token"
            if isinstance(authenticator, TokenAuthentication)
            else "session"
            if isinstance(authenticator, SessionAuthentication)
            else None
        )
        return Response(
            {
                "authenticated": bool(user and user.is_authenticated),
                "username": user.get_username() if user and user.is_authenticated else None,
                "auth": method,
                "can_read": user_can_read(user),
                "can_operate": request_can_operate(request),
            }
        )
