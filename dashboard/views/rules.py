"""Rules: what kube-proxy programs on a node for a Service, with the reason per rule,
and the diff under the current what-if."""

from __future__ import annotations

import difflib
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
#: What each mode's main text is fed to.
RESTORE_INPUT = {
    "iptables": "iptables-restore input",
    "nftables": "nft -f input",
    "ipvs": "ipvsadm-restore input",
    "userspace": "rules",
}
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
    before, after = snapshot.proxy_for(node), whatif.proxy_for(node)
    if (before.mode, before.ipvs_scheduler) != (after.mode, after.ipvs_scheduler):
        return _switch_diff(snapshot, whatif, node, service, cache) | {"query": form.changes()}
    result = diff_rules(snapshot, whatif, mode, nodes=[node], service=service, cache=cache)
    return {"text": result.node_diff(node), "summary": result.to_json(), "query": form.changes()}


def _full_text(
    snapshot: Any, node: str, mode: str, service: str, cache: RenderCache | None = None
) -> list[str]:
    """Every text kube-proxy in ``mode`` programs on ``node``: its main input and, for IPVS,
    the ipset and iptables companions, each under a heading line."""
    if mode not in MODES:  # the removed userspace mode: no rule text is modelled
        return [f"# {mode}: kube-proxy programs no rule text this page renders"]
    ruleset = render_node_rules(snapshot, node, mode, service=service, cache=cache)
    lines = [f"# {ruleset.mode}: {RESTORE_INPUT[ruleset.mode]}", *ruleset.text.splitlines()]
    for title, text in ruleset.companions.items():
        lines += [f"# {ruleset.mode}: {title}", *text.splitlines()]
    return lines


def _switch_diff(
    snapshot: Any, whatif: Any, node: str, service: str, cache: RenderCache
) -> dict[str, Any]:
    """A proxy-mode or IPVS-scheduler what-if on ``node``: each side rendered in the mode the
    node runs on that side, so a mode switch shows the whole rule set replaced (kube-proxy
    starting in a new mode cleans up the old mode's rules and programs its own:
    cmd/kube-proxy/app/server_linux.go, kubernetes/kubernetes#131243)."""
    before, after = snapshot.proxy_for(node), whatif.proxy_for(node)
    old = _full_text(snapshot, node, before.mode, service, cache)
    # The what-if snapshot gets a cache of its own: the cluster's is the stored revision's.
    new = _full_text(whatif, node, after.mode, service)
    header = [f"--- {node} {_describe(before)}", f"+++ {node} {_describe(after)} (what-if)"]
    if before.mode != after.mode:
        # Replaced, not edited: the old mode's rules go even where a line reads the same
        # (e.g. KUBE-SERVICES exists in both), so no line is shown as kept.
        hunk = [*header, f"@@ -1,{len(old)} +1,{len(new)} @@"]
        hunk += [f"-{line}" for line in old] + [f"+{line}" for line in new]
    else:
        hunk = list(difflib.unified_diff(old, new, lineterm="", n=1))
        hunk = header + hunk[2:] if hunk else []
    # Rule lines only: the header, hunk marks and the section headings do not count.
    removed = sum(1 for line in hunk[3:] if line.startswith("-") and not line.startswith("-# "))
    added = sum(1 for line in hunk[3:] if line.startswith("+") and not line.startswith("+# "))
    return {
        "text": "\n".join(hunk) + ("\n" if hunk else ""),
        "summary": {"nodes_total": 1, "nodes_changed": 1 if hunk else 0},
        "switch": {
            "before": _describe(before),
            "after": _describe(after),
            "replaced": before.mode != after.mode,
            "scheduler": after.ipvs_scheduler,
            "scheduler_unused": before.mode == after.mode != "ipvs",
            "removed": removed,
            "added": added,
            "lines_before": len(old),
            "lines_after": len(new),
        },
    }


def _describe(config: Any) -> str:
    """What a node's kube-proxy runs: "iptables", or "ipvs (scheduler rr)"."""
    if config.mode == "ipvs":
        return f"ipvs (scheduler {config.ipvs_scheduler})"
    return str(config.mode)
