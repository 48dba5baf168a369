"""cluster_import / cluster_replace_state: what is stored, and refusals that change nothing."""

from __future__ import annotations

import copy

import pytest

from cluster.fields import ObjectError
from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
from cluster.selectors import cluster_objects
from cluster.services import cluster_import, cluster_replace_state
from cluster.tests import builders as b
from cluster.tests.state import cluster_state, database_state

pytestmark = pytest.mark.django_db


def test_import_stores_every_kind_and_links_rows():
    summary = cluster_import(name="c1", objects=b.small_cluster())
    cluster = Cluster.objects.get(name="c1")
    assert (summary.revision, cluster.revision, cluster.source) == (1, 1, "imported")
    assert summary.counts == {
        "Node": 2,
        "Service": 1,
        "EndpointSlice": 1,
        "Endpoint": 2,
        "Pod": 2,
        "ConfigMap": 0,
    }
    web = Service.objects.get(cluster=cluster, namespace="shop", name="web")
    assert list(web.endpoints.order_by("position").values_list("address", "node_name", "zone")) == [
        ("10.244.1.5", "n1", "z-a"),
        ("10.244.2.5", "n2", "z-b"),
    ]
    assert Pod.objects.get(cluster=cluster, name="web-2").node.name == "n2"
    assert cluster.import_summary["counts"]["Pod"] == 2


def test_reimport_replaces_state_and_bumps_revision():
    cluster_import(name="c1", objects=b.small_cluster())
    summary = cluster_import(name="c1", objects=[b.node("n9", ip="10.0.0.9")], replace=True)
    cluster = Cluster.objects.get(name="c1")
    assert summary.revision == cluster.revision == 2
    assert list(cluster.nodes.values_list("name", flat=True)) == ["n9"]
    assert not Service.objects.filter(cluster=cluster).exists()
    assert not Endpoint.objects.filter(cluster=cluster).exists()


def test_replace_state_keeps_other_clusters():
    cluster_import(name="c1", objects=b.small_cluster())
    cluster_import(name="c2", objects=b.small_cluster())
    c1 = Cluster.objects.get(name="c1")
    before = cluster_state(Cluster.objects.get(name="c2"))
    summary = cluster_replace_state(cluster=c1, objects=[b.node("n5", ip="10.0.0.5")])
    assert summary.revision == c1.revision == 2
    assert cluster_state(Cluster.objects.get(name="c2")) == before


def test_node_fields_and_deprecated_zone_label():
    old = b.node("old", zone=None, ready=False)
    old["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"] = "legacy-a"
    old["metadata"]["labels"]["failure-domain.beta.kubernetes.io/region"] = "legacy"
    old["spec"]["unschedulable"] = True
    old["spec"]["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    bare = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bare"}}
    cluster_import(name="c", objects=[old, b.node("new"), bare])
    rows = {n.name: n for n in Node.objects.all()}
    assert (rows["old"].zone, rows["old"].region) == ("legacy-a", "legacy")
    assert (rows["old"].ready, rows["old"].unschedulable) == (False, True)
    assert rows["old"].taints == [{"key": "k", "effect": "NoSchedule"}]
    assert (rows["new"].zone, rows["new"].internal_ips, rows["new"].kubelet_version) == (
        "z-a",
        ["10.0.0.1"],
        "v1.33.2",
    )
    # No Ready condition: counted ready, as kube-proxy does.
    assert (rows["bare"].ready, rows["bare"].zone, rows["bare"].pod_cidrs) == (True, "", [])


def test_service_fields_dual_stack_and_policies():
    svc = b.service(
        "api",
        type="LoadBalancer",
        clusterIP="10.96.1.1",
        clusterIPs=["10.96.1.1", "fd00:10:96::1"],
        ipFamilies=["IPv4", "IPv6"],
        ipFamilyPolicy="RequireDualStack",
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        healthCheckNodePort=32000,
        trafficDistribution="PreferClose",
        sessionAffinity="ClientIP",
        externalIPs=["203.0.113.7"],
    )
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    svc["status"] = {
        "loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example"}]}
    }
    cluster_import(name="c", objects=[svc, b.service("plain")])
    api, plain = Service.objects.get(name="api"), Service.objects.get(name="plain")
    assert api.cluster_ips == ["10.96.1.1", "fd00:10:96::1"]
    assert (api.internal_traffic_policy, api.external_traffic_policy) == ("Local", "Local")
    assert (api.health_check_node_port, api.traffic_distribution, api.topology_mode) == (
        32000,
        "PreferClose",
        "Auto",
    )
    # ClientIP without sessionAffinityConfig: the API default of three hours.
    assert (api.session_affinity, api.session_affinity_timeout) == ("ClientIP", 10800)
    assert api.load_balancer_ingress[0] == {"ip": "198.51.100.1"}
    assert (
        plain.internal_traffic_policy,
        plain.external_traffic_policy,
        plain.session_affinity,
    ) == (
        "",
        "",
        "None",
    )


def test_endpoint_conditions_default_like_kube_proxy_and_raw_is_kept():
    entries = [
        b.endpoint("10.244.1.5"),
        b.endpoint("10.244.1.6", conditions={"ready": False, "serving": True, "terminating": True}),
        b.endpoint(
            "10.244.1.7",
            hints={"forZones": [{"name": "z-a"}], "forNodes": [{"name": "n1"}]},
            targetRef={"kind": "Pod", "namespace": "shop", "name": "web-7"},
        ),
    ]
    cluster_import(name="c", objects=[b.service(), b.endpoint_slice(endpoints=entries)])
    rows = list(Endpoint.objects.order_by("position"))
    assert [(e.ready, e.serving, e.terminating) for e in rows] == [
        (True, True, False),
        (False, True, True),
        (True, True, False),
    ]
    assert "conditions" not in rows[0].raw
    assert (rows[2].hints_for_zones, rows[2].hints_for_nodes, rows[2].target_name) == (
        ["z-a"],
        ["n1"],
        "web-7",
    )


def test_ipv6_slice_and_v1beta1_topology():
    v6 = b.endpoint_slice("web-v6", address_type="IPv6", endpoints=[b.endpoint("fd00:10:244:1::5")])
    beta = b.endpoint_slice(
        "web-beta",
        endpoints=[
            {
                "addresses": ["10.244.3.3"],
                "topology": {"kubernetes.io/hostname": "n3", "topology.kubernetes.io/zone": "z-c"},
            }
        ],
    )
    beta["apiVersion"] = "discovery.k8s.io/v1beta1"
    cluster_import(name="c", objects=[b.service(), v6, beta])
    assert Endpoint.objects.get(slice__name="web-v6").address == "fd00:10:244:1::5"
    assert (
        Endpoint.objects.get(slice__name="web-beta").node_name,
        Endpoint.objects.get(slice__name="web-beta").zone,
    ) == ("n3", "z-c")


def test_slice_without_service_is_kept_and_flagged():
    orphan = b.endpoint_slice("ghost-1", service_name="ghost")
    summary = cluster_import(name="c", objects=[b.service(), orphan, b.endpoint_slice()])
    assert summary.flagged_slices == ("shop/ghost-1 (Service shop/ghost not found)",)
    stored = EndpointSlice.objects.get(name="ghost-1")
    assert (stored.service, stored.service_missing, stored.endpoints.count()) == (None, True, 1)
    assert EndpointSlice.objects.get(name="web-abc").service.name == "web"


def test_unknown_kinds_are_skipped_and_counted():
    objects = b.small_cluster() + [
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "shop"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
        },
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "kn", "namespace": "a"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "other", "namespace": "shop"},
        },
    ]
    summary = cluster_import(name="c", objects=objects)
    assert summary.skipped == {
        "Endpoints": 1,
        "Deployment": 1,
        "Service (serving.knative.dev/v1)": 1,
        "ConfigMap": 1,
    }
    assert summary.counts["Service"] == 1


def test_kube_proxy_configmap_and_node_override():
    config = (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
        "ipvs:\n  scheduler: lc\nclusterCIDR: 10.244.0.0/16,fd00:10:244::/56\n"
    )
    special = b.node("n2", ip="10.0.0.2")
    special["metadata"]["annotations"] = {"routescope.io/kube-proxy-mode": "nftables"}
    cluster_import(name="c", objects=[b.node(), special, b.kube_proxy_configmap(config)])
    proxy = KubeProxyConfig.objects.get(cluster__name="c")
    assert (proxy.mode, proxy.ipvs_scheduler, proxy.cluster_cidr) == (
        "ipvs",
        "lc",
        "10.244.0.0/16,fd00:10:244::/56",
    )
    assert proxy.node_overrides == {"n2": {"mode": "nftables"}}
    assert proxy.raw["data"]["config.conf"] == config


def test_no_configmap_means_iptables_defaults():
    cluster_import(name="c", objects=b.small_cluster())
    proxy = KubeProxyConfig.objects.get(cluster__name="c")
    assert (proxy.mode, proxy.ipvs_scheduler, proxy.raw) == ("iptables", "rr", None)


def test_empty_mode_in_config_is_iptables():
    cluster_import(name="c", objects=[b.kube_proxy_configmap('mode: ""\nipvs:\n  scheduler: ""\n')])
    proxy = KubeProxyConfig.objects.get(cluster__name="c")
    assert (proxy.mode, proxy.ipvs_scheduler) == ("iptables", "rr")


def _break(path, value):
    """A mutation setting ``obj[path...] = value`` on the object at ``index`` of small_cluster."""

    def apply(obj):
        target = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


# (id, index in small_cluster or None to append, mutation or object, expected message)
BAD = [
    (
        "node-without-name",
        0,
        _break(["metadata", "name"], None),
        "Node (object 1): missing metadata.name",
    ),
    (
        "node-bad-ip",
        0,
        _break(["status", "addresses", 0, "address"], "10.0.0.300"),
        "Node n1: status.addresses[0].address '10.0.0.300' is not an IP address",
    ),
    (
        "node-bad-cidr",
        1,
        _break(["spec", "podCIDRs"], ["10.244.2.0/99"]),
        "Node n2: spec.podCIDRs[0] '10.244.2.0/99' is not a CIDR",
    ),
    (
        "label-not-string",
        1,
        _break(["metadata", "labels", "tier"], 3),
        "Node n2: metadata.labels.tier must be a string, got an integer",
    ),
    (
        "service-port-string",
        2,
        _break(["spec", "ports", 0, "port"], "80"),
        "Service shop/web: spec.ports[0].port must be an integer, got a string",
    ),
    (
        "service-port-range",
        2,
        _break(["spec", "ports", 0, "port"], 70000),
        "Service shop/web: spec.ports[0].port 70000 is not a port number (1-65535)",
    ),
    (
        "service-missing-port",
        2,
        _break(["spec", "ports", 0, "port"], None),
        "Service shop/web: missing spec.ports[0].port",
    ),
    (
        "service-bad-type",
        2,
        _break(["spec", "type"], "Ingress"),
        "Service shop/web: spec.type 'Ingress' is not one of"
        " ClusterIP, NodePort, LoadBalancer, ExternalName",
    ),
    (
        "service-bad-policy",
        2,
        _break(["spec", "externalTrafficPolicy"], "Nearest"),
        "Service shop/web: spec.externalTrafficPolicy 'Nearest' is not one of Cluster, Local",
    ),
    (
        "service-bad-cluster-ip",
        2,
        _break(["spec", "clusterIPs"], ["10.96.0.x"]),
        "Service shop/web: spec.clusterIPs[0] '10.96.0.x' is not an IP address",
    ),
    ("service-no-spec", 2, _break(["spec"], None), "Service shop/web: missing spec"),
    (
        "slice-no-address-type",
        3,
        _break(["addressType"], None),
        "EndpointSlice shop/web-abc: missing addressType",
    ),
    (
        "slice-bad-address-type",
        3,
        _break(["addressType"], "IPv5"),
        "EndpointSlice shop/web-abc: addressType 'IPv5' is not one of IPv4, IPv6, FQDN",
    ),
    (
        "slice-family-mismatch",
        3,
        _break(["endpoints", 1, "addresses"], ["fd00::5"]),
        "EndpointSlice shop/web-abc: endpoints[1].addresses[0] 'fd00::5' is not an IPv4 address",
    ),
    (
        "slice-no-addresses",
        3,
        _break(["endpoints", 0, "addresses"], []),
        "EndpointSlice shop/web-abc: missing endpoints[0].addresses",
    ),
    (
        "slice-condition-string",
        3,
        _break(["endpoints", 0, "conditions"], {"ready": "true"}),
        "EndpointSlice shop/web-abc: endpoints[0].conditions.ready must be a boolean, got a string",
    ),
    (
        "pod-bad-ip",
        4,
        _break(["status", "podIP"], "nope"),
        "Pod shop/web-1: status.podIP 'nope' is not an IP address",
    ),
    (
        "metadata-not-mapping",
        5,
        _break(["metadata"], "web-2"),
        "Pod (object 6): metadata must be a mapping, got a string",
    ),
    (
        "duplicate",
        None,
        b.pod("web-1"),
        "duplicate Pod shop/web-1: objects 5 and 7 have the same name",
    ),
    (
        "configmap-bad-mode",
        None,
        b.kube_proxy_configmap("mode: kernelspace\n"),
        "ConfigMap kube-system/kube-proxy: data.config.conf mode 'kernelspace'"
        " is not one of iptables, nftables, ipvs, userspace",
    ),
    (
        "configmap-bad-yaml",
        None,
        b.kube_proxy_configmap("mode: [ipvs\n"),
        "ConfigMap kube-system/kube-proxy: data.config.conf is not valid YAML at line 2, column 1",
    ),
    (
        "node-override-bad",
        None,
        {
            **b.node("n7", ip="10.0.0.7"),
            "metadata": {"name": "n7", "annotations": {"routescope.io/kube-proxy-mode": "ebpf"}},
        },
        "Node n7: metadata.annotations.routescope.io/kube-proxy-mode 'ebpf'"
        " is not one of iptables, nftables, ipvs, userspace",
    ),
]


@pytest.mark.parametrize(
    ("index", "change", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_object_is_refused_with_one_line_and_nothing_changes(index, change, message):
    cluster_import(name="existing", objects=b.small_cluster())
    before = database_state()
    objects = copy.deepcopy(b.small_cluster())
    if index is None:
        objects.append(change)
    else:
        change(objects[index])
    for name in ("existing", "fresh"):
        with pytest.raises(ObjectError) as info:
            cluster_import(name=name, objects=objects)
        assert str(info.value) == message
    assert database_state() == before


@pytest.mark.parametrize("name", ["", " prod", "prod/eu", "-x", "a" * 254, "prod eu"])
def test_bad_cluster_name(name):
    with pytest.raises(
        ObjectError, match=r"^cluster name .* must be 1-253 letters, digits, '\.', '_' or '-'"
    ):
        cluster_import(name=name, objects=b.small_cluster())
    assert not Cluster.objects.exists()


def test_cluster_names_like_files_and_contexts_are_fine():
    for name in ("prod", "kind-kind", "gke_proj_europe-west1_main", "dump.yaml", "a" * 253):
        cluster_import(name=name, objects=[])
    assert Cluster.objects.count() == 5


@pytest.mark.parametrize(
    ("value", "reason"), [(float("nan"), "Out of range float values"), ({1, 2}, "set")]
)
def test_values_json_cannot_hold_are_refused(value, reason):
    bad = b.service("odd")
    bad["metadata"]["x-extra"] = value
    with pytest.raises(ObjectError, match=rf"^Service shop/odd: raw is not JSON \(.*{reason}"):
        cluster_import(name="c", objects=[b.node(), bad])
    assert not Cluster.objects.exists()


def test_overlong_field_is_refused():
    bad = b.node()
    bad["status"]["nodeInfo"]["kubeletVersion"] = "v" * 65
    with pytest.raises(
        ObjectError, match=r"^Node n1: status.nodeInfo.kubeletVersion is longer than 64 characters$"
    ):
        cluster_import(name="c", objects=[bad])
    assert not Cluster.objects.exists()


def test_nul_character_is_refused_on_every_database():
    bad = b.pod("web-9")
    bad["metadata"]["annotations"] = {"note": "a\x00b"}
    with pytest.raises(ObjectError, match=r"^Pod shop/web-9: raw contains a NUL character"):
        cluster_import(name="c", objects=[b.node(), bad])
    assert not Cluster.objects.exists()


def test_cluster_delete_removes_every_row_and_only_that_cluster():
    from cluster.services import cluster_delete

    cluster_import(
        name="gone", objects=b.small_cluster() + [b.kube_proxy_configmap("mode: ipvs\n")]
    )
    cluster_import(name="kept", objects=b.small_cluster())
    before = cluster_state(Cluster.objects.get(name="kept"))
    cluster_delete(cluster=Cluster.objects.get(name="gone"))
    assert list(Cluster.objects.values_list("name", flat=True)) == ["kept"]
    for model in (Node, Service, EndpointSlice, Endpoint, Pod, KubeProxyConfig):
        assert set(model.objects.values_list("cluster__name", flat=True)) == {"kept"}
    assert cluster_state(Cluster.objects.get(name="kept")) == before


def test_pods_and_endpoints_on_nodes_missing_from_the_dump_are_counted():
    objects = [
        b.node("n1"),
        b.service(),
        b.endpoint_slice(
            endpoints=[
                b.endpoint("10.244.1.5"),
                b.endpoint("10.244.9.5", node_name="n9"),
                {"addresses": ["10.244.9.6"]},
            ]
        ),
        b.pod("a", node_name="n1"),
        b.pod("b", node_name="n9", ip="10.244.9.5"),
        b.pod("c", node_name=""),
    ]
    summary = cluster_import(name="c", objects=objects)
    assert summary.unknown_nodes == {"Endpoint": 1, "Pod": 1}
    assert "Nodes missing from the dump are named by: 1 Endpoint, 1 Pod" in summary.lines()
    assert Pod.objects.get(name="b").node is None
    clean = cluster_import(name="d", objects=b.small_cluster())
    assert clean.unknown_nodes == {} and clean.to_json()["unknown_nodes"] == {}


def test_the_text_backslash_u0000_is_not_a_nul():
    fine = b.pod("web-8")
    fine["metadata"]["annotations"] = {"note": "\\u0000 is how JSON spells NUL"}
    cluster_import(name="c", objects=[b.node(), fine])
    assert (
        Pod.objects.get(name="web-8").raw["metadata"]["annotations"]["note"].startswith("\\u0000")
    )


def _kube_proxy_pod(node_name: str, config_map: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"kube-proxy-{node_name}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-proxy"},
        },
        "spec": {
            "nodeName": node_name,
            "hostNetwork": True,
            "containers": [
                {
                    "name": "kube-proxy",
                    "command": [
                        "/usr/local/bin/kube-proxy",
                        "--config=/var/lib/kube-proxy/config.conf",
                        f"--hostname-override={node_name}",
                    ],
                    "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}],
                }
            ],
            "volumes": [{"name": "kube-proxy", "configMap": {"name": config_map}}],
        },
        "status": {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}]},
    }


def _migration_dump() -> list[dict]:
    ipvs = b.kube_proxy_configmap(
        "mode: ipvs\nipvs:\n  scheduler: lc\nclusterCIDR: 10.244.0.0/16\n"
    )
    ipvs["metadata"]["name"] = "kube-proxy-ipvs"
    unrelated = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "data": {"Corefile": ".:53 {}"},
    }
    return b.small_cluster() + [
        b.kube_proxy_configmap("mode: iptables\nclusterCIDR: 10.244.0.0/16\n"),
        ipvs,
        unrelated,
        _kube_proxy_pod("n1", "kube-proxy"),
        _kube_proxy_pod("n2", "kube-proxy-ipvs"),
    ]


def test_configmaps_mounted_by_kube_proxy_pods_are_kept_and_exported():
    summary = cluster_import(name="mig", objects=_migration_dump())
    assert (summary.counts["ConfigMap"], summary.skipped) == (2, {"ConfigMap": 1})
    proxy = KubeProxyConfig.objects.get(cluster__name="mig")
    assert [m["metadata"]["name"] for m in proxy.extra_config_maps] == ["kube-proxy-ipvs"]
    exported = cluster_objects(cluster=Cluster.objects.get(name="mig"))
    assert [o["metadata"]["name"] for o in exported if o["kind"] == "ConfigMap"] == [
        "kube-proxy",
        "kube-proxy-ipvs",
    ]
    cluster_import(name="copy", objects=exported)
    assert cluster_state(Cluster.objects.get(name="copy")) == cluster_state(
        Cluster.objects.get(name="mig")
    )


def test_stored_cluster_gives_the_engine_the_same_per_node_modes_as_the_file():
    from routing.engine.kube import snapshot_from_objects

    cluster_import(name="mig", objects=_migration_dump())
    from_db = snapshot_from_objects(cluster_objects(cluster=Cluster.objects.get(name="mig")))
    from_file = snapshot_from_objects(_migration_dump())
    assert from_db.proxy_for("n2").mode == from_file.proxy_for("n2").mode == "ipvs"
    assert from_db.proxy_for("n1").mode == "iptables"


def test_bad_mounted_configmap_is_refused_in_one_line():
    objects = _migration_dump()
    objects[7]["data"]["config.conf"] = "mode: ebpf\n"
    with pytest.raises(
        ObjectError, match=r"^ConfigMap kube-system/kube-proxy-ipvs: data.config.conf mode 'ebpf'"
    ):
        cluster_import(name="mig", objects=objects)
