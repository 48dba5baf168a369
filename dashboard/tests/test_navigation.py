"""Search, the node page, the scenarios page, the switcher and logout keeping your place,
the overview legend past ten Services, the live-data probe (Django test client; the same
features in real Chromium are in ``test_navigation_browser.py``)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cluster.models import Cluster, Endpoint, Node, Pod, Service
from dashboard.search import search
from dashboard.views.overview import legend_rows
from routing.models import Scenario

pytestmark = pytest.mark.django_db


def kinds(cluster: Cluster, query: str) -> dict[str, list[str]]:
    return {g.kind: [h.label for h in g.hits] for g in search(cluster=cluster, query=query)}


def test_search_finds_every_kind_by_name_prefix_and_ip(demo: Cluster) -> None:
    found = kinds(demo, "check")
    assert found["Services"] == ["shop/checkout"]
    assert set(found) == {"Services", "Pods"}  # its pods are named after its Deployment
    assert all(p.startswith("shop/checkout-") for p in found["Pods"])
    assert kinds(demo, "SHOP/CA")["Services"] == ["shop/cache", "shop/cart"]  # ns/name, any case
    assert kinds(demo, "sho")["Namespaces"] == ["shop"]
    node = Node.objects.filter(cluster=demo).order_by("name").first()
    assert node is not None
    assert node.name in kinds(demo, node.name)["Nodes"]
    pod = Pod.objects.filter(cluster=demo).exclude(pod_ip="").order_by("name").first()
    assert pod is not None
    assert f"{pod.namespace}/{pod.name}" in kinds(demo, pod.name[:-2])["Pods"]
    assert f"{pod.namespace}/{pod.name}" in kinds(demo, pod.pod_ip)["Pods"]
    assert kinds(demo, "10.96.0.13") == {"Services": ["shop/checkout"]}  # ClusterIP
    assert kinds(demo, "198.51.100.15") == {"Services": ["shop/frontend"]}  # LB ingress IP
    assert kinds(demo, "no-such-thing") == {}
    assert kinds(demo, "   ") == {}


def test_search_links_open_the_pages_they_name(client: Client, demo: Cluster) -> None:
    for query in ("check", "node", "shop", "coredns"):
        for group in search(cluster=demo, query=query):
            for hit in group.hits:
                assert client.get(hit.url.partition("#")[0]).status_code == 200, hit


def test_search_cuts_each_kind_and_says_there_is_more(demo: Cluster) -> None:
    groups = {g.kind: g for g in search(cluster=demo, query="shop/")}
    assert len(groups["Services"].hits) == 8 and groups["Services"].more
    pods = {g.kind: g for g in search(cluster=demo, query="shop/")}["Pods"]
    assert pods.more == (Pod.objects.filter(cluster=demo, namespace="shop").count() > 8)


def _plan(queryset) -> str:
    """The database's plan for ``queryset``; PostgreSQL is told to avoid sequential scans,
    so a plan without an index means no index could answer it."""
    query, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {query}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {query}", params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def test_search_queries_use_the_indexes(demo: Cluster) -> None:
    """Every equality query of the search is answered from an index (SQLite and
    PostgreSQL); on PostgreSQL the name prefixes too (``varchar_pattern_ops``)."""
    queries = {
        "pod ip": Pod.objects.filter(cluster=demo, pod_ip="10.244.2.11"),
        "clusterip": Service.objects.filter(cluster=demo, cluster_ip="10.96.0.13"),
        "node": Node.objects.filter(cluster=demo, name="node-a1"),
        "service type": Service.objects.filter(cluster=demo, type="LoadBalancer"),
    }
    if connection.vendor == "postgresql":
        queries |= {
            "service prefix": Service.objects.filter(cluster=demo, name__startswith="che"),
            "namespace prefix": Service.objects.filter(cluster=demo, namespace__startswith="sh"),
            "pod prefix": Pod.objects.filter(cluster=demo, name__startswith="core"),
            "node prefix": Node.objects.filter(cluster=demo, name__startswith="node"),
        }
    for name, queryset in queries.items():
        plan = _plan(queryset)
        assert re.search(r"USING (COVERING )?INDEX|Index", plan), (name, plan)


def _hosting_node(cluster: Cluster, service: str) -> str:
    ep = (
        Endpoint.objects.filter(service__cluster=cluster, service__name=service, ready=True)
        .exclude(node_name="")
        .order_by("node_name")
        .first()
    )
    assert ep is not None
    return ep.node_name


def test_node_page_lists_its_pods_mode_zone_rules_and_drift(client: Client, demo: Cluster) -> None:
    name = _hosting_node(demo, "checkout")
    node = Node.objects.get(cluster=demo, name=name)
    body = client.get(reverse("dashboard:node", args=["demo", name])).content.decode()
    pods = Pod.objects.filter(cluster=demo, node_name=name)
    assert body.count('data-pod="') == pods.count() > 0
    for pod in pods:
        assert f'data-pod="{pod.namespace}/{pod.name}"' in body
    assert (node.zone or "no zone label") in body
    assert f"?node={name}" in body  # its rules
    assert "No node agent has reported" in body  # its drift
    assert f"down={name}" in body  # the what-if, with the node taken down
    assert client.get(reverse("dashboard:node", args=["demo", "nope"])).status_code == 404


def test_node_loss_is_the_whatif_doors_nodes_down_preview(client: Client, demo: Cluster) -> None:
    """The fragment shows, per Service with endpoints on the node, the preview of the
    what-if door (``routing.selectors.scenario_preview``) with the node down."""
    from routing.selectors import scenario_preview

    name = _hosting_node(demo, "checkout")
    body = client.get(reverse("dashboard:node-loss", args=["demo", name])).content.decode()
    hosted = sorted(
        {
            f"{ns}/{n}"
            for ns, n in Endpoint.objects.filter(cluster=demo, node_name=name)
            .exclude(service=None)
            .values_list("service__namespace", "service__name")
        }
    )
    expected = scenario_preview(cluster=demo, changes={"nodes_down": [name]}, services=hosted)
    rows = re.findall(r'data-loss-service="([^"]+)"', body)
    assert sorted(set(rows)) == hosted
    entries = [e for row in expected["services"] for e in row["entries"]]
    assert len(rows) == len(entries)
    newly = sum(1 for e in entries if e["newly_dropped"] > 0)
    assert body.count('class="row-bad"') == newly
    if newly:
        services = {
            row["service"]
            for row in expected["services"]
            for e in row["entries"]
            if e["newly_dropped"] > 0
        }
        assert re.search(rf"{newly} ways? into {len(services)} Services? starts? dropping", body)
    else:
        assert "No Service starts dropping" in body


def test_node_without_endpoints_says_losing_it_moves_no_service(
    client: Client, demo: Cluster
) -> None:
    idle = Node.objects.filter(cluster=demo).order_by("name").first()
    assert idle is not None
    Endpoint.objects.filter(cluster=demo, node_name=idle.name).delete()
    body = client.get(reverse("dashboard:node-loss", args=["demo", idle.name])).content.decode()
    assert "data-loss-none" in body


def test_scenarios_page_lists_the_clusters_saved_scenarios(client: Client, demo: Cluster) -> None:
    call_command("load_demo", "--name", "second", verbosity=0)
    other = Cluster.objects.get(name="second")
    mine = Scenario.objects.create(
        cluster=demo, name="drain a1", changes={"nodes_drained": ["node-a1"]}
    )
    Scenario.objects.create(cluster=other, name="elsewhere", changes={})
    body = client.get(reverse("dashboard:scenarios", args=["demo"])).content.decode()
    assert re.findall(r'data-scenario="(\d+)"', body) == [str(mine.pk)]
    assert reverse("dashboard:scenario", args=[mine.pk]) in body and "nodes_drained" in body
    assert 'aria-current="page">Scenarios<' in body
    empty = client.get(reverse("dashboard:scenarios", args=["second"]))
    assert b"elsewhere" in empty.content


def test_switcher_keeps_your_place(client: Client, demo: Cluster) -> None:
    call_command("load_demo", "--name", "second", verbosity=0)
    switch = reverse("dashboard:switch")
    cases = {
        "/clusters/demo/services/shop/checkout/": "/clusters/second/services/shop/checkout/",
        "/clusters/demo/services/?type=LoadBalancer&sort=-drop": (
            "/clusters/second/services/?type=LoadBalancer&sort=-drop"
        ),
        "/clusters/demo/nodes/node-a1/": "/clusters/second/nodes/node-a1/",
        "/clusters/demo/rules/?node=node-a1": "/clusters/second/rules/?node=node-a1",
        "/clusters/demo/what-if/?service=shop/cache": (
            "/clusters/second/what-if/?service=shop/cache"
        ),
        "/jobs/": "/jobs/",
        "https://evil.example/clusters/demo/": "/clusters/second/",  # never off-site
        "/not/ours/": "/clusters/second/",
    }
    for start, end in cases.items():
        response = client.get(switch, {"cluster": "second", "next": start})
        assert response["Location"] == end, start
    Service.objects.filter(cluster__name="second", name="checkout").delete()
    Node.objects.filter(cluster__name="second", name="node-a1").delete()
    gone = client.get(
        switch, {"cluster": "second", "next": "/clusters/demo/services/shop/checkout/"}
    )
    assert gone["Location"] == "/clusters/second/services/"
    gone = client.get(switch, {"cluster": "second", "next": "/clusters/demo/nodes/node-a1/"})
    assert gone["Location"] == "/clusters/second/"
    body = client.get("/clusters/demo/services/?type=NodePort").content.decode()
    assert 'name="next" value="/clusters/demo/services/?type=NodePort"' in body


def test_logout_comes_back_to_the_same_page_after_logging_in(client: Client, demo: Cluster) -> None:
    User.objects.create_user("reader", password="reader-pass-1")
    client.login(username="reader", password="reader-pass-1")
    page = "/clusters/demo/services/?type=LoadBalancer"
    body = client.get(page).content.decode()
    next_field = re.search(
        r'<input type="hidden" name="next" value="([^"]+)">'
        r'<button class="btn btn-ghost" type="submit">Log out',
        body,
    )
    assert next_field is not None
    after_logout = client.post(
        reverse("logout"), {"next": next_field.group(1).replace("&amp;", "&")}
    )
    assert after_logout.status_code == 302
    login = client.get(after_logout["Location"])
    assert login.status_code == 200
    logged_in = client.post(
        after_logout["Location"], {"username": "reader", "password": "reader-pass-1"}
    )
    assert logged_in["Location"] == page


def test_revision_probe_and_data_age(client: Client, demo: Cluster) -> None:
    url = reverse("dashboard:revision", args=["demo"])
    assert client.get(url).json() == {"revision": demo.revision, "last_synced_at": None}
    body = client.get("/clusters/demo/").content.decode()
    assert "data <time" not in body and "data-live-url" not in body  # never synced
    Cluster.objects.filter(pk=demo.pk).update(
        last_synced_at=timezone.now(), kubeconfig_path="/etc/kube/config"
    )
    body = client.get("/clusters/demo/").content.decode()
    assert f'data-live-url="{url}"' in body and "data <time" in body
    Cluster.objects.filter(pk=demo.pk).update(kubeconfig_path="")  # imported: age, no polling
    body = client.get("/clusters/demo/").content.decode()
    assert "data <time" in body and "data-live-url" not in body


class _Finding:
    def __init__(self, service: str, severity: str) -> None:
        self.service, self.severity = service, severity


def test_legend_scales_past_ten_and_always_labels_critical_services() -> None:
    legend = [(f"ns/s{i:02}", f"c{i}" if i < 20 else "") for i in range(30)]
    findings = [
        _Finding("ns/s25", "critical"),
        _Finding("ns/gone", "critical"),
        _Finding("ns/s03", "warning"),
    ]
    rows = legend_rows(legend, findings)
    shown = [r.key for r in rows["legend"]]
    assert shown[:2] == ["ns/gone", "ns/s25"]  # critical first, drawn or not
    assert len(shown) == 22 and len({r.colour for r in rows["legend"] if r.colour}) == 20
    assert [r.key for r in rows["legend_more"]] == [f"ns/s{i}" for i in range(20, 30) if i != 25]
    assert rows["critical"] == {"ns/s25", "ns/gone"}
    assert rows["legend_hidden"] == 0
    many = legend_rows([(f"ns/m{i:03}", f"c{i}" if i < 20 else "") for i in range(200)], [])
    assert len(many["legend_more"]) == 60 and many["legend_hidden"] == 120
    assert not rows["legend"][0].drawn and rows["legend"][1].drawn


def test_overview_rings_critical_services_dots(client: Client, demo: Cluster) -> None:
    from dashboard import answers

    critical = {
        f.service for f in answers.report(cluster=demo).findings if f.severity == "critical"
    }
    body = client.get("/clusters/demo/").content.decode()
    for key in critical:
        assert re.search(rf'data-legend="{re.escape(key)}"[^>]*data-legend-critical', body)
    assert critical, "the demo has a critical finding"
    assert re.search(r'class="pod [^"]*\bcrit" data-svc="[^"]*"', body)


def test_node_loss_keeps_to_its_budget_and_links_the_rest(
    client: Client, demo: Cluster, monkeypatch
) -> None:
    """Services spread over many nodes cost the preview one question per node: past the
    budget they are linked to the what-if page instead of asked (fewest nodes first)."""
    from dashboard.views import navigation

    name = _hosting_node(demo, "checkout")
    spread = {
        f"{ns}/{n}": count
        for ns, n, count in Endpoint.objects.filter(cluster=demo)
        .exclude(service=None)
        .order_by()
        .values_list("service__namespace", "service__name")
        .annotate(nodes=Count("node_name", distinct=True))
        .values_list("service__namespace", "service__name", "nodes")
    }
    hosted = sorted(navigation._hosted_services(demo, name))
    by_spread = sorted(hosted, key=lambda k: (spread[k], k))
    assert len(by_spread) >= 3
    budget = spread[by_spread[0]] + spread[by_spread[1]]
    monkeypatch.setattr(navigation, "LOSS_NODES_BUDGET", budget)
    body = client.get(reverse("dashboard:node-loss", args=["demo", name])).content.decode()
    asked = set(re.findall(r'data-loss-service="([^"]+)"', body))
    assert asked == set(by_spread[:2])
    for key in by_spread[2:]:
        assert f"?service={key}&amp;down={name}" in body.split("data-loss-not-shown")[1]
