"""The demo cluster: shape, consistency, and the stories it is meant to tell."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command

from cluster.models import Cluster, Endpoint, KubeProxyConfig, Pod, Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert out.getvalue().startswith("Imported cluster 'demo' (revision 1)")
    return Cluster.objects.get(name="demo")


def _svc(demo, key: str) -> Service:
    namespace, name = key.split("/")
    return demo.services.get(namespace=namespace, name=name)


def test_nodes_zones_and_odd_nodes(demo):
    nodes = list(demo.nodes.all())
    assert len(nodes) >= 9
    assert len({n.zone for n in nodes if n.zone}) == 3
    assert [n.name for n in nodes if not n.ready] == ["node-b3"]
    assert [n.name for n in nodes if n.unschedulable] == ["node-c2"]
    assert [n.name for n in nodes if not n.zone] == ["edge-1"]
    assert all(
        n.kubelet_version.startswith("v1.33.") and n.internal_ips and n.pod_cidrs for n in nodes
    )


def test_service_types_and_every_policy_combination(demo):
    services = list(demo.services.all())
    assert len(services) >= 12
    assert {"ClusterIP", "NodePort", "LoadBalancer"} <= {s.type for s in services}
    exposed = [s for s in services if s.type in ("NodePort", "LoadBalancer") or s.external_ips]
    combos = {
        (s.internal_traffic_policy or "Cluster", s.external_traffic_policy or "Cluster")
        for s in exposed
    }
    assert combos == {
        ("Cluster", "Cluster"),
        ("Cluster", "Local"),
        ("Local", "Cluster"),
        ("Local", "Local"),
    }
    assert any(s.session_affinity == "ClientIP" for s in services)
    assert any(s.external_ips for s in services)
    assert any(len(s.cluster_ips) == 2 for s in services)  # dual-stack


def test_checkout_local_lb_overloads_the_lone_pod(demo):
    checkout = _svc(demo, "shop/checkout")
    assert (checkout.type, checkout.external_traffic_policy) == ("LoadBalancer", "Local")
    assert checkout.health_check_node_port and checkout.load_balancer_ingress
    per_node = Counter(checkout.endpoints.filter(ready=True).values_list("node_name", flat=True))
    assert sorted(per_node.values()) == [1, 3]


def test_cache_is_local_and_missing_from_most_nodes(demo):
    cache = _svc(demo, "shop/cache")
    assert cache.internal_traffic_policy == "Local"
    with_endpoints = set(cache.endpoints.filter(ready=True).values_list("node_name", flat=True))
    without = set(demo.nodes.values_list("name", flat=True)) - with_endpoints
    assert with_endpoints and len(without) >= len(with_endpoints)


def test_hints_and_traffic_distribution(demo):
    dns = _svc(demo, "kube-system/kube-dns")
    assert dns.traffic_distribution == "PreferClose"
    ready = list(dns.endpoints.filter(ready=True))
    assert ready and all(e.hints_for_zones == [e.zone] for e in ready)
    inventory = _svc(demo, "shop/inventory")
    assert inventory.topology_mode == "Auto"
    assert all(e.hints_for_zones for e in inventory.endpoints.filter(ready=True))


def test_terminating_only_and_no_ready_endpoints(demo):
    payments = list(_svc(demo, "shop/payments").endpoints.all())
    assert payments and all(e.terminating and e.serving and not e.ready for e in payments)
    recommendations = list(_svc(demo, "shop/recommendations").endpoints.all())
    assert recommendations and not any(e.ready or e.serving for e in recommendations)
    frontend = _svc(demo, "shop/frontend").endpoints
    assert frontend.filter(ready=False, terminating=False).exists()
    assert frontend.filter(terminating=True, serving=True).exists()


def test_nodeport_and_external_ips(demo):
    search = _svc(demo, "shop/search")
    assert search.type == "NodePort" and search.ports[0]["nodePort"] == 30080
    assert _svc(demo, "partners/gateway").external_ips == ["203.0.113.10"]


def test_endpoints_match_their_pods(demo):
    pods = {(p.namespace, p.name): p for p in Pod.objects.filter(cluster=demo)}
    endpoints = Endpoint.objects.filter(cluster=demo).exclude(target_kind="")
    assert endpoints.count() >= 40
    for e in endpoints:
        p = pods[(e.target_namespace, e.target_name)]
        assert e.address in p.pod_ips and e.node_name == p.node_name
        assert (p.terminating, p.ready) == (e.terminating, e.ready or (e.terminating and e.serving))
    assert not demo.endpoint_slices.filter(service_missing=True).exists()
    selected = {s.name: s.selector for s in demo.services.exclude(selector=None)}
    for p in pods.values():
        assert any(
            sel and all(p.labels.get(k) == v for k, v in sel.items()) for sel in selected.values()
        )


def test_kube_proxy_config(demo):
    proxy = KubeProxyConfig.objects.get(cluster=demo)
    assert (proxy.mode, proxy.cluster_cidr, proxy.detect_local_mode) == (
        "iptables",
        "10.244.0.0/16,fd00:10:244::/56",
        "ClusterCIDR",
    )


def test_if_empty_leaves_existing_clusters_alone(demo):
    out = io.StringIO()
    call_command("load_demo", "--if-empty", stdout=out)
    assert "already exists" in out.getvalue()
    assert Cluster.objects.get(name="demo").revision == 1
    assert demo.source == "demo"


def test_committed_demo_matches_its_builder():
    """demo.json is generated by build_demo.py; editing one without the other fails here."""
    import importlib.util
    import json

    from cluster.management.commands.load_demo import DEMO_DUMP

    spec = importlib.util.spec_from_file_location(
        "build_demo", DEMO_DUMP.with_name("build_demo.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == json.loads(DEMO_DUMP.read_text())
