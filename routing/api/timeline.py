"""``POST /api/v1/timeline``: the CLI's ``timeline`` over HTTP, the same JSON; and
``/api/v1/timelines``: saved timeline questions (list, create, retrieve, delete, run).

Fields are the CLI flags by the same names (``lb_preset``, ``probe_interval``, ``grace``,
``prestop``, ``on_sigterm``, ``set``), plus ``cluster`` (a stored cluster) or
``cluster_dump`` (an inline kubectl List). Both go through ``routing.timeline_input``.
A saved timeline keeps the question only (as a scenario keeps its changes) and is run on
the cluster's current state at ``GET /api/v1/timelines/{id}/run``; the permissions are the
scenarios' (read as a reader, save when logged in, delete your own or as an operator).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.models import Cluster
from cluster.selectors import cluster_get
from core.api.errors import ErrorSerializer
from core.permissions import CanRead, CanReadOrWriteOwn
from routing.api.filters import SavedTimelineFilterSet
from routing.engine.errors import ScenarioError
from routing.engine.timeline import LB_PRESETS, TimelineError
from routing.models import SavedTimeline
from routing.selectors import InputError, snapshot_for
from routing.services import saved_timeline_create, saved_timeline_delete, saved_timeline_run
from routing.timeline_input import timeline_json

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; error.field names it."),
    401: OpenApiResponse(ErrorSerializer, description="Login or token needed."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such object.")}


class TimelineQuestionSerializer(serializers.Serializer):
    """The CLI's ``timeline`` flags by the same names, plus where the cluster comes from."""

    cluster = serializers.CharField(required=False, help_text="Name of a stored cluster.")
    cluster_dump = serializers.JSONField(
        required=False, help_text="An inline kubectl dump instead of a stored cluster."
    )
    service = serializers.RegexField(
        r"^[^/\s]+/[^/\s]+$",
        help_text="namespace/name",
        error_messages={"invalid": "must be namespace/name"},
    )
    event = serializers.CharField(
        help_text="drain:NODE, node-down:NODE, zone-down:ZONE, rollout, scale:N or scale-in:NODE"
    )
    port = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Port name or number (default: the first).",
    )
    lb_preset = serializers.ChoiceField(
        sorted(LB_PRESETS),
        required=False,
        allow_null=True,
        help_text="Cloud load-balancer health-check defaults (default aws-nlb).",
    )
    probe_interval = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0.001,
        help_text="LB health-check interval, seconds (instead of a preset).",
    )
    unhealthy_threshold = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    healthy_threshold = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    grace = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="terminationGracePeriodSeconds (default 30).",
    )
    prestop = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="preStop sleep, seconds."
    )
    on_sigterm = serializers.ChoiceField(
        ("stop", "serve"),
        required=False,
        allow_null=True,
        help_text="The app stops accepting at SIGTERM (default) or serves until it exits.",
    )
    set = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Service fields (externalTrafficPolicy, …) and timing fields "
        "(readiness_delay_s, endpointslice_s, sync_s.iptables, max_surge, …).",
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"unknown field (known: {', '.join(self.fields)})"]}
                )
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        if ("cluster" in attrs) == ("cluster_dump" in attrs):
            raise serializers.ValidationError(
                {"cluster": ["give cluster or cluster_dump, not both"]}
            )
        return attrs


class _Step(serializers.Serializer):
    t = serializers.FloatField()
    # DRF's metaclass moves declared fields off the class; the stubs see Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="pod (pod -> ClusterIP), external (-> NodePort) or lb (load balancer)"
    )
    shares = serializers.DictField(help_text="forwarded, rejected and endpoints {ip: share}")
    dropped = serializers.FloatField(help_text="share kube-proxy or the LB drops or rejects")
    failing = serializers.FloatField(help_text="share sent to a pod or node that does not answer")


class _Window(serializers.Serializer):
    # DRF's metaclass moves declared fields off the class; the stubs see Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="pod, external, lb; SOURCE:established for open connections"
    )
    start = serializers.FloatField()
    end = serializers.FloatField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    share = serializers.FloatField(help_text="largest share lost above the baseline")
    cause = serializers.CharField()
    code = serializers.CharField()


class _Recommendation(serializers.Serializer):
    change = serializers.DictField(
        help_text="kind (timing|service), set {field: value}, text, client_ip_preserved"
    )
    windows_after = _Window(many=True)


class TimelineSerializer(serializers.Serializer):
    service = serializers.CharField()
    event = serializers.DictField()
    timing = serializers.DictField()
    steps = _Step(many=True)
    windows = _Window(many=True)
    recommendations = _Recommendation(many=True)


EXAMPLES = [
    OpenApiExample(
        "Drain the node of a lone eTP=Local pod",
        request_only=True,
        value={
            "cluster": "demo",
            "service": "shop/checkout",
            "event": "drain:node-a1",
            "lb_preset": "gcp",
            "on_sigterm": "stop",
        },
    ),
    OpenApiExample(
        "Its timeline (abridged)",
        response_only=True,
        value={
            "service": "shop/checkout",
            "event": {"kind": "drain", "target": "node-a1", "text": "drain:node-a1"},
            "timing": {
                "endpointslice_s": 1.0,
                "lb": {"preset": "gcp", "interval_s": 8, "unhealthy_threshold": 3},
            },
            "steps": [
                {
                    "t": 2.0,
                    "source": "lb",
                    "dropped": 0.5,
                    "failing": 0.0,
                    "shares": {
                        "forwarded": 0.5,
                        "rejected": 0.0,
                        "endpoints": {"10.244.4.11": 0.166667},
                    },
                }
            ],
            "windows": [
                {
                    "source": "lb",
                    "start": 2.0,
                    "end": 26.0,
                    "seconds": 24.0,
                    "share": 0.5,
                    "code": "TIMELINE_LB_HEALTH_CHECK_LAG",
                    "cause": (
                        "the load balancer still sends to node-a1, "
                        "whose healthCheckNodePort answers 503 …"
                    ),
                }
            ],
            "recommendations": [
                {
                    "change": {
                        "kind": "timing",
                        "set": {"prestop_s": 30.0, "grace_s": 35.0},
                        "text": (
                            "a preStop sleep of 30 s "
                            "(terminationGracePeriodSeconds >= 35 s) closes the window"
                        ),
                    },
                    "windows_after": [],
                }
            ],
        },
    ),
]

_FIELD_WORDS = (
    ("preset", "lb_preset"),
    ("probe", "probe_interval"),
    ("threshold", "unhealthy_threshold"),
    ("prestop", "prestop"),
    ("grace", "grace"),
    ("on_sigterm", "on_sigterm"),
    ("unknown service", "service"),
    ("service", "service"),
    ("port", "port"),
    ("event", "event"),
    ("node", "event"),
    ("zone", "event"),
    ("scale", "event"),
    ("rollout", "event"),
    ("field", "set"),
    ("override", "set"),
    ("set", "set"),
)


def _field(message: str) -> str:
    lowered = message.lower()
    return next((field for word, field in _FIELD_WORDS if word in lowered), "non_field_errors")


class TimelineView(APIView):
    """``POST /api/v1/timeline``: what a rollout / drain / outage does to a Service over time."""

    permission_classes = [CanRead]

    @extend_schema(
        summary="Disruption timeline: failure windows per source over time, with verified fixes",
        request=TimelineQuestionSerializer,
        responses={200: TimelineSerializer, **ERRORS},
        examples=EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        body = TimelineQuestionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        cluster = None
        if "cluster" in data:
            try:
                cluster = cluster_get(name=data["cluster"])
            except Cluster.DoesNotExist:
                raise ValidationError(
                    {"cluster": [f"no cluster called {data['cluster']!r}"]}
                ) from None
        try:
            snapshot = snapshot_for(cluster=cluster, dump=data.get("cluster_dump"))
            out = timeline_json(snapshot, data)
        except InputError as error:
            raise ValidationError({error.field or "non_field_errors": [str(error)]}) from None
        except ScenarioError as error:  # a Service what-if the engine refuses
            raise ValidationError({"set": [" ".join(str(error).split())]}) from None
        except TimelineError as error:
            message = " ".join(str(error).split())
            raise ValidationError({_field(message): [message]}) from None
        return Response(out)


class SavedQuestionSerializer(TimelineQuestionSerializer):
    """The timeline question a saved timeline keeps: ``POST /api/v1/timeline``'s fields
    without the cluster and the Service (the saved timeline's own fields)."""

    cluster = None  # type: ignore[assignment]
    cluster_dump = None  # type: ignore[assignment]
    service = None  # type: ignore[assignment]

    def validate(self, attrs: dict) -> dict:
        return attrs


class SavedTimelineSerializer(serializers.ModelSerializer):
    """A saved timeline question on one cluster (run fresh at ``…/run``)."""

    cluster = serializers.SlugRelatedField(slug_field="name", queryset=Cluster.objects.all())
    service = serializers.RegexField(
        r"^[^/\s]+/[^/\s]+$",
        max_length=507,
        help_text="namespace/name",
        error_messages={"invalid": "must be namespace/name"},
    )
    question = SavedQuestionSerializer()
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-timeline-saved-detail")

    class Meta:
        model = SavedTimeline
        fields = ["id", "url", "name", "cluster", "service", "question", "created_by", "created_at"]
        # Uniqueness is checked by the service (one clear message naming "name").
        validators: list = []

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - {f for f, v in self.fields.items() if not v.read_only})
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown or read-only field"]})
        return super().to_internal_value(data)


SAVED_EXAMPLES = [
    OpenApiExample(
        "Save the drain story with the recommended preStop",
        request_only=True,
        value={
            "name": "checkout drain, preStop 30 s",
            "cluster": "demo",
            "service": "shop/checkout",
            "question": {"event": "drain:node-a1", "lb_preset": "gcp", "prestop": 30, "grace": 35},
        },
    ),
    OpenApiExample(
        "A saved timeline",
        response_only=True,
        value={
            "id": 7,
            "url": "https://routescope.example/api/v1/timelines/7",
            "name": "checkout drain, preStop 30 s",
            "cluster": "demo",
            "service": "shop/checkout",
            "question": {"event": "drain:node-a1", "lb_preset": "gcp", "prestop": 30, "grace": 35},
            "created_by": "alice",
            "created_at": "2026-12-06T05:40:00Z",
        },
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="Saved timelines (filter by cluster, service, created_by)",
        responses={200: SavedTimelineSerializer, **ERRORS},
        examples=SAVED_EXAMPLES[1:],
    ),
    retrieve=extend_schema(
        summary="A saved timeline's question",
        responses={200: SavedTimelineSerializer, **ERRORS, **NOT_FOUND},
        examples=SAVED_EXAMPLES[1:],
    ),
    create=extend_schema(
        summary="Save a timeline question (logged in); it is run once to check it",
        examples=SAVED_EXAMPLES,
        responses={201: SavedTimelineSerializer, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a saved timeline (author or operator)",
        responses={204: None, **ERRORS, **NOT_FOUND},
    ),
)
class SavedTimelineViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Saved timeline questions, shared like scenarios: only the question is stored."""

    permission_classes = [CanReadOrWriteOwn]
    serializer_class = SavedTimelineSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SavedTimelineFilterSet

    def get_queryset(self) -> QuerySet[SavedTimeline]:
        return SavedTimeline.objects.select_related("cluster", "created_by")

    def perform_create(self, serializer: serializers.BaseSerializer[SavedTimeline]) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = saved_timeline_create(
                cluster=data["cluster"],
                name=data["name"],
                service=data["service"],
                question=dict(data["question"]),
                user=self.request.user,
            )
        except InputError as error:
            raise ValidationError({error.field or "non_field_errors": [str(error)]}) from None

    def perform_destroy(self, instance: SavedTimeline) -> None:
        saved_timeline_delete(saved=instance)

    @extend_schema(
        summary="Run a saved timeline on the cluster as it is now",
        request=None,
        responses={200: TimelineSerializer, **ERRORS, **NOT_FOUND},
        examples=EXAMPLES[1:],
    )
    @action(detail=True, methods=["get"], permission_classes=[CanRead])
    def run(self, request: Request, pk: str | None = None) -> Response:
        """The same JSON as ``POST /api/v1/timeline`` with the saved question."""
        saved = self.get_object()
        try:
            out = saved_timeline_run(
                cluster=saved.cluster, service=saved.service, question=saved.question
            )
        except InputError as error:
            raise ValidationError({error.field or "non_field_errors": [str(error)]}) from None
        return Response(out)
