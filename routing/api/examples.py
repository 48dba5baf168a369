"""OpenAPI examples of the routing API (what the docs page shows for each request)."""
from drf_spectacular.utils import OpenApiExample

SIMULATE = [
    OpenApiExample(
        "Pod on node-b2 calls shop/cache under iTP=Local", request_only=True,
        value={"cluster": "demo", "service": "shop/cache", "source": "pod:node-b2",
               "set": {"internalTrafficPolicy": "Local"}}),
    OpenApiExample(
        "External client at node-a1 via the NodePort, what if eTP=Local",
        request_only=True,
        value={"cluster": "demo", "service": "shop/checkout", "source": "external:node-a1",
               "to": "nodeport", "set": {"externalTrafficPolicy": "Local"}}),
    OpenApiExample(
        "Inline dump instead of a stored cluster", request_only=True,
        value={"cluster_dump": {"apiVersion": "v1", "kind": "List", "items": ["..."]},
               "service": "shop/web", "source": "lb", "proxy_mode": "ipvs",
               "ipvs_scheduler": "rr"}),
    OpenApiExample(
        "Answer: half the calls land on each endpoint", response_only=True,
        status_codes=["200"],
        value={"service": "shop/web", "port": "http", "source": {"kind": "pod", "node": "n1"},
               "to": "clusterip", "proxy_mode": "iptables", "action": "forward",
               "dropped": 0.0, "drop_reason": None, "client_ip_preserved": True,
               "endpoints": [{"ip": "10.244.1.5", "node": "n1", "zone": "zone-a", "share": 0.5},
                             {"ip": "10.244.2.5", "node": "n2", "zone": "zone-a", "share": 0.5}],
               "explain": ["CLUSTER_POLICY: ..."], "rejected": 0.0,
               "nodes": {"n1": 0.5, "n2": 0.5}, "zones": {"zone-a": 1.0},
               "locality": {"same_node": 0.5, "same_zone": 0.5, "cross_zone": 0.0},
               "latency_ms": {"expected": 0.15, "scheduler": None},
               "cost": {"cross_zone_bytes_per_s": 0.0, "usd_per_month": 0.0},
               "imbalance": 1.0, "ingress_nodes": [], "session_affinity": None,
               "reasons": [{"code": "CLUSTER_POLICY", "message": "..."}]}),
]

SCENARIO = [
    OpenApiExample(
        "Flip eTP on checkout and take a node down", request_only=True,
        value={"name": "checkout-etp-cluster", "cluster": "demo",
               "description": "Does Cluster spread checkout evenly again?",
               "changes": {"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}},
                           "nodes_down": ["node-a1"]}}),
]
