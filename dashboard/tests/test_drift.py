"""Rules drift on the pages: the overview's card and the rules page's latest report."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cluster.models import Cluster
from routing.models import RulesDriftReport
from routing.services import drift_report_record


def _found(match: re.Match[str] | None) -> re.Match[str]:
    """The match, failing the test (not with AttributeError) when there is none."""
    assert match is not None, "pattern not found"
    return match


def _record(
    cluster: Cluster,
    node: str,
    *,
    mode: str = "iptables",
    missing=(),
    extra=(),
    minutes_ago: int = 0,
) -> RulesDriftReport:
    report = drift_report_record(
        cluster=cluster,
        node=node,
        mode=mode,
        result={"revision": cluster.revision, "missing": list(missing), "extra": list(extra)},
        agent_hostname=f"{node}-host",
        agent_version="routescope-agent/1",
    )
    if minutes_ago:
        RulesDriftReport.objects.filter(pk=report.pk).update(
            checked_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
    return report


def _card(body: str) -> str:
    match = re.search(r"<section class=\"card\"[^>]*data-drift-card>(.*?)</section>", body, re.S)
    assert match, "no drift card on the overview"
    return match.group(1)


def test_overview_says_how_to_start_an_agent_when_none_reported(
    client: Client, demo: Cluster
) -> None:
    card = _card(client.get(reverse("dashboard:overview", args=["demo"])).content.decode())
    assert "No node agent has reported yet" in card and "manage.py node_agent --node NODE" in card
    assert "manage.py check_drift --cluster demo" in card
    assert "data-drift-node" not in card


def test_overview_lists_only_nodes_out_of_sync(client: Client, demo: Cluster) -> None:
    _record(demo, "node-a1", missing=["m"], minutes_ago=5)
    _record(demo, "node-a1")  # back in sync since
    _record(demo, "node-b1", mode="nftables", missing=["a", "b", "c"], extra=["x"])
    card = _card(client.get(reverse("dashboard:overview", args=["demo"])).content.decode())
    assert re.findall(r'data-drift-node="([^"]+)"', card) == ["node-b1"]
    row = _found(re.search(r'data-drift-node="node-b1">(.*?)</tr>', card, re.S)).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[1] == "nftables" and cells[3:5] == ["3", "1"]
    rules_url = reverse("dashboard:rules", args=["demo"])
    assert f'href="{rules_url}?node=node-b1&amp;mode=nftables"' in row
    assert "1 of 2 reporting nodes out of sync" in card
    assert "style=" not in card and "<script" not in card  # CSP: classes only


def test_overview_when_every_reporting_node_is_in_sync(client: Client, demo: Cluster) -> None:
    _record(demo, "node-a1")
    card = _card(client.get(reverse("dashboard:overview", args=["demo"])).content.decode())
    assert "data-drift-clean" in card and "All 1 reporting node hold" in card


def test_overview_query_count_does_not_grow_with_reports(
    client: Client, demo: Cluster, django_assert_num_queries
) -> None:
    url = reverse("dashboard:overview", args=["demo"])
    _record(demo, "node-a1", missing=["m"])
    client.get(url)  # warm the per-revision caches
    # cluster, nav list, latest drift per node, latest sync run, active sync job, the
    # stored analysis of the revision, the cost model's settings
    with django_assert_num_queries(7):
        client.get(url)
    for i in range(25):
        _record(demo, f"node-x{i}", missing=["m"], minutes_ago=1)
        _record(demo, f"node-x{i}", missing=["m", "n"])
    with django_assert_num_queries(7):
        body = client.get(url).content.decode()
    assert len(re.findall(r"data-drift-node=", _card(body))) == 26


def test_rules_page_shows_the_nodes_latest_report_with_its_diff(
    client: Client, demo: Cluster
) -> None:
    _record(demo, "node-b1", missing=["old"], minutes_ago=5)
    _record(
        demo, "node-b1", missing=["nat/KUBE-SEP-X: -j DNAT"], extra=["chain nat/KUBE-SVC-STALE"]
    )
    _record(demo, "node-a1", missing=["elsewhere"])
    url = reverse("dashboard:rules", args=["demo"])
    body = client.get(url, {"node": "node-b1", "mode": "iptables"}).content.decode()
    section = _found(
        re.search(r'<section class="card" data-drift="node-b1">(.*?)</section>', body, re.S)
    ).group(1)
    assert "drifted" in section and "node-b1-host" in section
    diff = _found(
        re.search(r"<pre class=\"rules\" data-drift-diff>(.*?)</pre>", section, re.S)
    ).group(1)
    assert re.findall(r'<span class="(diff-\w+)">([^<]*)</span>', diff) == [
        ("diff-del", "- nat/KUBE-SEP-X: -j DNAT"),
        ("diff-add", "+ chain nat/KUBE-SVC-STALE"),
    ]
    assert "old" not in diff and "elsewhere" not in body
    other = client.get(url, {"node": "node-c1", "mode": "iptables"}).content.decode()
    assert "data-drift=" not in other


def test_rules_page_marks_an_in_sync_report_and_a_mode_mismatch(
    client: Client, demo: Cluster
) -> None:
    _record(demo, "node-b1", mode="nftables")
    body = client.get(
        reverse("dashboard:rules", args=["demo"]), {"node": "node-b1", "mode": "iptables"}
    ).content.decode()
    section = _found(re.search(r'data-drift="node-b1">(.*?)</section>', body, re.S)).group(1)
    assert "badge-ok" in section and "in sync" in section and "data-drift-diff" not in section
    assert "the agent compared nftables" in section


def test_rules_page_query_count_is_fixed(
    client: Client, demo: Cluster, django_assert_num_queries
) -> None:
    url = reverse("dashboard:rules", args=["demo"])
    params = {"node": "node-b1", "mode": "iptables", "service": "shop/cache"}
    client.get(url, params)  # warm the snapshot cache
    _record(demo, "node-b1", missing=["m"])
    with django_assert_num_queries(3):  # cluster, nav list, the node's latest drift report
        client.get(url, params)
    for i in range(20):
        _record(demo, "node-b1", missing=[f"m{i}"])
    with django_assert_num_queries(3):
        assert "- m19" in client.get(url, params).content.decode()
