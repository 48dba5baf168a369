"""The disruption timeline page of a Service: what a rollout / drain / outage does to it;
saving the question shown (``save``) and a saved timeline's shareable page (``saved``)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from cluster.models import Cluster, Service
from dashboard import answers
from dashboard.timeline_chart import GEOMETRY, panels
from dashboard.views.common import cluster_or_404, read_required, render_page
from routing.api.timeline import SavedQuestionSerializer
from routing.engine.errors import ScenarioError
from routing.engine.timeline import LB_PRESETS, TimelineError
from routing.models import SavedTimeline
from routing.services import InputError, saved_timeline_create
from routing.timeline_input import timeline_json

PARAMS = (
    "event",
    "lb_preset",
    "probe_interval",
    "unhealthy_threshold",
    "prestop",
    "grace",
    "on_sigterm",
    "etp",
)
#: timeline change fields -> this page's query parameters.
CHANGE_PARAMS = {
    "prestop_s": "prestop",
    "grace_s": "grace",
    "probe_interval": "probe_interval",
    "unhealthy_threshold": "unhealthy_threshold",
}


def _events(snapshot, key: str) -> list[tuple[str, str]]:
    """(value, label) of the events worth offering for ``key``."""
    hosting = sorted(
        {ep.node for eps in snapshot.endpoint_index.get(key, {}).values() for ep in eps if ep.node}
    )
    zones = sorted({snapshot.zone_of(n) for n in hosting if snapshot.zone_of(n)})
    count = len(
        {ep.pod or ep.ip for eps in snapshot.endpoint_index.get(key, {}).values() for ep in eps}
    )
    out = [("rollout", "rolling update")]
    out += [(f"drain:{n}", f"drain {n}") for n in hosting]
    out += [(f"node-down:{n}", f"node {n} fails") for n in hosting]
    out += [(f"scale-in:{n}", f"autoscaler removes {n}") for n in hosting]
    out += [(f"zone-down:{z}", f"zone {z} goes dark") for z in zones]
    out += [(f"scale:{k}", f"scale to {k}") for k in sorted({max(count - 1, 0), count + 1})]
    return out


def _question(params: dict[str, str]) -> dict[str, object]:
    """The page's query parameters as timeline fields (``routing.timeline_input.FIELDS``)."""
    return {
        "event": params["event"],
        "lb_preset": params["lb_preset"] or None,
        "probe_interval": params["probe_interval"] or None,
        "unhealthy_threshold": params["unhealthy_threshold"] or None,
        "prestop": params["prestop"] or None,
        "grace": params["grace"] or None,
        "on_sigterm": params["on_sigterm"] or None,
        "set": {"externalTrafficPolicy": params["etp"]} if params["etp"] else {},
    }


def _params(question: dict) -> dict[str, str]:
    """A saved question as this page's query parameters (the form shows what it can)."""
    params = {p: "" if question.get(p) is None else str(question[p]) for p in PARAMS}
    params["etp"] = str((question.get("set") or {}).get("externalTrafficPolicy", ""))
    for p in ("probe_interval", "prestop", "grace"):
        if params[p]:
            params[p] = f"{float(params[p]):g}"
    return params


class SaveTimelineForm(forms.Form):
    """The name under which to save the timeline shown, and its query string."""

    name = forms.CharField(max_length=200)
    query = forms.CharField(required=False)


@read_required
def service_timeline(request: HttpRequest, name: str, namespace: str, service: str) -> HttpResponse:
    """A form (event, load balancer, preStop, grace, app at SIGTERM, eTP) and, once an event
    is chosen, the time chart per source, the windows in words and checked recommendations."""
    cluster = cluster_or_404(name)
    row = get_object_or_404(Service, cluster=cluster, namespace=namespace, name=service)
    params = {p: request.GET.get(p, "").strip() for p in PARAMS}
    question = _question(params) if params["event"] else None
    return _page(request, cluster, row, params, question)


@read_required
def saved(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved timeline's shareable page: its question re-run on the cluster as it is now."""
    timeline = get_object_or_404(SavedTimeline.objects.select_related("cluster"), pk=pk)
    namespace, _, service = timeline.service.partition("/")
    row = Service.objects.filter(
        cluster=timeline.cluster, namespace=namespace, name=service
    ).first()
    if row is None:
        raise Http404(f"the cluster has no Service {timeline.service} any more")
    question = dict(timeline.question)
    return _page(request, timeline.cluster, row, _params(question), question, saved=timeline)


@require_POST
@read_required
def save(request: HttpRequest, name: str, namespace: str, service: str) -> HttpResponse:
    """Save the timeline in the posted query string under a name; go to its shareable URL."""
    cluster = cluster_or_404(name)
    row = get_object_or_404(Service, cluster=cluster, namespace=namespace, name=service)
    here = reverse("dashboard:service-timeline", args=[cluster.name, namespace, service])
    form = SaveTimelineForm(request.POST)
    query = request.POST.get("query", "")
    back = f"{here}?{query}" if query else here
    if not request.user.is_authenticated:
        messages.error(request, "Log in to save a timeline.")
        return redirect(f"{reverse('login')}?{urlencode({'next': back})}")
    if not form.is_valid():
        messages.error(request, "Nothing saved: give the timeline a name.")
        return redirect(back)
    args = QueryDict(query)
    params = {p: args.get(p, "").strip() for p in PARAMS}
    if not params["event"]:
        messages.error(request, "Nothing saved: choose an event first.")
        return redirect(back)
    # The API's serializer: a question saved here is stored exactly as one saved there.
    body = SavedQuestionSerializer(
        data={k: v for k, v in _question(params).items() if v not in (None, "", {})}
    )
    if not body.is_valid():
        problems = "; ".join(f"{f}: {' '.join(map(str, e))}" for f, e in body.errors.items())
        messages.error(request, f"Nothing saved: {problems}")
        return redirect(back)
    try:
        timeline = saved_timeline_create(
            cluster=cluster,
            name=form.cleaned_data["name"],
            service=f"{row.namespace}/{row.name}",
            question=dict(body.validated_data),
            user=request.user,
        )
    except InputError as exc:
        messages.error(request, f"Nothing saved: {exc}")
        return redirect(back)
    messages.success(request, f"Saved timeline “{timeline.name}”. Share this page's URL.")
    return redirect("dashboard:saved-timeline", pk=timeline.pk)


def _page(
    request: HttpRequest,
    cluster: Cluster,
    row: Service,
    params: dict[str, str],
    question: dict | None,
    *,
    saved: SavedTimeline | None = None,
) -> HttpResponse:
    namespace, service = row.namespace, row.name
    key = f"{namespace}/{service}"
    snapshot = answers.cluster_snapshot(cluster=cluster)
    out, error = None, None
    if question is not None:
        try:
            out = timeline_json(snapshot, {**question, "service": key})
        except (TimelineError, ScenarioError) as exc:
            error = " ".join(str(exc).split())
    here = reverse("dashboard:service-timeline", args=[cluster.name, namespace, service])
    recs = []
    for rec in (out or {}).get("recommendations", []):
        change = rec["change"]
        if change["kind"] == "timing":
            query = {k: v for k, v in params.items() if v}
            query.update(
                {CHANGE_PARAMS[k]: f"{v:g}" for k, v in change["set"].items() if k in CHANGE_PARAMS}
            )
            if "probe_interval" in change["set"]:
                query.pop("lb_preset", None)  # explicit probe numbers replace the preset
            link, label = f"{here}?{urlencode(query)}", "Re-run with this change"
        else:
            etp = change["set"].get("externalTrafficPolicy", "")
            whatif_query = urlencode({"service": key, "etp": etp})
            link = f"{reverse('dashboard:whatif', args=[cluster.name])}?{whatif_query}"
            label = "Open in the what-if"
        recs.append(
            {
                "text": change["text"],
                "left": len(rec["windows_after"]),
                "link": link,
                "label": label,
            }
        )
    context = {
        "cluster": cluster,
        "service": row,
        "key": key,
        "params": params,
        "error": error,
        "out": out,
        "events": _events(snapshot, key),
        "presets": sorted(LB_PRESETS),
        "panels": panels(out) if out else [],
        "geometry": GEOMETRY,
        "recs": recs,
        "here": here,
        "saved": saved,
        "query": urlencode({k: v for k, v in params.items() if v}),
        "saved_list": SavedTimeline.objects.filter(cluster=cluster, service=key).select_related(
            "created_by"
        ),
        "new_windows": [
            w for w in (out or {}).get("windows", []) if not w["source"].endswith(":established")
        ],
        "resets": [
            w for w in (out or {}).get("windows", []) if w["source"].endswith(":established")
        ],
    }
    return render_page(
        request, "dashboard/services/timeline.html", context, cluster=cluster, section="services"
    )


@read_required
def timeline_by_key(request: HttpRequest, name: str) -> HttpResponse:
    """``?service=ns/name`` (as the what-if explorer knows it) -> that Service's timeline page."""
    cluster = cluster_or_404(name)
    namespace, _, service = request.GET.get("service", "").strip().partition("/")
    if not namespace or not service:
        raise Http404("service must be namespace/name")
    row = get_object_or_404(Service, cluster=cluster, namespace=namespace, name=service)
    return redirect("dashboard:service-timeline", cluster.name, row.namespace, row.name)
