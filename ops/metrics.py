"""``/metrics``: Prometheus text exposition of Routescope's own state, read from what the
other apps stored (no Kubernetes call, no engine run beyond the per-revision report cache).

Domain series (one scrape reads a handful of aggregate queries plus each cluster's cached
report; the report is computed once per cluster revision and process):

- ``routescope_service_dropped_share{cluster,namespace,service,port,source}``: the share of
  connections from that source class that are dropped. Only non-zero shares are exported
  (a 10,000-Service cluster would otherwise export 30,000 zero series); absent means 0.
- ``routescope_service_imbalance{cluster,namespace,service,port,source}``: max/mean endpoint
  share minus 1 where above 0.
- ``routescope_cluster_last_sync_age_seconds{cluster}`` / ``..._timestamp_seconds``: since the
  last successful (or unchanged) sync, for clusters that were synced at least once.
- ``routescope_jobs{kind,state}``: stored jobs; ``routescope_job_duration_seconds{kind}``
  (summary: count and sum of finished jobs' run time).
- ``routescope_nodes_drifted{cluster}`` / ``routescope_nodes_reported{cluster}``: nodes whose
  latest agent report shows rules drift, and nodes that reported at all.

``METRICS_TOKEN`` set: the scrape must send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)


class RoutescopeCollector:
    """Collects the domain series at scrape time (a fresh registry per request)."""

    def collect(self):
        from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Sum

        from cluster.models import Cluster
        from jobs.models import Job, SyncRun
        from routing.models import RulesDriftReport

        jobs = GaugeMetricFamily(
            "routescope_jobs", "Stored jobs by kind and state.", labels=["kind", "state"]
        )
        for row in (
            Job.objects.values("kind", "state").annotate(n=Count("id")).order_by("kind", "state")
        ):
            jobs.add_metric([row["kind"], row["state"]], row["n"])
        yield jobs

        durations = SummaryMetricFamily(
            "routescope_job_duration_seconds",
            "Run time (started to finished) of finished jobs.",
            labels=["kind"],
        )
        run_time = ExpressionWrapper(
            F("finished_at") - F("started_at"), output_field=DurationField()
        )
        for row in (
            Job.objects.filter(
                state__in=Job.DONE_STATES, started_at__isnull=False, finished_at__isnull=False
            )
            .values("kind")
            .annotate(n=Count("id"), total=Sum(run_time))
            .order_by("kind")
        ):
            durations.add_metric(
                [row["kind"]],
                count_value=row["n"],
                sum_value=row["total"].total_seconds() if row["total"] else 0.0,
            )
        yield durations

        now = time.time()
        age = GaugeMetricFamily(
            "routescope_cluster_last_sync_age_seconds",
            "Seconds since the cluster's last successful sync.",
            labels=["cluster"],
        )
        stamp = GaugeMetricFamily(
            "routescope_cluster_last_sync_timestamp_seconds",
            "Unix time of the cluster's last successful sync.",
            labels=["cluster"],
        )
        ok = (SyncRun.Status.SUCCEEDED, SyncRun.Status.UNCHANGED)
        for row in (
            SyncRun.objects.filter(status__in=ok, finished_at__isnull=False)
            .values("cluster__name")
            .annotate(last=Max("finished_at"))
            .order_by("cluster__name")
        ):
            at = row["last"].timestamp()
            age.add_metric([row["cluster__name"]], max(0.0, now - at))
            stamp.add_metric([row["cluster__name"]], at)
        yield age
        yield stamp

        drifted = GaugeMetricFamily(
            "routescope_nodes_drifted",
            "Nodes whose latest agent report shows rules drift.",
            labels=["cluster"],
        )
        reported = GaugeMetricFamily(
            "routescope_nodes_reported",
            "Nodes with at least one agent drift report.",
            labels=["cluster"],
        )
        latest: dict[tuple[str, str], bool] = {}
        # Reports keep a short history per node: the newest per (cluster, node) decides.
        for name, node, in_sync in RulesDriftReport.objects.order_by(
            "cluster_id", "node", "-checked_at", "-id"
        ).values_list("cluster__name", "node", "in_sync"):
            latest.setdefault((name, node), in_sync)
        per_cluster: dict[str, list[int]] = {}
        for (name, _node), in_sync in latest.items():
            counts = per_cluster.setdefault(name, [0, 0])
            counts[0] += not in_sync
            counts[1] += 1
        for name, (n_drifted, n_reported) in sorted(per_cluster.items()):
            drifted.add_metric([name], n_drifted)
            reported.add_metric([name], n_reported)
        yield drifted
        yield reported

        yield from self._service_series(Cluster.objects.order_by("name"))

    def _service_series(self, clusters):
        from routing.stored_analysis import analysis_status, stored_series

        labels = ["cluster", "namespace", "service", "port", "source"]
        dropped = GaugeMetricFamily(
            "routescope_service_dropped_share",
            "Share of a source class's connections to a Service port that are dropped "
            "(only non-zero shares are exported).",
            labels=labels,
        )
        imbalance = GaugeMetricFamily(
            "routescope_service_imbalance",
            "Endpoint load imbalance (max share / mean share - 1) where above 0.",
            labels=labels,
        )
        failed = GaugeMetricFamily(
            "routescope_cluster_analysis_failed",
            "1 when the analysis of the cluster's current state failed.",
            labels=["cluster"],
        )
        for cluster in clusters:
            # The stored analysis (the workers'; inline without a broker): a scrape never
            # analyses a cluster itself.
            try:
                status = analysis_status(cluster=cluster)
                series = stored_series(status.shown) if status.shown is not None else []
            except Exception:
                log.exception("metrics: analysing cluster %s failed", cluster.name)
                failed.add_metric([cluster.name], 1)
                continue
            pending = status.pending
            failed.add_metric(
                [cluster.name], int(pending is not None and pending.state == "failed")
            )
            for namespace, service, port, source, share, uneven in series:
                key = [cluster.name, namespace, service, port, source]
                if share > 0:
                    dropped.add_metric(key, share)
                if uneven:
                    imbalance.add_metric(key, uneven)
        yield dropped
        yield imbalance
        yield failed


def metrics(request: HttpRequest) -> HttpResponse:
    """The exposition; 401 without the bearer token when ``METRICS_TOKEN`` is set."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return HttpResponse(
            "metrics need the bearer token\n", status=401, content_type="text/plain"
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RoutescopeCollector())
    ProcessCollector(registry=registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
