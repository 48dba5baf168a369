"""OpenAPI examples of the routing API (what the docs page shows for each request)."""

from drf_spectacular.utils import OpenApiExample

SIMULATE = [
    OpenApiExample(
        "Pod on node-b2 calls shop/cache under iTP=Local",
        request_only=True,
        value={
            "cluster": "demo",
            "service": "shop/cache",
            "source": "pod:node-b2",
            "set": {"internalTrafficPolicy": "Local"},
        },
    ),
    OpenApiExample(
        "External client at node-a1 via the NodePort, what if eTP=Local",
        request_only=True,
        value={
            "cluster": "demo",
            "service": "shop/checkout",
            "source": "external:node-a1",
            "to": "nodeport",
            "set": {"externalTrafficPolicy": "Local"},
        },
    ),
    OpenApiExample(
        "Pod on node-a2 calls node-a1's NodePort (via_node)",
        request_only=True,
        value={
            "cluster": "demo",
            "service": "shop/checkout",
            "source": "pod:node-a2",
            "to": "nodeport",
            "via_node": "node-a1",
        },
    ),
    OpenApiExample(
        "Inline dump instead of a stored cluster",
        request_only=True,
        value={
            "cluster_dump": {"apiVersion": "v1", "kind": "List", "items": ["..."]},
            "service": "shop/web",
            "source": "lb",
            "proxy_mode": "ipvs",
            "ipvs_scheduler": "rr",
        },
    ),
    OpenApiExample(
        "Answer: half the calls land on each endpoint",
        response_only=True,
        status_codes=["200"],
        value={
            "service": "shop/web",
            "port": "http",
            "source": {"kind": "pod", "node": "n1"},
            "via_node": None,
            "to": "clusterip",
            "proxy_mode": "iptables",
            "action": "forward",
            "outcome": "ok",
            "dropped": 0.0,
            "effective_dropped": 0.0,
            "drop_reason": None,
            "client_ip_preserved": True,
            "endpoints": [
                {"ip": "10.244.1.5", "node": "n1", "zone": "zone-a", "share": 0.5},
                {"ip": "10.244.2.5", "node": "n2", "zone": "zone-a", "share": 0.5},
            ],
            "explain": ["CLUSTER_POLICY: ..."],
            "rejected": 0.0,
            "nodes": {"n1": 0.5, "n2": 0.5},
            "zones": {"zone-a": 1.0},
            "locality": {"same_node": 0.5, "same_zone": 0.5, "cross_zone": 0.0},
            "latency_ms": {"expected": 0.15, "scheduler": None},
            "cost": {"cross_zone_bytes_per_s": 0.0, "usd_per_month": 0.0},
            "imbalance": 1.0,
            "ingress_nodes": [],
            "session_affinity": None,
            "reasons": [{"code": "CLUSTER_POLICY", "message": "..."}],
        },
    ),
]

SCENARIO = [
    OpenApiExample(
        "Flip eTP on checkout and take a node down",
        request_only=True,
        value={
            "name": "checkout-etp-cluster",
            "cluster": "demo",
            "description": "Does Cluster spread checkout evenly again?",
            "changes": {
                "services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}},
                "nodes_down": ["node-a1"],
            },
        },
    ),
]

_DROP_LINE = (
    '-A KUBE-SERVICES -m comment --comment "shop/cache:redis has no local endpoints" '
    "-m tcp -p tcp -d 10.96.0.14 --dport 6379 -j DROP"
)

RULES = [
    OpenApiExample(
        "iTP=Local on a node without a cache pod: DROP",
        response_only=True,
        value={
            "cluster": "demo",
            "node": "node-b2",
            "mode": "iptables",
            "service": "shop/cache",
            "text": "*filter\n:KUBE-SERVICES - [0:0]\n" + _DROP_LINE + "\nCOMMIT\n",
            "companions": {},
            "notes": [],
            "lines": [
                {
                    "text": _DROP_LINE,
                    "service": "shop/cache",
                    "reason": "drop-internal",
                    "why": "DROP because internalTrafficPolicy=Local and node node-b2 has no "
                    "local endpoint",
                }
            ],
        },
    )
]

ANALYSIS = [
    OpenApiExample(
        "shop/cache drops calls from 7 of 10 nodes",
        response_only=True,
        value={
            "cluster": "demo",
            "revision": 1,
            "summary": {
                "nodes": 10,
                "services": 15,
                "service_ports": 17,
                "ports_dropping": 6,
                "findings": {"critical": 5, "warning": 9, "info": 11},
            },
            "cost_model": {
                "request_rate": 100.0,
                "request_bytes": 2048,
                "response_bytes": 16384,
                "price_per_gb": 0.01,
            },
            "count": 1,
            "offset": 0,
            "limit": 100,
            "services": [
                {
                    "service": "shop/cache",
                    "port": "redis",
                    "type": "ClusterIP",
                    "policies": {"internalTrafficPolicy": "Local"},
                    "endpoints": {"total": 3, "ready": 3, "terminating": 0},
                    "nodes": {"hosting": 3, "covered": 3, "total": 10},
                    "dropped": 0.7,
                    "imbalance": 1.0,
                }
            ],
            "findings": [
                {
                    "code": "ITP_LOCAL_DROPS",
                    "severity": "critical",
                    "impact": 0.7,
                    "service": "shop/cache",
                    "port": "redis",
                    "source": "pod",
                    "message": "internalTrafficPolicy=Local: calls from pods on 7 of 10 "
                    "nodes are dropped",
                    "nodes": ["node-a1", "node-a2"],
                }
            ],
            "notes": [],
        },
    )
]

SCENARIO_OUT = [
    OpenApiExample(
        "A saved scenario",
        response_only=True,
        value={
            "id": 3,
            "url": "http://127.0.0.1:8000/api/v1/scenarios/3",
            "name": "checkout-etp-cluster",
            "cluster": "demo",
            "description": "Does Cluster spread checkout evenly again?",
            "changes": {"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}}},
            "created_by": "alice",
            "created_at": "2026-01-05T09:00:00Z",
            "updated_at": "2026-01-05T09:00:00Z",
        },
    )
]

_BRIEF = {
    "action": "drop",
    "outcome": "dropped",
    "dropped": 1.0,
    "effective_dropped": 1.0,
    "drop_reason": "LOCAL_NO_ENDPOINT_ON_NODE",
    "client_ip_preserved": True,
    "endpoints": [],
    "proxy_mode": "iptables",
    "explain": ["LOCAL_NO_ENDPOINT_ON_NODE: ..."],
}
PREVIEW = [
    OpenApiExample(
        "An external client at node-c1 stops being dropped",
        response_only=True,
        value={
            "cluster": "demo",
            "revision": 1,
            "changes": {"services": {"shop/checkout": {"externalTrafficPolicy": "Cluster"}}},
            "services": [
                {
                    "service": "shop/checkout",
                    "type": "LoadBalancer",
                    "questions": [
                        {
                            "source": "external:node-c1",
                            "port": "http",
                            "to": "nodeport",
                            "nodes": ["node-c1"],
                            "weight": 1,
                            "before": _BRIEF,
                            "after": {
                                **_BRIEF,
                                "action": "forward",
                                "outcome": "ok",
                                "dropped": 0.0,
                                "effective_dropped": 0.0,
                                "drop_reason": None,
                                "client_ip_preserved": False,
                                "endpoints": [
                                    {
                                        "ip": "10.244.1.30",
                                        "node": "node-a1",
                                        "zone": "eu-west-1a",
                                        "share": 1.0,
                                    }
                                ],
                            },
                            "diff": {
                                "moved": [
                                    {
                                        "ip": "10.244.1.30",
                                        "before": 0.0,
                                        "after": 1.0,
                                        "change": 1.0,
                                    }
                                ],
                                "newly_dropped": 0.0,
                                "stops_dropping": 1.0,
                                "action": {"before": "drop", "after": "forward"},
                                "outcome": {"before": "dropped", "after": "ok"},
                                "drop_reason": {
                                    "before": "LOCAL_NO_ENDPOINT_ON_NODE",
                                    "after": None,
                                },
                                "client_ip_preserved": {"before": True, "after": False},
                                "latency_ms": {"before": None, "after": 1.0, "change": None},
                                "cost_usd_per_month": {"before": 0.0, "after": 4.7, "change": 4.7},
                                "cross_zone": {"before": 0.0, "after": 1.0, "change": 1.0},
                                "imbalance": {"before": None, "after": 1.0, "change": None},
                            },
                        }
                    ],
                    "entries": [
                        {
                            "entry": "nodeport",
                            "port": "http",
                            "to": "nodeport",
                            "nodes": 10,
                            "dropped": {"before": 0.9, "after": 0.0},
                            "effective_dropped": {"before": 0.9, "after": 0.0},
                            "newly_dropped": 0.0,
                            "stops_dropping": 0.9,
                            "changed": True,
                            "moved": [
                                {"ip": "10.244.1.30", "before": 0.1, "after": 1.0, "change": 0.9}
                            ],
                        }
                    ],
                }
            ],
            "summary": {
                "services": 1,
                "questions": 1,
                "questions_newly_dropping": 0,
                "worst_newly_dropped": 0.0,
                "questions_stop_dropping": 1,
                "changed": 1,
                "entries_newly_dropping": 0,
                "worst_entry_newly_dropped": 0.0,
            },
        },
    )
]

RULES_DIFF = [
    OpenApiExample(
        "Flipping iTP on shop/cache changes 7 nodes' rules",
        response_only=True,
        value={
            "mode": "iptables",
            "services": ["shop/cache"],
            "nodes_total": 10,
            "nodes_changed": 7,
            "render_classes": 3,
            "nodes": [{"node": "node-b2", "added": 4, "removed": 1, "services": ["shop/cache"]}],
            "node": "node-b2",
            "node_diff": "# shop/cache\n--- node-b2 baseline\n+++ node-b2 what-if\n-"
            + _DROP_LINE
            + "\n",
        },
    )
]
PATCH = [
    OpenApiExample(
        "eTP=Local on shop/checkout as a kubectl command",
        response_only=True,
        value={
            "scenario": 3,
            "cluster": "demo",
            "format": "kubectl",
            "text": "kubectl patch service checkout -n shop --type merge -p "
            '\'{"spec":{"externalTrafficPolicy":"Local"}}\'',
            "notes": [],
            "services": [
                {
                    "service": "shop/checkout",
                    "merge_patch": {"spec": {"externalTrafficPolicy": "Local"}},
                    "changed": {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": "checkout", "namespace": "shop"},
                        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
                    },
                }
            ],
        },
    )
]
