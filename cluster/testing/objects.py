"""Small, complete Kubernetes objects for tests (complete enough for the official client's
models: an EndpointSlice has ``addressType``, a Pod has ``spec.containers``...)."""

from __future__ import annotations

KUBE_PROXY_CONF = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: 10.244.0.0/16
ipvs:
  scheduler: ""
"""


def node(name: str, zone: str, *, ip: str) -> dict:
    """A Ready node in ``zone``."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone},
        },
        "spec": {"podCIDR": f"10.244.{ip.split('.')[-1]}.0/24"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {
                "kubeletVersion": "v1.33.2",
                "kubeProxyVersion": "v1.33.2",
                "architecture": "amd64",
                "bootID": f"boot-{name}",
                "containerRuntimeVersion": "containerd://2.0.5",
                "kernelVersion": "6.1.0",
                "machineID": f"m-{name}",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12",
                "systemUUID": f"uuid-{name}",
            },
        },
    }


def service(namespace: str, name: str, *, ip: str, type_: str = "ClusterIP", **spec) -> dict:
    """A Service with one TCP port named http."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": type_,
            "clusterIP": ip,
            "clusterIPs": [ip],
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "sessionAffinity": "None",
            **spec,
        },
    }


def pod(namespace: str, name: str, *, app: str, node_name: str, ip: str) -> dict:
    """A running, ready pod of ``app`` on ``node_name``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def endpoint_slice(namespace: str, service_name: str, pods: list[dict], zones: dict) -> dict:
    """The slice the EndpointSlice controller would write for ``pods``."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-abc12",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service_name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": p["spec"]["nodeName"],
                "zone": zones[p["spec"]["nodeName"]],
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": p["metadata"]["name"]},
            }
            for p in pods
        ],
    }


def kube_proxy_objects() -> list[dict]:
    """The kube-proxy ConfigMap and DaemonSet in kube-system."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": KUBE_PROXY_CONF},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                    "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.33.2"}]},
                },
            },
        },
    ]


def sample_cluster() -> list[dict]:
    """3 nodes in 2 zones, 2 Services (one NodePort) with pods and slices, kube-proxy."""
    zones = {"n1": "z-a", "n2": "z-a", "n3": "z-b"}
    nodes = [node(n, z, ip=f"192.168.0.{i + 1}") for i, (n, z) in enumerate(zones.items())]
    web_pods = [
        pod("shop", f"web-{i}", app="web", node_name=n, ip=f"10.244.{i + 1}.10")
        for i, n in enumerate(["n1", "n2", "n3"])
    ]
    api_pods = [pod("shop", "api-0", app="api", node_name="n3", ip="10.244.3.20")]
    return [
        *nodes,
        service(
            "shop",
            "web",
            ip="10.96.0.10",
            type_="NodePort",
            externalTrafficPolicy="Cluster",
            internalTrafficPolicy="Cluster",
        ),
        service("shop", "api", ip="10.96.0.20"),
        *web_pods,
        *api_pods,
        endpoint_slice("shop", "web", web_pods, zones),
        endpoint_slice("shop", "api", api_pods, zones),
        *kube_proxy_objects(),
    ]
