"""The services table and the service detail page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from cluster.filters import ServiceFilterSet
from cluster.models import Service
from dashboard import answers, facts, findings, flowviews, selectors
from dashboard.views.common import cluster_or_404, is_htmx, read_required, render_page
from routing.costs import cost_inputs
from routing.engine.simulate import QuestionError
from routing.engine.unproxied import not_proxied
from routing.models import SavedTimeline

PAGE_SIZE = 50
#: Orderings by the analysis' figures; the FilterSet orders by stored columns.
METRIC_ORDERINGS = {"drop": "dropped", "imbalance": "imbalance", "nodes": "nodes_covered"}


@read_required
def service_list(request: HttpRequest, name: str) -> HttpResponse:
    """Searchable, filterable, sortable table with the analysis' figures per Service."""
    cluster = cluster_or_404(name)
    params = request.GET.copy()
    ordering = params.pop("ordering", [""])[-1]
    metric = METRIC_ORDERINGS.get(ordering.lstrip("-"))
    if ordering and not metric:
        params["ordering"] = ordering
    filterset = ServiceFilterSet(data=params, queryset=Service.objects.filter(cluster=cluster))
    for name in ("type", "internal_traffic_policy", "external_traffic_policy", "session_affinity"):
        field = filterset.form.fields[name]
        field.choices = [
            ("", "any"),
            *list(field.choices)[1:],
        ]  # "any" reads better than "---------"
    report = answers.report(cluster=cluster)
    rows = (
        filterset.qs.only(
            "id",
            "namespace",
            "name",
            "type",
            "internal_traffic_policy",
            "external_traffic_policy",
            "traffic_distribution",
            "session_affinity",
            "topology_mode",
        )
        if filterset.is_valid()
        else Service.objects.none()
    )
    if metric:
        # Sort every matching key by the report's figure, then fetch one page of rows.
        keys = list(rows.values_list("namespace", "name"))
        figure = report.figure(metric)
        keys.sort(key=lambda k: (figure(f"{k[0]}/{k[1]}"), k), reverse=ordering.startswith("-"))
        page = Paginator(keys, PAGE_SIZE).get_page(request.GET.get("page"))
        wanted = {f"{ns}/{n}": i for i, (ns, n) in enumerate(page.object_list)}
        fetched = selectors.services_by_keys(cluster=cluster, keys=list(page.object_list))
        services = sorted(fetched, key=lambda s: wanted[f"{s.namespace}/{s.name}"])
    else:
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        services = list(page.object_list)
    context = {
        "cluster": cluster,
        "filterset": filterset,
        "page": page,
        "ordering": ordering,
        "rows": [(s, report.service(f"{s.namespace}/{s.name}")) for s in services],
        "counts": selectors.endpoint_counts(services=services),
        "analysis": report.status,
    }
    if is_htmx(request):
        return render(request, "dashboard/services/_table.html", context)
    return render_page(
        request, "dashboard/services/list.html", context, cluster=cluster, section="services"
    )


@read_required
def service_detail(request: HttpRequest, name: str, namespace: str, service: str) -> HttpResponse:
    """The Service's facts, then per way in: its outcome, the flow diagram, load bars,
    locality and the trail; a Service kube-proxy leaves alone says what DNS returns."""
    cluster = cluster_or_404(name)
    row = get_object_or_404(Service, cluster=cluster, namespace=namespace, name=service)
    key = f"{namespace}/{service}"
    by_zone = request.GET.get("by") == "zone"
    snapshot = answers.service_snapshot(cluster=cluster, key=key)
    placement = selectors.endpoint_placement(cluster=cluster, service=row)
    engine_service = snapshot.services.get(key)
    unproxied = not_proxied(snapshot, engine_service) if engine_service else None
    error, entries = None, []
    if unproxied is None:
        try:
            entries = answers.service_entries(
                snapshot, key, port=request.GET.get("port") or None, model=cost_inputs(cluster)
            )
        except QuestionError as exc:
            error = str(exc)
    context = {
        "cluster": cluster,
        "service": row,
        "key": key,
        "error": error,
        "facts": facts.service_facts(row, placement),
        "not_proxied": unproxied,
        "ports": row.ports,
        "port": request.GET.get("port", ""),
        "entries": flowviews.entry_views(entries, by_zone=by_zone),
        "by_zone": by_zone,
        "placement": placement,
        "pod_entry": next((e for e in entries if e.key == "pod"), None),
        "saved_list": SavedTimeline.objects.filter(cluster=cluster, service=key).select_related(
            "created_by"
        ),
        **_findings_section(cluster, key, entries),
    }
    return render_page(
        request, "dashboard/services/detail.html", context, cluster=cluster, section="services"
    )


def _findings_section(cluster: Any, key: str, entries: list[Any]) -> dict[str, Any]:
    """The findings and cost section (``services/_findings.html``): the Service's findings,
    each an anchor the findings page links to, and its bill under the cost model."""
    page = answers.report(cluster=cluster)
    return {
        "service_findings": findings.links(cluster, page.findings_for(key)),
        "cost": findings.service_cost_facts(
            cluster=cluster, key=key, entries=entries, service_bill=page.service_cost(key)
        )
        if entries
        else None,
    }
