"""Small builders with overrides for the engine-core tests (engine types and kubectl dicts)."""

from __future__ import annotations

from routing.engine.types import Endpoint, Service, ServicePort

THIS_NODE = "node-1"


def ep(
    key: str,
    *,
    local: bool = False,
    node: str | None = None,
    zone: str | None = None,
    ready: bool = True,
    serving: bool | None = None,
    terminating: bool = False,
    zones: tuple[str, ...] = (),
    nodes: tuple[str, ...] = (),
) -> Endpoint:
    """``ep("10.0.0.1:80", ready=False)``; ``local=True`` puts it on ``THIS_NODE``."""
    ip, _, port = key.rpartition(":")
    return Endpoint(
        ip=ip,
        port=int(port),
        node=THIS_NODE if local else (node or "node-remote"),
        zone=zone,
        ready=ready,
        serving=ready if serving is None else serving,
        terminating=terminating,
        zone_hints=frozenset(zones),
        node_hints=frozenset(nodes),
    )


def svc(
    *,
    itp: str = "Cluster",
    etp: str = "Cluster",
    node_port: int = 0,
    annotation: str = "",
    **overrides: object,
) -> Service:
    """A one-port Service ``ns1/svc1:p80``; ``node_port`` makes it externally accessible."""
    fields: dict[str, object] = dict(
        namespace="ns1",
        name="svc1",
        type="NodePort" if node_port else "ClusterIP",
        cluster_ips=("172.30.0.41",),
        ports=(ServicePort("p80", 80, node_port=node_port),),
        internal_traffic_policy=itp,
        external_traffic_policy=etp,
        topology_annotation=annotation,
    )
    fields.update(overrides)
    return Service(**fields)  # type: ignore[arg-type]


# ---- kubectl-shaped objects -------------------------------------------------------------


def node_obj(
    name: str,
    *,
    zone: str | None = None,
    ready: bool = True,
    version: str | None = None,
    proxy_version: str = "",
    labels: dict | None = None,
    unschedulable: bool = False,
    deleting: bool = False,
    pod_cidr: str | None = None,
) -> dict:
    """A Node as ``kubectl get nodes -o json`` prints it (only the fields we read)."""
    all_labels = dict(labels or {})
    if zone is not None:
        all_labels["topology.kubernetes.io/zone"] = zone
    meta: dict = {"name": name, "labels": all_labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict = {"unschedulable": True} if unschedulable else {}
    if pod_cidr:
        spec["podCIDR"] = pod_cidr
        spec["podCIDRs"] = [pod_cidr]
    status: dict = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if version:
        status["nodeInfo"] = {"kubeletVersion": version, "kubeProxyVersion": proxy_version}
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec, "status": status}


def service_obj(
    name: str,
    *,
    namespace: str = "default",
    type: str = "ClusterIP",
    cluster_ip: str = "10.96.0.10",
    ports: list[dict] | None = None,
    itp: str | None = None,
    etp: str | None = None,
    lb_ips: list[str] | None = None,
    external_ips: list[str] | None = None,
    hc_port: int | None = None,
    affinity: str | None = None,
    distribution: str | None = None,
    selector: dict | None = None,
    annotations: dict | None = None,
) -> dict:
    """A Service object; ``ports`` defaults to one named port "http" 80 (nodePort 30080 if
    exposed)."""
    if ports is None:
        ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
        if type in ("NodePort", "LoadBalancer"):
            ports[0]["nodePort"] = 30080
    spec: dict = {
        "type": type,
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "ports": ports,
        "selector": selector or {"app": name},
    }
    for key, value in (
        ("internalTrafficPolicy", itp),
        ("externalTrafficPolicy", etp),
        ("externalIPs", external_ips),
        ("healthCheckNodePort", hc_port),
        ("sessionAffinity", affinity),
        ("trafficDistribution", distribution),
    ):
        if value is not None:
            spec[key] = value
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in lb_ips or []]}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": spec,
        "status": status,
    }


def endpoint_obj(
    ip: str,
    node: str | None,
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    zone: str | None = None,
    zones: tuple[str, ...] = (),
    nodes: tuple[str, ...] = (),
    pod: str | None = None,
) -> dict:
    """One ``endpoints[]`` item of an EndpointSlice (None leaves a condition out)."""
    cond = {
        k: v
        for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if v is not None
    }
    out: dict = {"addresses": [ip], "conditions": cond}
    if node:
        out["nodeName"] = node
    if zone:
        out["zone"] = zone
    hints = {}
    if zones:
        hints["forZones"] = [{"name": z} for z in zones]
    if nodes:
        hints["forNodes"] = [{"name": n} for n in nodes]
    if hints:
        out["hints"] = hints
    if pod:
        out["targetRef"] = {
            "kind": "Pod",
            "namespace": pod.split("/")[0],
            "name": pod.split("/")[1],
        }
    return out


def slice_obj(
    service: str,
    endpoints: list[dict],
    *,
    namespace: str = "default",
    name: str | None = None,
    ports: list[dict] | None = None,
    address_type: str = "IPv4",
) -> dict:
    """An EndpointSlice for ``service`` (port "http" 8080 by default)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": address_type,
        "metadata": {
            "name": name or f"{service}-abc",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "ports": ports
        if ports is not None
        else [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def pod_obj(
    name: str,
    node: str,
    ip: str,
    *,
    namespace: str = "default",
    app: str = "web",
    owner: str | None = "web-5d4f8c7b9",
    ready: bool = True,
) -> dict:
    """A Pod of Deployment ``web`` (ReplicaSet ``owner``) on ``node``."""
    meta: dict = {
        "name": name,
        "namespace": namespace,
        "labels": {"app": app, "pod-template-hash": "5d4f8c7b9"},
    }
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "podIP": ip,
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
