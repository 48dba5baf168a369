"""Routing API: simulate, scenarios (CRUD, preview, apply), rules, the cluster analysis.

Views parse input with a serializer, call one selector or service, and render; every
engine refusal comes back as a 400 naming the request field at fault.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from cluster.models import Cluster
from core.api.errors import ErrorSerializer, error_body
from core.api.limits import inline_dump_limit, kube_object_count
from core.permissions import CanOperate, CanRead, CanReadOrWriteOwn
from jobs.api.serializers import job_link
from routing import bodies
from routing.api import examples
from routing.api import serializers as s
from routing.api.filters import ScenarioFilterSet
from routing.costs import COST_VERSION, cost_inputs
from routing.engine.costmodel import DEFAULT_COST_MODEL
from routing.models import CostSettings, Scenario
from routing.selectors import (
    engine_scenario,
    one_service_snapshot,
    scenario_snapshot,
    simulate_answer,
    snapshot_for,
)
from routing.services import (
    scenario_apply,
    scenario_create,
    scenario_delete,
    scenario_preview,
    scenario_update,
)
from routing.snapshots import render_cache_for
from routing.whatif.errors import request_error

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; error.field names it."),
    401: OpenApiResponse(ErrorSerializer, description="Login or token needed."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorSerializer, description="No such object."),
}


def _cluster_named(name: str, *, field: str = "cluster") -> Cluster:
    # Only what the snapshot cache keys on, in one raw query: on the simulate hot path the
    # ORM's query compilation costs several times the lookup itself. created_at is part of
    # state_key: leaving it out deferred it, and each state_key read re-queried the row.
    # The cost settings' version rides along: cost_inputs then shares the cluster's cost
    # model across requests without a query of its own (routing.costs.COST_VERSION).
    quote = connection.ops.quote_name
    costs = quote(CostSettings._meta.db_table)
    rows = list(
        Cluster.objects.raw(
            f"SELECT c.{quote('id')}, c.{quote('name')}, c.{quote('revision')}, "
            f"c.{quote('created_at')}, (SELECT {quote('version')} FROM {costs} "
            f"WHERE {quote('cluster_id')} = c.{quote('id')}) AS {quote(COST_VERSION)} "
            f"FROM {quote(Cluster._meta.db_table)} c WHERE c.{quote('name')} = %s",
            [name],
        )
    )
    cluster = rows[0] if rows else None
    if cluster is None:
        raise ValidationError({field: [f"no cluster called {name!r}"]})
    return cluster


class SimulateView(APIView):
    """``POST /api/v1/simulate``: the CLI's ``simulate`` over HTTP, same answer shape."""

    permission_classes = [CanRead]

    @extend_schema(
        summary="Where new connections from a source to a Service land, and what drops",
        request=s.SimulateRequestSerializer,
        responses={
            200: s.SimulateAnswerSerializer,
            **ERRORS,
            413: OpenApiResponse(
                ErrorSerializer, description="Body or inline dump " "too large for this caller."
            ),
        },
        examples=examples.SIMULATE,
    )
    def post(self, request: Request) -> Response:
        body = s.SimulateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "cluster_dump" in data:
            refusal = _inline_dump_refusal(data["cluster_dump"], user=request.user)
            if refusal is not None:
                return refusal
        cluster = _cluster_named(data["cluster"]) if "cluster" in data else None
        # An InputError (the engine refused the question) is a 400 naming its field:
        # config.api_errors turns it into the error body, for every view.
        if cluster is not None:  # one Service's rows and the node table, not the cluster
            snapshot = one_service_snapshot(
                cluster=cluster,
                services=[data["service"]],
                sources=[data["source"]],
                kube_version=data.get("kube_version"),
                with_pods=False,  # simulate never reads them
            )
        else:
            snapshot = snapshot_for(
                dump=data.get("cluster_dump"), kube_version=data.get("kube_version")
            )
        answer = simulate_answer(
            snapshot=snapshot,
            service=data["service"],
            source=data["source"],
            to=data.get("to"),
            port=data.get("port") or None,
            overrides=data.get("set") or {},
            proxy_mode=data.get("proxy_mode"),
            ipvs_scheduler=data.get("ipvs_scheduler"),
            seed=data["seed"],
            family=data.get("family"),
            client_ip=data.get("client_ip"),
            via_node=data.get("via_node") or None,
            model=cost_inputs(cluster) if cluster is not None else DEFAULT_COST_MODEL,
        )
        return Response(answer)


def _inline_dump_refusal(dump: Any, *, user: Any) -> Response | None:
    """A 413 when an inline dump holds more objects than this caller may have simulated:
    building a snapshot costs memory and time per object, and anonymous calls are cheap."""
    authenticated = bool(user and user.is_authenticated)
    limit = inline_dump_limit(authenticated=authenticated)
    count = kube_object_count(dump)
    if count <= limit:
        return None
    who = "" if authenticated else " from an anonymous caller (log in or send a token for more)"
    return Response(
        error_body(
            code="too_large",
            field="cluster_dump",
            message=f"cluster_dump: {count} objects is more than an inline dump may hold{who}: "
            f"{limit}; import it with 'manage.py import_cluster' and name the cluster",
        ),
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


class _NoFormatOverride:
    """DRF's settings with ``URL_FORMAT_OVERRIDE`` off (``?format=`` left to the view)."""

    URL_FORMAT_OVERRIDE = None

    def __getattr__(self, name: str) -> Any:
        return getattr(api_settings, name)


class FormatIsAField(DefaultContentNegotiation):
    """Content negotiation for ``GET /scenarios/{id}/patch?format=kubectl``: there ``format``
    names the patch form (the issue's contract), not one of DRF's renderers."""

    settings = _NoFormatOverride()  # type: ignore[assignment]  # stands in for DRF's settings object


class ClusterAnalysisView(APIView):
    """``GET /api/v1/clusters/{name}/analysis``: the cluster-wide report."""

    permission_classes = [CanRead]

    @extend_schema(
        summary="The cluster-wide report: every Service x source class, ranked findings",
        parameters=[
            OpenApiParameter("service", str, description="Only this Service (namespace/name)."),
            OpenApiParameter("dropping", bool, description="Only rows where some calls drop."),
            OpenApiParameter(
                "limit", int, description="Service rows per page (default 100, " "max 1000)."
            ),
            OpenApiParameter("offset", int, description="First service row."),
            OpenApiParameter("endpoints", bool, description="Per-endpoint shares per source."),
            OpenApiParameter(
                "max_findings", int, description="At most this many findings " "(default 100)."
            ),
            OpenApiParameter(
                "code", str, description="Only findings with this code, e.g. " "ITP_LOCAL_DROPS."
            ),
        ],
        responses={
            200: s.AnalysisSerializer,
            202: OpenApiResponse(
                s.AnalysisPendingSerializer,
                description="No analysis of this cluster is stored yet: the first one runs.",
            ),
            **ERRORS,
        },
        examples=examples.ANALYSIS,
    )
    def get(self, request: Request, name: str) -> Response:
        from routing.reports import cluster_report
        from routing.stored_analysis import (
            analysis_status,
            stored_findings,
            stored_report,
            stored_rows,
        )

        cluster = get_object_or_404(Cluster, name=name)
        query = s.AnalysisQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        if query.validated_data["endpoints"]:
            # Per-endpoint shares are not stored: computed from the current state.
            return Response(
                analysis_body(
                    cluster_report(cluster=cluster), query.validated_data, cluster=cluster
                )
            )
        status = analysis_status(cluster=cluster)
        if status.shown is None:  # the first analysis is still running
            return Response(
                {"cluster": cluster.name, "analysis": status.to_json()},
                status=202,
                headers={"Retry-After": "2"},
            )
        body = bodies.stored_analysis_body(
            stored_report(status.shown),
            stored_findings(status.shown),
            stored_rows(status.shown),
            query.validated_data,
            cluster=cluster.name,
            revision=status.shown.revision,
        )
        return Response({**body, "analysis": status.to_json()})


def analysis_body(report: Any, query: dict[str, Any], *, cluster: Cluster) -> dict[str, Any]:
    """The report's JSON with its Service rows filtered and paged (``routescope analyze``'s)."""
    return bodies.analysis_body(report, query, cluster=cluster.name, revision=cluster.revision)


class ClusterRulesView(APIView):
    """``GET /api/v1/clusters/{name}/rules?node=N``: one node's kube-proxy rules."""

    permission_classes = [CanRead]

    @extend_schema(
        summary="The rules kube-proxy programs on a node, each line with its reason",
        parameters=[s.RulesQuerySerializer],
        responses={200: s.RulesSerializer, **ERRORS},
        examples=examples.RULES,
    )
    def get(self, request: Request, name: str) -> Response:
        from routing.engine.rules import RulesError, render_node_rules

        cluster = get_object_or_404(Cluster, name=name)
        query = s.RulesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        node, service = query.validated_data["node"], query.validated_data.get("service")
        snapshot = snapshot_for(cluster=cluster)
        mode = query.validated_data.get("mode") or snapshot.proxy_for(node).mode
        if mode not in s.RULE_MODES:
            raise ValidationError(
                {
                    "mode": [
                        f"node {node} runs kube-proxy in {mode} mode, which "
                        "programs no rules we render; pick a mode"
                    ]
                }
            )
        try:
            rules = render_node_rules(
                snapshot, node, mode, service=service, cache=render_cache_for(cluster=cluster)
            )
        except RulesError as error:  # names node, service or mode itself
            raise request_error(error) from None
        return Response(bodies.rules_body(rules, cluster=cluster.name, service=service))


@extend_schema_view(
    list=extend_schema(
        summary="List saved scenarios",
        responses={200: s.ScenarioSerializer, **ERRORS},
        examples=examples.SCENARIO_OUT,
    ),
    retrieve=extend_schema(
        summary="One scenario",
        responses={200: s.ScenarioSerializer, **ERRORS},
        examples=examples.SCENARIO_OUT,
    ),
    create=extend_schema(
        summary="Save a what-if scenario (logged-in users)",
        request=s.ScenarioSerializer,
        responses={201: s.ScenarioSerializer, **ERRORS},
        examples=examples.SCENARIO + examples.SCENARIO_OUT,
    ),
    update=extend_schema(
        summary="Replace a scenario (its author or an operator)",
        request=s.ScenarioUpdateSerializer,
        responses={200: s.ScenarioSerializer, **ERRORS},
        examples=examples.SCENARIO_OUT,
    ),
    partial_update=extend_schema(
        summary="Change part of a scenario (author or operator)",
        request=s.ScenarioUpdateSerializer,
        responses={200: s.ScenarioSerializer, **ERRORS},
        examples=examples.SCENARIO_OUT,
    ),
    destroy=extend_schema(
        summary="Delete a scenario (author or operator)", responses={204: None, **ERRORS}
    ),
)
class ScenarioViewSet(viewsets.ModelViewSet):
    """Saved what-ifs: only the user's input is stored; previews are computed fresh."""

    permission_classes = [CanReadOrWriteOwn]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ScenarioFilterSet
    serializer_class = s.ScenarioSerializer

    def get_queryset(self) -> QuerySet[Scenario]:
        return Scenario.objects.select_related("cluster", "created_by")

    def get_serializer_class(self) -> type:
        if self.action in ("update", "partial_update"):
            return s.ScenarioUpdateSerializer
        return s.ScenarioSerializer

    def perform_create(self, serializer: BaseSerializer[Scenario]) -> None:
        # A ScenarioSerializer (get_serializer_class).
        data = serializer.validated_data
        serializer.instance = scenario_create(
            cluster=data["cluster"],
            name=data["name"],
            changes=data["changes"],
            description=data.get("description", ""),
            user=self.request.user,
        )

    def perform_update(self, serializer: BaseSerializer[Scenario]) -> None:
        # A ScenarioUpdateSerializer bound to the one Scenario get_object() fetched.
        data = serializer.validated_data
        scenario = serializer.instance
        assert isinstance(scenario, Scenario)
        serializer.instance = scenario_update(
            scenario=scenario,
            name=data.get("name"),
            changes=data.get("changes"),
            description=data.get("description"),
        )

    def perform_destroy(self, instance: Scenario) -> None:
        scenario_delete(scenario=instance)

    @extend_schema(
        summary="Preview: before / after / diff for what the scenario touches",
        request=s.PreviewRequestSerializer,
        responses={200: s.PreviewSerializer, **ERRORS},
        examples=examples.PREVIEW,
    )
    @action(detail=True, methods=["post"], permission_classes=[CanRead])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        """What the scenario changes for each Service and source it touches."""
        scenario = self.get_object()
        body = s.PreviewRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        result = scenario_preview(
            cluster=scenario.cluster,
            changes=scenario.changes,
            services=body.validated_data.get("services"),
            sources=body.validated_data.get("sources"),
        )
        return Response(result)

    @extend_schema(
        summary="Apply the scenario to its live cluster (operators); starts jobs",
        request=s.ApplyRequestSerializer,
        responses={202: s.JobLinksSerializer, 409: OpenApiResponse(ErrorSerializer), **ERRORS},
        examples=[
            OpenApiExample(
                "Started",
                response_only=True,
                status_codes=["202"],
                value={
                    "job_id": 7,
                    "state": "queued",
                    "url": "http://127.0.0.1:8000/api/v1/jobs/7",
                    "jobs": [
                        {
                            "job_id": 7,
                            "state": "queued",
                            "created": True,
                            "url": "http://127.0.0.1:8000/api/v1/jobs/7",
                        }
                    ],
                },
            )
        ],
    )
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Queue the Service patches (and a confirmed kube-proxy change) as jobs."""
        scenario = self.get_object()
        body = s.ApplyRequestSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        jobs = scenario_apply(
            scenario=scenario,
            user=request.user,
            confirm_restart=body.validated_data["confirm_restart"],
        )
        links = [job_link(request, job, True) for job in jobs]
        first = links[0]
        return Response(
            {
                "job_id": first["job_id"],
                "state": first["state"],
                "url": first["url"],
                "jobs": links,
            },
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": first["url"]},
        )

    @extend_schema(
        summary="How every node's rules change under the scenario",
        parameters=[s.RulesDiffQuerySerializer],
        responses={200: s.RulesDiffSerializer, **ERRORS},
        examples=examples.RULES_DIFF,
    )
    @action(detail=True, methods=["get"], url_path="rules-diff", permission_classes=[CanRead])
    def rules_diff(self, request: Request, pk: str | None = None) -> Response:
        """Nodes whose kube-proxy rules change, by how many lines; one node's unified diff."""
        from routing.engine.rules import RulesError
        from routing.engine.rules.diff import diff_rules

        scenario = self.get_object()
        query = s.RulesDiffQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        node, service = query.validated_data.get("node"), query.validated_data.get("service")
        before = snapshot_for(cluster=scenario.cluster)
        after = scenario_snapshot(snapshot=before, changes=scenario.changes)
        if node is not None and node not in before.nodes:
            # The diff covers every node; the one shown in full must exist.
            raise ValidationError({"node": [f"no node {node!r} in this cluster"]})
        try:
            diff = diff_rules(
                before,
                after,
                query.validated_data["mode"],
                service=service,
                cache=render_cache_for(cluster=scenario.cluster),
            )
        except RulesError as error:  # names service or mode itself
            raise request_error(error) from None
        return Response(
            {**diff.to_json(), "node": node, "node_diff": diff.node_diff(node) if node else None}
        )

    @extend_schema(
        summary="The scenario's Service changes as a patch: merge patch, kubectl, kustomize, YAML",
        parameters=[s.PatchQuerySerializer],
        responses={200: s.PatchSerializer, **ERRORS},
        examples=examples.PATCH,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="patch",
        permission_classes=[CanRead],
        content_negotiation_class=FormatIsAField,
    )
    def export_patch(self, request: Request, pk: str | None = None) -> Response:
        """Take the what-if away: nothing is applied (works on imported clusters too)."""
        from routing.selectors import scenario_export

        scenario = self.get_object()
        query = s.PatchQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return Response(scenario_export(scenario=scenario, fmt=query.validated_data["format"]))

    @extend_schema(
        summary="The cluster-wide report as it would be under the scenario",
        parameters=[s.AnalysisQuerySerializer],
        responses={200: s.AnalysisSerializer, **ERRORS},
        examples=examples.ANALYSIS,
    )
    @action(detail=True, methods=["get"], permission_classes=[CanRead])
    def analysis(self, request: Request, pk: str | None = None) -> Response:
        """The analysis after the scenario (computed fresh, not cached)."""
        from routing.engine.errors import EngineError
        from routing.reports import scenario_report
        from routing.whatif.errors import CHANGES, request_error

        scenario = self.get_object()
        query = s.AnalysisQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        try:
            report = scenario_report(
                cluster=scenario.cluster, scenario=engine_scenario(scenario.changes)
            )
        except EngineError as error:
            raise request_error(error, context=CHANGES) from None
        return Response(analysis_body(report, query.validated_data, cluster=scenario.cluster))
