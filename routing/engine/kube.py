"""The one adapter from Kubernetes objects (kubectl dicts) to an engine ``Snapshot``.

Reads Nodes, Services, EndpointSlices (discovery.k8s.io v1 and v1beta1), v1 Endpoints,
Pods and the ``kube-system/kube-proxy`` ConfigMap. Built once per dump: per-service
indexes are made here so that every later question is per service, never per cluster.
"""

from __future__ import annotations

import gc
import ipaddress
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from routing.engine.errors import EngineError
from routing.engine.families import canonical_ip, family_fields
from routing.engine.kube_pods import PodsWhenRead, derive_endpoints_from_pods, pod_from_object
from routing.engine.kube_proxy_pods import is_kube_proxy_pod, node_settings, proxy_pod_ready
from routing.engine.proxyconf import parse_proxy_config
from routing.engine.snapshot import Snapshot, freeze, services_by_node, sort_endpoints
from routing.engine.types import (
    DEFAULT_VERSION,
    IPVS_SCHEDULERS,
    PROXY_MODES,
    Endpoint,
    FeatureGates,
    Node,
    Pod,
    ProxyConfig,
    Service,
    ServicePort,
    Version,
    make_endpoint,
    parse_version,
)

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
BETA_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# serviceport.go: the deprecated topology-aware-hints annotation wins over topology-mode
# when both are set (present, even empty).
HINTS_ANNOTATION = "service.kubernetes.io/topology-aware-hints"
TOPOLOGY_ANNOTATIONS = (HINTS_ANNOTATION, "service.kubernetes.io/topology-mode")
#: cmd/kube-proxy/app/server.go: kube-proxy's informers select Services and EndpointSlices
#: with ``!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless``.
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"


class SnapshotError(EngineError):
    """A Kubernetes object the engine cannot read (one line naming object and field);
    ``field`` is None for the objects themselves, or the snapshot override at fault."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise SnapshotError(f"{obj.get('kind', 'object')}: metadata is not a mapping")
    return meta


_GO_FALSE = {"0", "f", "F", "false", "False", "FALSE"}
_GO_TRUE = {"1", "t", "T", "true", "True", "TRUE"}


def slice_service_key(obj: Mapping[str, Any]) -> str | None:
    """ "namespace/name" of the Service an EndpointSlice object belongs to (its
    ``kubernetes.io/service-name`` label); None without that label."""
    meta = _meta(obj)
    owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace') or 'default'}/{owner}" if owner else None


def shared_by_every_service(kind: str, namespace: str) -> bool:
    """Whether an object of ``kind`` in ``namespace`` is one every Service's answer reads:
    Nodes, the kube-proxy ConfigMaps and the kube-system Pods (a node's own kube-proxy
    Pod may carry its configuration) -- what a node table is built from."""
    return kind in ("Node", "ConfigMap") or (kind == "Pod" and namespace == "kube-system")


def _excluded_from_lb(labels: Mapping[str, Any]) -> bool:
    """cloud-provider ``nodeIncludedPredicate``: the label excludes unless its value parses
    (Go ``strconv.ParseBool``) as false; an empty or unparsable value excludes."""
    if EXCLUDE_LB_LABEL not in labels:
        return False
    value = str(labels[EXCLUDE_LB_LABEL])
    return value in _GO_TRUE or value not in _GO_FALSE


def _real_version(text: object) -> Version | None:
    """A release string, ignoring placeholders: kubeProxyVersion is deprecated (KEP-4004)
    and reads "" or "v0.0.0" on recent kubelets."""
    version = parse_version(str(text)) if text else None
    return version if version and version >= (1, 0) else None


def node_from_object(obj: Mapping[str, Any]) -> Node:
    """A Node object -> ``Node``."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    labels = meta.get("labels") or {}
    ready = True
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
    by_type: dict[str, list[str]] = defaultdict(list)
    for addr in status.get("addresses") or ():
        by_type[addr.get("type", "")].append(str(addr.get("address", "")))
    info = status.get("nodeInfo") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    delete_taint = any(
        t.get("key") == "ToBeDeletedByClusterAutoscaler" for t in spec.get("taints") or ()
    )
    return Node(
        name=str(meta.get("name", "")),
        # kube-proxy reads only topology.kubernetes.io/zone (topology.go CategorizeEndpoints:
        # topologyLabels[v1.LabelTopologyZone]); the deprecated beta label means no zone.
        zone=str(labels.get(ZONE_LABEL) or ""),
        beta_zone=str(labels.get(BETA_ZONE_LABEL) or ""),
        region=str(labels.get(REGION_LABEL) or ""),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        deleting=bool(meta.get("deletionTimestamp")) or delete_taint,
        delete_taint=delete_taint,
        exclude_from_lb=_excluded_from_lb(labels),
        addresses=tuple(by_type.get("InternalIP", []) + by_type.get("ExternalIP", [])),
        pod_cidrs=tuple(str(c) for c in cidrs),
        version=_real_version(info.get("kubeProxyVersion"))
        or _real_version(info.get("kubeletVersion")),
    )


def service_from_object(obj: Mapping[str, Any]) -> Service:
    """A Service object -> ``Service`` (defaults as the API server fills them)."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    name = f"Service {meta.get('namespace', 'default')}/{meta.get('name', '')}"
    ports = []
    for i, p in enumerate(spec.get("ports") or ()):
        try:
            ports.append(
                ServicePort(
                    name=str(p.get("name") or ""),
                    port=int(p["port"]),
                    protocol=str(p.get("protocol") or "TCP"),
                    target_port=p.get("targetPort"),
                    node_port=int(p.get("nodePort") or 0),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise SnapshotError(
                f"{name}: spec.ports[{i}].port is missing or not a number"
            ) from None
    vip, uncaptured = [], []
    for ing in (status.get("loadBalancer") or {}).get("ingress") or ():
        if ing.get("ip") and ing.get("ipMode") in (None, "", "VIP"):
            vip.append(canonical_ip(str(ing["ip"])))
        else:
            uncaptured.append(str(ing.get("ip") or ing.get("hostname") or ""))
    cips = [
        canonical_ip(str(c))
        for c in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ]
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    external_ips = tuple(canonical_ip(str(i)) for i in spec.get("externalIPs") or ())
    # serviceport.go trims the ranges: validation lets whitespace padding through.
    ranges = tuple(str(r).strip() for r in spec.get("loadBalancerSourceRanges") or ())
    selector = spec.get("selector")
    affinity = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get(
        "timeoutSeconds"
    )
    service_type = str(spec.get("type") or "ClusterIP")
    # One family's view (families.family_view), built in place: no second object per Service.
    view = family_fields(service_type, tuple(cips), external_ips, tuple(vip), ranges)
    return Service(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        type=service_type,
        cluster_ips=view.get("cluster_ips", tuple(cips)),
        ports=tuple(ports),
        external_ips=view.get("external_ips", external_ips),
        lb_ips=view.get("lb_ips", tuple(vip)),
        lb_uncaptured=tuple(uncaptured),
        lb_source_ranges=view.get("lb_source_ranges", ranges),
        family=view.get("family", ""),
        internal_traffic_policy=str(spec.get("internalTrafficPolicy") or "Cluster"),
        external_traffic_policy=str(spec.get("externalTrafficPolicy") or "Cluster"),
        traffic_distribution=spec.get("trafficDistribution") or None,
        topology_annotation=str(
            next((annotations[a] for a in TOPOLOGY_ANNOTATIONS if a in annotations), "")
        ),
        hints_annotation=str(annotations.get(HINTS_ANNOTATION) or ""),
        session_affinity=str(spec.get("sessionAffinity") or "None"),
        affinity_timeout=int(affinity) if affinity else 10800,
        health_check_node_port=int(spec.get("healthCheckNodePort") or 0),
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
        selector=tuple(sorted((str(k), str(v)) for k, v in selector.items()))
        if isinstance(selector, Mapping)
        else None,
        proxy_name=str(labels[PROXY_NAME_LABEL]) if PROXY_NAME_LABEL in labels else None,
        external_name=str(spec.get("externalName") or ""),
        all_external_ips=external_ips,
        all_lb_ips=tuple(vip),
        all_source_ranges=ranges,
    )


_NO_HINTS: frozenset[str] = frozenset()
_EMPTY_MAP: Mapping[str, Any] = {}
_HINT_SETS: dict[tuple[str, ...], frozenset[str]] = {}


def _hint_names(hints: Mapping[str, Any] | None, key: str) -> frozenset[str]:
    """Hint names as a frozenset, interned: a cluster has few distinct hint sets."""
    entries = hints.get(key) if hints else None
    if not entries:
        return _NO_HINTS
    # Names as given, an empty one included: kube-proxy inserts every ``name`` into the
    # endpoint's hint set (endpointslicecache.go), and the API accepts odd values.
    names = tuple(str(h.get("name") or "") for h in entries if isinstance(h, Mapping))
    found = _HINT_SETS.get(names)
    if found is None:
        found = (
            _HINT_SETS.setdefault(names, frozenset(names))
            if len(_HINT_SETS) < 100_000
            else frozenset(names)
        )
    return found


def slice_port_endpoints(
    obj: Mapping[str, Any], family: str | None = None
) -> dict[tuple[str, str], list[Endpoint]]:
    """An EndpointSlice -> (port name, protocol) -> endpoints (endpointslicecache.go
    ``endpointInfoByServicePort`` / ``addEndpoints``); with ``family``, only endpoints
    whose first address is of that family (``addEndpoints`` skips the others)."""
    v1beta1 = str(obj.get("apiVersion", "")).endswith("v1beta1")
    want_v6 = None if family is None else family == "IPv6"
    parsed = []
    for ep in obj.get("endpoints") or ():
        addresses = ep.get("addresses")
        if not addresses:
            continue
        if want_v6 is not None and (":" in str(addresses[0])) != want_v6:
            continue
        cond = ep.get("conditions") or _EMPTY_MAP
        ready = cond.get("ready") is not False
        hints = ep.get("hints")
        topo = ep.get("topology") or _EMPTY_MAP
        ref = ep.get("targetRef")
        ip = str(addresses[0])
        parsed.append(
            (
                # IPv6 has many spellings of one address: one endpoint, as the kernel sees it.
                # (Endpoint IPv4 is left as written: checking 150,000 addresses for leading
                # zeros would cost more than the rest of the slice read.)
                canonical_ip(ip) if ":" in ip else ip,
                ep.get("nodeName") or (topo.get("kubernetes.io/hostname") if v1beta1 else None),
                ep.get("zone") or topo.get(ZONE_LABEL),
                ready,
                # Omitted serving means true whatever ready says (endpointslicecache.go).
                cond.get("serving") is not False,
                cond.get("terminating") is True,
                _hint_names(hints, "forZones"),
                _hint_names(hints, "forNodes"),
                f"{ref.get('namespace', '')}/{ref.get('name', '')}"
                if ref and ref.get("kind") == "Pod"
                else None,
            )
        )
    out: dict[tuple[str, str], list[Endpoint]] = {}
    for port in obj.get("ports") or ():
        # kube-proxy skips ports with a nil name or port (endpointslicecache.go).
        name, number = port.get("name"), port.get("port")
        if name is None or not number:
            continue
        number = int(number)
        # The API defaults an omitted protocol to TCP.
        out.setdefault((str(name), str(port.get("protocol") or "TCP")), []).extend(
            make_endpoint(ip, number, node, zone, ready, serving, term, zh, nh, pod)
            for ip, node, zone, ready, serving, term, zh, nh, pod in parsed
        )
    return out


def slice_endpoints(obj: Mapping[str, Any]) -> dict[str, list[Endpoint]]:
    """An EndpointSlice -> port name -> endpoints, whatever the ports' protocols (see
    ``slice_port_endpoints`` for kube-proxy's (name, protocol) keys)."""
    out: dict[str, list[Endpoint]] = {}
    for (name, _), eps in slice_port_endpoints(obj).items():
        out.setdefault(name, []).extend(eps)
    return out


def _slice_family(obj: Mapping[str, Any]) -> str | None:
    kind = obj.get("addressType")
    return None if kind is None else str(kind)


def service_slice_endpoints(
    svc: Service,
    slices: Iterable[Mapping[str, Any]],
    unserved: list[Endpoint] | None = None,
) -> tuple[dict[str, list[Endpoint]], dict[str, list[Endpoint]]]:
    """One Service's EndpointSlices -> (port name -> endpoints of the Service's primary
    family, the same for its second family when it is dual-stack), as kube-proxy reads them.

    * kube-proxy ignores the Service and its slices when ``svc`` is not proxied, and any
      slice labelled ``service.kubernetes.io/service-proxy-name`` or
      ``service.kubernetes.io/headless`` (its informers' label selector, server.go).
    * Each family's proxier reads only slices of its ``addressType`` and, within them,
      only endpoints of its family (endpointslicecache.go ``addEndpoints``); FQDN slices
      are read by none.
    * A Service port is served by the slice ports with its name *and* protocol
      (``ServicePortName`` keys on both; endpointslicecache.go ``endpointInfoByServicePort``).
      The primary family's endpoints of slice ports no Service port names go to
      ``unserved`` when given: the EndpointsMap keeps them and the health check counts them
      (``Snapshot.unserved_endpoints``).
    """
    if svc.type == "ExternalName" or svc.proxy_name is not None:
        return {}, {}
    if svc.headless:
        # Not kube-proxy's: read whole for what DNS returns (``routing.engine.unproxied``).
        every: dict[str, list[Endpoint]] = defaultdict(list)
        for obj in slices:
            if _slice_family(obj) != "FQDN":
                for port_name, eps in slice_endpoints(obj).items():
                    every[port_name].extend(eps)
        return dict(every), {}
    primary = svc.family or _family(svc.cluster_ips[0])
    second = next((_family(ip) for ip in svc.cluster_ips if _family(ip) != primary), None)
    protocols = {port.name: port.protocol for port in svc.ports}
    out: tuple[dict[str, list[Endpoint]], dict[str, list[Endpoint]]] = (
        defaultdict(list),
        defaultdict(list),
    )
    for obj in slices:
        labels = _meta(obj).get("labels") or _EMPTY_MAP
        if PROXY_NAME_LABEL in labels or HEADLESS_LABEL in labels:
            continue
        kind = _slice_family(obj)
        if kind == "FQDN":
            continue
        if kind is None:
            kind = primary
        if kind not in (primary, second):
            continue
        target = out[0] if kind == primary else out[1]
        for (port_name, protocol), eps in slice_port_endpoints(obj, kind).items():
            if protocols.get(port_name) == protocol:
                target[port_name].extend(eps)
            elif unserved is not None and kind == primary:
                unserved.extend(eps)
    return dict(out[0]), dict(out[1])


def _check_endpoints_object(obj: Mapping[str, Any]) -> None:
    """The importer does not store v1 Endpoints, so their fields are checked here: one
    line naming object and field instead of a traceback further on."""
    meta = _meta(obj)
    name = f"Endpoints {meta.get('namespace') or 'default'}/{meta.get('name', '')}"

    def mappings(value: object, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise SnapshotError(f"{name}: {path} must be a list of mappings")
        return value

    for i, subset in enumerate(mappings(obj.get("subsets"), "subsets")):
        for j, port in enumerate(mappings(subset.get("ports"), f"subsets[{i}].ports")):
            number = port.get("port")
            if type(number) is not int or not 0 < number < 65536:
                raise SnapshotError(
                    f"{name}: subsets[{i}].ports[{j}].port {number!r} is not a port number "
                    "(1-65535)"
                )
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(mappings(subset.get(key), f"subsets[{i}].{key}")):
                try:
                    ipaddress.ip_address(
                        str(addr.get("ip")) if isinstance(addr.get("ip"), str) else ""
                    )
                except ValueError:
                    raise SnapshotError(
                        f"{name}: subsets[{i}].{key}[{j}].ip {addr.get('ip')!r} is not an IP "
                        "address"
                    ) from None
                if not isinstance(addr.get("nodeName"), (str, type(None))):
                    raise SnapshotError(
                        f"{name}: subsets[{i}].{key}[{j}].nodeName must be a string"
                    )
                if not isinstance(addr.get("targetRef"), (Mapping, type(None))):
                    raise SnapshotError(
                        f"{name}: subsets[{i}].{key}[{j}].targetRef must be a mapping"
                    )


def endpoints_object_endpoints(
    obj: Mapping[str, Any], protocols: Mapping[str, str] | None = None
) -> dict[str, list[Endpoint]]:
    """A v1 Endpoints object -> port name -> endpoints (for dumps without slices).
    ``protocols`` (Service port name -> protocol): keep only ports matching name and
    protocol, as kube-proxy keys a ServicePortName."""
    _check_endpoints_object(obj)
    out: dict[str, list[Endpoint]] = {}
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            name = str(port.get("name") or "")
            if protocols is not None and protocols.get(name) != str(port.get("protocol") or "TCP"):
                continue
            eps = out.setdefault(name, [])
            for key, ok in (("addresses", True), ("notReadyAddresses", False)):
                for addr in subset.get(key) or ():
                    ref = addr.get("targetRef") or {}
                    eps.append(
                        Endpoint(
                            ip=canonical_ip(str(addr.get("ip"))),
                            port=int(port.get("port") or 0),
                            node=addr.get("nodeName"),
                            ready=ok,
                            serving=ok,
                            pod=f"{ref.get('namespace', '')}/{ref.get('name', '')}"
                            if ref.get("kind") == "Pod"
                            else None,
                        )
                    )
    return out


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


#: interned per-node configs: (version, base config) -> config.
_ConfigCache = dict[tuple[Version, ProxyConfig], ProxyConfig]


def _node_config(
    base: ProxyConfig, version: Version, gate_overrides: Mapping[str, bool], cache: _ConfigCache
) -> ProxyConfig:
    """Per-node configs are interned: 5,000 nodes usually share one or two."""
    key = (version, base)
    if key not in cache:
        gates = replace(FeatureGates.for_version(version), **gate_overrides)
        cache[key] = replace(base, version=version, gates=gates)
    return cache[key]


def snapshot_from_objects(objects: Iterable[Mapping[str, Any]], **overrides: object) -> Snapshot:
    """See ``_snapshot_from_objects``; runs with the cyclic GC paused, because building
    hundreds of thousands of small immutable objects otherwise triggers collections over
    an ever larger heap (they hold no cycles)."""
    return _adapted(lambda: _snapshot_from_objects(objects, False, None, **overrides))


def snapshot_with_pods_when_read(
    objects: Iterable[Mapping[str, Any]],
    *,
    whole_pod: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    **overrides: object,
) -> Snapshot:
    """:func:`snapshot_from_objects`, with ``Snapshot.pods`` built from the Pod objects when
    first read (``kube_pods.PodsWhenRead``; the caller keeps the objects unchanged
    meanwhile), unless endpoints are derived from the Pods (no EndpointSlices).

    ``whole_pod(obj)``: the whole Pod a Pod object stands for, when the caller holds some
    as no more than their kind (``cluster.dump_json.PodText``: none of them
    in ``kube-system``, so none a kube-proxy Pod); asked only for the Pods read."""
    return _adapted(lambda: _snapshot_from_objects(objects, True, whole_pod, **overrides))


T = TypeVar("T")


def _adapted(build: Callable[[], T]) -> T:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build()
    except SnapshotError:
        raise
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # This adapter reads leniently and trusts the importer's field checks; whatever
        # slips past them (a kind or field the importer does not check) must still be a
        # one-line input error, never a traceback.
        raise SnapshotError(
            f"a field of an object in the dump has an unexpected type or value ({exc})"
        ) from None
    finally:
        if enabled:
            gc.enable()


def _itself(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj


def _pods_from_objects(objects: Iterable[Mapping[str, Any]]) -> dict[str, Pod]:
    return {p.key: p for p in (pod_from_object(o) for o in objects) if p.name}


def _snapshot_from_objects(
    objects: Iterable[Mapping[str, Any]],
    pods_when_read: bool = False,
    whole_pod: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    /,
    **overrides: object,
) -> Snapshot:
    """Build a ``Snapshot`` from Kubernetes object dicts (a flattened kubectl dump).

    ``overrides`` (all optional): ``proxy_mode``, ``ipvs_scheduler``, ``version`` ("1.29"
    or (1, 29), applies to every node), ``feature_gates`` (dict of ``FeatureGates`` field
    -> bool), ``cluster_cidrs``, ``local_detector`` (bool), ``masquerade_all`` (bool),
    ``node_proxy_modes`` (node -> mode, a cluster mid-migration).
    Unknown override names or values raise ``SnapshotError``.
    """
    allowed = {
        "proxy_mode",
        "ipvs_scheduler",
        "version",
        "feature_gates",
        "cluster_cidrs",
        "local_detector",
        "masquerade_all",
        "node_proxy_modes",
    }
    unknown = set(overrides) - allowed
    if unknown:
        raise SnapshotError(f"unknown snapshot override {sorted(unknown)[0]!r}")
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict) and not isinstance(obj, Mapping):  # (dict: in C)
            raise SnapshotError(f"item {i}: not a Kubernetes object (mapping)")
        by_kind[str(obj.get("kind", ""))].append(obj)
    notes: list[str] = []
    nodes = {n.name: n for n in map(node_from_object, by_kind["Node"]) if n.name}
    # The kube-proxy Pods, picked out once (each reader below only reads those; a Pod
    # ``whole_pod`` would make whole is none of them).
    proxy_pods = [pod for pod in by_kind["Pod"] if is_kube_proxy_pod(pod)]
    for name, alive in proxy_pod_ready(proxy_pods).items():
        if name in nodes:
            nodes[name] = replace(nodes[name], proxy_healthy=alive)
    services = {s.key: s for s in map(service_from_object, by_kind["Service"]) if s.name}
    pod_objects = by_kind["Pod"]
    pods: Mapping[str, Pod]
    if pods_when_read and by_kind["EndpointSlice"]:  # (else endpoints may come from Pods)
        read = whole_pod or _itself
        pods = PodsWhenRead(
            lambda: freeze(_adapted(lambda: _pods_from_objects(map(read, pod_objects))))
        )
    else:
        if whole_pod is not None:
            pod_objects = by_kind["Pod"] = list(map(whole_pod, pod_objects))
        pods = freeze(_pods_from_objects(pod_objects))
    raw: dict[str, dict[str, list[Endpoint]]] = defaultdict(lambda: defaultdict(list))
    alt: dict[str, dict[str, list[Endpoint]]] = defaultdict(lambda: defaultdict(list))
    slices_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for obj in by_kind["EndpointSlice"]:
        meta = _meta(obj)
        svc_name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        key = f"{meta.get('namespace') or 'default'}/{svc_name}"
        if svc_name and key in services:
            slices_of[key].append(obj)
    unserved: dict[str, tuple[Endpoint, ...]] = {}
    for key, slices in slices_of.items():
        extra: list[Endpoint] = []
        primary, secondary = service_slice_endpoints(services[key], slices, extra)
        raw[key] = primary
        if extra:
            unserved[key] = tuple(extra)
        if secondary:
            alt[key] = secondary
    if not by_kind["EndpointSlice"] and by_kind["Endpoints"]:
        notes.append("no EndpointSlices in the dump: endpoints read from v1 Endpoints objects")
        for obj in by_kind["Endpoints"]:
            meta = _meta(obj)
            key = f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"
            svc = services.get(key)
            if svc is not None and svc.proxy_name is None and svc.type != "ExternalName":
                protocols = {port.name: port.protocol for port in svc.ports}
                for port_name, eps in endpoints_object_endpoints(obj, protocols).items():
                    raw[key][port_name].extend(eps)
    elif not by_kind["EndpointSlice"] and pods:
        notes.append(
            "no EndpointSlices or Endpoints in the dump: endpoints derived from Pods the way "
            "the EndpointSlice controller would"
        )
        raw = derive_endpoints_from_pods(services, by_kind["Pod"], nodes)
    index = {
        key: freeze({p: sort_endpoints(eps) for p, eps in ports.items()})
        for key, ports in raw.items()
        if ports
    }
    family_index = {
        key: freeze({p: sort_endpoints(eps) for p, eps in ports.items()})
        for key, ports in alt.items()
    }
    base, cm_gates = _base_proxy(by_kind["ConfigMap"], nodes, overrides, notes)
    return Snapshot(
        nodes=freeze(nodes),
        services=freeze(services),
        endpoint_index=freeze(index),
        pods=pods,
        proxy=base,
        node_proxy=freeze(
            _node_proxies(
                base,
                nodes,
                cm_gates,
                overrides,
                node_settings(proxy_pods, by_kind["ConfigMap"]),
                notes,
            )
        ),
        notes=tuple(notes),
        node_services=freeze(services_by_node(index)),
        family_endpoints=freeze(family_index),
        unserved_endpoints=freeze(unserved),
    )


def _conf_fields(
    conf: Mapping[str, Any], overrides: Mapping[str, Any], *, assumed: bool
) -> dict[str, Any]:
    """ProxyConfig fields from parsed ``config.conf`` settings, overrides winning.

    ``assumed``: no configuration was found, so a standard install is assumed (kubeadm,
    kind and the managed offerings set clusterCIDR, so pod traffic is detectable)."""
    mode = str(overrides.get("proxy_mode") or conf.get("mode") or "iptables")
    scheduler = str(overrides.get("ipvs_scheduler") or conf.get("ipvs_scheduler") or "rr")
    if mode not in PROXY_MODES:
        raise SnapshotError(f"proxy mode {mode!r} is not one of {', '.join(PROXY_MODES)}")
    if scheduler not in IPVS_SCHEDULERS:
        raise SnapshotError(
            f"ipvs scheduler {scheduler!r} is not one of {', '.join(IPVS_SCHEDULERS)}"
        )
    cidrs = overrides.get("cluster_cidrs")
    cidrs = (
        tuple(cidrs)
        if cidrs is not None
        else tuple(c for c in str(conf.get("clusterCIDR") or "").split(",") if c)
    )
    detect = str(conf.get("detectLocalMode") or "ClusterCIDR")
    # ClusterCIDR mode without a CIDR gives kube-proxy a no-op detector; the other modes
    # always detect.
    detector = (
        bool(overrides["local_detector"])
        if "local_detector" in overrides
        else (bool(cidrs) or detect != "ClusterCIDR" or assumed)
    )
    return {
        "mode": mode,
        "ipvs_scheduler": scheduler,
        "cluster_cidrs": cidrs,
        "detect_local_mode": detect,
        "detect_local_interface": str(
            conf.get(
                {
                    "BridgeInterface": "bridgeInterface",
                    "InterfaceNamePrefix": "interfaceNamePrefix",
                }.get(detect, ""),
                "",
            )
            or ""
        ),
        "local_detector": detector,
        "masquerade_all": bool(overrides.get("masquerade_all", conf.get("masqueradeAll", False))),
    }


def _base_proxy(
    configmaps: list[Mapping[str, Any]],
    nodes: Mapping[str, Node],
    overrides: Mapping[str, Any],
    notes: list[str],
) -> tuple[ProxyConfig, dict[str, bool]]:
    """The cluster-wide kube-proxy configuration (ConfigMap, then overrides)."""
    conf: dict[str, Any] = {}
    for cm in configmaps:
        meta = _meta(cm)
        if meta.get("namespace") == "kube-system" and meta.get("name") == "kube-proxy":
            text = (cm.get("data") or {}).get("config.conf")
            if text:
                conf = parse_proxy_config(str(text))
    if not conf:
        notes.append(
            "no kube-system/kube-proxy ConfigMap: iptables mode, pod traffic detectable "
            "(cluster CIDR assumed set)"
        )
    version = overrides.get("version")
    if isinstance(version, str):
        parsed = parse_version(version)
        if parsed is None:
            raise SnapshotError(f"version {version!r} is not like 1.29", field="version")
        version = parsed
    gates: dict[str, bool] = dict(conf.get("featureGates") or {})
    gates.update(overrides.get("feature_gates") or {})
    bad = set(gates) - set(FeatureGates.__dataclass_fields__)
    if bad:
        raise SnapshotError(f"unknown feature gate {sorted(bad)[0]!r}")
    base_version: Version = version or _majority_version(nodes) or DEFAULT_VERSION
    base = ProxyConfig(
        **_conf_fields(conf, overrides, assumed=not conf),
        version=base_version,
        gates=replace(FeatureGates.for_version(base_version), **gates),
    )
    return base, gates


def _majority_version(nodes: Mapping[str, Node]) -> Version | None:
    counts: dict[Version, int] = defaultdict(int)
    for node in nodes.values():
        if node.version:
            counts[node.version] += 1
    return max(counts, key=lambda v: (counts[v], v)) if counts else None


def _node_proxies(
    base: ProxyConfig,
    nodes: Mapping[str, Node],
    gates: dict[str, bool],
    overrides: Mapping[str, Any],
    pod_settings: Mapping[str, dict[str, Any]],
    notes: list[str],
) -> dict[str, ProxyConfig]:
    """Nodes whose kube-proxy differs from ``base``: another release, or another
    configuration read from the node's own kube-proxy Pod (a mode migration), or a
    ``node_proxy_modes`` override. A ``version`` override applies to every node."""
    forced = base.version if overrides.get("version") else None
    modes = dict(overrides.get("node_proxy_modes") or {})
    for node, mode in modes.items():
        if node not in nodes:
            raise SnapshotError(f"node_proxy_modes: unknown node {node!r}")
        if mode not in PROXY_MODES:
            raise SnapshotError(
                f"node_proxy_modes: proxy mode {mode!r} is not one of {', '.join(PROXY_MODES)}"
            )
    cache: _ConfigCache = {(base.version, base): base}
    out: dict[str, ProxyConfig] = {}
    for node in nodes.values():
        node_base = base
        if node.name in pod_settings:
            try:
                node_base = replace(
                    base, **_conf_fields(pod_settings[node.name], overrides, assumed=False)
                )
            except SnapshotError as exc:
                notes.append(f"kube-proxy Pod on {node.name} ignored: {exc}")
        if node.name in modes:
            node_base = replace(node_base, mode=modes[node.name])
        config = _node_config(node_base, forced or node.version or base.version, gates, cache)
        if config != base:
            out[node.name] = config
    return out


def objects_summary(snapshot: Snapshot) -> str:
    """One line describing a snapshot (for logs and the CLI)."""
    count = sum(len(eps) for ports in snapshot.endpoint_index.values() for eps in ports.values())
    return json.dumps(
        {"nodes": len(snapshot.nodes), "services": len(snapshot.services), "endpoints": count}
    )
