"""Finding your way: the search, a node's page, the saved scenarios, the live-data probe."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from cluster.models import Endpoint, Node, Pod
from dashboard import selectors
from dashboard.search import normalise, search
from dashboard.views.common import cluster_or_404, is_htmx, read_required, render_page
from routing.models import Scenario
from routing.selectors import InputError, drift_latest, scenario_preview

#: Pods listed on a node's page (a node rarely runs more; the rest are counted).
NODE_PODS_MAX = 250
#: Services whose loss the node page previews (those with endpoints on the node, first).
LOSS_SERVICES_MAX = 12
#: The preview asks every node hosting a Service's endpoints on its own: the node page
#: previews Services (fewest such nodes first) while their sum stays within this budget,
#: so a Service spread over thousands of nodes is linked to the what-if page instead.
LOSS_NODES_BUDGET = 400


@read_required
def search_page(request: HttpRequest, name: str) -> HttpResponse:
    """Results for ``q`` grouped by kind; htmx gets only the results (the top bar's box)."""
    cluster = cluster_or_404(name)
    query = request.GET.get("q", "")
    context = {
        "cluster": cluster,
        "query": normalise(query),
        "groups": search(cluster=cluster, query=query),
    }
    if is_htmx(request):
        return render(request, "dashboard/search/_results.html", context)
    return render_page(
        request, "dashboard/search/page.html", context, cluster=cluster, section="search"
    )


@read_required
def node_page(request: HttpRequest, name: str, node: str) -> HttpResponse:
    """One node: zone, readiness, kube-proxy mode, its pods, the Services it hosts
    endpoints of, its rules and drift, and (loaded after the page) what losing it does."""
    cluster = cluster_or_404(name)
    row = Node.objects.filter(cluster=cluster, name=node).first()
    if row is None:
        raise Http404(f"no node {node} in cluster {cluster.name}")
    pods = Pod.objects.filter(cluster=cluster, node_name=node).order_by("namespace", "name")
    proxy = selectors.proxy_config(cluster=cluster)
    context = {
        "cluster": cluster,
        "node": row,
        "mode": selectors.node_proxy_mode(proxy, node),
        "proxy": proxy,
        "pods": list(
            pods.only(
                "namespace", "name", "pod_ip", "phase", "ready", "terminating", "host_network"
            )[:NODE_PODS_MAX]
        ),
        "pod_count": pods.count(),
        "services": _hosted_services(cluster, node),
        "drift": next(iter(drift_latest(cluster=cluster, node=node)), None),
    }
    return render_page(
        request, "dashboard/nodes/detail.html", context, cluster=cluster, section="nodes"
    )


def _hosted_services(cluster: Any, node: str) -> list[str]:
    """``namespace/name`` of the Services with an endpoint on ``node`` (one indexed query)."""
    rows = (
        Endpoint.objects.filter(cluster=cluster, node_name=node, service__isnull=False)
        .order_by()
        .values_list("service__namespace", "service__name")
        .distinct()
    )
    return sorted(f"{ns}/{n}" for ns, n in rows)


def _within_budget(cluster: Any, hosted: list[str]) -> list[str]:
    """The hosted Services the node page previews: fewest endpoint nodes first, at most
    ``LOSS_SERVICES_MAX`` and ``LOSS_NODES_BUDGET`` endpoint nodes in all (one query)."""
    spread = {
        f"{row['service__namespace']}/{row['service__name']}": row["nodes"]
        for row in Endpoint.objects.filter(
            cluster=cluster,
            service__namespace__in={k.partition("/")[0] for k in hosted},
            service__name__in={k.partition("/")[2] for k in hosted},
        )
        .order_by()
        .values("service__namespace", "service__name")
        .annotate(nodes=Count("node_name", distinct=True))
    }
    shown: list[str] = []
    used = 0
    for key in sorted(hosted, key=lambda k: (spread.get(k, 0), k)):
        if len(shown) == LOSS_SERVICES_MAX or used + spread.get(key, 0) > LOSS_NODES_BUDGET:
            break
        shown.append(key)
        used += spread.get(key, 0)
    return sorted(shown)


@read_required
def node_loss(request: HttpRequest, name: str, node: str) -> HttpResponse:
    """What taking ``node`` down would do: the what-if door's preview (``nodes_down``) of
    the Services with endpoints on it. A fragment, loaded by the node page."""
    cluster = cluster_or_404(name)
    if not Node.objects.filter(cluster=cluster, name=node).exists():
        raise Http404(f"no node {node} in cluster {cluster.name}")
    hosted = _hosted_services(cluster, node)
    shown = _within_budget(cluster, hosted)
    context: dict[str, Any] = {
        "cluster": cluster,
        "node": node,
        "hosted": hosted,
        "shown": shown,
        "not_shown": [key for key in hosted if key not in shown],
    }
    if shown:
        try:
            context["preview"] = preview = scenario_preview(
                cluster=cluster, changes={"nodes_down": [node]}, services=shown
            )
        except InputError as error:
            context["error"] = str(error)
        else:
            rows = [(r["service"], e) for r in preview["services"] for e in r["entries"]]
            context["worse"] = [(s, e) for s, e in rows if e["newly_dropped"] > 0]
            context["worse_services"] = len({s for s, _ in context["worse"]})
            context["fine"] = [(s, e) for s, e in rows if e["newly_dropped"] <= 0]
            context["refused"] = [r for r in preview["services"] if r["error"]]
    return render(request, "dashboard/nodes/_loss.html", context)


@read_required
def scenarios(request: HttpRequest, name: str) -> HttpResponse:
    """The cluster's saved what-if scenarios, newest first, each with what it changes."""
    cluster = cluster_or_404(name)
    rows = (
        Scenario.objects.filter(cluster=cluster)
        .select_related("created_by")
        .order_by("-created_at", "-pk")
    )
    return render_page(
        request,
        "dashboard/scenarios.html",
        {"cluster": cluster, "scenarios": rows},
        cluster=cluster,
        section="scenarios",
    )


@never_cache
@read_required
def revision(request: HttpRequest, name: str) -> JsonResponse:
    """The cluster's revision and last sync: the live-data probe pages poll."""
    cluster = cluster_or_404(name)
    synced = cluster.last_synced_at.isoformat() if cluster.last_synced_at else None
    return JsonResponse({"revision": cluster.revision, "last_synced_at": synced})
