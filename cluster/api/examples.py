"""OpenAPI examples of the cluster API (what /api/docs/ shows for each response)."""

from drf_spectacular.utils import OpenApiExample

CLUSTER = OpenApiExample(
    "The demo cluster",
    response_only=True,
    value={
        "url": "http://127.0.0.1:8000/api/v1/clusters/demo",
        "name": "demo",
        "source": "demo",
        "revision": 3,
        "description": "",
        "live": False,
        "kube_context": "",
        "in_cluster": False,
        "last_synced_at": None,
        "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-01-05T09:00:00Z",
    },
)

CLUSTER_DETAIL = OpenApiExample(
    "The demo cluster, with kube-proxy",
    response_only=True,
    value={
        **CLUSTER.value,
        "kube_proxy": {
            "mode": "iptables",
            "ipvs_scheduler": "rr",
            "cluster_cidr": "10.244.0.0/16",
            "detect_local_mode": "ClusterCIDR",
            "masquerade_all": False,
            "node_overrides": {},
            "present": True,
        },
        "import_summary": {"counts": {"Node": 10, "Service": 15}, "skipped": {}},
    },
)

NODE = OpenApiExample(
    "A ready node in zone eu-west-1a",
    response_only=True,
    value={
        "id": 4,
        "cluster": "demo",
        "name": "node-a1",
        "zone": "eu-west-1a",
        "region": "eu-west-1",
        "ready": True,
        "unschedulable": False,
        "labels": {"kubernetes.io/hostname": "node-a1"},
        "taints": [],
        "internal_ips": ["192.168.1.11"],
        "pod_cidrs": ["10.244.1.0/24"],
        "kubelet_version": "v1.33.2",
        "kube_proxy_version": "v1.33.2",
    },
)

SERVICE = OpenApiExample(
    "shop/cache: internalTrafficPolicy Local",
    response_only=True,
    value={
        "id": 7,
        "cluster": "demo",
        "key": "shop/cache",
        "namespace": "shop",
        "name": "cache",
        "type": "ClusterIP",
        "cluster_ip": "10.96.0.30",
        "cluster_ips": ["10.96.0.30"],
        "ports": [{"name": "redis", "port": 6379, "protocol": "TCP", "targetPort": 6379}],
        "selector": {"app": "cache"},
        "internal_traffic_policy": "Local",
        "external_traffic_policy": "",
        "effective_internal_traffic_policy": "Local",
        "effective_external_traffic_policy": "Cluster",
        "traffic_distribution": "",
        "topology_mode": "",
        "session_affinity": "None",
        "session_affinity_timeout": None,
        "health_check_node_port": None,
        "external_ips": [],
        "load_balancer_ingress": [],
        "publish_not_ready_addresses": False,
    },
)

SLICE = OpenApiExample(
    "The slice of shop/cache",
    response_only=True,
    value={
        "id": 9,
        "cluster": "demo",
        "namespace": "shop",
        "name": "cache-x7k2p",
        "service_name": "cache",
        "service_missing": False,
        "address_type": "IPv4",
        "ports": [{"name": "redis", "port": 6379, "protocol": "TCP"}],
        "managed_by": "endpointslice-controller.k8s.io",
    },
)

ENDPOINT = OpenApiExample(
    "A ready endpoint on node-a1",
    response_only=True,
    value={
        "id": 31,
        "cluster": "demo",
        "service": "shop/cache",
        "slice": "cache-x7k2p",
        "address": "10.244.1.21",
        "addresses": ["10.244.1.21"],
        "ready": True,
        "serving": True,
        "terminating": False,
        "node_name": "node-a1",
        "zone": "eu-west-1a",
        "hostname": "",
        "hints_for_zones": [],
        "hints_for_nodes": [],
        "target": "Pod/shop/cache-0",
    },
)

POD = OpenApiExample(
    "A running pod",
    response_only=True,
    value={
        "id": 12,
        "cluster": "demo",
        "namespace": "shop",
        "name": "cache-0",
        "node_name": "node-a1",
        "pod_ip": "10.244.1.21",
        "pod_ips": ["10.244.1.21"],
        "host_network": False,
        "labels": {"app": "cache"},
        "phase": "Running",
        "ready": True,
        "terminating": False,
    },
)

JOB_STARTED = OpenApiExample(
    "Started",
    response_only=True,
    status_codes=["202"],
    value={
        "job_id": 12,
        "state": "queued",
        "url": "http://127.0.0.1:8000/api/v1/jobs/12",
        "created": True,
    },
)


def detail(example: OpenApiExample, **extra: object) -> OpenApiExample:
    """The detail-view variant of a list example (the same object plus its raw fields)."""
    return OpenApiExample(
        f"{example.name}, in full", response_only=True, value={**example.value, **extra}
    )


_RAW = {"raw": {"apiVersion": "v1", "kind": "...", "metadata": {"name": "..."}}}
NODE_DETAIL = detail(NODE, addresses=[{"type": "InternalIP", "address": "192.168.1.11"}], **_RAW)
SERVICE_DETAIL = detail(
    SERVICE,
    ip_families=["IPv4"],
    ip_family_policy="SingleStack",
    load_balancer_source_ranges=[],
    external_name="",
    labels={"app": "cache"},
    annotations={},
    **_RAW,
)
SLICE_DETAIL = detail(SLICE, labels={"kubernetes.io/service-name": "cache"}, **_RAW)
ENDPOINT_DETAIL = detail(ENDPOINT, raw={"addresses": ["10.244.1.21"], "nodeName": "node-a1"})
POD_DETAIL = detail(POD, **_RAW)

ME = OpenApiExample(
    "A CI bot with operator rights",
    response_only=True,
    value={
        "authenticated": True,
        "username": "ci-bot",
        "auth": "token",
        "can_read": True,
        "can_operate": True,
    },
)
