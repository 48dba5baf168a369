"""``GET /api/v1/clusters/{name}/drift``: what node agents found when they compared each
node's real kube-proxy rules with the rules Routescope predicts for it.

Kept apart from ``routing.api.views`` (which is busy enough): its serializers, example and
view. Reports are written by the ``check_node_rules`` task on each node's queue
(``manage.py node_agent --node NODE``); this endpoint only reads the latest per node.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster.models import Cluster
from core.permissions import CanRead
from routing.api.serializers import StrictMixin
from routing.api.views import ERRORS
from routing.selectors import drift_latest


class DriftQuerySerializer(StrictMixin, serializers.Serializer):
    """Filters of the drift list."""

    node = serializers.CharField(
        required=False, max_length=253, help_text="Only this node's report."
    )
    in_sync = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only nodes in sync; false: only drifted nodes.",
    )


class DriftReportSerializer(serializers.Serializer):
    """The latest check of one node."""

    node = serializers.CharField()
    mode = serializers.CharField(help_text="iptables, nftables or ipvs: the rules compared.")
    checked_at = serializers.DateTimeField()
    cluster_revision = serializers.IntegerField(
        help_text="Cluster revision the prediction came from."
    )
    current = serializers.BooleanField(help_text="Checked against the cluster's current revision.")
    in_sync = serializers.BooleanField()
    missing_count = serializers.IntegerField(help_text="Predicted rule lines the node lacks.")
    unexpected_count = serializers.IntegerField(
        help_text="Rule lines on the node nobody predicted."
    )
    diff = serializers.CharField(
        help_text="'- ' missing and '+ ' unexpected lines, bounded; "
        "a last line says when it was truncated."
    )
    agent_hostname = serializers.CharField()
    agent_version = serializers.CharField()


class DriftListSerializer(serializers.Serializer):
    """The drift reports of one cluster, one per node that has reported."""

    cluster = serializers.CharField()
    revision = serializers.IntegerField(help_text="The cluster's current revision.")
    nodes_reported = serializers.IntegerField(help_text="Reports listed (after filters).")
    nodes_drifted = serializers.IntegerField(help_text="Of those, reports not in sync.")
    reports = DriftReportSerializer(many=True)


EXAMPLE = [
    OpenApiExample(
        "node-b1's iptables rules lack one endpoint's DNAT",
        response_only=True,
        value={
            "cluster": "demo",
            "revision": 3,
            "nodes_reported": 1,
            "nodes_drifted": 1,
            "reports": [
                {
                    "node": "node-b1",
                    "mode": "iptables",
                    "checked_at": "2026-11-27T07:50:12Z",
                    "cluster_revision": 3,
                    "current": True,
                    "in_sync": False,
                    "missing_count": 1,
                    "unexpected_count": 1,
                    "diff": "- nat/KUBE-SEP-ABCDEF0123456789: -j DNAT -p tcp "
                    "--to-destination 10.244.1.7:6379\n"
                    "+ chain nat/KUBE-SVC-STALESTALESTALE",
                    "agent_hostname": "node-b1",
                    "agent_version": "routescope-agent/1",
                }
            ],
        },
    )
]


class ClusterDriftView(APIView):
    """``GET /api/v1/clusters/{name}/drift[?node=N][&in_sync=false]``."""

    permission_classes = [CanRead]

    @extend_schema(
        summary="Rules drift: each node agent's latest comparison of real and predicted rules",
        parameters=[DriftQuerySerializer],
        responses={200: DriftListSerializer, **ERRORS},
        examples=EXAMPLE,
    )
    def get(self, request: Request, name: str) -> Response:
        """Latest report per node (cluster lookup + one query)."""
        cluster = get_object_or_404(Cluster, name=name)
        query = DriftQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        reports = drift_latest(
            cluster=cluster,
            node=query.validated_data.get("node"),
            in_sync=query.validated_data.get("in_sync"),
        )
        return Response(
            DriftListSerializer(
                {
                    "cluster": cluster.name,
                    "revision": cluster.revision,
                    "nodes_reported": len(reports),
                    "nodes_drifted": sum(1 for r in reports if not r.in_sync),
                    "reports": [
                        {
                            **{f: getattr(r, f) for f in _FIELDS},
                            "current": r.cluster_revision == cluster.revision,
                        }
                        for r in reports
                    ],
                }
            ).data
        )


_FIELDS = (
    "node",
    "mode",
    "checked_at",
    "cluster_revision",
    "in_sync",
    "missing_count",
    "unexpected_count",
    "diff",
    "agent_hostname",
    "agent_version",
)
