"""The service page tells the truth (issue 16, items 1 and 3), read through Django's test
client against the demo cluster: the facts header shows exactly what is stored, for every
demo Service; ExternalName and headless Services get their own correct pages; each way in
leads with the engine's outcome, and an eTP=Local drop the load balancer avoids is told
apart from a drop a client meets."""

from __future__ import annotations

import html
import ipaddress
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from cluster.kube_dump import read_objects
from cluster.models import Cluster, Endpoint, Node, Service
from cluster.services import cluster_import

DEMO_DUMP = Path(settings.BASE_DIR) / "cluster" / "fixtures" / "demo.json"


def _found(match: re.Match[str] | None) -> re.Match[str]:
    assert match is not None, "pattern not found"
    return match


def page(client: Client, service: Service, cluster: str = "demo", **params: str) -> str:
    url = reverse("dashboard:service-detail", args=[cluster, service.namespace, service.name])
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def fact(body: str, name: str) -> str:
    """The inner HTML of the header's ``data-fact=name`` item."""
    return _found(re.search(rf'<dd data-fact="{name}">(.*?)</dd>', body, re.S)).group(1)


def codes(fragment: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", fragment)]


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def cells(row: str) -> list[str]:
    return [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def import_ipvs_demo(name: str = "ipvs") -> Cluster:
    """The demo dump with kube-proxy's ConfigMap switched to IPVS, imported as ``name``:
    what the demo becomes after a proxy-mode what-if to ipvs."""
    objects = read_objects(DEMO_DUMP)
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "config.conf" in obj.get("data", {}):
            obj["data"]["config.conf"] = obj["data"]["config.conf"].replace(
                "mode: iptables", "mode: ipvs"
            )
    cluster_import(name=name, objects=objects)
    return Cluster.objects.get(name=name)


def demo_services() -> list[tuple[str, str]]:
    items = json.loads(DEMO_DUMP.read_text())["items"]
    return [
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in items if o["kind"] == "Service"
    ]


@pytest.mark.parametrize(("namespace", "name"), demo_services())
def test_header_shows_exactly_the_stored_facts(
    client: Client, demo: Cluster, namespace: str, name: str
) -> None:
    service = Service.objects.get(cluster=demo, namespace=namespace, name=name)
    body = page(client, service)
    ips = [ip for ip in service.cluster_ips if ip != "None"]
    if service.type == "ExternalName":
        assert text(fact(body, "type")) == "ExternalName"
        assert codes(fact(body, "external-name")) == [service.external_name]
        assert 'data-fact="cluster-ips"' not in body
    else:
        headless = not ips
        assert ("headless" in text(fact(body, "type"))) == headless
        assert text(fact(body, "type")).startswith(service.type)
        shown = fact(body, "cluster-ips")
        assert codes(shown) == ips
        for ip in ips:  # each address with its own family
            assert (
                f'<code>{ip}</code> <span class="muted small">IPv{ipaddress.ip_address(ip).version}'
                in shown
            )
        assert service.ip_family_policy in text(shown)
        if headless:
            assert "None (headless)" in text(shown)
    # Ports: name, port, protocol, targetPort, nodePort, row for row.
    rows = re.findall(r"<tr data-port=[^>]*>(.*?)</tr>", body, re.S)
    assert [cells(r) for r in rows] == [
        [
            p.get("name") or "—",
            str(p["port"]),
            p.get("protocol", "TCP"),
            str(p.get("targetPort", p["port"])),
            str(p.get("nodePort", "—")),
        ]
        for p in service.ports
    ]
    ingress = [
        f"{i.get('ip') or i.get('hostname')} (ipMode {i['ipMode']})"
        if i.get("ipMode")
        else i.get("ip") or i.get("hostname")
        for i in service.load_balancer_ingress
    ]
    if service.type == "LoadBalancer" or ingress:
        assert codes(fact(body, "lb-ingress")) == ingress
        if service.health_check_node_port:
            assert f"healthCheckNodePort {service.health_check_node_port}" in fact(
                body, "lb-ingress"
            )
    else:
        assert 'data-fact="lb-ingress"' not in body
    if service.external_ips:
        assert codes(fact(body, "external-ips")) == service.external_ips
    else:
        assert 'data-fact="external-ips"' not in body
    assert codes(fact(body, "selector")) == [
        f"{k}={v}" for k, v in (service.selector or {}).items()
    ]
    if ips:
        policies = text(fact(body, "policies"))
        assert f"internal {service.internal_traffic_policy or 'Cluster'}" in policies
        if service.type in ("NodePort", "LoadBalancer") or service.external_ips:
            assert f"external {service.external_traffic_policy}" in policies
        assert text(fact(body, "affinity")).startswith(service.session_affinity)
        if service.session_affinity_timeout:
            assert f"{service.session_affinity_timeout} s" in fact(body, "affinity")
        assert text(fact(body, "traffic-distribution")).startswith(
            service.traffic_distribution or "unset"
        )
    # Endpoints: every stored address with its pod, node and zone.
    zones = dict(Node.objects.filter(cluster=demo).values_list("name", "zone"))
    want = {
        (
            e.target_name or "(no pod)",  # e.g. the API server's own addresses
            e.address,
            e.node_name or "(no node)",
            zones.get(e.node_name) or e.zone or "(no zone label)",
        )
        for e in Endpoint.objects.filter(service=service)
    }
    shown_eps = {
        tuple(cells(r)[:4]) for r in re.findall(r"<tr data-endpoint=[^>]*>(.*?)</tr>", body, re.S)
    }
    assert shown_eps == want


def test_external_name_page_says_dns_alias_not_refused(client: Client, demo: Cluster) -> None:
    service = Service.objects.get(cluster=demo, type="ExternalName")
    body = page(client, service)
    assert 'data-not-proxied="ExternalName"' in body
    assert f"DNS alias to {service.external_name}, not proxied" in body
    assert f"<code data-dns-target>{service.external_name}</code>" in body
    assert "alert-bad" not in body and "refused" not in body
    assert "What if…" not in body  # kube-proxy's what-ifs do not apply
    assert "data-entry-failing" not in body  # no kube-proxy verdict drawn


def test_headless_page_lists_the_pod_ips_dns_returns(client: Client, demo: Cluster) -> None:
    service = next(s for s in Service.objects.filter(cluster=demo) if s.cluster_ips == ["None"])
    body = page(client, service)
    badge = text(
        _found(re.search(r"<span class=\"badge\" data-type-badge>(.*?)</span>", body)).group(1)
    )
    assert badge == f"{service.type} · headless (clusterIP: None)"
    assert 'data-not-proxied="headless"' in body
    assert "DNS returns pod IPs, no kube-proxy rules" in body
    eps = Endpoint.objects.filter(service=service)
    published = {e.address for e in eps if e.ready or service.publish_not_ready_addresses}
    dns = _found(re.search(r"<span data-dns-addresses>(.*?)</span>", body, re.S)).group(1)
    assert set(codes(dns)) == published and published
    assert "alert-bad" not in body


def test_not_proxied_whatif_is_no_error(client: Client, demo: Cluster) -> None:
    for service in Service.objects.filter(cluster=demo):
        if service.type != "ExternalName" and service.cluster_ips != ["None"]:
            continue
        body = client.get(
            reverse("dashboard:whatif", args=["demo"]),
            {"service": f"{service.namespace}/{service.name}", "itp": "Local"},
        ).content.decode()
        assert "data-not-proxied" in body and "Nothing for kube-proxy to change" in body
        assert "alert-bad" not in body


def test_a_drop_clients_meet_is_red(client: Client, demo: Cluster) -> None:
    """shop/cache is internalTrafficPolicy=Local: pods on nodes without a cache pod are
    dropped (a real client's failure, no load balancer involved)."""
    service = Service.objects.get(cluster=demo, namespace="shop", name="cache")
    body = page(client, service)
    hosting = set(
        Endpoint.objects.filter(service=service, ready=True).values_list("node_name", flat=True)
    )
    nodes = Node.objects.filter(cluster=demo).count()
    failing = f"{(nodes - len(hosting)) / nodes * 100:.1f}%"
    assert f'data-entry-failing="pod">{failing}<' in body
    assert 'data-entry-tone="pod:bad"' in body
    assert 'class="link drop' in body and 'class="link expected' not in body
    assert 'data-outcome-badge="dropped"' in body


def test_by_design_drop_is_calm_and_the_lb_entry_works(client: Client, demo: Cluster) -> None:
    service = Service.objects.get(cluster=demo, namespace="shop", name="checkout")
    body = page(client, service)
    assert 'data-entry-tone="nodeport:expected"' in body
    assert 'data-entry-tone="lb:ok"' in body
    assert body.count('data-outcome-badge="dropped by design (LB avoids this node)"') == 8
    outcome = text(
        _found(re.search(r'data-entry-outcome="nodeport">(.*?)</span></h2>', body, re.S)).group(1)
    )
    assert outcome.startswith("works for every client the load balancer sends")
    assert "80.0% dropped by design on nodes the load balancer avoids" in outcome
    # Grouped by zone the same drops stay by design.
    by_zone = page(client, service, by="zone")
    assert 'class="link drop' not in by_zone and 'class="link expected' in by_zone


def test_ipvs_cluster_shows_replies_lost_never_kept_in_green(client: Client, db) -> None:
    """The demo with kube-proxy in IPVS mode: the 8 nodes without a checkout pod forward
    NodePort clients to remote pods without SNAT, so the replies are lost
    (pkg/proxy/ipvs/proxier.go, kubernetes#97081)."""
    import_ipvs_demo()
    service = Service.objects.get(cluster__name="ipvs", namespace="shop", name="checkout")
    body = page(client, service, cluster="ipvs")
    assert 'data-entry-dropped="nodeport">0.0%<' in body  # kube-proxy drops nothing …
    outcome = text(
        _found(re.search(r'data-entry-outcome="nodeport">(.*?)</span></h2>', body, re.S)).group(1)
    )
    assert "80.0% replies lost on nodes the load balancer avoids" in outcome  # … yet they fail
    assert body.count('data-outcome-badge="replies lost (LB avoids this node)"') == 8
    assert body.count('<span class="badge badge-bad">kept, replies lost</span>') == 8
    assert "lost, LB avoids" in body  # the flow's sink for them
