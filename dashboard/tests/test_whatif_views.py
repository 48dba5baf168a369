"""What-if explorer, scenarios, apply permissions, rules, jobs, login and page headers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from cluster.models import Cluster, Endpoint, Node
from dashboard.middleware import CONTENT_SECURITY_POLICY
from jobs.models import Job
from routing.models import Scenario

pytestmark = pytest.mark.django_db

# Extra WSGI environ for Client.get(), typed as its **extra is.
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _found(match: re.Match[str] | None) -> re.Match[str]:
    """The match, failing the test (not with AttributeError) when there is none."""
    assert match is not None, "pattern not found"
    return match


def nodes_without_ready_endpoint(cluster: Cluster, name: str) -> float:
    hosting = set(
        Endpoint.objects.filter(
            service__cluster=cluster, service__name=name, ready=True
        ).values_list("node_name", flat=True)
    )
    nodes = list(Node.objects.filter(cluster=cluster).values_list("name", flat=True))
    return sum(1 for n in nodes if n not in hosting) / len(nodes)


def whatif(client: Client, **params: str) -> str:
    return client.get(reverse("dashboard:whatif", args=["demo"]), params).content.decode()


def test_flipping_etp_to_cluster_stops_the_nodeport_drops(client: Client, demo: Cluster) -> None:
    """checkout's NodePort drops sit on the nodes its LB's health check avoids (eTP=Local
    without a local endpoint): by design, met by no client of the LB. The flip ends them,
    shown as a by-design change, not as a rescue of failing clients."""
    body = whatif(client, service="shop/checkout", etp="Cluster")
    before = f"{nodes_without_ready_endpoint(demo, 'checkout') * 100:.1f}%"
    assert f'data-before-dropped="nodeport">{before}<' in body
    assert 'data-after-dropped="nodeport">0.0%<' in body
    assert 'data-before-failing="nodeport">0.0%<' in body
    assert 'data-after-failing="nodeport" class="">0.0%<' in body
    assert f"by design, on nodes the LB avoids: {before} → 0.0%" in body
    assert "stops failing" not in body


def test_flipping_itp_to_local_newly_drops(client: Client, demo: Cluster) -> None:
    body = whatif(client, service="shop/checkout", itp="Local")
    after = f"{nodes_without_ready_endpoint(demo, 'checkout') * 100:.1f}%"
    assert f'data-after-failing="pod" class="diff-del">{after}<' in body
    assert f'data-verdict-badge="newly failing">newly failing {after}<' in body


def test_node_down_moves_traffic_off_its_endpoints(client: Client, demo: Cluster) -> None:
    body = whatif(client, service="shop/inventory", down="node-a1")
    addresses = set(
        Endpoint.objects.filter(
            service__cluster=demo, service__name="inventory", node_name="node-a1"
        ).values_list("address", flat=True)
    )
    moved = re.findall(
        r'<td class="mono">([\d.]+)</td><td class="num">[\d.]+%</td><td class="num">0.0%</td>', body
    )
    assert addresses and addresses <= set(moved)


def test_explorer_htmx_request_returns_the_preview_fragment(client: Client, demo: Cluster) -> None:
    body = client.get(
        reverse("dashboard:whatif", args=["demo"]),
        {"service": "shop/checkout", "etp": "Cluster"},
        **HTMX,
    ).content.decode()
    assert body.lstrip().startswith('<section id="preview"')
    assert "<html" not in body and "data-diff" in body


def test_explorer_reports_bad_input_in_one_line(client: Client, demo: Cluster) -> None:
    assert "unknown node: node-zz" in whatif(client, service="shop/cart", down="node-zz")
    assert "unknown service &#x27;shop/nope&#x27;" in whatif(client, service="shop/nope")
    assert "only applies in ipvs mode" in whatif(
        client, service="shop/cart", proxy_mode="nftables", ipvs_scheduler="lc"
    )


def test_saving_needs_a_login(client: Client, demo: Cluster) -> None:
    response = client.post(
        reverse("dashboard:whatif-save", args=["demo"]),
        {"name": "x", "query": "service=shop/checkout&etp=Cluster"},
    )
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not Scenario.objects.exists()


def test_saved_scenario_reopens_with_its_controls(
    client: Client, demo: Cluster, reader: User
) -> None:
    client.force_login(reader)
    response = client.post(
        reverse("dashboard:whatif-save", args=["demo"]),
        {"name": "checkout to Cluster", "query": "service=shop/checkout&etp=Cluster&down=node-c3"},
    )
    scenario = Scenario.objects.get(name="checkout to Cluster")
    assert scenario.changes == {
        "services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}},
        "nodes_down": ["node-c3"],
    }
    assert response["Location"].startswith(reverse("dashboard:scenario", args=[scenario.pk]))
    body = (
        Client().get(reverse("dashboard:scenario", args=[scenario.pk])).content.decode()
    )  # shareable: anonymous
    assert "Scenario “checkout to Cluster”" in body
    assert '<option value="Cluster" selected>' in body
    assert re.search(r'name="down" value="node-c3" checked', body)
    assert 'data-after-dropped="nodeport"' in body
    listed = whatif(client, service="shop/cart")
    assert (
        f'href="{reverse("dashboard:scenario", args=[scenario.pk])}">checkout to Cluster</a>'
        in listed
    )


def test_duplicate_scenario_name_is_refused(client: Client, demo: Cluster, reader: User) -> None:
    client.force_login(reader)
    data = {"name": "same", "query": "service=shop/checkout&etp=Cluster"}
    client.post(reverse("dashboard:whatif-save", args=["demo"]), data)
    response = client.post(reverse("dashboard:whatif-save", args=["demo"]), data, follow=True)
    assert "Nothing saved" in response.content.decode()
    assert Scenario.objects.filter(name="same").count() == 1


def _scenario(demo: Cluster, **changes) -> Scenario:
    return Scenario.objects.create(cluster=demo, name="s", changes=changes)


def test_apply_is_refused_for_readers(client: Client, demo: Cluster, reader: User) -> None:
    scenario = _scenario(demo, services={"shop/checkout": {"externalTrafficPolicy": "Cluster"}})
    client.force_login(reader)
    body = client.get(reverse("dashboard:scenario", args=[scenario.pk])).content.decode()
    assert re.search(r'<button class="btn btn-danger" type="button" disabled[^>]*data-apply>', body)
    assert "needs the operate-cluster permission" in body
    assert client.post(reverse("dashboard:scenario-apply", args=[scenario.pk])).status_code == 403
    assert not Job.objects.exists()


def test_apply_is_offered_to_operators_with_the_exact_patch(
    client: Client, demo: Cluster, operator: User
) -> None:
    Cluster.objects.filter(pk=demo.pk).update(
        kubeconfig_path="/nonexistent/kubeconfig", kube_context="demo"
    )
    scenario = _scenario(demo, services={"shop/checkout": {"externalTrafficPolicy": "Cluster"}})
    client.force_login(operator)
    body = client.get(reverse("dashboard:scenario", args=[scenario.pk])).content.decode()
    assert 'data-open-dialog="apply-dialog" data-apply>' in body
    patch = _found(re.search(r"<pre data-patch>(.*?)</pre>", body, re.S)).group(1)
    version = (demo.services.get(name="checkout").raw["metadata"]).get("resourceVersion")
    assert f"Service shop/checkout (resourceVersion {version})" in patch
    assert "spec.externalTrafficPolicy: Local → Cluster" in patch


def test_apply_on_an_imported_cluster_says_why_not(
    client: Client, demo: Cluster, operator: User
) -> None:
    scenario = _scenario(demo, services={"shop/checkout": {"externalTrafficPolicy": "Cluster"}})
    client.force_login(operator)
    body = client.get(reverse("dashboard:scenario", args=[scenario.pk])).content.decode()
    assert "not connected to a live API server" in body
    response = client.post(reverse("dashboard:scenario-apply", args=[scenario.pk]), follow=True)
    assert "Not applied" in response.content.decode() and not Job.objects.exists()


def test_rules_page_shows_rules_with_reasons_and_the_whatif_diff(
    client: Client, demo: Cluster
) -> None:
    url = reverse("dashboard:rules", args=["demo"])
    body = client.get(
        url, {"node": "node-c1", "mode": "iptables", "service": "shop/checkout"}
    ).content.decode()
    assert "KUBE-SVC-" in body and "KUBE-EXT-" in body
    assert body.count("<tr><td><code>") > 5  # the Service's own lines
    assert '<tr class="infra"><td><code>' in body  # node-wide chains, greyed
    assert "<pre data-rules-text>*filter" in body  # the restore-ready text
    diff = client.get(
        url, {"node": "node-c1", "mode": "iptables", "service": "shop/checkout", "etp": "Cluster"}
    ).content.decode()
    changed = _found(
        re.search(r"<pre class=\"rules\" data-rules-diff[^>]*>(.*?)</pre>", diff, re.S)
    ).group(1)
    assert 'class="diff-add">+' in changed and 'class="diff-del">-' in changed
    nft = client.get(
        url, {"node": "node-a1", "mode": "nftables", "service": "shop/cache"}
    ).content.decode()
    assert "table ip kube-proxy" in nft or "add table ip kube-proxy" in nft


def test_jobs_pages_poll_only_while_running(client: Client, demo: Cluster) -> None:
    running = Job.objects.create(
        kind="sync", state="running", progress=40, cluster=demo, message="listing pods"
    )
    done = Job.objects.create(
        kind="apply",
        state="failed",
        progress=100,
        cluster=demo,
        error="409 Conflict",
        log="dry-run ok\npatch refused",
    )
    listing = client.get(reverse("dashboard:jobs")).content.decode()
    assert f"#{running.pk}" in listing and 'hx-trigger="every 2s"' in listing
    live = client.get(reverse("dashboard:job-detail", args=[running.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in live and 'value="40"' in live and "listing pods" in live
    final = client.get(reverse("dashboard:job-detail", args=[done.pk]), **HTMX).content.decode()
    assert "hx-trigger" not in final and "409 Conflict" in final and "patch refused" in final


def test_sync_is_for_operators_only(client: Client, demo: Cluster, reader: User) -> None:
    client.force_login(reader)
    assert client.post(reverse("dashboard:sync", args=["demo"])).status_code == 403


def test_anonymous_read_can_be_switched_off(
    client: Client, demo: Cluster, settings, reader: User
) -> None:
    settings.ROUTESCOPE_ANONYMOUS_READ = False
    response = client.get(reverse("dashboard:services", args=["demo"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(reader)
    assert client.get(reverse("dashboard:services", args=["demo"])).status_code == 200


def test_login_page_and_logout(client: Client, reader: User) -> None:
    assert "Log in" in client.get(reverse("login")).content.decode()
    response = client.post(reverse("login"), {"username": "reader", "password": "reader-pass-1"})
    assert response.status_code == 302
    assert "reader · reader" in client.get(reverse("dashboard:jobs")).content.decode()
    client.post(reverse("logout"))
    assert "Log in" in client.get(reverse("dashboard:jobs")).content.decode()


PAGES = [
    ("dashboard:overview", ["demo"], {}),
    ("dashboard:services", ["demo"], {}),
    ("dashboard:service-detail", ["demo", "shop", "checkout"], {}),
    ("dashboard:whatif", ["demo"], {"service": "shop/checkout", "etp": "Cluster"}),
    ("dashboard:rules", ["demo"], {"service": "shop/cart"}),
    ("dashboard:jobs", [], {}),
    ("login", [], {}),
]


@pytest.mark.parametrize(("name", "args", "params"), PAGES, ids=[p[0] for p in PAGES])
def test_pages_send_a_strict_csp_and_have_no_inline_code(
    client: Client, demo: Cluster, name, args, params
) -> None:
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert (
        "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        and "script-src 'self'" in CONTENT_SECURITY_POLICY
    )
    body = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "inline <script>"
    assert not re.search(r"<style[\s>]", body), "inline <style>"
    assert not re.search(r"\sstyle=", body), "style attribute"
    assert not re.search(r"\son[a-z]+=", body), "inline event handler"


def test_scaling_the_workload_to_zero_refuses_every_connection(
    client: Client, demo: Cluster
) -> None:
    body = whatif(client, service="shop/checkout", scale="0")
    assert 'data-after-failing="pod" class="diff-del">100.0%<' in body
    assert "100.0% refused" in body  # no endpoint left anywhere: kube-proxy rejects
    assert "newly failing" in body


def test_not_allowed_and_not_found_pages_explain(
    client: Client, demo: Cluster, reader: User
) -> None:
    client.force_login(reader)
    forbidden = client.post(reverse("dashboard:sync", args=["demo"]))
    assert (
        forbidden.status_code == 403 and "operate-cluster permission" in forbidden.content.decode()
    )
    missing = client.get(reverse("dashboard:overview", args=["nope"]))
    assert missing.status_code == 404 and "Not found" in missing.content.decode()


def test_overview_announces_a_running_sync(client: Client, demo: Cluster) -> None:
    job = Job.objects.create(
        kind="sync", state="running", progress=30, cluster=demo, message="listing pods"
    )
    body = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert f"follow job #{job.pk}" in body and "30%, listing pods" in body


def test_proxy_mode_patch_needs_the_restart_confirmation(
    client: Client, demo: Cluster, operator: User
) -> None:
    Cluster.objects.filter(pk=demo.pk).update(
        kubeconfig_path="/nonexistent/kubeconfig", kube_context="demo"
    )
    scenario = _scenario(demo, proxy_mode="nftables")
    client.force_login(operator)
    body = client.get(
        reverse("dashboard:scenario", args=[scenario.pk]), {"service": "shop/cart"}
    ).content.decode()
    patch = _found(re.search(r"<pre data-patch>(.*?)</pre>", body, re.S)).group(1)
    assert "mode: iptables → nftables" in patch and "rollout restart" in patch
    assert 'name="confirm_restart" value="yes" required' in body
    response = client.post(reverse("dashboard:scenario-apply", args=[scenario.pk]), follow=True)
    assert "Not applied" in response.content.decode() and "confirm" in response.content.decode()
    assert not Job.objects.exists()


def test_whatif_only_changes_cannot_be_applied(
    client: Client, demo: Cluster, operator: User
) -> None:
    Cluster.objects.filter(pk=demo.pk).update(
        kubeconfig_path="/nonexistent/kubeconfig", kube_context="demo"
    )
    scenario = _scenario(demo, nodes_down=["node-a1"])
    client.force_login(operator)
    body = client.get(reverse("dashboard:scenario", args=[scenario.pk])).content.decode()
    assert "nodes taken down: what-if only" in body
    assert re.search(r'<button class="btn btn-danger" type="button" disabled[^>]*data-apply>', body)


def test_stored_scenario_is_previewed_as_saved(client: Client, demo: Cluster) -> None:
    # Saved through the API with more than the controls show: two Services overridden.
    scenario = _scenario(
        demo,
        services={
            "shop/checkout": {"externalTrafficPolicy": "Cluster"},
            "shop/cache": {"internalTrafficPolicy": "Cluster"},
        },
    )
    body = client.get(
        reverse("dashboard:scenario", args=[scenario.pk]), {"service": "shop/checkout"}
    ).content.decode()
    assert 'data-after-dropped="nodeport">0.0%<' in body
    assert "Service shop/cache: {&#x27;internalTrafficPolicy&#x27;: &#x27;Cluster&#x27;}" in body
    patch = re.search(r"<pre data-patch>(.*?)</pre>", body, re.S)
    assert patch is None  # anonymous: Apply disabled, no dialog
    cache = client.get(
        reverse("dashboard:scenario", args=[scenario.pk]), {"service": "shop/cache"}
    ).content.decode()
    assert 'data-after-failing="pod" class="diff-add">0.0%<' in cache
    assert "stops failing" in cache


def test_cluster_wide_impact_of_a_whatif(client: Client, demo: Cluster) -> None:
    url = reverse("dashboard:whatif-impact", args=["demo"])
    body = client.get(url, {"service": "shop/cache", "itp": "Cluster"}, **HTMX).content.decode()
    before, after = map(
        int,
        _found(
            re.search(r"dropping traffic: <strong>(\d+)</strong> → <strong[^>]*>(\d+)<", body)
        ).groups(),
    )
    assert after == before - 1  # cache stops dropping; nothing else changes
    assert "Resolved findings" in body and "shop/cache" in body
    worse = client.get(url, {"service": "shop/cart", "itp": "Local"}, **HTMX).content.decode()
    assert "New findings" in worse and "shop/cart" in worse
    page = whatif(client, service="shop/cache", itp="Cluster")
    assert 'hx-trigger="revealed"' in page  # loaded lazily below the preview


def test_sync_button_only_for_live_clusters(client: Client, demo: Cluster, operator: User) -> None:
    client.force_login(operator)
    imported = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert "Sync now" not in imported and reverse("dashboard:sync", args=["demo"]) not in imported
    refused = client.post(reverse("dashboard:sync", args=["demo"]), follow=True)
    assert "no API server to sync from" in refused.content.decode()
    assert not Job.objects.exists()  # no job that could only fail
    Cluster.objects.filter(pk=demo.pk).update(
        kubeconfig_path="/nonexistent/kubeconfig", kube_context="demo"
    )
    live = client.get(reverse("dashboard:overview", args=["demo"])).content.decode()
    assert "Sync now" in live and reverse("dashboard:sync", args=["demo"]) in live


def test_an_imported_cluster_gets_the_whatif_as_copyable_patches(
    client: Client, demo: Cluster
) -> None:
    """No Apply on an imported cluster, but the patch can be taken away (routing.whatif.export)."""
    import html
    import json
    import shlex

    body = whatif(client, service="shop/checkout", etp="Cluster")
    assert "data-apply-reason" in body  # Apply stays refused
    for fmt in ("kubectl", "patch", "kustomize", "yaml"):
        assert f'data-copy-from="export-{fmt}"' in body, fmt
    found = re.search(r'<pre id="export-kubectl">(.*?)</pre>', body, re.S)
    assert found, "no kubectl export on the page"
    kubectl = html.unescape(found.group(1))
    words = shlex.split(kubectl)
    assert words[:6] == ["kubectl", "patch", "service", "checkout", "-n", "shop"]
    assert json.loads(words[-1]) == {"spec": {"externalTrafficPolicy": "Cluster"}}
    assert "<script>" not in body and " style=" not in body  # the copy is static/js/copytext.js


def test_a_whatif_without_service_fields_offers_no_patch(client: Client, demo: Cluster) -> None:
    body = whatif(client, service="shop/inventory", down="node-a1")
    assert "data-copy-from" not in body


def test_ipvs_forwarding_into_lost_replies_never_stops_dropping(
    client: Client, demo: Cluster
) -> None:
    """checkout is eTP=Local: iptables drops at nodes without a checkout pod; IPVS forwards
    there to the Cluster set without SNAT (pkg/proxy/ipvs/proxier.go, kubernetes#97081), so
    the replies are lost: kube-proxy's drop share falls, the share that works does not."""
    body = whatif(client, service="shop/checkout", proxy_mode="ipvs")
    failing = f"{nodes_without_ready_endpoint(demo, 'checkout') * 100:.1f}%"
    assert f'data-before-dropped="nodeport">{failing}<' in body
    assert 'data-after-dropped="nodeport">0.0%<' in body
    assert f'data-before-effective-dropped="nodeport">{failing}<' in body
    assert f'data-after-effective-dropped="nodeport">{failing}<' in body
    verdict = _found(re.search(r'<p data-verdict="nodeport">(.*?)</p>', body, re.S)).group(1)
    assert "stops failing" not in verdict and "diff-add" not in verdict  # never green
    after = _found(re.search(r'data-after-outcome="nodeport">(.*?)</li>', body, re.S)).group(1)
    assert "outcome-ok" not in after and "outcome-expected" in after
    assert f"{failing} replies lost on nodes the load balancer avoids" in body
    assert "kept, replies lost" in body  # no SNAT is why the replies are lost
    # Per source: kube-proxy's drop becomes the engine's outcome replies_lost, on nodes the
    # LB's health check avoids (no local endpoint).
    assert 'data-outcome-badge="replies lost (LB avoids this node)"' in body
