"""The findings page (every finding, filtered, each deep-linked and with its fix) and the
cost model's settings page (issue 16, items 4 and 2)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from cluster.models import Service
from dashboard import answers
from dashboard.findings import (
    PER_PAGE,
    CostSettingsForm,
    FindingFilterForm,
    ServiceTrafficForm,
    links,
    service_traffic_initial,
)
from dashboard.views.common import cluster_or_404, read_required, render_page
from routing.costs import (
    TRAFFIC_FIELDS,
    cost_inputs,
    cost_settings,
    cost_settings_save,
    service_traffic_save,
)

#: the per-Service form's prefix (its fields share names with the cluster defaults' form).
TRAFFIC = "svc"


@read_required
def findings(request: HttpRequest, name: str) -> HttpResponse:
    """Every finding of the cluster's analysis, filtered by severity, code, namespace and
    source; each links to its section on its Service page and to the what-if fixing it."""
    cluster = cluster_or_404(name)
    found = answers.report(cluster=cluster).all_findings
    form = FindingFilterForm(request.GET or None, findings=found)
    matching = form.filter(found)
    page = Paginator(matching, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "cluster": cluster,
        "form": form,
        "page": page,
        "items": links(cluster, list(page.object_list)),
        "total": len(found),
        "query": query.urlencode(),
    }
    return render_page(
        request, "dashboard/findings.html", context, cluster=cluster, section="findings"
    )


@read_required
def cost_settings_page(request: HttpRequest, name: str) -> HttpResponse:
    """The cluster's traffic and cost model: every input, editable by logged-in users
    (the permission that saves scenarios); readers see them read-only."""
    cluster = cluster_or_404(name)
    can_edit = request.user.is_authenticated
    stored = cost_settings(cluster)
    services = [
        f"{ns}/{n}"
        for ns, n in Service.objects.filter(cluster=cluster)
        .order_by("namespace", "name")
        .values_list("namespace", "name")
    ]
    model = cost_inputs(cluster)
    chosen = request.GET.get("service") or (services[0] if services else "")
    settings_form = CostSettingsForm(instance=stored.settings)
    traffic_form = ServiceTrafficForm(
        initial=service_traffic_initial(model, chosen), services=services, prefix=TRAFFIC
    )
    if request.method == "POST":
        if not can_edit:
            messages.error(request, "Log in to change the cost model.")
            return redirect(f"{reverse('login')}?next={request.path}")
        if f"{TRAFFIC}-service" in request.POST:
            traffic_form = ServiceTrafficForm(request.POST, services=services, prefix=TRAFFIC)
            if traffic_form.is_valid():
                data = traffic_form.cleaned_data
                namespace, _, service = data["service"].partition("/")
                remove = "remove" in request.POST
                service_traffic_save(
                    cluster=cluster,
                    namespace=namespace,
                    name=service,
                    values=None if remove else {k: data[k] for k in TRAFFIC_FIELDS},
                )
                messages.success(
                    request,
                    f"{data['service']}: "
                    + ("back to the cluster's defaults." if remove else "own traffic saved.")
                    + " Every figure is recomputed with it.",
                )
                query = urlencode({"service": data["service"]})
                return redirect(f"{request.path}?{query}#overrides")
        else:
            settings_form = CostSettingsForm(request.POST, instance=stored.settings)
            if settings_form.is_valid():
                cost_settings_save(cluster=cluster, values=settings_form.cleaned_data)
                messages.success(request, "Cost model saved: every figure is recomputed with it.")
                return redirect(request.path)
    if not can_edit:
        for form in (settings_form, traffic_form):
            for field in form.fields.values():
                field.disabled = True
    context = {
        "cluster": cluster,
        "can_edit": can_edit,
        "settings_form": settings_form,
        "traffic_form": traffic_form,
        "overrides": stored.overrides,
        "services": services,
        "chosen": chosen,
        "version": stored.settings.version,
        "fingerprint": model.fingerprint(),
    }
    return render_page(
        request, "dashboard/settings.html", context, cluster=cluster, section="settings"
    )
