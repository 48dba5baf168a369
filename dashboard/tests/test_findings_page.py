"""Issue 16, item 4 (findings page) and item 2 (the cost model's settings page), through
the Django test client on the demo cluster; the browser walk is in ``test_findings_browser``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cluster.models import Cluster
from routing.engine.whatif_fields import FIELDS

pytestmark = pytest.mark.django_db

FIELD_NAMES = {spec.name for spec in FIELDS}


def _all_listed(client: Client, **filters: Any) -> list[tuple[str, str, str]]:
    """(code, service, port) of every finding the page lists, over all its pages."""
    url = reverse("dashboard:findings", args=["demo"])
    listed, page = [], 1
    while True:
        response = client.get(url, {**filters, "page": str(page)})
        assert response.status_code == 200
        listed += [
            (x.finding.code, x.finding.service, x.finding.port) for x in response.context["items"]
        ]
        if not response.context["page"].has_next():
            return listed
        page += 1


def test_every_finding_is_listed_and_the_overview_links_to_them(demo, client) -> None:
    from routing.reports import cluster_report

    report = cluster_report(cluster=demo)
    listed = _all_listed(client)
    assert listed == [(f.code, f.service, f.port) for f in report.findings]
    overview = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert f'href="{reverse("dashboard:findings", args=["demo"])}"' in overview


def test_filters_narrow_by_severity_code_namespace_and_source(demo, client) -> None:
    from routing.reports import cluster_report

    report = cluster_report(cluster=demo)
    for name, value_of in (
        ("severity", lambda f: f.severity),
        ("code", lambda f: f.code),
        ("namespace", lambda f: f.service.split("/")[0]),
        ("source", lambda f: f.source or "none"),
    ):
        values = {value_of(f) for f in report.findings}
        assert values, name
        for value in values:
            expected = [
                (f.code, f.service, f.port) for f in report.findings if value_of(f) == value
            ]
            assert _all_listed(client, **{name: value}) == expected, (name, value)


def test_every_finding_lands_on_its_section_of_its_service_page(demo, client) -> None:
    url = reverse("dashboard:findings", args=["demo"])
    items = client.get(url, {"page": 1}).context["page"].paginator.object_list
    from dashboard.findings import links

    for link in links(demo, list(items)):
        path, _, fragment = link.service_url.partition("#")
        page = client.get(path)
        assert page.status_code == 200, link.service_url
        html = page.content.decode()
        assert f'id="{fragment}"' in html, (link.finding.code, link.finding.service)
        if link.finding.port:
            assert f"port={link.finding.port}" in path


def test_try_the_fix_opens_a_whatif_that_removes_the_finding(demo, client) -> None:
    from urllib.parse import parse_qs, urlparse

    from dashboard.findings import links
    from routing.reports import cluster_report, scenario_report
    from routing.selectors import engine_scenario

    report = cluster_report(cluster=demo)
    fixable = [x for x in links(demo, list(report.findings)) if x.fix_url]
    assert fixable, "the demo has findings with a fix"
    for link in fixable:
        assert link.finding.fix is not None
        field, value = link.finding.fix
        assert field in FIELD_NAMES
        query = {k: v[0] for k, v in parse_qs(urlparse(str(link.fix_url)).query).items()}
        page = client.get(link.fix_url)
        assert page.status_code == 200
        assert query["service"] == link.finding.service
        changes = page.context.get("changes")
        assert changes == {"services": {link.finding.service: {field: value}}}, link.fix_url
        after = scenario_report(cluster=demo, scenario=engine_scenario(changes))
        still = [
            f
            for f in after.findings
            if (f.code, f.service, f.port)
            == (link.finding.code, link.finding.service, link.finding.port)
        ]
        assert still == [], (link.finding.code, link.finding.service, field, value)


def test_imbalance_reads_the_same_in_the_table_and_the_finding(demo, client) -> None:
    from routing.reports import cluster_report

    report = cluster_report(cluster=demo)
    table = client.get(reverse("dashboard:services", args=["demo"]), {"page_size": 100})
    html = table.content.decode()
    checked = 0
    for f in report.findings:
        if not f.code.endswith("IMBALANCE"):
            continue
        row = report.row(f.service, f.port)
        assert row is not None
        stats = row.source(f.source or "pod")
        assert stats is not None and stats.imbalance is not None
        assert f"imbalance {stats.imbalance:.2f}×" in f.message
        figure = re.search(
            rf'data-service="{re.escape(f.service)}".*?(\d+\.\d\d)×</td>', html, re.S
        )
        if figure and row.worst_imbalance == stats.imbalance:
            assert figure.group(1) == f"{stats.imbalance:.2f}"
        checked += 1
    assert checked, "the demo has an imbalance finding"


def test_settings_page_is_read_only_for_readers_and_saving_reanalyses(demo, reader) -> None:
    from routing.reports import cluster_report

    url = reverse("dashboard:settings", args=["demo"])
    anonymous = Client()
    with pytest.MonkeyPatch.context() as mp:
        from django.conf import settings

        mp.setattr(settings, "ROUTESCOPE_ANONYMOUS_READ", True, raising=False)
        page = anonymous.get(url)
        assert page.status_code == 200
        assert 'name="request_rate"' in page.content.decode()
        assert "disabled" in page.content.decode()
        refused = anonymous.post(url, {"request_rate": 1})
        assert refused.status_code == 302 and "login" in refused["Location"]
    before = cluster_report(cluster=demo)
    user = Client()
    user.force_login(reader)
    form = user.get(url).context["settings_form"]
    values = {name: form[name].value() for name in form.fields}
    values["price_per_gb"] = 0.05
    assert user.post(url, values).status_code == 302

    def fresh() -> Cluster:  # as every request reads it (cost inputs: once per instance)
        return Cluster.objects.get(pk=demo.pk)

    after = cluster_report(cluster=fresh())
    assert after is not before and after.model.price_per_gb == 0.05
    assert after.summary()["cross_zone_usd_per_month"] == pytest.approx(
        before.summary()["cross_zone_usd_per_month"] * 5, rel=1e-3
    )
    override = {
        "svc-service": "shop/cache",
        "svc-request_rate": 10,
        "svc-external_request_rate": 0,
        "svc-request_bytes": 100,
        "svc-response_bytes": 100,
    }
    assert user.post(url, override).status_code == 302
    assert cluster_report(cluster=fresh()).model.traffic_for("shop/cache").request_rate == 10
    listed = user.get(url).content.decode()
    assert 'data-override="shop/cache"' in listed
    assert user.post(url, {**override, "remove": "1"}).status_code == 302
    assert cluster_report(cluster=fresh()).model.traffic_for("shop/cache").request_rate == 100
