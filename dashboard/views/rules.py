"""Rules: what kube-proxy programs on a node for a Service, with the reason per rule,
and the diff under the current what-if."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from dashboard import answers
from dashboard.forms import SERVICE_PARAMS, WhatIfForm
from dashboard.views.common import cluster_or_404, read_required, render_page
from routing.engine.rules import RulesError, render_node_rules
from routing.engine.rules.cache import RenderCache
from routing.engine.rules.diff import diff_rules
from routing.engine.rules.model import MODES
from routing.selectors import InputError, drift_latest, scenario_snapshot
from routing.snapshots import render_cache_for

#: Without a Service filter a big cluster's rule set is megabytes: the page asks for one.
ALL_SERVICES_MAX = 40
#: Query parameters that carry a what-if (the form's, so a new field table row counts too).
WHATIF_FIELDS = (*SERVICE_PARAMS, "proxy_mode", "ipvs_scheduler", "down", "cordon", "drain")


@read_required
def rules(request: HttpRequest, name: str) -> HttpResponse:
    """Per node and mode, the rendered rules (optionally one Service's) with reasons, and
    the node agent's latest drift report for the node."""
    cluster = cluster_or_404(name)
    snapshot = answers.cluster_snapshot(cluster=cluster)
    nodes = sorted(snapshot.nodes)
    node = request.GET.get("node") or (nodes[0] if nodes else "")
    mode = request.GET.get("mode") or snapshot.proxy_for(node).mode
    if mode not in MODES:
        mode = "iptables"
    service = request.GET.get("service", "").strip() or None
    context: dict[str, Any] = {
        "cluster": cluster,
        "nodes": nodes,
        "node": node,
        "mode": mode,
        "modes": MODES,
        "service": service or "",
        "error": None,
        "lines": [],
        "diff": None,
        "services": sorted(snapshot.services)[:200],
    }
    # The node agent's latest comparison of this node's real rules with the prediction.
    context["drift"] = next(iter(drift_latest(cluster=cluster, node=node)), None) if node else None
    if service is None and len(snapshot.services) > ALL_SERVICES_MAX:
        context["error"] = f"{len(snapshot.services)} Services: pick one to see its rules."
    elif node:
        try:
            cache = render_cache_for(cluster=cluster)
            ruleset = render_node_rules(snapshot, node, mode, service=service, cache=cache)
            context.update(
                lines=ruleset.lines,
                notes=ruleset.notes,
                companions=ruleset.companions,
                text=ruleset.text,
            )
            context["diff"] = _whatif_diff(request, snapshot, node, mode, service, nodes, cache)
        except (RulesError, InputError) as exc:
            context["error"] = str(exc)
    return render_page(request, "dashboard/rules.html", context, cluster=cluster, section="rules")


def _whatif_diff(
    request: HttpRequest,
    snapshot: Any,
    node: str,
    mode: str,
    service: str | None,
    nodes: list[str],
    cache: RenderCache,
) -> dict[str, Any] | None:
    """The rule diff on ``node`` under the what-if carried in the query string, if any."""
    if not any(request.GET.get(f) for f in WHATIF_FIELDS) or not service:
        return None
    form = WhatIfForm(request.GET, nodes=nodes)
    if not form.is_valid():
        raise InputError("; ".join(f"{f}: {' '.join(map(str, e))}" for f, e in form.errors.items()))
    whatif = scenario_snapshot(snapshot=snapshot, changes=form.changes())
    result = diff_rules(snapshot, whatif, mode, nodes=[node], service=service, cache=cache)
    return {"text": result.node_diff(node), "summary": result.to_json(), "query": form.changes()}
