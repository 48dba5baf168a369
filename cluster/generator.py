"""Synthetic clusters for benchmarks: a kubectl-style List streamed to a file.

Deterministic per seed. Realistic skew: heavy-tailed deployment sizes (a few services own
most pods), uneven zones and node weights, some NotReady / cordoned / zoneless nodes,
Local traffic policies, PreferClose hints and topology-mode Auto, terminating and
not-ready pods, slices split at 100 endpoints like the EndpointSlice controller, and the
kube-proxy ConfigMap. Objects are written one at a time, so memory stays flat in the number
of objects (only a small tuple per pod is kept between passes).

Pure: standard library only.
"""

from __future__ import annotations

import bisect
import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

MAX_PODS_PER_NODE = 110  # the kubelet's default max-pods
SLICE_SIZE = 100  # the EndpointSlice controller's default max endpoints per slice
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
CREATED = "2026-09-01T00:00:00Z"


@dataclass(frozen=True)
class Shape:
    """Requested size of a generated cluster."""

    nodes: int
    services: int
    pods: int
    zones: int = 3
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError (one line) for sizes the generator cannot honour."""
        if self.nodes < 1 or self.services < 0 or self.pods < 0 or not 1 <= self.zones <= 26:
            raise ValueError("need nodes >= 1, services >= 0, pods >= 0 and 1 <= zones <= 26")
        if self.pods > self.nodes * MAX_PODS_PER_NODE:
            raise ValueError(
                f"{self.pods} pods do not fit on {self.nodes} nodes"
                f" of {MAX_PODS_PER_NODE} pods each"
            )
        if self.pods and not self.services:
            raise ValueError("pods need at least one service (every pod belongs to a deployment)")


@dataclass(frozen=True, slots=True)
class _Pod:
    name: str
    node: int
    host: int  # index inside the node's pod CIDR
    state: str  # ready | starting | terminating


@dataclass
class _Node:
    name: str
    zone: str
    ready: bool
    cordoned: bool
    ip: str


def _sizes(rng: random.Random, services: int, pods: int) -> list[int]:
    """Split ``pods`` over ``services`` with a heavy (Pareto) tail, summing exactly."""
    if not services:
        return []
    weights = [rng.paretovariate(1.1) for _ in range(services)]
    total = sum(weights)
    raw = [w * pods / total for w in weights]
    sizes = [int(x) for x in raw]
    order = sorted(range(services), key=lambda i: raw[i] - sizes[i], reverse=True)
    for i in order[: pods - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _nodes(rng: random.Random, shape: Shape) -> list[_Node]:
    letters = string.ascii_lowercase[: shape.zones]
    zone_weights = [1.0 / (1 + 0.35 * i) for i in range(shape.zones)]
    out = []
    for i in range(shape.nodes):
        roll = rng.random()
        zone = "" if roll < 0.005 else f"region-1{rng.choices(letters, zone_weights)[0]}"
        out.append(
            _Node(
                name=f"node-{i:05d}",
                zone=zone,
                ready=not (0.005 <= roll < 0.015),
                cordoned=0.015 <= roll < 0.02,
                ip=f"10.128.{i // 250}.{i % 250 + 1}",
            )
        )
    return out


def _place(rng: random.Random, nodes: list[_Node], sizes: list[int]) -> list[list[_Pod]]:
    """Place every deployment's pods on nodes with uneven weights and a per-node cap."""
    weights = [rng.lognormvariate(0, 0.8) * (0 if n.cordoned else 1) for n in nodes]
    if not any(weights):
        weights = [1.0] * len(nodes)
    cumulative, running = [], 0.0
    for w in weights:
        running += w
        cumulative.append(running)
    used = [0] * len(nodes)
    free = [i for i in range(len(nodes))]  # fallback scan order when draws keep hitting full nodes
    placed: list[list[_Pod]] = []
    for service, size in enumerate(sizes):
        pods = []
        for k in range(size):
            node = _draw(rng, cumulative, used)
            if node is None:
                while used[free[-1]] >= MAX_PODS_PER_NODE:
                    free.pop()
                node = free[-1]
            used[node] += 1
            roll = rng.random()
            state = "terminating" if roll < 0.02 else "starting" if roll < 0.05 else "ready"
            if not nodes[node].ready:
                state = "starting"  # the node controller marks its pods not ready
            pods.append(_Pod(f"svc-{service:05d}-{_hash(service, k)}", node, used[node] + 1, state))
        placed.append(pods)
    return placed


def _draw(rng: random.Random, cumulative: list[float], used: list[int]) -> int | None:
    total = cumulative[-1]
    for _ in range(8):
        node = min(bisect.bisect_left(cumulative, rng.random() * total), len(cumulative) - 1)
        if used[node] < MAX_PODS_PER_NODE:
            return node
    return None


def _hash(a: int, b: int) -> str:
    """Five kube-style random-looking characters, distinct for every ``b`` below 27**5."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    value = (b * 7919 + a * 31) % len(alphabet) ** 5  # 7919 is prime to 27: a bijection in b
    out = ""
    for _ in range(5):
        value, digit = divmod(value, len(alphabet))
        out += alphabet[digit]
    return out


def _node_obj(index: int, n: _Node) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux"}
    if n.zone:
        labels["topology.kubernetes.io/zone"] = n.zone
        labels["topology.kubernetes.io/region"] = "region-1"
    spec: dict[str, Any] = {
        "podCIDR": f"10.{index // 256}.{index % 256}.0/24",
        "podCIDRs": [f"10.{index // 256}.{index % 256}.0/24"],
    }
    if n.cordoned:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": n.name, "labels": labels, "creationTimestamp": CREATED},
        "spec": spec,
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": n.ip},
                {"type": "Hostname", "address": n.name},
            ],
            "conditions": [{"type": "Ready", "status": "True" if n.ready else "Unknown"}],
            "nodeInfo": {"kubeletVersion": "v1.33.4", "kubeProxyVersion": "v1.33.4"},
        },
    }


def _pod_ip(p: _Pod) -> str:
    return f"10.{p.node // 256}.{p.node % 256}.{p.host}"


@dataclass(frozen=True)
class _ServiceTraits:
    type: str
    itp: str
    etp: str
    distribution: str
    auto: bool
    affinity: bool
    headless: bool


def _traits(rng: random.Random) -> _ServiceTraits:
    roll = rng.random()
    kind = "LoadBalancer" if roll < 0.08 else "NodePort" if roll < 0.2 else "ClusterIP"
    external = kind != "ClusterIP"
    hints = rng.random()
    return _ServiceTraits(
        type=kind,
        itp="Local" if rng.random() < 0.05 else "Cluster",
        etp=("Local" if rng.random() < 0.3 else "Cluster") if external else "",
        distribution="PreferClose" if hints < 0.1 else "",
        auto=0.1 <= hints < 0.15,
        affinity=rng.random() < 0.05,
        headless=not external and rng.random() < 0.03,
    )


def _service_obj(i: int, namespace: str, t: _ServiceTraits) -> dict[str, Any]:
    ip = "None" if t.headless else f"10.96.{i // 250}.{i % 250 + 1}"
    port: dict[str, Any] = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
    spec: dict[str, Any] = {
        "type": t.type,
        "clusterIP": ip,
        "clusterIPs": [ip],
        "ports": [port],
        "selector": {"app": f"svc-{i:05d}"},
        "internalTrafficPolicy": t.itp,
        "sessionAffinity": "ClientIP" if t.affinity else "None",
    }
    if t.type != "ClusterIP":
        port["nodePort"] = 30000 + i % 2767
        spec["externalTrafficPolicy"] = t.etp
        if t.etp == "Local" and t.type == "LoadBalancer":
            spec["healthCheckNodePort"] = 30000 + (i + 1000) % 2767
    if t.distribution:
        spec["trafficDistribution"] = t.distribution
    meta: dict[str, Any] = {
        "name": f"svc-{i:05d}",
        "namespace": namespace,
        "creationTimestamp": CREATED,
    }
    if t.auto:
        meta["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    status: dict[str, Any] = {"loadBalancer": {}}
    if t.type == "LoadBalancer":
        status["loadBalancer"] = {"ingress": [{"ip": f"198.18.{i // 250}.{i % 250 + 1}"}]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec, "status": status}


def _slices(
    i: int, namespace: str, t: _ServiceTraits, pods: list[_Pod], nodes: list[_Node]
) -> Iterator[dict]:
    hinted = bool(t.distribution or t.auto) and all(nodes[p.node].zone for p in pods)
    for part, start in enumerate(range(0, len(pods), SLICE_SIZE)):
        endpoints = []
        for p in pods[start : start + SLICE_SIZE]:
            ready = p.state == "ready"
            serving = p.state != "starting"
            entry: dict[str, Any] = {
                "addresses": [_pod_ip(p)],
                "conditions": {
                    "ready": ready,
                    "serving": serving,
                    "terminating": p.state == "terminating",
                },
                "nodeName": nodes[p.node].name,
                "targetRef": {"kind": "Pod", "name": p.name, "namespace": namespace},
            }
            if nodes[p.node].zone:
                entry["zone"] = nodes[p.node].zone
                if hinted and ready:
                    entry["hints"] = {"forZones": [{"name": nodes[p.node].zone}]}
            endpoints.append(entry)
        yield {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": f"svc-{i:05d}-{_hash(i, part + 7)}",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": f"svc-{i:05d}",
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }


def _pod_obj(service: int, namespace: str, p: _Pod, nodes: list[_Node]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": p.name,
        "namespace": namespace,
        "labels": {"app": f"svc-{service:05d}"},
        "creationTimestamp": CREATED,
    }
    if p.state == "terminating":
        meta["deletionTimestamp"] = "2026-09-01T00:10:00Z"
    ready = p.state != "starting"
    ip = _pod_ip(p)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": nodes[p.node].name, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {
            "phase": "Running",
            "hostIP": nodes[p.node].ip,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _configmap() -> dict[str, Any]:
    conf = (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
        "mode: iptables\nclusterCIDR: 10.0.0.0/9\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": conf},
    }


def generate_cluster(*, shape: Shape, out: IO[str]) -> dict[str, int]:
    """Write a synthetic cluster of ``shape`` to ``out`` as a kubectl List; return counts."""
    shape.check()
    rng = random.Random(shape.seed)
    nodes = _nodes(rng, shape)
    sizes = _sizes(rng, shape.services, shape.pods)
    placed = _place(rng, nodes, sizes)
    traits = [_traits(rng) for _ in range(shape.services)]
    namespaces = [
        f"team-{rng.randrange(max(1, shape.services // 20)):03d}" for _ in range(shape.services)
    ]
    counts = {"Node": 0, "Service": 0, "EndpointSlice": 0, "Pod": 0, "ConfigMap": 0}
    out.write('{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[\n')
    first = True

    def emit(obj: dict[str, Any]) -> None:
        nonlocal first
        out.write(_dumps(obj) if first else ",\n" + _dumps(obj))
        first = False
        counts[obj["kind"]] += 1

    for i, n in enumerate(nodes):
        emit(_node_obj(i, n))
    for i, t in enumerate(traits):
        emit(_service_obj(i, namespaces[i], t))
    for i, t in enumerate(traits):
        for piece in _slices(i, namespaces[i], t, placed[i], nodes):
            emit(piece)
    for i, pods in enumerate(placed):
        for p in pods:
            emit(_pod_obj(i, namespaces[i], p, nodes))
    emit(_configmap())
    out.write("\n]}\n")
    return counts
