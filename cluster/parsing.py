"""Kubernetes object dicts -> the indexed field values of ``cluster.models`` rows.

Pure (no Django). Each ``parse_*`` function returns a plain dict of model field values
(``raw`` included) or raises :class:`cluster.fields.ObjectError` naming object and field.
Kubernetes defaults that kube-proxy applies to omitted fields are applied here once.
"""

from __future__ import annotations

from typing import Any

from cluster.bounds import DEFAULT_LIMITS, Limits, check_value, quote
from cluster.fast_checks import identity_checks_out
from cluster.fields import ObjectError, Reader, type_name
from cluster.k8s_names import (
    ANNOTATIONS_MAX_BYTES,
    NAME_RULES,
    check_dns1123_label,
    check_label_value,
    check_port_name,
    check_qualified_name,
)
from cluster.kube_dump import load_yaml
from cluster.redact import pod_redacted

# The Kubernetes vocabularies are defined once, in the pure engine.
from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES
from routing.engine.types import SESSION_AFFINITIES as AFFINITIES
from routing.engine.types import TRAFFIC_POLICIES as POLICIES

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
#: kube-proxy's default ClientIP affinity timeout (seconds), from the API defaults.
DEFAULT_AFFINITY_TIMEOUT = 10800
#: The largest timeout the API server accepts (validation's MaxClientIPServiceAffinitySeconds).
MAX_AFFINITY_TIMEOUT = 86400
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: Node annotations that give one node a kube-proxy setting unlike the cluster's.
NODE_MODE_ANNOTATION = "routescope.io/kube-proxy-mode"
NODE_SCHEDULER_ANNOTATION = "routescope.io/ipvs-scheduler"


def identify(obj: dict[str, Any], *, index: int, namespaced: bool) -> tuple[str, str, Reader]:
    """Return ``(namespace, name, reader)``; namespaced objects without one get "default".

    Names, the namespace, label keys and values and annotation keys are held to the API
    server's rules (see ``cluster.k8s_names``): a Service named ``a/b`` is refused here,
    as ``kubectl apply`` would refuse it.
    """
    known = identity_checks_out(obj, namespaced=namespaced)  # the common case, in one C pass
    if known is None:
        return identify_exactly(obj, index=index, namespaced=namespaced)
    namespace, name = known
    return namespace, name, Reader(f"{obj['kind']} {namespace + '/' if namespace else ''}{name}")


def identify_exactly(
    obj: dict[str, Any], *, index: int, namespaced: bool
) -> tuple[str, str, Reader]:
    """``identify`` field by field: the one wording of every refusal."""
    kind = obj["kind"]
    anonymous = Reader(f"{kind} (object {index + 1})")
    meta = anonymous.mapping(obj, "metadata", path="metadata", required=True)
    name = anonymous.get(meta, "name", str, path="metadata.name", required=True)
    if not name.strip():  # an empty name could never be looked up, linked or exported back
        raise anonymous.fail("metadata.name is empty")
    rule = NAME_RULES.get(kind)
    problem = rule[0](name) if rule else None
    if problem:
        raise anonymous.fail(f"metadata.name {quote(name)} is not a valid {kind} name: {problem}")
    namespace = ""
    if namespaced:
        namespace = anonymous.get(meta, "namespace", str, path="metadata.namespace") or "default"
        problem = check_dns1123_label(namespace)
        if problem:
            raise anonymous.fail(f"metadata.namespace {quote(namespace)} {problem}")
    reader = Reader(f"{kind} {namespace + '/' if namespace else ''}{name}")
    check_labels(reader, meta.get("labels"), path="metadata.labels")
    _check_annotations(reader, meta.get("annotations"))
    return namespace, name, reader


def check_labels(r: Reader, labels: Any, *, path: str) -> None:
    """Label keys and values (or a selector's) as ``ValidateLabels`` upstream checks them;
    values that are not strings are left to ``Reader.string_map`` to report."""
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        problem = check_qualified_name(key) if isinstance(key, str) else "must be a string"
        if problem:
            raise r.fail(f"{path} key {quote(key)} {problem}")
        if isinstance(value, str):
            problem = check_label_value(value)
            if problem:
                raise r.fail(f"{path}.{key} value {quote(value)} {problem}")


def _check_annotations(r: Reader, annotations: Any) -> None:
    if not isinstance(annotations, dict):
        return
    size = 0
    for key, value in annotations.items():
        problem = check_qualified_name(key.lower()) if isinstance(key, str) else "must be a string"
        if problem:
            raise r.fail(f"metadata.annotations key {quote(key)} {problem}")
        size += len(key) + (len(value) if isinstance(value, str) else 0)
    if size > ANNOTATIONS_MAX_BYTES:
        raise r.fail(
            f"metadata.annotations total {size:,} characters, more than the API"
            f" server's {ANNOTATIONS_MAX_BYTES:,}"
        )


def _first_label(labels: dict[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        if labels.get(key):
            return labels[key]
    return ""


def _mappings(r: Reader, data: dict, key: str, *, path: str) -> list[dict[str, Any]]:
    """A list field whose items must be mappings (the engine reads their keys)."""
    value = r.items(data, key, path=path)
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise r.fail(f"{path}[{index}] must be a mapping, got {type_name(item)}")
    return value


def _condition(r: Reader, status: dict, kind: str, *, default: bool) -> bool:
    for index, condition in enumerate(r.items(status, "conditions", path="status.conditions")):
        path = f"status.conditions[{index}]"
        if not isinstance(condition, dict):
            raise r.fail(f"{path} must be a mapping")
        if r.get(condition, "type", str, path=f"{path}.type") == kind:
            return r.get(condition, "status", str, path=f"{path}.status") == "True"
    return default


def parse_node(obj: dict[str, Any], r: Reader, name: str) -> dict[str, Any]:
    """Field values of a ``Node`` row."""
    meta, spec = obj["metadata"], r.mapping(obj, "spec", path="spec")
    status = r.mapping(obj, "status", path="status")
    labels = r.string_map(meta, "labels", path="metadata.labels")
    r.string_map(meta, "annotations", path="metadata.annotations")
    addresses, internal = [], []
    for index, entry in enumerate(r.items(status, "addresses", path="status.addresses")):
        path = f"status.addresses[{index}]"
        kind = r.get(entry, "type", str, path=f"{path}.type", required=True)
        address = r.get(entry, "address", str, path=f"{path}.address", default="")
        if kind in ("InternalIP", "ExternalIP") and address:
            r.ip(address, path=f"{path}.address")
        if kind == "InternalIP" and address:
            internal.append(address)
        addresses.append({"type": kind, "address": address})
    cidrs = r.strings(spec, "podCIDRs", path="spec.podCIDRs")
    single = r.get(spec, "podCIDR", str, path="spec.podCIDR", default="")
    cidrs = cidrs or ([single] if single else [])
    for index, cidr in enumerate(cidrs):
        r.cidr(cidr, path=f"spec.podCIDRs[{index}]")
    info = r.mapping(status, "nodeInfo", path="status.nodeInfo")
    return {
        "name": name,
        "uid": r.get(meta, "uid", str, path="metadata.uid", default=""),
        "zone": _first_label(labels, ZONE_LABELS),
        "region": _first_label(labels, REGION_LABELS),
        "labels": labels,
        "taints": _mappings(r, spec, "taints", path="spec.taints"),
        "ready": _condition(r, status, "Ready", default=True),
        "unschedulable": r.get(
            spec, "unschedulable", bool, path="spec.unschedulable", default=False
        ),
        "addresses": addresses,
        "internal_ips": internal,
        "pod_cidrs": cidrs,
        "kubelet_version": r.get(
            info, "kubeletVersion", str, path="status.nodeInfo.kubeletVersion", default=""
        ),
        "kube_proxy_version": r.get(
            info, "kubeProxyVersion", str, path="status.nodeInfo.kubeProxyVersion", default=""
        ),
        "raw": obj,
    }


def node_overrides(obj: dict[str, Any], r: Reader) -> dict[str, str]:
    """The kube-proxy settings a node's annotations override (see NODE_*_ANNOTATION)."""
    annotations = obj["metadata"].get("annotations") or {}
    override = {}
    mode = annotations.get(NODE_MODE_ANNOTATION)
    if mode:
        if mode not in PROXY_MODES:
            raise r.fail(
                f"metadata.annotations.{NODE_MODE_ANNOTATION} {mode!r} is not one of"
                f" {', '.join(PROXY_MODES)}"
            )
        override["mode"] = mode
    if annotations.get(NODE_SCHEDULER_ANNOTATION):
        override["ipvsScheduler"] = annotations[NODE_SCHEDULER_ANNOTATION]
    return override


def check_port_names(r: Reader, names: list[str | None], *, path: str, required: bool) -> None:
    """Port names as the API server holds them: each a DNS-1123 label when set, none
    repeated, and (``required``) each set. Upstream: ``pkg/apis/core/validation``
    ``ValidateService`` / ``validateServicePort`` (a name is required when a Service has
    more than one port; ``allPortNames`` refuses a duplicate) and ``pkg/apis/discovery/
    validation`` ``validateEndpointPorts`` (an EndpointSlice port name, optional, is a
    DNS-1123 label, unique within the slice)."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            if required:
                raise r.fail(
                    f"missing {path}[{index}].name (required when there is more than one port)"
                )
            continue
        problem = check_dns1123_label(name)
        if problem:
            raise r.fail(f"{path}[{index}].name {quote(name)} {problem}")
        if name in seen:
            raise r.fail(
                f"{path}[{index}].name {quote(name)} repeats {path}[{seen[name]}].name"
                " (port names must be unique)"
            )
        seen[name] = index


def _service_ports(r: Reader, spec: dict) -> list[dict[str, Any]]:
    ports = r.items(spec, "ports", path="spec.ports")
    names: list[str | None] = []
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        if not isinstance(port, dict):
            raise r.fail(f"{path} must be a mapping")
        names.append(r.get(port, "name", str, path=f"{path}.name"))
        r.port(port, "port", path=f"{path}.port", required=True)
        r.choice(port, "protocol", PROTOCOLS, path=f"{path}.protocol")
        r.port(port, "nodePort", path=f"{path}.nodePort")
        target = port.get("targetPort")
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, str))):
            raise r.fail(f"{path}.targetPort must be an integer or a string")
        if isinstance(target, int) and not 0 <= target < 65536:  # 0: unset, the API defaults it
            raise r.fail(f"{path}.targetPort {target} is not a port number (1-65535)")
        problem = check_port_name(target) if isinstance(target, str) else None
        if problem:  # validateServicePort upstream: a named targetPort is an IANA_SVC_NAME
            raise r.fail(f"{path}.targetPort {quote(target)} {problem}")
    check_port_names(r, names, path="spec.ports", required=len(ports) > 1)
    return ports


def _cluster_ips(r: Reader, spec: dict) -> list[str]:
    ips = r.strings(spec, "clusterIPs", path="spec.clusterIPs")
    single = r.get(spec, "clusterIP", str, path="spec.clusterIP", default="")
    ips = ips or ([single] if single else [])
    for index, ip in enumerate(ips):
        if ip != "None":  # "None" marks a headless Service
            r.ip(ip, path=f"spec.clusterIPs[{index}]")
    return ips


def parse_service(obj: dict[str, Any], r: Reader, namespace: str, name: str) -> dict[str, Any]:
    """Field values of a ``Service`` row."""
    meta = obj["metadata"]
    spec = r.mapping(obj, "spec", path="spec", required=True)
    status = r.mapping(obj, "status", path="status")
    annotations = r.string_map(meta, "annotations", path="metadata.annotations")
    service_type = r.choice(spec, "type", SERVICE_TYPES, path="spec.type") or "ClusterIP"
    affinity = r.choice(spec, "sessionAffinity", AFFINITIES, path="spec.sessionAffinity") or "None"
    config = r.mapping(spec, "sessionAffinityConfig", path="spec.sessionAffinityConfig")
    timeout = r.get(
        r.mapping(config, "clientIP", path="spec.sessionAffinityConfig.clientIP"),
        "timeoutSeconds",
        int,
        path="spec.sessionAffinityConfig.clientIP.timeoutSeconds",
    )
    if timeout is not None and not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
        # The API server's own bound; beyond it the value would not fit the column either.
        raise r.fail(
            f"spec.sessionAffinityConfig.clientIP.timeoutSeconds {timeout} is not"
            f" within 1-{MAX_AFFINITY_TIMEOUT}"
        )
    if affinity == "ClientIP" and timeout is None:
        timeout = DEFAULT_AFFINITY_TIMEOUT
    external_ips = r.strings(spec, "externalIPs", path="spec.externalIPs")
    for index, ip in enumerate(external_ips):
        r.ip(ip, path=f"spec.externalIPs[{index}]")
    load_balancer = r.mapping(status, "loadBalancer", path="status.loadBalancer")
    ingress = _mappings(r, load_balancer, "ingress", path="status.loadBalancer.ingress")
    for index, entry in enumerate(ingress):
        ip = r.get(entry, "ip", str, path=f"status.loadBalancer.ingress[{index}].ip")
        if ip:
            r.ip(ip, path=f"status.loadBalancer.ingress[{index}].ip")
    selector = spec.get("selector")
    if selector is not None:
        selector = r.string_map(spec, "selector", path="spec.selector")
        check_labels(r, selector, path="spec.selector")
    return {
        "namespace": namespace,
        "name": name,
        "uid": r.get(meta, "uid", str, path="metadata.uid", default=""),
        "type": service_type,
        "cluster_ips": (ips := _cluster_ips(r, spec)),
        "cluster_ip": ips[0] if ips else "",
        "ip_families": r.strings(spec, "ipFamilies", path="spec.ipFamilies"),
        "ip_family_policy": r.get(
            spec, "ipFamilyPolicy", str, path="spec.ipFamilyPolicy", default=""
        ),
        "ports": _service_ports(r, spec),
        "selector": selector,
        "internal_traffic_policy": r.choice(
            spec, "internalTrafficPolicy", POLICIES, path="spec.internalTrafficPolicy"
        ),
        "external_traffic_policy": r.choice(
            spec, "externalTrafficPolicy", POLICIES, path="spec.externalTrafficPolicy"
        ),
        "traffic_distribution": r.get(
            spec, "trafficDistribution", str, path="spec.trafficDistribution", default=""
        ),
        "topology_mode": annotations.get("service.kubernetes.io/topology-mode")
        or annotations.get("service.kubernetes.io/topology-aware-hints", ""),
        "session_affinity": affinity,
        "session_affinity_timeout": timeout,
        "health_check_node_port": r.port(
            spec, "healthCheckNodePort", path="spec.healthCheckNodePort"
        ),
        "external_ips": external_ips,
        "load_balancer_ingress": ingress,
        "load_balancer_source_ranges": r.strings(
            spec, "loadBalancerSourceRanges", path="spec.loadBalancerSourceRanges"
        ),
        "external_name": r.get(spec, "externalName", str, path="spec.externalName", default=""),
        "publish_not_ready_addresses": r.get(
            spec,
            "publishNotReadyAddresses",
            bool,
            path="spec.publishNotReadyAddresses",
            default=False,
        ),
        "labels": r.string_map(meta, "labels", path="metadata.labels"),
        "annotations": annotations,
        "raw": obj,
    }


def parse_pod(obj: dict[str, Any], r: Reader, namespace: str, name: str) -> dict[str, Any]:
    """Field values of a ``Pod`` row (``node`` is linked by the importer)."""
    meta = obj["metadata"]
    spec = r.mapping(obj, "spec", path="spec")
    status = r.mapping(obj, "status", path="status")
    pod_ips = []
    for index, entry in enumerate(r.items(status, "podIPs", path="status.podIPs")):
        ip = r.get(entry, "ip", str, path=f"status.podIPs[{index}].ip", required=True)
        pod_ips.append(r.ip(ip, path=f"status.podIPs[{index}].ip"))
    pod_ip = r.get(status, "podIP", str, path="status.podIP", default="")
    if pod_ip:
        r.ip(pod_ip, path="status.podIP")
    _pod_parts(r, meta, spec)
    return {
        "namespace": namespace,
        "name": name,
        "uid": r.get(meta, "uid", str, path="metadata.uid", default=""),
        "node_name": r.get(spec, "nodeName", str, path="spec.nodeName", default=""),
        "pod_ip": pod_ip or (pod_ips[0] if pod_ips else ""),
        "pod_ips": pod_ips or ([pod_ip] if pod_ip else []),
        "host_network": r.get(spec, "hostNetwork", bool, path="spec.hostNetwork", default=False),
        "labels": r.string_map(meta, "labels", path="metadata.labels"),
        "phase": r.get(status, "phase", str, path="status.phase", default=""),
        "ready": _condition(r, status, "Ready", default=False),
        "terminating": bool(meta.get("deletionTimestamp")),
        "raw": pod_redacted(obj),  # no literal env values: import and sync both come here
    }


def _pod_parts(r: Reader, meta: dict, spec: dict) -> None:
    """Check the Pod fields the engine reads but no column stores: owners (the what-if's
    deployments), named container ports (targetPort), a kube-proxy Pod's flags and mounts."""
    for index, ref in enumerate(
        _mappings(r, meta, "ownerReferences", path="metadata.ownerReferences")
    ):
        r.get(ref, "kind", str, path=f"metadata.ownerReferences[{index}].kind")
        r.get(ref, "name", str, path=f"metadata.ownerReferences[{index}].name")
    for index, volume in enumerate(_mappings(r, spec, "volumes", path="spec.volumes")):
        path = f"spec.volumes[{index}]"
        r.get(volume, "name", str, path=f"{path}.name")
        source = r.mapping(volume, "configMap", path=f"{path}.configMap")
        r.get(source, "name", str, path=f"{path}.configMap.name")
        for number, item in enumerate(
            _mappings(r, source, "items", path=f"{path}.configMap.items")
        ):
            r.get(item, "key", str, path=f"{path}.configMap.items[{number}].key")
            r.get(item, "path", str, path=f"{path}.configMap.items[{number}].path")
    for index, container in enumerate(_mappings(r, spec, "containers", path="spec.containers")):
        path = f"spec.containers[{index}]"
        for number, port in enumerate(_mappings(r, container, "ports", path=f"{path}.ports")):
            port_name = r.get(port, "name", str, path=f"{path}.ports[{number}].name")
            problem = check_port_name(port_name) if port_name else None
            if problem:  # validateContainerPorts upstream
                raise r.fail(f"{path}.ports[{number}].name {quote(port_name)} {problem}")
            r.port(port, "containerPort", path=f"{path}.ports[{number}].containerPort")
        r.strings(container, "command", path=f"{path}.command")
        r.strings(container, "args", path=f"{path}.args")
        for number, mount in enumerate(
            _mappings(r, container, "volumeMounts", path=f"{path}.volumeMounts")
        ):
            r.get(mount, "name", str, path=f"{path}.volumeMounts[{number}].name")
            r.get(mount, "mountPath", str, path=f"{path}.volumeMounts[{number}].mountPath")


def parse_kube_proxy_config(
    obj: dict[str, Any], r: Reader, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Field values of the ``KubeProxyConfig`` row from the kube-system/kube-proxy ConfigMap.

    kube-proxy's own defaults fill what ``config.conf`` leaves out: an empty ``mode`` is
    iptables, an empty ``ipvs.scheduler`` is rr. ``config.conf`` is read within
    ``limits`` as the dump itself is: YAML aliases are refused, never expanded.
    """
    data = r.string_map(obj, "data", path="data")
    text = data.get("config.conf", "")
    import yaml  # here, not at the top: a dump without kube-proxy's ConfigMap needs no YAML

    try:
        config = load_yaml(text, limits=limits) if text else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise r.fail(f"data.config.conf is not valid YAML{where}") from None
    except RecursionError:
        raise r.fail(f"data.config.conf nests more than {limits.max_depth} levels deep") from None
    found = check_value(config, limits, [limits.max_values])
    if found is not None:
        path, problem = found
        raise r.fail(f"data.config.conf {path + ' ' if path else ''}{problem}")
    if not isinstance(config, dict):
        raise r.fail("data.config.conf must be a KubeProxyConfiguration mapping")
    mode = r.choice(config, "mode", PROXY_MODES, path="data.config.conf mode") or "iptables"
    ipvs = r.mapping(config, "ipvs", path="data.config.conf ipvs")
    scheduler = r.get(ipvs, "scheduler", str, path="data.config.conf ipvs.scheduler") or "rr"
    if scheduler not in IPVS_SCHEDULERS:  # kube-proxy's own validation refuses to start
        raise r.fail(
            f"data.config.conf ipvs.scheduler {scheduler!r}"
            f" is not one of {', '.join(IPVS_SCHEDULERS)}"
        )
    cluster_cidr = r.get(config, "clusterCIDR", str, path="data.config.conf clusterCIDR") or ""
    for part in filter(None, (p.strip() for p in cluster_cidr.split(","))):
        r.cidr(part, path="data.config.conf clusterCIDR")
    return {
        "mode": mode,
        "ipvs_scheduler": scheduler,
        "cluster_cidr": cluster_cidr,
        "detect_local_mode": r.get(
            config, "detectLocalMode", str, path="data.config.conf detectLocalMode", default=""
        ),
        "masquerade_all": r.get(
            config, "masqueradeAll", bool, path="data.config.conf masqueradeAll", default=False
        ),
        "config": _jsonable(config),
        "raw": obj,
    }


def _jsonable(value: Any) -> Any:
    """YAML may yield dates or sets inside config.conf; store them as JSON can."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


__all__ = [
    "ObjectError",
    "identify",
    "node_overrides",
    "parse_kube_proxy_config",
    "parse_node",
    "parse_pod",
    "parse_service",
]
