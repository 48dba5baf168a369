"""The what-if explorer: controls, before | after preview (htmx), save, apply."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cluster.models import Cluster, Service
from core.permissions import user_can_operate
from dashboard import answers, flowviews, patches
from dashboard.forms import NODE_CHECKBOXES_MAX, SaveScenarioForm, WhatIfForm
from dashboard.views.common import cluster_or_404, is_htmx, read_required, render_page
from routing.costs import cost_inputs
from routing.engine.unproxied import not_proxied
from routing.models import Scenario
from routing.selectors import InputError, service_preview, whatif_export

SERVICE_PICKS = 30
SAVED_SHOWN = 12


def _preview(
    cluster: Cluster, form: WhatIfForm, snapshot: Any, *, stored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Before and after for the focused Service, or the error that stops the what-if.

    ``stored``: a saved scenario's changes, previewed as saved (they may hold more than the
    controls can show, e.g. several Services or endpoints made not-ready via the API).
    """
    key = form.cleaned_data["service"]
    changes = dict(stored) if stored is not None else form.changes()
    if stored is None and form.cleaned_data.get("scale") is not None:
        workload = answers.workload_of(snapshot, key)
        if workload is None:
            return {
                "changes": changes,
                "error": f"service {key}: its pods have no controller to scale",
            }
        changes["scale"] = {workload: form.cleaned_data["scale"]}
    try:
        # The one preview (routing.whatif.preview), as the API's and the CLI's.
        row = service_preview(
            snapshot=snapshot, changes=changes, service=key, model=cost_inputs(cluster)
        )
    except InputError as exc:
        return {"changes": changes, "error": str(exc)}
    unproxied = not_proxied(snapshot, snapshot.services[key])
    if unproxied is not None:
        # Headless / ExternalName: no kube-proxy rule to change, DNS answers instead (the
        # preview's row.error says so in the same words): a fact, not an error.
        return {"changes": changes, "error": None, "not_proxied": unproxied}
    if row.error:
        return {"changes": changes, "error": row.error}
    compared = row.compared
    rows = patches.changed_services(cluster=cluster, changes=changes)  # one read for both
    # Each side's views know which nodes its load balancer uses (by-design drops).
    befores = flowviews.entry_views([d.before for d in compared])
    afters = flowviews.entry_views([d.after for d in compared])
    return {
        "changes": changes,
        "error": None,
        "compared": [
            (d, before, after, _source_rows(d, before, after))
            for d, before, after in zip(compared, befores, afters)
        ],
        "patch": patches.service_patch(cluster=cluster, changes=changes, rows=rows),
        "export": _export(cluster, changes, {key: s.raw for key, s in rows.items()}),
    }


def _source_rows(
    diff: answers.EntryDiff, before: flowviews.EntryView, after: flowviews.EntryView
) -> list[tuple[str, flowviews.PathRow, flowviews.PathRow, dict[str, Any]]]:
    """(source, its row before, after, the engine's diff) for the per-source table."""
    after_rows = {r.label: r for r in after.paths}
    diffs = dict(diff.diffs)
    return [
        (r.label, r, after_rows[r.label], diffs[r.label])
        for r in before.paths
        if r.label in after_rows and r.label in diffs
    ]


def _snapshot(cluster: Cluster, form: WhatIfForm, stored: dict[str, Any] | None) -> Any:
    """What the preview of the form's Service needs: that Service's rows and the node
    table (``answers.service_snapshot``), or the whole cluster for a what-if that moves pods
    (a scale, drain or rollout)."""
    changes = dict(stored) if stored is not None else form.changes()
    if stored is None and form.cleaned_data.get("scale") is not None:
        changes["scale"] = form.cleaned_data["scale"]
    return answers.service_snapshot(
        cluster=cluster, key=form.cleaned_data["service"], changes=changes
    )


#: (format, label) of the "Take it away" copies (routing.whatif.export).
EXPORTS = (
    ("kubectl", "kubectl patch"),
    ("patch", "JSON merge patch"),
    ("kustomize", "kustomize patch"),
    ("yaml", "changed Service YAML"),
)


def _export(
    cluster: Cluster, changes: dict[str, Any], raws: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """The what-if as copyable patches: needs no Apply, so imported clusters get it too."""
    try:
        found = whatif_export(cluster=cluster, changes=changes, raws=raws)
    except InputError:
        return []
    return [(fmt, label, found.text(fmt)) for fmt, label in EXPORTS] if found else []


def _explorer(
    request: HttpRequest,
    cluster: Cluster,
    params: QueryDict,
    *,
    scenario: Scenario | None,
    stored: dict[str, Any] | None = None,
) -> HttpResponse:
    nodes = answers.node_names(cluster=cluster)
    form = WhatIfForm(params or None, nodes=nodes)
    context: dict[str, Any] = {
        "cluster": cluster,
        "form": form,
        "scenario": scenario,
        "nodes": nodes,
        "node_checkboxes": len(nodes) <= NODE_CHECKBOXES_MAX,
        "picks": Service.objects.filter(cluster=cluster)
        .order_by("namespace", "name")
        .values_list("namespace", "name")[:SERVICE_PICKS],
        "save_form": SaveScenarioForm(),
        "saved": Scenario.objects.filter(cluster=cluster).select_related("created_by")[
            :SAVED_SHOWN
        ],
        "can_operate": user_can_operate(request.user),
        "query": params.urlencode(),
    }
    if form.is_bound and form.is_valid():
        snapshot = _snapshot(cluster, form, stored)
        if form.cleaned_data["service"] not in snapshot.services:
            form.add_error(
                "service",
                f"unknown service {form.cleaned_data['service']!r} in cluster {cluster.name}",
            )
        else:
            context.update(_preview(cluster, form, snapshot, stored=stored))
            if stored is not None:
                context["hidden_changes"] = _not_in_controls(form, stored)
    context["apply_block"] = patches.apply_blocker(
        request.user, cluster, scenario, context.get("patch")
    )
    if is_htmx(request):
        return render(request, "dashboard/whatif/_preview.html", context)
    return render_page(
        request, "dashboard/whatif/explorer.html", context, cluster=cluster, section="whatif"
    )


@read_required
def explorer(request: HttpRequest, name: str) -> HttpResponse:
    """Controls on the left, before | after on the right; htmx swaps only the preview."""
    return _explorer(request, cluster_or_404(name), request.GET, scenario=None)


@read_required
def scenario_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved scenario's shareable page: the explorer with its changes filled in.

    Only ``?service=`` (which Service to look at) may accompany the bare URL; once a
    control is flipped the query string carries the whole what-if, as on the explorer.
    """
    scenario = get_object_or_404(Scenario.objects.select_related("cluster", "created_by"), pk=pk)
    params: QueryDict = request.GET
    if set(params) <= {"service"}:
        focus = params.get("service") or next(iter(scenario.changes.get("services") or {}), "")
        if not focus:  # found among every Service's endpoints
            snapshot = answers.cluster_snapshot(cluster=scenario.cluster)
            focus = answers.focus_of(snapshot, scenario.changes)
        params = _params_for(scenario, focus)
        return _explorer(
            request, scenario.cluster, params, scenario=scenario, stored=scenario.changes
        )
    return _explorer(request, scenario.cluster, params, scenario=scenario)


def _not_in_controls(form: WhatIfForm, stored: dict[str, Any]) -> list[str]:
    """Parts of a stored scenario the controls cannot show (they still count in the preview)."""
    shown = form.changes()
    hidden = [
        f"{key}: {stored[key]}" for key in sorted(stored) if key not in shown and key != "scale"
    ]
    other_services = sorted(set(stored.get("services") or {}) - set(shown.get("services") or {}))
    hidden += [f"Service {key}: {stored['services'][key]}" for key in other_services]
    if len(stored.get("scale") or {}) > 1:
        hidden.append(f"scale: {stored['scale']}")
    return [h for h in hidden if not h.startswith("services:")]


def _params_for(scenario: Scenario, service: str) -> QueryDict:
    """The explorer's query string for a stored scenario looked at through ``service``."""
    data = WhatIfForm.initial_from_changes(service, scenario.changes)
    scale = scenario.changes.get("scale") or {}
    if len(scale) == 1:
        data["scale"] = next(iter(scale.values()))
    params = QueryDict(mutable=True)
    for field, value in data.items():
        if isinstance(value, list):
            params.setlist(field, value)
        else:
            params[field] = str(value)
    return params


@require_POST
@read_required
def save(request: HttpRequest, name: str) -> HttpResponse:
    """Save the what-if in the query string as a named scenario; go to its shareable URL."""
    cluster = cluster_or_404(name)
    if not request.user.is_authenticated:
        messages.error(request, "Log in to save a scenario.")
        return redirect(f"{reverse('login')}?next={reverse('dashboard:whatif', args=[name])}")
    params = QueryDict(request.POST.get("query", ""))
    form = WhatIfForm(params, nodes=answers.node_names(cluster=cluster))
    save_form = SaveScenarioForm(request.POST)
    if not (form.is_valid() and save_form.is_valid()):
        messages.error(
            request,
            "Nothing saved: "
            + "; ".join(
                f"{f}: {' '.join(map(str, e))}"
                for f, e in {**form.errors, **save_form.errors}.items()
            ),
        )
        return redirect(f"{reverse('dashboard:whatif', args=[name])}?{params.urlencode()}")
    preview = _preview(cluster, form, _snapshot(cluster, form, None))
    if preview.get("not_proxied"):
        preview["error"] = preview["not_proxied"].reason.message
    if preview["error"]:
        messages.error(request, f"Nothing saved: {preview['error']}")
        return redirect(f"{reverse('dashboard:whatif', args=[name])}?{params.urlencode()}")
    try:
        scenario = patches.save_scenario(
            cluster=cluster,
            user=request.user,
            name=save_form.cleaned_data["name"],
            description=save_form.cleaned_data["description"],
            changes=preview["changes"],
        )
    except InputError as exc:
        messages.error(request, f"Nothing saved: {exc}")
        return redirect(f"{reverse('dashboard:whatif', args=[name])}?{params.urlencode()}")
    messages.success(request, f"Saved scenario “{scenario.name}”. Share this page's URL.")
    url = reverse("dashboard:scenario", args=[scenario.pk])
    return redirect(f"{url}?{urlencode({'service': form.cleaned_data['service']})}")


@require_POST
@read_required
def scenario_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Operators only: start the apply job for the scenario's Service changes."""
    scenario = get_object_or_404(Scenario.objects.select_related("cluster"), pk=pk)
    patch = patches.service_patch(cluster=scenario.cluster, changes=scenario.changes)
    blocker = patches.apply_blocker(request.user, scenario.cluster, scenario, patch)
    if blocker:
        if not user_can_operate(request.user):
            raise PermissionDenied(blocker)
        messages.error(request, f"Not applied: {blocker}")
        return redirect("dashboard:scenario", pk=pk)
    try:
        jobs = patches.start_apply(
            scenario=scenario,
            user=request.user,
            confirm_restart=request.POST.get("confirm_restart") == "yes",
        )
    except InputError as exc:
        messages.error(request, f"Not applied: {exc}")
        return redirect("dashboard:scenario", pk=pk)
    messages.info(
        request,
        f"Started {', '.join(f'job #{job.pk}' for job in jobs)} for scenario “{scenario.name}”.",
    )
    return redirect("dashboard:job-detail", pk=jobs[0].pk)


@read_required
def impact(request: HttpRequest, name: str) -> HttpResponse:
    """The what-if's cluster-wide impact (every Service × source class), loaded lazily by
    htmx below the preview: the analysis of a big cluster takes seconds, not milliseconds."""
    cluster = cluster_or_404(name)
    snapshot = answers.cluster_snapshot(cluster=cluster)
    form = WhatIfForm(request.GET, nodes=sorted(snapshot.nodes))
    context: dict[str, Any] = {"cluster": cluster, "error": None}
    if not form.is_valid():
        context["error"] = "; ".join(
            f"{f}: {' '.join(map(str, e))}" for f, e in form.errors.items()
        )
    else:
        preview_changes = _preview(cluster, form, snapshot)["changes"]
        try:
            context["impact"] = answers.cluster_impact(cluster=cluster, changes=preview_changes)
        except InputError as exc:
            context["error"] = str(exc)
    return render(request, "dashboard/whatif/_impact.html", context)
