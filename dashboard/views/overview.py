"""Home, cluster switcher and the cluster overview (zones → nodes → pods, findings)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_POST

from cluster.models import Cluster, Node, Service
from cluster.sync_jobs import sync_request
from core.permissions import user_can_operate
from dashboard import answers, selectors
from dashboard.views.common import cluster_or_404, read_required, render_page
from jobs.selectors import job_active_sync, sync_run_latest

FINDINGS_SHOWN = 12
#: Uncoloured Services the legend lists (a big cluster draws pods of hundreds; search finds
#: the rest).
LEGEND_MORE_MAX = 60
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
    """Cluster switcher target: the same page of the chosen cluster (``next``, the page the
    switcher sat on), else the same section, else its overview."""
    cluster = cluster_or_404(request.GET.get("cluster", ""))
    place = same_place(request.GET.get("next", ""), cluster)
    if place is None:
        target = SWITCH_SECTIONS.get(request.GET.get("section", ""), "dashboard:overview")
        place = reverse(target, args=[cluster.name])
    return redirect(place)


def same_place(path: str, cluster: Cluster) -> str | None:
    """``path`` (a page of another cluster, with its query) moved to ``cluster``: the same
    Service or node when ``cluster`` has it, else the list it belongs to; a page that
    belongs to no cluster stays. None for anything that is not one of our pages."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if match.namespaces != ["dashboard"]:
        return None
    if match.url_name in ("scenario", "scenario-apply"):
        return reverse("dashboard:scenarios", args=[cluster.name])
    if "name" not in match.kwargs:
        return path if match.url_name != "switch" else None
    kwargs = {**match.kwargs, "name": cluster.name}
    if (
        "service" in kwargs
        and not Service.objects.filter(
            cluster=cluster, namespace=kwargs["namespace"], name=kwargs["service"]
        ).exists()
    ):
        return reverse("dashboard:services", args=[cluster.name])
    if "node" in kwargs and not Node.objects.filter(cluster=cluster, name=kwargs["node"]).exists():
        return reverse("dashboard:overview", args=[cluster.name])
    if match.url_name in ("sync", "whatif-save", "whatif-impact", "node-loss", "revision"):
        return reverse("dashboard:overview", args=[cluster.name])
    target = reverse(f"dashboard:{match.url_name}", kwargs=kwargs)
    return f"{target}?{parts.query}" if parts.query else target


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
        **legend_rows(picture.legend, report.findings),
        "findings": [(f, *_split(f.service)) for f in report.findings[:FINDINGS_SHOWN]],
        "findings_total": report.findings_total,
        "summary": report.summary,
        "last_sync": sync_run_latest(cluster=cluster),
        "active_sync": job_active_sync(cluster=cluster),
        "drift": selectors.drift_card(cluster=cluster),
        "analysis": report.status,
        "analysed": report.analysed,
    }
    return render_page(
        request, "dashboard/overview.html", context, cluster=cluster, section="overview"
    )


@read_required
def analysis_status(request: HttpRequest, name: str) -> HttpResponse:
    """The stored analysis' status fragment the overview and services pages poll; once
    the results shown are not the ones the page holds (``shown``), it reloads the page."""
    cluster = cluster_or_404(name)
    status = answers.report(cluster=cluster).status
    shown = str(status.shown.revision) if status.shown else ""
    if status.is_current or shown != request.GET.get("shown", ""):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(
        request, "dashboard/_analysis_status.html", {"cluster": cluster, "analysis": status}
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


@dataclass(frozen=True)
class LegendRow:
    """One Service of the overview's legend: its colour class ("" past the palette)."""

    key: str
    colour: str
    critical: bool
    drawn: bool = True


def legend_rows(legend: list[tuple[str, str]], findings: Iterable[Any]) -> dict[str, Any]:
    """The legend as the overview shows it: Services with a critical finding first (always
    labelled, drawn or not), then the coloured ones, the rest folded away (``legend_more``);
    ``critical`` rings their pods' dots."""
    critical = {f.service for f in findings if f.severity == "critical" and f.service}
    drawn = dict(legend)
    first = [LegendRow(k, drawn.get(k, ""), True, k in drawn) for k in sorted(critical)]
    rest = [LegendRow(k, c, False) for k, c in legend if k not in critical]
    more = [r for r in rest if not r.colour]
    return {
        "legend": first + [r for r in rest if r.colour],
        "legend_more": more[:LEGEND_MORE_MAX],
        "legend_hidden": len(more) - len(more[:LEGEND_MORE_MAX]),
        "critical": frozenset(critical),
    }


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = (key or "").partition("/")
    return namespace, name
