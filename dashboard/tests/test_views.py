"""Server-side page tests: status, the facts each page must show, query counts, headers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from cluster.models import Cluster, Endpoint, Node, Pod, Service
from dashboard.middleware import CONTENT_SECURITY_POLICY
from dashboard.selectors import PODS_PER_NODE, overview_cache_clear
from jobs.models import Job

pytestmark = pytest.mark.django_db

# Extra WSGI environ for Client.get(), typed as its **extra is.
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _found(match: re.Match[str] | None) -> re.Match[str]:
    """The match, failing the test (not with AttributeError) when there is none."""
    assert match is not None, "pattern not found"
    return match


def local_drop_share(cluster: Cluster, namespace: str, name: str) -> float:
    """What a Local policy must drop, from the stored rows alone: the share of nodes that
    host no ready endpoint of the Service (each node is one equally weighted source)."""
    hosting = set(
        Endpoint.objects.filter(
            service__cluster=cluster, service__namespace=namespace, service__name=name, ready=True
        ).values_list("node_name", flat=True)
    )
    nodes = list(Node.objects.filter(cluster=cluster).values_list("name", flat=True))
    return sum(1 for n in nodes if n not in hosting) / len(nodes)


def as_percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def test_home_without_clusters_shows_the_commands(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "No clusters yet" in body
    assert "python manage.py load_demo" in body
    assert "import_cluster" in body


def test_home_goes_to_the_first_cluster(client: Client, demo: Cluster) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview", args=["demo"])


def test_overview_shows_nodes_health_modes_and_findings(client: Client, demo: Cluster) -> None:
    response = client.get(reverse("dashboard:overview", args=["demo"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-count="nodes">{Node.objects.filter(cluster=demo).count()}<' in body
    not_ready = Node.objects.get(cluster=demo, ready=False).name
    cordoned = Node.objects.get(cluster=demo, unschedulable=True).name
    assert re.search(rf'class="node notready"[^>]*data-node="{not_ready}"', body)
    assert re.search(rf'class="node cordoned"[^>]*data-node="{cordoned}"', body)
    assert "(no zone label)" in body  # the node without a zone label has its own bucket
    assert 'data-finding="ITP_LOCAL_DROPS"' in body
    assert f"revision {demo.revision}" in body


def test_overview_query_count_does_not_grow_with_pods(
    client: Client, demo: Cluster, django_assert_num_queries
) -> None:
    url = reverse("dashboard:overview", args=["demo"])
    client.get(url)  # warm the per-revision snapshot and report caches
    overview_cache_clear()  # measure the picture's own queries too
    # cluster, nav list, proxy config, zone aggregate, nodes drawn, pod counts, endpoints,
    # their Services' names, pods, latest drift report per node, latest sync run, active
    # sync job, the stored analysis of the revision, the cost model's settings
    # (routing.costs). No COUNT: the import of this revision counted what it wrote.
    with django_assert_num_queries(14):
        assert client.get(url).status_code == 200
    node = Node.objects.filter(cluster=demo).first()
    assert node is not None
    Pod.objects.bulk_create(
        [
            Pod(
                cluster=demo, node=node, node_name=node.name, namespace="bulk", name=f"p{i}", raw={}
            )
            for i in range(300)
        ]
    )
    overview_cache_clear()  # rows written behind the services' back: no revision bump
    with django_assert_num_queries(14):
        body = client.get(url).content.decode()
    assert f"+{Pod.objects.filter(node=node).count() - PODS_PER_NODE} more pods" in body
    # A second visit at the same revision reuses the picture: only the per-request reads.
    # cluster, nav list, latest drift report per node, latest sync run, active sync job,
    # the stored analysis of the revision, the cost model's settings
    with django_assert_num_queries(7):
        client.get(url)


def _counts_shown(body: str) -> tuple[str, str, str]:
    found = _found(
        re.search(
            r'data-count="nodes">([\d,]+)<.*?data-count="services">([\d,]+)<'
            r'.*?class="stat-value">([\d,]+)</div><div class="stat-label">pods<',
            body,
            re.S,
        )
    )
    return found.group(1), found.group(2), found.group(3)


def test_overview_counts_are_the_rows_counted_after_an_import_and_after_watch_batches(
    client: Client,
    demo: Cluster,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Right after an import the counts are the ones it wrote, and every watch batch moves
    them on in its own transaction (an added Pod, a deleted Service, a slice replaced with
    fewer endpoints, a Node deleted): the overview shows the rows' counts with no COUNT
    over Services or Pods; a write that does not keep them leaves them stale, and the page
    counts again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cluster.models import Endpoint, EndpointSlice
    from cluster.selectors import written_counts
    from cluster.watch_events import events_apply

    def rows() -> dict[str, int]:
        return {
            kind: model.objects.filter(cluster=demo).count()
            for kind, model in (
                ("Node", Node),
                ("Service", Service),
                ("EndpointSlice", EndpointSlice),
                ("Endpoint", Endpoint),
                ("Pod", Pod),
            )
        }

    def shown_without_counting() -> tuple[str, str, str]:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).content.decode()
        counting = [
            q["sql"]
            for q in queries.captured_queries
            if "COUNT(" in q["sql"].upper()
            and "GROUP BY" not in q["sql"].upper()  # the pods of the nodes drawn are counted
            and ('"cluster_pod"' in q["sql"] or '"cluster_service"' in q["sql"])
        ]
        assert counting == []
        return _counts_shown(body)

    def apply(*events: tuple[str, dict]) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            assert events_apply(cluster=demo, events=list(events))["applied"] == len(events)
        demo.refresh_from_db()

    url = reverse("dashboard:overview", args=["demo"])
    demo.refresh_from_db()
    assert written_counts(cluster=demo) == {**rows(), "ConfigMap": 1}
    first = rows()
    assert shown_without_counting() == (
        f"{first['Node']:,}",
        f"{first['Service']:,}",
        f"{first['Pod']:,}",
    )

    pod = dict(Pod.objects.filter(cluster=demo).order_by("pk")[0].raw)
    pod["metadata"] = {**pod["metadata"], "name": "watched-extra", "uid": "watched-extra"}
    service = Service.objects.filter(cluster=demo).order_by("pk")[0]
    slice_ = EndpointSlice.objects.filter(cluster=demo, endpoints__isnull=False).order_by("pk")[0]
    fewer = dict(slice_.raw)
    fewer["endpoints"] = fewer["endpoints"][:1]
    apply(("ADDED", pod), ("DELETED", service.raw), ("MODIFIED", fewer))
    after = rows()
    assert after["Pod"] == first["Pod"] + 1 and after["Service"] == first["Service"] - 1
    assert after["Endpoint"] < first["Endpoint"]
    assert written_counts(cluster=demo) == {**after, "ConfigMap": 1}
    assert shown_without_counting() == (
        f"{after['Node']:,}",
        f"{after['Service']:,}",
        f"{after['Pod']:,}",
    )

    node = Node.objects.filter(cluster=demo).order_by("pk")[0]
    apply(("MODIFIED", pod), ("DELETED", node.raw), ("DELETED", pod))  # an update adds no row
    assert written_counts(cluster=demo) == {**rows(), "ConfigMap": 1}

    # A write that does not keep the counts (rows and revision moved behind their back):
    # stale counts are never shown, the rows are counted.
    Pod.objects.filter(cluster=demo).order_by("pk")[0].delete()
    Cluster.objects.filter(pk=demo.pk).update(revision=demo.revision + 1)
    demo.refresh_from_db()
    assert written_counts(cluster=demo) is None
    assert _counts_shown(client.get(url).content.decode())[2] == f"{rows()['Pod']:,}"


def test_cluster_switcher_lists_every_cluster(client: Client, demo: Cluster) -> None:
    call_command("load_demo", "--name", "second", verbosity=0)
    body = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert '<option value="second">second</option>' in body
    response = client.get(reverse("dashboard:switch"), {"cluster": "second"})
    assert response["Location"] == reverse("dashboard:overview", args=["second"])
    assert client.get(reverse("dashboard:switch"), {"cluster": "nope"}).status_code == 404
    kept = client.get(reverse("dashboard:switch"), {"cluster": "second", "section": "services"})
    assert kept["Location"] == reverse("dashboard:services", args=["second"])


def test_services_table_badges_counts_and_drop_share(client: Client, demo: Cluster) -> None:
    body = client.get(reverse("dashboard:services", args=["demo"])).content.decode()
    assert body.count('data-service="') == Service.objects.filter(cluster=demo).count()
    cache = _found(re.search(r'data-service="shop/cache">(.*?)</tr>', body, re.S)).group(1)
    assert "iTP Local" in cache
    ready = Endpoint.objects.filter(
        service__cluster=demo, service__name="cache", ready=True
    ).count()
    total = Endpoint.objects.filter(service__cluster=demo, service__name="cache").count()
    assert f">{ready}/{total}<" in cache
    assert as_percent(local_drop_share(demo, "shop", "cache")) in cache


def test_services_table_filters_search_and_sort(client: Client, demo: Cluster) -> None:
    url = reverse("dashboard:services", args=["demo"])
    local = client.get(url, {"internal_traffic_policy": "Local"}).content.decode()
    expected = set(
        Service.objects.filter(cluster=demo, internal_traffic_policy="Local").values_list(
            "namespace", "name"
        )
    )
    assert set(re.findall(r'data-service="([^/]+)/([^"]+)"', local)) == expected
    searched = client.get(url, {"q": "checkout"}).content.decode()
    assert re.findall(r'data-service="([^"]+)"', searched) == ["shop/checkout"]
    by_drop = client.get(url, {"ordering": "-drop"}).content.decode()
    drops = [float(x) for x in re.findall(r"data-dropped>([\d.]+)%", by_drop)]
    assert drops == sorted(drops, reverse=True) and drops[0] > 0
    assert '<th class="num" aria-sort="descending"><a' in by_drop
    assert client.get(url, {"type": "Bogus"}).status_code == 200  # a bad filter is shown, not a 500


def test_services_table_htmx_gets_only_the_fragment(client: Client, demo: Cluster) -> None:
    body = client.get(
        reverse("dashboard:services", args=["demo"]), {"q": "shop"}, **HTMX
    ).content.decode()
    assert body.lstrip().startswith('<div id="service-table">')
    assert "<html" not in body


def test_services_table_query_count_is_fixed(
    client: Client, demo: Cluster, django_assert_num_queries
) -> None:
    url = reverse("dashboard:services", args=["demo"])
    client.get(url)
    # cluster, nav list, the stored analysis of the revision, count, one page of rows,
    # endpoint counts, the cost model's settings
    with django_assert_num_queries(7):
        client.get(url)
    # 120 more Services (three pages) cost no extra query.
    Service.objects.bulk_create(
        [Service(cluster=demo, namespace="bulk", name=f"svc-{i}", raw={}) for i in range(120)]
    )
    client.get(url)
    with django_assert_num_queries(7):
        assert client.get(url, {"page": 2}).status_code == 200


def test_service_detail_shows_the_local_service_drop(client: Client, demo: Cluster) -> None:
    body = client.get(
        reverse("dashboard:service-detail", args=["demo", "shop", "checkout"])
    ).content.decode()
    expected = as_percent(local_drop_share(demo, "shop", "checkout"))
    assert f'data-entry-dropped="nodeport">{expected}<' in body
    assert 'data-entry-dropped="pod">0.0%<' in body  # iTP is Cluster: pods reach every endpoint
    # The LB's health check avoids exactly those nodes: no client of the LB meets the drop,
    # so it is drawn and counted as by design, not as failing for clients.
    assert f'data-entry-by-design="nodeport">{expected}<' in body
    assert 'data-entry-failing="nodeport">0.0%<' in body
    assert '<svg class="flow"' in body and 'class="link expected' in body
    assert 'class="link drop' not in body
    assert "LOCAL_NO_ENDPOINT_ON_NODE" in body  # the explanation trail says why
    cache = client.get(
        reverse("dashboard:service-detail", args=["demo", "shop", "cache"])
    ).content.decode()
    hosting = (
        Endpoint.objects.filter(service__cluster=demo, service__name="cache", ready=True)
        .values("node_name")
        .distinct()
        .count()
    )
    assert f"data-nodes-reaching>{hosting}/{Node.objects.filter(cluster=demo).count()}<" in cache


def test_service_detail_placement_marks_endpoint_states(client: Client, demo: Cluster) -> None:
    terminating = (
        Endpoint.objects.filter(service__cluster=demo, terminating=True)
        .select_related("service")
        .first()
    )
    assert terminating is not None and terminating.service is not None
    service = terminating.service
    body = client.get(
        reverse("dashboard:service-detail", args=["demo", service.namespace, service.name])
    ).content.decode()
    assert re.search(rf'class="ep terminating"[^>]*>{re.escape(terminating.address)}<', body)


def test_service_detail_unknown_service_is_404(client: Client, demo: Cluster) -> None:
    assert (
        client.get(reverse("dashboard:service-detail", args=["demo", "shop", "nope"])).status_code
        == 404
    )


def test_service_detail_groups_sources_by_zone(client: Client, demo: Cluster) -> None:
    body = client.get(
        reverse("dashboard:service-detail", args=["demo", "shop", "cache"]), {"by": "zone"}
    ).content.decode()
    zones = sorted(
        {
            z or "(no zone label)"
            for z in Node.objects.filter(cluster=demo).values_list("zone", flat=True)
        }
    )
    for zone in zones:
        count = Node.objects.filter(
            cluster=demo, zone="" if zone == "(no zone label)" else zone
        ).count()
        assert f"{zone} ({count} node{'s' if count != 1 else ''})" in body


def test_detail_and_whatif_query_counts_are_fixed(
    client: Client, demo: Cluster, django_assert_num_queries
) -> None:
    detail = reverse("dashboard:service-detail", args=["demo", "shop", "checkout"])
    explorer = reverse("dashboard:whatif", args=["demo"])
    query = {"service": "shop/checkout", "etp": "Cluster"}
    client.get(detail), client.get(explorer, query)
    # detail: cluster, nav list, the Service row, its endpoints, their nodes, its saved
    # timelines, the cost model's settings, the stored analysis (its findings and bill; the
    # one-service snapshot, routing.snapshots.service_snapshot, is cached per state like
    # the node table).
    with django_assert_num_queries(8):
        client.get(detail)
    # explorer: cluster, nav list, service picks, saved scenarios, the patch's Service rows,
    # kube-proxy config, the cost model's settings.
    with django_assert_num_queries(7):
        client.get(explorer, query)


def test_empty_cluster_pages_say_what_to_do(client: Client, db) -> None:
    from cluster.services import cluster_import

    cluster_import(
        name="bare", objects=[{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}]
    )
    body = client.get(reverse("dashboard:services", args=["bare"])).content.decode()
    assert "This cluster has no Services" in body and "import_cluster dump.json --name bare" in body
    assert client.get(reverse("dashboard:overview", args=["bare"])).status_code == 200
    assert client.get(reverse("dashboard:whatif", args=["bare"])).status_code == 200
    assert client.get(reverse("dashboard:rules", args=["bare"])).status_code == 200
