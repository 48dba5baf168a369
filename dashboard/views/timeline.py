"""The disruption timeline page of a Service: what a rollout / drain / outage does to it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from cluster.models import Service
from dashboard import answers
from dashboard.timeline_chart import GEOMETRY, panels
from dashboard.views.common import cluster_or_404, read_required, render_page
from routing.engine.errors import ScenarioError
from routing.engine.timeline import LB_PRESETS, TimelineError
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


@read_required
def service_timeline(request: HttpRequest, name: str, namespace: str, service: str) -> HttpResponse:
    """A form (event, load balancer, preStop, grace, app at SIGTERM, eTP) and, once an event
    is chosen, the time chart per source, the windows in words and checked recommendations."""
    cluster = cluster_or_404(name)
    row = get_object_or_404(Service, cluster=cluster, namespace=namespace, name=service)
    key = f"{namespace}/{service}"
    snapshot = answers.cluster_snapshot(cluster=cluster)
    params = {p: request.GET.get(p, "").strip() for p in PARAMS}
    out, error = None, None
    if params["event"]:
        fields = {
            "service": key,
            "event": params["event"],
            "lb_preset": params["lb_preset"] or None,
            "probe_interval": params["probe_interval"] or None,
            "unhealthy_threshold": params["unhealthy_threshold"] or None,
            "prestop": params["prestop"] or None,
            "grace": params["grace"] or None,
            "on_sigterm": params["on_sigterm"] or None,
            "set": {"externalTrafficPolicy": params["etp"]} if params["etp"] else {},
        }
        try:
            out = timeline_json(snapshot, fields)
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
