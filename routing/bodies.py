"""The JSON bodies the REST API and the ``routescope`` command share (no Django).

``GET /api/v1/clusters/{name}/analysis`` and ``routescope analyze FILE`` print the same
``analysis_body``; ``GET /api/v1/clusters/{name}/rules`` and ``routescope render-rules FILE``
the same ``rules_body``. A file has no stored cluster: its ``cluster`` and ``revision`` are
null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named in annotations: ``routescope simulate`` loads neither
    from routing.engine.analysis import Report
    from routing.engine.rules.render import RuleSet

#: The analysis query's defaults (the API's ``AnalysisQuerySerializer``).
ANALYSIS_QUERY = {
    "service": None,
    "dropping": False,
    "limit": 100,
    "offset": 0,
    "endpoints": False,
    "max_findings": 100,
    "code": None,
}


def analysis_body(
    report: Report, query: Mapping[str, Any], *, cluster: str | None, revision: int | None
) -> dict[str, Any]:
    """The report's JSON with its Service rows filtered and paged by ``query``."""
    query = {**ANALYSIS_QUERY, **query}
    rows = report.rows
    if query["service"]:
        rows = tuple(r for r in rows if r.service == query["service"])
    if query["dropping"]:
        rows = tuple(r for r in rows if r.worst_dropped > 0)
    offset, limit = query["offset"], query["limit"]
    full = report.head_json()  # summary, cost model, notes: no row rendered for them
    return _body(
        full,
        query,
        cluster=cluster,
        revision=revision,
        count=len(rows),
        services=[r.to_json(endpoints=query["endpoints"]) for r in rows[offset : offset + limit]],
        findings=[f.to_json() for f in _findings(report.findings, query, code=lambda f: f.code)],
    )


def stored_analysis_body(
    stored: Mapping[str, Any],
    findings: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    query: Mapping[str, Any],
    *,
    cluster: str,
    revision: int,
) -> dict[str, Any]:
    """``analysis_body`` of a stored analysis: ``stored`` holds ``summary``,
    ``cost_model`` and ``notes``, ``findings`` every finding's JSON (ranked), ``rows`` the
    rows' JSON (without per-endpoint shares: ``query["endpoints"]`` is not served here)."""
    query = {**ANALYSIS_QUERY, **query}
    if query["service"]:
        rows = [r for r in rows if r["service"] == query["service"]]
    if query["dropping"]:
        rows = [r for r in rows if r["dropped"] > 0]
    offset, limit = query["offset"], query["limit"]
    return _body(
        stored,
        query,
        cluster=cluster,
        revision=revision,
        count=len(rows),
        services=rows[offset : offset + limit],
        findings=_findings(findings, query, code=lambda f: f["code"]),
    )


def _findings(findings: Any, query: Mapping[str, Any], *, code: Any) -> list[Any]:
    if query["code"]:
        findings = [f for f in findings if code(f) == query["code"]]
    return list(findings[: query["max_findings"]])


def _body(
    full: Mapping[str, Any],
    query: Mapping[str, Any],
    *,
    cluster: str | None,
    revision: int | None,
    count: int,
    services: list[Any],
    findings: list[Any],
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "revision": revision,
        "summary": full["summary"],
        "cost_model": full["cost_model"],
        "count": count,
        "offset": query["offset"],
        "limit": query["limit"],
        "services": services,
        "findings": findings,
        "notes": full["notes"],
    }


def rules_body(rules: RuleSet, *, cluster: str | None, service: str | None) -> dict[str, Any]:
    """One node's rendered kube-proxy rules, each line with its reason."""
    return {
        "cluster": cluster,
        "node": rules.node,
        "mode": rules.mode,
        "service": service,
        "text": rules.text,
        "companions": dict(rules.companions),
        "notes": list(rules.notes),
        "lines": [
            {
                "text": line.text,
                "service": line.service or None,
                "reason": line.reason,
                "why": line.why,
            }
            for line in rules.lines
        ],
    }
