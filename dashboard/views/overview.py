"""Home, cluster switcher and the cluster overview (zones → nodes → pods, findings)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from cluster.models import Cluster
from cluster.sync_jobs import sync_request
from core.permissions import user_can_operate
from dashboard import answers, selectors
from dashboard.views.common import cluster_or_404, read_required, render_page
from jobs.selectors import job_active_sync, sync_run_latest

FINDINGS_SHOWN = 12
#: Sections the cluster switcher keeps when it changes cluster (the rest go to the overview).
SWITCH_SECTIONS = {
    "services": "dashboard:services",
    "whatif": "dashboard:whatif",
    "rules": "dashboard:rules",
    "findings": "dashboard:findings",
    "settings": "dashboard:settings",
}


@read_required
def home(request: HttpRequest) -> HttpResponse:
    """The first cluster's overview, or the empty state with the commands to get one."""
    first = Cluster.objects.order_by("name").first()
    if first is not None:
        return redirect("dashboard:overview", name=first.name)
    return render_page(request, "dashboard/empty.html", {}, cluster=None, section="overview")


@read_required
def switch(request: HttpRequest) -> HttpResponse:
    """Cluster switcher target: go to the same section of the chosen cluster."""
    cluster = cluster_or_404(request.GET.get("cluster", ""))
    section = request.GET.get("section", "")
    target = SWITCH_SECTIONS.get(section, "dashboard:overview")
    return redirect(reverse(target, args=[cluster.name]))


@read_required
def overview(request: HttpRequest, name: str) -> HttpResponse:
    """Zones → nodes → pods, counts, ranked findings, rules drift, revision and last sync."""
    cluster = cluster_or_404(name)
    picture = selectors.overview_picture(cluster=cluster)
    report = answers.report(cluster=cluster)
    context = {
        "cluster": cluster,
        "counts": picture.counts,
        "proxy": picture.proxy,
        "zones": picture.zones,
        "legend": picture.legend,
        "findings": [(f, *_split(f.service)) for f in report.findings[:FINDINGS_SHOWN]],
        "findings_total": len(report.findings),
        "summary": report.summary,
        "last_sync": sync_run_latest(cluster=cluster),
        "active_sync": job_active_sync(cluster=cluster),
        "drift": selectors.drift_card(cluster=cluster),
    }
    return render_page(
        request, "dashboard/overview.html", context, cluster=cluster, section="overview"
    )


@require_POST
@read_required
def sync(request: HttpRequest, name: str) -> HttpResponse:
    """Operators only: queue a sync of a live cluster (a running one is reused)."""
    cluster = cluster_or_404(name)
    if not user_can_operate(request.user):
        raise PermissionDenied("syncing needs the operate-cluster permission")
    if not (cluster.kubeconfig_path or cluster.in_cluster):
        # An imported cluster has no API server: refuse here rather than queue a job that
        # can only fail.
        messages.error(
            request,
            f"{cluster.name} was imported from a dump: it has no API "
            "server to sync from (import the dump again instead).",
        )
        return redirect("dashboard:overview", name=cluster.name)
    job, created = sync_request(cluster=cluster, user=request.user)
    if not created:
        messages.info(request, f"A sync of {cluster.name} is already running (job #{job.pk}).")
    return redirect("dashboard:job-detail", pk=job.pk)


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = (key or "").partition("/")
    return namespace, name
