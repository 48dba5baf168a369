"""One traffic and cost model: every door prices a Service the same (issue 16, item 2).

The demo cluster (``cluster/fixtures/demo.json``) gets non-default cost settings and one
Service override, then for every demo Service and every value of every what-if field
(``routing.engine.whatif_fields.FIELDS``):

- the what-if page's preview (htmx fragment): the Service's cross-zone bill after the
  what-if, from its entries (``routing.whatif.preview.service_cost``), equals the
  analysis' (``scenario_report``) — which the what-if impact and a finding use;
- before any what-if, the Service page's figure equals the analysis row's, the overview's
  cluster total is the sum of the Services', and every ``CROSS_ZONE_COST`` finding quotes
  its port's figure.

Each check fails on the code before this change: the preview summed per-node answers
(×nodes) while the analysis averaged them, and the total ignored outside clients.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from dashboard.forms import UNSET, param_of
from routing.engine.whatif_fields import FIELDS, WhatIfField

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "cluster" / "fixtures" / "demo.json"
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _demo_services() -> list[str]:
    items = json.loads(DEMO.read_text())["items"]
    return sorted(
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in items
        if o["kind"] == "Service"
    )


def _values(spec: WhatIfField) -> list[Any]:
    if spec.kind is int:
        return [spec.minimum, spec.maximum]
    return list(spec.choices)


@pytest.fixture
def demo(db: Any) -> Any:
    from cluster.models import Cluster
    from routing.costs import cost_settings_save, service_traffic_save
    from routing.reports import report_cache_clear
    from routing.snapshots import snapshot_cache_clear

    snapshot_cache_clear()
    report_cache_clear()
    call_command("load_demo", verbosity=0)
    cluster = Cluster.objects.get(name="demo")
    cost_settings_save(
        cluster=cluster,
        values={
            "request_rate": 250.0,
            "external_request_rate": 40.0,
            "request_bytes": 1_000,
            "response_bytes": 50_000,
            "price_per_gb": 0.02,
            "same_node_ms": 0.05,
            "same_zone_ms": 0.25,
            "cross_zone_ms": 1.0,
            "unknown_ms": 0.5,
        },
    )
    service_traffic_save(
        cluster=cluster,
        namespace="shop",
        name="cache",
        values={
            "request_rate": 900.0,
            "external_request_rate": 0.0,
            "request_bytes": 500,
            "response_bytes": 4_000,
        },
    )
    yield cluster
    snapshot_cache_clear()
    report_cache_clear()


def test_model_inputs_reach_every_figure(demo: Any) -> None:
    """The saved settings, not the defaults, price the analysis (and re-analyse)."""
    from routing.costs import cost_inputs
    from routing.engine.costmodel import CostModel
    from routing.reports import cluster_report

    model = cost_inputs(demo)
    assert model.fingerprint() != CostModel().fingerprint()
    report = cluster_report(cluster=demo)
    assert report.model == model
    assert report.model.traffic_for("shop/cache").request_rate == 900.0


def test_service_page_overview_and_findings_agree(demo: Any) -> None:
    from routing.reports import cluster_report

    client = Client()
    report = cluster_report(cluster=demo)
    total = 0.0
    for key in _demo_services():
        namespace, name = key.split("/")
        for row in (r for r in report.rows if r.service == key):
            response = client.get(
                reverse("dashboard:service-detail", args=["demo", namespace, name]),
                {"port": row.port},
            )
            assert response.status_code == 200
            cost = response.context["cost"]
            assert cost.port_cost == pytest.approx(row.cost_usd_per_month, abs=1e-6), row.key
            # The page reads the stored analysis, whose rows keep 4 decimals: a tenth of a
            # cent per port at most, below what any page shows.
            assert cost.service_cost == pytest.approx(report.service_cost(key), abs=1e-3)
            assert f"${cost.port_cost:,.2f}/month".replace(",", "") in response.content.decode()
        total += report.service_cost(key)
    overview = client.get(reverse("dashboard:overview", args=["demo"]))
    tiles = dict((label, value) for label, value, _tone in overview.context["summary"])
    assert tiles["cross-zone $/month"] == f"{total:,.0f}"
    assert report.summary()["cross_zone_usd_per_month"] == pytest.approx(total, abs=0.01)
    quoted = [f for f in report.findings if f.code == "CROSS_ZONE_COST"]
    assert quoted, "the demo has a cross-zone finding to check"
    for finding in quoted:
        quoted_row = report.row(finding.service, finding.port)
        assert quoted_row is not None
        assert f"${quoted_row.cost_usd_per_month:,.2f}/month" in finding.message


@pytest.mark.parametrize(
    ("spec", "value"),
    [(spec, value) for spec in FIELDS for value in _values(spec)],
    ids=lambda x: x.name if isinstance(x, WhatIfField) else str(x),
)
def test_whatif_page_and_analysis_agree(demo: Any, spec: WhatIfField, value: Any) -> None:
    from routing.reports import scenario_report
    from routing.selectors import engine_scenario
    from routing.whatif.preview import service_cost

    client = Client()
    shown = UNSET if spec.unset is not None and value == spec.unset else value
    checked, refusals = 0, []
    for key in _demo_services():
        response = client.get(
            reverse("dashboard:whatif", args=["demo"]),
            {"service": key, param_of(spec): shown},
            **HTMX,
        )
        assert response.status_code == 200
        context = response.context
        if context.get("error"):
            refusals.append(context["error"])
            continue  # refused (e.g. not applicable to this Service): no figure to compare
        if context.get("not_proxied"):
            continue  # headless / ExternalName: kube-proxy carries nothing, nothing to price
        changes = context["changes"]
        after = scenario_report(cluster=demo, scenario=engine_scenario(changes))
        compared = [d for d, *_views in context["compared"]]
        port = compared[0].before.port
        row = after.row(key, port)
        assert row is not None
        assert service_cost([d.after for d in compared]) == pytest.approx(
            row.cost_usd_per_month, abs=1e-6
        ), (key, spec.name, value)
        checked += 1
    # A value the demo's release refuses everywhere is refused naming the field.
    assert checked or all(spec.name in error for error in refusals), refusals


def test_flipping_external_traffic_policy_moves_the_cluster_total(demo: Any) -> None:
    """Outside clients are part of the bill: eTP=Local keeps load-balancer traffic on the
    node it lands on, eTP=Cluster spreads it over zones (issue 16: the total did not move)."""
    from dashboard.answers import cluster_impact
    from routing.reports import cluster_report

    report = cluster_report(cluster=demo)
    impact = cluster_impact(
        cluster=demo,
        changes={"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}}},
    )
    assert impact.cost[0] == pytest.approx(report.summary()["cross_zone_usd_per_month"])
    assert impact.cost[1] > impact.cost[0]


def test_etp_local_drops_behind_a_healthy_load_balancer_is_info(demo: Any) -> None:
    """The expected NodePort drops of an eTP=Local LoadBalancer Service whose health check
    keeps every client on nodes with an endpoint are not painted as an outage."""
    from routing.reports import cluster_report

    report = cluster_report(cluster=demo)
    seen = 0
    for finding in report.findings:
        if finding.code != "ETP_LOCAL_DROPS":
            continue
        row = report.row(finding.service, finding.port)
        assert row is not None
        lb = row.source("lb")
        healthy = lb is not None and lb.forward_nodes and lb.effective_dropped == 0
        assert finding.severity == ("info" if healthy else "warning"), finding
        seen += bool(healthy)
    assert seen, "the demo has an eTP=Local LoadBalancer behind a healthy health check"
