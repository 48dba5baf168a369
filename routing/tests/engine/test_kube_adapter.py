"""snapshot_from_objects: reading kubectl dumps the way kube-proxy reads the API.

Rules from K/K pkg/proxy/endpointslicecache.go (conditions, de-duplication, ordering),
pkg/proxy/serviceport.go (LB ingress capture) and the kube-proxy ConfigMap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.engine.kube import SnapshotError, snapshot_from_objects, snapshot_with_pods_when_read
from routing.engine.types import FeatureGates
from routing.tests.engine.core_builders import (
    endpoint_obj,
    node_obj,
    pod_obj,
    service_obj,
    slice_obj,
)

# Next to the repository, as CI lays it out (same place cluster/tests/fixtures.py reads).
FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "real"


def endpoints_of(objects: list[dict], service: str = "default/web", port: str = "http"):
    return snapshot_from_objects(objects).endpoints(service, port)


def test_omitted_conditions_mean_ready_and_serving() -> None:
    (got,) = endpoints_of(
        [service_obj("web"), slice_obj("web", [endpoint_obj("10.0.0.1", "n1", ready=None)])]
    )
    assert (got.ready, got.serving, got.terminating) == (True, True, False)


def test_omitted_serving_means_true_even_when_not_ready() -> None:
    """K/K endpointslicecache.go newEndpointSliceInfo: ``Serving == nil || *Serving`` — kube-proxy
    does not defer to ready (the API comment suggests consumers may; kube-proxy does not)."""
    (got,) = endpoints_of(
        [service_obj("web"), slice_obj("web", [endpoint_obj("10.0.0.1", "n1", ready=False)])]
    )
    assert (got.ready, got.serving, got.terminating) == (False, True, False)


def test_terminating_endpoint_without_serving_field_feeds_the_fallback() -> None:
    """Same rule, seen through CategorizeEndpoints: ready=false, terminating=true, serving
    omitted counts as serving-terminating, so the Cluster set falls back to it."""
    from routing.engine.simulate import Question, simulate

    objects = [
        node_obj("n1"),
        service_obj("web"),
        slice_obj("web", [endpoint_obj("10.0.0.1", "n1", ready=False, terminating=True)]),
    ]
    answer = simulate(
        snapshot_from_objects(objects), Question(service="default/web", source="pod:n1")
    ).to_json()
    assert answer["action"] == "forward" and [e["ip"] for e in answer["endpoints"]] == ["10.0.0.1"]


def test_sorted_by_ip_port_string_and_deduplicated_across_slices() -> None:
    objects = [
        service_obj("web"),
        slice_obj(
            "web", [endpoint_obj("10.0.0.9", "n1"), endpoint_obj("10.0.0.10", "n1")], name="a"
        ),
        slice_obj(
            "web",
            [endpoint_obj("10.0.0.9", "n1", ready=False, serving=True, terminating=True)],
            name="b",
        ),
    ]
    got = endpoints_of(objects)
    assert [e.key for e in got] == ["10.0.0.10:8080", "10.0.0.9:8080"]
    # a terminating duplicate never replaces the existing copy
    assert got[1].ready is True


def test_port_without_name_is_skipped_like_kube_proxy() -> None:
    objects = [
        service_obj("web"),
        slice_obj("web", [endpoint_obj("10.0.0.1", "n1")], ports=[{"port": 8080}]),
    ]
    assert endpoints_of(objects) == ()


def test_fqdn_slices_and_other_family_are_ignored() -> None:
    objects = [
        service_obj("web"),
        slice_obj("web", [endpoint_obj("fd00::1", "n1")], name="v6", address_type="IPv6"),
        slice_obj("web", [endpoint_obj("web.example.com", "n1")], name="f", address_type="FQDN"),
        slice_obj("web", [endpoint_obj("10.0.0.1", "n1")], name="v4"),
    ]
    assert [e.ip for e in endpoints_of(objects)] == ["10.0.0.1"]


def test_hints_and_zone_are_read() -> None:
    objects = [
        service_obj("web"),
        slice_obj(
            "web", [endpoint_obj("10.0.0.1", "n1", zone="a", zones=("a", "b"), nodes=("n1",))]
        ),
    ]
    (got,) = endpoints_of(objects)
    assert got.zone == "a" and got.zone_hints == {"a", "b"} and got.node_hints == {"n1"}


def test_only_vip_mode_lb_ingress_is_captured() -> None:
    service = service_obj("web", type="LoadBalancer")
    service["status"]["loadBalancer"]["ingress"] = [
        {"ip": "192.0.2.1"},
        {"ip": "192.0.2.2", "ipMode": "Proxy"},
        {"hostname": "x.elb.example.com"},
    ]
    got = snapshot_from_objects([service]).services["default/web"]
    assert got.lb_ips == ("192.0.2.1",)
    assert got.lb_uncaptured == ("192.0.2.2", "x.elb.example.com")


def test_kube_proxy_configmap_sets_mode_scheduler_and_detector() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {
            "config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
            "kind: KubeProxyConfiguration\n"
            'clusterCIDR: ""\nipvs:\n  scheduler: lc\n  syncPeriod: 30s\nmode: ipvs\n'
            "featureGates:\n  TopologyAwareHints: false\n"
        },
    }
    s = snapshot_from_objects([cm])
    assert (s.proxy.mode, s.proxy.ipvs_scheduler, s.proxy.local_detector) == ("ipvs", "lc", False)
    assert s.proxy.gates.topology_aware_hints is False


def test_no_configmap_means_iptables_with_a_detector() -> None:
    s = snapshot_from_objects([])
    assert (s.proxy.mode, s.proxy.local_detector) == ("iptables", True)
    assert any("ConfigMap" in note for note in s.notes)


def test_each_node_runs_its_own_release() -> None:
    s = snapshot_from_objects(
        [
            node_obj("old", version="v1.29.3"),
            node_obj("new1", version="v1.35.0"),
            node_obj("new2", version="v1.35.1"),
        ]
    )
    assert s.proxy.version == (1, 35)
    assert s.proxy_for("old").version == (1, 29)
    assert s.proxy_for("old").gates == FeatureGates.for_version((1, 29))
    assert s.proxy_for("new1") is s.proxy


def test_endpoints_derived_from_pods_when_the_dump_has_no_slices() -> None:
    objects = [
        node_obj("n1", zone="a"),
        service_obj("web", distribution="PreferClose"),
        pod_obj("web-1", "n1", "10.0.0.1"),
        pod_obj("web-2", "n1", "10.0.0.2", ready=False),
        pod_obj("other", "n1", "10.0.0.3", app="other"),
    ]
    s = snapshot_from_objects(objects)
    got = s.endpoints("default/web", "http")
    assert [(e.ip, e.port, e.ready) for e in got] == [
        ("10.0.0.1", 8080, True),
        ("10.0.0.2", 8080, False),
    ]
    assert got[0].zone_hints == {"a"} and got[1].zone_hints == frozenset()
    assert s.pods["default/web-1"].owner == "Deployment/web"


@pytest.mark.parametrize(
    "bad",
    [
        {"unknown_override": 1},
        {"proxy_mode": "ebpf"},
        {"ipvs_scheduler": "fastest"},
        {"version": "latest"},
        {"feature_gates": {"NoSuchGate": True}},
    ],
)
def test_bad_overrides_raise_one_line(bad: dict) -> None:
    with pytest.raises(SnapshotError) as err:
        snapshot_from_objects([], **bad)
    assert "\n" not in str(err.value)


def test_bad_service_port_names_object_and_field() -> None:
    service = service_obj("web", ports=[{"name": "http", "port": "eighty"}])
    with pytest.raises(SnapshotError, match=r"Service default/web: spec.ports\[0\].port"):
        snapshot_from_objects([service])


def test_real_fixtures_are_present() -> None:
    assert len(list(FIXTURES.glob("*.*[ln]"))) >= 8


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.*[ln]")), ids=lambda p: p.name)
def test_every_real_fixture_builds_a_snapshot(path: Path) -> None:
    s = snapshot_from_objects(read_objects(path))
    assert s.services or s.nodes or s.pods


def test_graceful_termination_fixture_routes_to_the_terminating_pod() -> None:
    """cilium graceful-termination state2: the only pod is serving+terminating (KEP-1669)."""
    from routing.engine.simulate import Question, simulate

    s = snapshot_from_objects(read_objects(FIXTURES / "cilium-graceful-termination-state2.yaml"))
    answer = simulate(
        s, Question(service="test/graceful-term-svc", source="pod:graceful-term-control-plane")
    ).to_json()
    assert answer["action"] == "forward" and len(answer["endpoints"]) == 1
    assert any(line.startswith("TERMINATING_FALLBACK") for line in answer["explain"])


@pytest.mark.parametrize(
    ("value", "excluded"),
    [("", True), ("true", True), ("false", False), ("0", False), ("yes", True)],
)
def test_lb_exclusion_label_value_parses_like_go(value: str, excluded: bool) -> None:
    """cloud-provider nodeIncludedPredicate: strconv.ParseBool; unparsable excludes."""
    s = snapshot_from_objects(
        [node_obj("n1", labels={"node.kubernetes.io/exclude-from-external-load-balancers": value})]
    )
    assert s.nodes["n1"].exclude_from_lb is excluded


@pytest.mark.parametrize(
    ("proxy", "kubelet", "expected"),
    [
        ("v1.27.3", "v1.28.1", (1, 27)),
        ("", "v1.28.1", (1, 28)),
        ("v0.0.0", "v1.31.0", (1, 31)),
    ],
    ids=["kubeProxyVersion wins", "empty falls back to kubelet", "v0.0.0 placeholder ignored"],
)
def test_node_release(proxy: str, kubelet: str, expected: tuple[int, int]) -> None:
    s = snapshot_from_objects([node_obj("n1", version=kubelet, proxy_version=proxy)])
    assert s.proxy_for("n1").version == expected


def _proxy_pod(node: str, *, args: list[str], configmap: str | None = None) -> dict:
    spec: dict = {
        "nodeName": node,
        "containers": [{"name": "kube-proxy", "command": ["/usr/local/bin/kube-proxy", *args]}],
    }
    if configmap:
        spec["containers"][0]["volumeMounts"] = [
            {"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}
        ]
        spec["volumes"] = [{"name": "kube-proxy", "configMap": {"name": configmap}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": spec,
        "metadata": {
            "name": f"kube-proxy-{node}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-proxy"},
        },
    }


def _proxy_cm(name: str, conf: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "kube-system"},
        "data": {"config.conf": conf},
    }


def test_mode_migration_read_from_each_nodes_kube_proxy_pod() -> None:
    """Two DaemonSets mid-migration: each node's Pod mounts its own ConfigMap (or flags)."""
    objects = [
        node_obj("n1"),
        node_obj("n2"),
        node_obj("n3"),
        node_obj("n4"),
        _proxy_cm("kube-proxy", "mode: iptables\nclusterCIDR: 10.244.0.0/16\n"),
        _proxy_cm(
            "kube-proxy-ipvs", "mode: ipvs\nipvs:\n  scheduler: lc\nclusterCIDR: 10.244.0.0/16\n"
        ),
        _proxy_pod("n1", args=["--config=/var/lib/kube-proxy/config.conf"], configmap="kube-proxy"),
        _proxy_pod(
            "n2", args=["--config=/var/lib/kube-proxy/config.conf"], configmap="kube-proxy-ipvs"
        ),
        _proxy_pod("n3", args=["--proxy-mode", "nftables", "--cluster-cidr=10.244.0.0/16"]),
        _proxy_pod("n4", args=["--config=/var/lib/kube-proxy/config.conf"], configmap="missing"),
    ]
    s = snapshot_from_objects(objects)
    assert [s.proxy_for(n).mode for n in ("n1", "n2", "n3", "n4")] == [
        "iptables",
        "ipvs",
        "nftables",
        "iptables",
    ]
    assert s.proxy_for("n2").ipvs_scheduler == "lc"
    assert (
        s.proxy_for("n3").cluster_cidrs == ("10.244.0.0/16",) and s.proxy_for("n3").local_detector
    )
    # a cluster-wide what-if still wins over what the Pods say
    assert snapshot_from_objects(objects, proxy_mode="nftables").proxy_for("n2").mode == "nftables"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"mode": "nftables", "clusterCIDR": "10.0.0.0/8", "ipvs": {"scheduler": ""}}',
            {"mode": "nftables", "clusterCIDR": "10.0.0.0/8"},
        ),
        (
            (
                'mode: "ipvs"  # migrated\nipvs:\n  excludeCIDRs: null\n  scheduler: '
                "'sh'\nmasqueradeAll: true\n"
            ),
            {"mode": "ipvs", "ipvs_scheduler": "sh", "masqueradeAll": True},
        ),
        (
            (
                'mode: ""\nfeatureGates:\n  PreferSameTrafficDistribution: false\n  '
                "SomethingElse: true\n"
            ),
            {"featureGates": {"prefer_same_traffic_distribution": False}},
        ),
        (
            (
                "detectLocalMode: NodeCIDR\nclientConnection:\n  kubeconfig: "
                "/var/lib/kube-proxy/kubeconfig.conf\n"
            ),
            {"detectLocalMode": "NodeCIDR"},
        ),
    ],
    ids=["json", "yaml with comments and quotes", "gates", "nested sections"],
)
def test_kube_proxy_configuration_reader(text: str, expected: dict) -> None:
    from routing.engine.proxyconf import parse_proxy_config

    assert parse_proxy_config(text) == expected


@pytest.mark.parametrize(
    ("state", "action", "code"),
    [
        ("state1", "forward", "CHOICE_UNIFORM"),
        ("state2", "forward", "TERMINATING_FALLBACK"),
        ("state3", "reject", "NO_ENDPOINTS_REJECT"),
    ],
    ids=["ready", "terminating but serving", "gone"],
)
def test_graceful_termination_captured_sequence(state: str, action: str, code: str) -> None:
    """A real pod's termination captured in three dumps (cilium graceful-termination test,
    KEP-1669)."""
    from routing.engine.simulate import Question, simulate

    s = snapshot_from_objects(read_objects(FIXTURES / f"cilium-graceful-termination-{state}.yaml"))
    answer = simulate(
        s, Question(service="test/graceful-term-svc", source="pod:graceful-term-control-plane")
    ).to_json()
    assert answer["action"] == action
    assert any(line.startswith(code) for line in answer["explain"])


def test_deprecated_hints_annotation_wins_over_topology_mode() -> None:
    """K/K serviceport.go newBaseServiceInfo: topology-aware-hints has precedence over
    topology-mode."""
    from routing.engine.kube import snapshot_from_objects

    obj = {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": {
                "service.kubernetes.io/topology-mode": "Auto",
                "service.kubernetes.io/topology-aware-hints": "disabled",
            },
        },
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]},
    }
    assert snapshot_from_objects([obj]).services["default/web"].topology_annotation == "disabled"


def _pods_cluster() -> list[dict]:
    return [
        node_obj("n1", zone="a"),
        service_obj("web"),
        slice_obj("web", [endpoint_obj("10.0.0.1", "n1")]),
        pod_obj("web-1", "n1", "10.0.0.1"),
        pod_obj("web-2", "n1", "10.0.0.2", owner=None),
        pod_obj("other", "n1", "10.0.0.3", app="other", namespace="team"),
    ]


def test_pods_when_read_are_built_on_first_read_the_same(monkeypatch) -> None:
    from routing.engine import kube
    from routing.engine.kube_pods import PodsWhenRead
    from routing.engine.kube_pods import pod_from_object as real

    objects = _pods_cluster()
    eager = snapshot_from_objects(objects)
    built: list[str] = []

    def spy(obj):
        built.append(obj["metadata"]["name"])
        return real(obj)

    monkeypatch.setattr(kube, "pod_from_object", spy)
    lazy = snapshot_with_pods_when_read(objects)
    assert isinstance(lazy.pods, PodsWhenRead)
    assert lazy.endpoint_index == eager.endpoint_index and lazy.nodes == eager.nodes
    assert built == []  # nothing read yet
    assert list(lazy.pods.items()) == list(eager.pods.items())
    assert built == ["web-1", "web-2", "other"]  # once, on the first read
    assert lazy.pods == eager.pods and dict(lazy.pods) == dict(eager.pods)
    assert len(lazy.pods) == 3 and "team/other" in lazy.pods
    assert lazy.pods.get("default/web-1") == eager.pods["default/web-1"]
    assert lazy.pods.get("nope") is None and built == ["web-1", "web-2", "other"]
    with pytest.raises(KeyError):
        lazy.pods["nope"]


def test_pods_when_read_without_slices_are_built_at_once() -> None:
    from routing.engine.kube_pods import PodsWhenRead

    objects = [o for o in _pods_cluster() if o["kind"] != "EndpointSlice"]
    lazy = snapshot_with_pods_when_read(objects)
    assert not isinstance(lazy.pods, PodsWhenRead)  # endpoints were derived from them
    eager = snapshot_from_objects(objects)
    assert lazy.endpoint_index == eager.endpoint_index and lazy.pods == eager.pods


@pytest.mark.parametrize("slices", [True, False])
def test_pods_held_as_stand_ins_are_made_whole_by_whole_pod(slices: bool) -> None:
    """``whole_pod``: the caller's stand-ins for Pods (kind and apiVersion only) are made
    whole for the pods, when read, or at once when endpoints are derived from them."""
    objects = [o for o in _pods_cluster() if slices or o["kind"] != "EndpointSlice"]
    stand_ins = {}
    held = []
    for obj in objects:
        if obj["kind"] == "Pod":
            stand_in = {"kind": "Pod", "apiVersion": obj["apiVersion"]}
            stand_ins[id(stand_in)] = obj
            obj = stand_in
        held.append(obj)
    asked: list[str] = []

    def whole_pod(obj):
        found = stand_ins[id(obj)]
        asked.append(found["metadata"]["name"])
        return found

    snapshot = snapshot_with_pods_when_read(held, whole_pod=whole_pod)
    assert asked == ([] if slices else ["web-1", "web-2", "other"])
    eager = snapshot_from_objects(objects)
    assert snapshot.endpoint_index == eager.endpoint_index and snapshot.nodes == eager.nodes
    assert dict(snapshot.pods) == dict(eager.pods)
    assert asked == ["web-1", "web-2", "other"]  # once


def test_a_pod_the_adapter_cannot_read_is_one_line_when_read() -> None:
    objects = _pods_cluster()
    objects[3]["metadata"]["ownerReferences"] = [7]
    with pytest.raises(SnapshotError) as eager:
        snapshot_from_objects(objects)
    lazy = snapshot_with_pods_when_read(objects)
    with pytest.raises(SnapshotError) as late:
        lazy.pods.get("default/web-1")
    assert str(late.value) == str(eager.value) and "\n" not in str(late.value)


def test_a_what_if_moving_pods_reads_pods_when_read() -> None:
    from routing.engine.scenario import Scenario, apply_scenario

    objects = _pods_cluster()
    scenario = Scenario(nodes_drained=frozenset({"n1"}))
    eager = apply_scenario(snapshot_from_objects(objects), scenario)
    lazy = apply_scenario(snapshot_with_pods_when_read(objects), scenario)
    assert dict(lazy.pods) == dict(eager.pods)
    assert lazy.endpoint_index == eager.endpoint_index
