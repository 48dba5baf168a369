"""Rules drift reports: the service that stores them, the latest-per-node selector, and
``GET /api/v1/clusters/{name}/drift``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from routing.models import RulesDriftReport
from routing.selectors import drift_latest
from routing.services import drift_diff_text, drift_report_record

pytest_plugins = ["cluster.api.testing"]
pytestmark = pytest.mark.django_db

URL = "/api/v1/clusters/small/drift"


def _record(cluster, node: str, *, missing=(), extra=(), minutes_ago: int = 0) -> RulesDriftReport:
    report = drift_report_record(
        cluster=cluster,
        node=node,
        mode="iptables",
        result={"revision": cluster.revision, "missing": list(missing), "extra": list(extra)},
        agent_hostname=f"{node}-host",
        agent_version="routescope-agent/1",
    )
    if minutes_ago:
        RulesDriftReport.objects.filter(pk=report.pk).update(
            checked_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
    return report


@pytest.fixture
def reports(small_cluster):
    _record(small_cluster, "n1", missing=["nat/KUBE-SEP-X: -j DNAT"], minutes_ago=10)
    _record(small_cluster, "n1")  # fixed since: the latest report is in sync
    _record(small_cluster, "n2", missing=["a", "b"], extra=["chain nat/KUBE-SVC-STALE"])
    return small_cluster


def test_record_counts_and_diff(small_cluster):
    report = _record(small_cluster, "n2", missing=["m1", "m2"], extra=["e1"])
    assert (report.in_sync, report.missing_count, report.unexpected_count) == (False, 2, 1)
    assert report.diff.splitlines() == ["- m1", "- m2", "+ e1"]
    assert report.cluster_revision == small_cluster.revision and report.agent_hostname == "n2-host"
    assert _record(small_cluster, "n1").in_sync


def test_diff_is_truncated_with_a_note():
    text = drift_diff_text(missing=[f"rule {i:04d}" for i in range(1000)], extra=["x"], limit=200)
    lines = text.splitlines()
    assert len(text) < 300 and lines[0] == "- rule 0000"
    kept = len(lines) - 1
    assert lines[-1] == f"… truncated: {1001 - kept} more line(s) not stored"


def test_selector_keeps_the_latest_report_per_node(reports):
    latest = drift_latest(cluster=reports)
    assert [(r.node, r.in_sync) for r in latest] == [("n1", True), ("n2", False)]
    assert [r.node for r in drift_latest(cluster=reports, in_sync=False)] == ["n2"]
    assert drift_latest(cluster=reports, node="n3") == []


def test_api_lists_latest_per_node(reader_client, reports):
    response = reader_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["cluster"], body["revision"], body["nodes_reported"], body["nodes_drifted"]) == (
        "small",
        reports.revision,
        2,
        1,
    )
    n1, n2 = body["reports"]
    assert (n1["node"], n1["in_sync"], n1["missing_count"], n1["diff"]) == ("n1", True, 0, "")
    assert (n2["node"], n2["missing_count"], n2["unexpected_count"], n2["current"]) == (
        "n2",
        2,
        1,
        True,
    )
    assert n2["diff"].splitlines() == ["- a", "- b", "+ chain nat/KUBE-SVC-STALE"]
    assert n2["agent_version"] == "routescope-agent/1" and n2["checked_at"].endswith("Z")


def test_api_filters(anon_client, reports):
    assert [r["node"] for r in anon_client.get(URL, {"in_sync": "false"}).json()["reports"]] == [
        "n2"
    ]
    assert [r["node"] for r in anon_client.get(URL, {"in_sync": "true"}).json()["reports"]] == [
        "n1"
    ]
    assert [r["node"] for r in anon_client.get(URL, {"node": "n2"}).json()["reports"]] == ["n2"]
    assert anon_client.get(URL, {"node": "n3"}).json()["reports"] == []


def test_api_bad_query_names_the_field(anon_client, reports):
    for params, field in (({"in_sync": "maybe"}, "in_sync"), ({"nod": "n1"}, "nod")):
        response = anon_client.get(URL, params)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == field


def test_unknown_cluster_is_404_in_the_error_shape(reader_client, small_cluster):
    response = reader_client.get("/api/v1/clusters/nope/drift")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_anonymous_read_follows_the_setting(anon_client, reports, settings):
    assert anon_client.get(URL).status_code == 200
    settings.ROUTESCOPE_ANONYMOUS_READ = False
    response = anon_client.get(URL)
    assert (
        response.status_code in (401, 403)
        and response.json()["error"]["code"] == "not_authenticated"
    )


def test_report_of_an_older_revision_is_not_current(anon_client, reports):
    RulesDriftReport.objects.filter(node="n2").update(cluster_revision=reports.revision - 1)
    n2 = anon_client.get(URL, {"node": "n2"}).json()["reports"][0]
    assert n2["current"] is False and n2["cluster_revision"] == reports.revision - 1


def test_query_count_does_not_grow_with_reports(anon_client, reports, django_assert_num_queries):
    with django_assert_num_queries(2):  # cluster, latest reports
        assert len(anon_client.get(URL).json()["reports"]) == 2
    for i in range(30):
        _record(reports, f"extra-{i}", missing=["m"])
        _record(reports, f"extra-{i}")
    with django_assert_num_queries(2):
        assert len(anon_client.get(URL).json()["reports"]) == 32


def test_only_the_newest_reports_per_node_are_kept(small_cluster):
    from routing.services import DRIFT_REPORTS_KEPT

    first = _record(small_cluster, "n1", missing=["first"], minutes_ago=60)
    for _ in range(DRIFT_REPORTS_KEPT):
        _record(small_cluster, "n1")
    _record(small_cluster, "n2", missing=["m"], minutes_ago=120)
    assert RulesDriftReport.objects.filter(node="n1").count() == DRIFT_REPORTS_KEPT
    assert not RulesDriftReport.objects.filter(pk=first.pk).exists()
    assert RulesDriftReport.objects.filter(node="n2").count() == 1  # other nodes untouched


def test_record_refuses_an_unknown_mode(small_cluster):
    with pytest.raises(ValueError, match="mode must be one of iptables, nftables, ipvs, not 'pf'"):
        drift_report_record(cluster=small_cluster, node="n1", mode="pf", result={})
    assert not RulesDriftReport.objects.exists()
