"""Kubernetes objects equivalent to upstream kube-proxy's overall-rules test scenario.

``TestOverallIPTablesRules`` (pkg/proxy/iptables/proxier_test.go) and
``TestOverallNFTablesRules`` (pkg/proxy/nftables/proxier_test.go) build the same six
services on node ``test-node`` (IP 192.168.0.2), pod CIDR 10.0.0.0/8, service CIDR
172.30.0.0/16. The objects below restate that scenario as a kubectl dump.
"""

from __future__ import annotations

NODE = "test-node"
CLUSTER_CIDR = "10.0.0.0/8"


def node(name: str = NODE, ip: str = "192.168.0.2", zone: str | None = None) -> dict:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def service(ns: str, name: str, cluster_ip: str, ports: list[dict], **spec: object) -> dict:
    status = spec.pop("status", {})
    body: dict[str, object] = {
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ports": ports,
        "type": "ClusterIP",
    }
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": ns, "name": name},
        "spec": body,
        "status": status,
    }


def port(
    name: str = "p80", port: int = 80, protocol: str = "TCP", node_port: int | None = None
) -> dict:
    p: dict = {"name": name, "port": port, "protocol": protocol, "targetPort": port}
    if node_port:
        p["nodePort"] = node_port
    return p


def slice_(ns: str, svc: str, endpoints: list[dict], ports: list[dict], suffix: str = "1") -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "namespace": ns,
            "name": f"{svc}-{suffix}",
            "labels": {"kubernetes.io/service-name": svc},
        },
        "endpoints": endpoints,
        "ports": ports,
    }


def ep(ip: str, node_name: str | None = None, **conditions: bool) -> dict:
    e: dict = {"addresses": [ip]}
    if node_name:
        e["nodeName"] = node_name
    if conditions:
        e["conditions"] = conditions
    return e


def slice_port(name: str = "p80", port: int = 80, protocol: str = "TCP") -> dict:
    return {"name": name, "port": port, "protocol": protocol}


def proxy_configmap(cluster_cidr: str = CLUSTER_CIDR, mode: str = "iptables") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "kube-system", "name": "kube-proxy"},
        "data": {
            "config.conf": (
                f"kind: KubeProxyConfiguration\nmode: {mode}\nclusterCIDR: {cluster_cidr}\n"
            )
        },
    }


def overall_objects() -> list[dict]:
    """The six services and five slices of the upstream overall-rules tests."""
    return [
        node(),
        proxy_configmap(),
        service("ns1", "svc1", "172.30.0.41", [port()]),
        service(
            "ns2",
            "svc2",
            "172.30.0.42",
            [port(node_port=3001)],
            type="LoadBalancer",
            externalTrafficPolicy="Local",
            externalIPs=["192.168.99.22"],
            healthCheckNodePort=30000,
            status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        ),
        service("ns3", "svc3", "172.30.0.43", [port(node_port=3003)], type="NodePort"),
        service(
            "ns4", "svc4", "172.30.0.44", [port()], type="NodePort", externalIPs=["192.168.99.33"]
        ),
        service(
            "ns5",
            "svc5",
            "172.30.0.45",
            [port(node_port=3002)],
            type="LoadBalancer",
            externalTrafficPolicy="Cluster",
            healthCheckNodePort=30000,
            loadBalancerSourceRanges=[" 203.0.113.0/25"],
            sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10800}},
            status={"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}},
        ),
        service("ns6", "svc6", "172.30.0.46", [port()]),
        slice_("ns1", "svc1", [ep("10.180.0.1")], [slice_port()]),
        slice_("ns2", "svc2", [ep("10.180.0.2")], [slice_port()]),
        slice_("ns3", "svc3", [ep("10.180.0.3")], [slice_port()]),
        slice_("ns4", "svc4", [ep("10.180.0.4"), ep("10.180.0.5", NODE)], [slice_port()]),
        slice_("ns5", "svc5", [ep("10.180.0.3")], [slice_port()]),
    ]
