"""The importer's checks of the hot kinds in one C pass: msgspec shapes of Pod, Service and
EndpointSlice.

Pure (no Django). A large dump is almost all Pods, Services and EndpointSlices, and walking
them field by field through :class:`cluster.fields.Reader` is most of what checking a dump
costs. Each ``*_checks_out`` here converts an object (or decodes its JSON text, the
``*_text_checks_out``) to a :mod:`msgspec` Struct that spells out, as types and
constraints, everything ``cluster.parsing.parse_pod`` / ``parse_service`` /
``cluster.slice_parsing.parse_slice`` (and ``identify``, for the ``named_*``) hold the
object to. It answers True only for an object those parsers accept (the conversion is done
in C and the result thrown away); on anything else, or anything it does not model (an IPv6
address, a long port list...), it answers False and the caller runs the parser, whose
``ObjectError`` is then the only wording a user ever sees. The shapes may refuse more than
the parsers (a malformed condition after the Ready one, say): that only costs the slow
path, never a message.

``tests/test_fast_checks.py`` holds both to the same verdicts over generated objects with
single- and two-field corruptions.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import Meta, field

from cluster.fields import _OCTET
from cluster.k8s_names import ANNOTATIONS_MAX_BYTES, check_dns1123_label

_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
#: A dotted-quad IPv4 address, as ``Reader.ip``'s fast regex takes it (others: slow path).
IPv4 = Annotated[str, Meta(pattern=rf"\A{_IPV4}\Z")]
#: "" or an IPv4 address (a Pod's ``status.podIP``: empty means unset).
IPv4OrEmpty = Annotated[str, Meta(pattern=rf"\A(?:{_IPV4})?\Z")]
Port = Annotated[int, Meta(ge=1, le=65535)]
#: IsValidPortName (``cluster.k8s_names.check_port_name``), or "" (unset).
_PORT_NAME = r"(?=[-a-z0-9]{1,15}\Z)(?=.*[a-z])(?!.*--)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
PortName = Annotated[str, Meta(pattern=rf"\A(?:{_PORT_NAME})?\Z")]
Protocol = Literal["TCP", "UDP", "SCTP", ""]
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
#: IsDNS1123Label, or "" (a namespace left out is "default").
Namespace = Annotated[str, Meta(max_length=63, pattern=rf"\A(?:{_LABEL})?\Z")]
Subdomain = Annotated[str, Meta(max_length=253, pattern=rf"\A{_SUBDOMAIN}\Z")]
Dns1035 = Annotated[str, Meta(max_length=63, pattern=r"\A[a-z](?:[-a-z0-9]*[a-z0-9])?\Z")]
_NAME_PART = r"(?=[^/]{1,63}\Z)(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z"
#: IsQualifiedName: a label key.
LabelKey = Annotated[str, Meta(pattern=rf"\A(?:(?=[^/]{{1,253}}/){_SUBDOMAIN}/)?{_NAME_PART}")]
#: IsQualifiedName of the lowercased key: an annotation key.
_ANY_CASE_SUBDOMAIN = _SUBDOMAIN.replace("a-z", "a-zA-Z")
AnnotationKey = Annotated[
    str, Meta(pattern=rf"\A(?:(?=[^/]{{1,253}}/){_ANY_CASE_SUBDOMAIN}/)?{_NAME_PART}")
]
LabelValue = Annotated[
    str, Meta(max_length=63, pattern=r"\A(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
]
Strings = dict[str, str]


class _Shape(msgspec.Struct, gc=False, kw_only=True):
    """No cycles and thrown away at once: no GC tracking; required fields anywhere."""


# -- Names (``cluster.parsing.identify``) ------------------------------------------------


class _Meta(_Shape):
    name: str
    # Namespaces, label keys and label values repeat from object to object: their rules
    # (``Namespace``, ``LabelKey``, ``LabelValue``) are checked once per distinct string
    # by :func:`_names_check_out`, not by a pattern on each object.
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[AnnotationKey, Any] | None = None


class _SubdomainMeta(_Meta, kw_only=True):
    name: Subdomain


class _ServiceMeta(_Meta, kw_only=True):
    name: Dns1035


class _Named(_Shape):
    metadata: _Meta


class _NamedService(_Named):
    metadata: _ServiceMeta


class _NamedSubdomain(_Named):
    metadata: _SubdomainMeta


#: ``cluster.k8s_names.NAME_RULES`` as shapes.
_NAMED: dict[str, type[_Named]] = {
    "Service": _NamedService,
    "Node": _NamedSubdomain,
    "Pod": _NamedSubdomain,
    "EndpointSlice": _NamedSubdomain,
    "ConfigMap": _NamedSubdomain,
}


class _Accepted:
    """Strings one rule (a ``str`` type's ``Meta``: length and pattern) accepted, so each
    distinct one is matched once. At most :data:`_ACCEPTED_MAX` are kept (then forgotten
    all at once): hostile input cannot grow it."""

    def __init__(self, rule: Any) -> None:
        meta = rule.__metadata__[0]
        self.search = re.compile(meta.pattern).search
        self.max_length = meta.max_length if meta.max_length is not None else sys.maxsize
        self.seen: set[str] = set()

    def __call__(self, text: str) -> bool:
        if text in self.seen:
            return True
        if len(text) > self.max_length or self.search(text) is None:
            return False
        if len(self.seen) >= _ACCEPTED_MAX:
            self.seen.clear()
        self.seen.add(text)
        return True


_ACCEPTED_MAX = 100_000
_namespace_ok = _Accepted(Namespace)
_label_key_ok = _Accepted(LabelKey)
_label_value_ok = _Accepted(LabelValue)


def _labels_check_out(labels: dict[str, str] | None) -> bool:
    """``labels`` (or a selector) within the label rules: each key and each value."""
    return not labels or all(
        _label_key_ok(key) and _label_value_ok(value) for key, value in labels.items()
    )


def _names_check_out(meta: _Meta) -> bool:
    """``meta``'s namespace, label keys and label values within their rules, and its
    annotations within their size (what ``identify`` checks beyond the shape)."""
    if meta.namespace is not None and not _namespace_ok(meta.namespace):
        return False
    if not _labels_check_out(meta.labels):
        return False
    annotations = meta.annotations
    if annotations:
        size = sum(len(k) + (len(v) if isinstance(v, str) else 0) for k, v in annotations.items())
        if size > ANNOTATIONS_MAX_BYTES:
            return False
    return True


def identity_checks_out(obj: dict[str, Any], *, namespaced: bool) -> tuple[str, str] | None:
    """``(namespace, name)`` when ``identify`` accepts ``obj``'s metadata (None: ask it)."""
    shape = _NAMED.get(obj["kind"])
    if shape is None:
        return None
    try:
        meta = msgspec.convert(obj, shape).metadata
    except msgspec.ValidationError:
        return None
    if not _names_check_out(meta):
        return None
    return (meta.namespace or "default") if namespaced else "", meta.name


# -- Pod (``parse_pod`` and ``_pod_parts``) ------------------------------------------------


class _OwnerRef(_Shape):
    kind: str | None = None
    name: str | None = None


class _PodMeta(_Shape):
    uid: str | None = None
    labels: Strings | None = None
    owner_references: list[_OwnerRef] | None = field(default=None, name="ownerReferences")


class _KeyToPath(_Shape):
    key: str | None = None
    path: str | None = None


class _ConfigMapSource(_Shape):
    name: str | None = None
    items: list[_KeyToPath] | None = None


class _Volume(_Shape):
    name: str | None = None
    config_map: _ConfigMapSource | None = field(default=None, name="configMap")


class _ContainerPort(_Shape):
    name: PortName | None = None
    container_port: Port | None = field(default=None, name="containerPort")


class _Mount(_Shape):
    name: str | None = None
    mount_path: str | None = field(default=None, name="mountPath")


class _Container(_Shape):
    ports: list[_ContainerPort] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    volume_mounts: list[_Mount] | None = field(default=None, name="volumeMounts")


class _PodSpec(_Shape):
    node_name: str | None = field(default=None, name="nodeName")
    host_network: bool | None = field(default=None, name="hostNetwork")
    volumes: list[_Volume] | None = None
    containers: list[_Container] | None = None


class _PodIP(_Shape):
    ip: IPv4


class _Condition(_Shape):
    type: str | None = None
    status: str | None = None


class _PodStatus(_Shape):
    pod_ip: IPv4OrEmpty | None = field(default=None, name="podIP")
    pod_ips: list[_PodIP] | None = field(default=None, name="podIPs")
    phase: str | None = None
    conditions: list[_Condition] | None = None


class _Pod(_Shape):
    metadata: _PodMeta
    spec: _PodSpec | None = None
    status: _PodStatus | None = None


# -- EndpointSlice (``parse_slice`` and ``_parse_endpoint``) -------------------------------


class _SliceMeta(_Shape):
    uid: str | None = None
    labels: Strings | None = None


class _SlicePort(_Shape):
    name: str | None = None
    port: Port | None = None
    protocol: Protocol | None = None


class _EndpointConditions(_Shape):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class _Hint(_Shape):
    name: str


class _Hints(_Shape):
    for_zones: list[_Hint] | None = field(default=None, name="forZones")
    for_nodes: list[_Hint] | None = field(default=None, name="forNodes")


class _TargetRef(_Shape):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None


class _EndpointCommon(_Shape):
    conditions: _EndpointConditions | None = None
    topology: Strings | None = None
    hints: _Hints | None = None
    target_ref: _TargetRef | None = field(default=None, name="targetRef")
    node_name: str | None = field(default=None, name="nodeName")
    zone: str | None = None
    hostname: str | None = None


class _EndpointV4(_EndpointCommon, kw_only=True):
    addresses: Annotated[list[IPv4], Meta(min_length=1)]


class _EndpointFQDN(_EndpointCommon, kw_only=True):
    addresses: Annotated[list[str], Meta(min_length=1)]


class _SliceCommon(_Shape):
    metadata: _SliceMeta
    ports: list[_SlicePort] | None = None


class _SliceV4(_SliceCommon):
    address_type: Literal["IPv4"] = field(default="IPv4", name="addressType")
    endpoints: list[_EndpointV4] | None = None


class _SliceFQDN(_SliceCommon):
    address_type: Literal["FQDN"] = field(default="FQDN", name="addressType")
    endpoints: list[_EndpointFQDN] | None = None


#: Slices by ``addressType``; IPv6 ones (ipaddress-checked) always take the parser.
_SLICES: dict[str, type[_SliceV4] | type[_SliceFQDN]] = {"IPv4": _SliceV4, "FQDN": _SliceFQDN}


class _NamedPodMeta(_SubdomainMeta, kw_only=True):
    """A Pod's metadata as both ``_NamedSubdomain`` and ``_Pod`` hold it."""

    uid: str | None = None
    owner_references: list[_OwnerRef] | None = field(default=None, name="ownerReferences")


class _NamedPod(_Shape):
    """``_NamedSubdomain`` and ``_Pod`` in one: a Pod's names and fields in one pass."""

    metadata: _NamedPodMeta
    spec: _PodSpec | None = None
    status: _PodStatus | None = None


def named_pod_checks_out(obj: dict[str, Any]) -> tuple[str, str] | None:
    """``(namespace, name)`` when both ``identify`` and ``parse_pod`` accept the Pod
    ``obj`` — :func:`identity_checks_out` and :func:`pod_checks_out` in one conversion
    (None: ask them, one after the other, as before)."""
    try:
        meta = msgspec.convert(obj, _NamedPod).metadata
    except msgspec.ValidationError:
        return None
    if not _names_check_out(meta):
        return None
    return meta.namespace or "default", meta.name


class _NamedPodText(_NamedPod, kw_only=True):
    """``_NamedPod`` of a v1 Pod's text: the kind and apiVersion too (an object of another
    kind is refused at its ``kind``, before the rest of it is read)."""

    kind: Literal["Pod"]
    api_version: Literal["v1"] = field(name="apiVersion")


_named_pod_from_json = msgspec.json.Decoder(_NamedPodText).decode


def named_pod_text_checks_out(text: bytes | memoryview) -> tuple[str, str] | None:
    """:func:`named_pod_checks_out`'s answer for the JSON text of a v1 Pod (None: another
    kind too), decoded straight into the shape (no dicts: about half the work)."""
    try:
        meta = _named_pod_from_json(text).metadata
    except msgspec.DecodeError:  # a ValidationError, or text that is no JSON
        return None
    if not _names_check_out(meta):
        return None
    return meta.namespace or "default", meta.name


def checked_pod(obj: dict[str, Any]) -> _Pod | None:
    """``obj`` as its shape when ``parse_pod`` accepts it (None: ask it). ``cluster.rows``
    builds the Pod's row from the shape's fields."""
    try:
        return msgspec.convert(obj, _Pod)
    except msgspec.ValidationError:
        return None


def pod_checks_out(obj: dict[str, Any]) -> bool:
    """True when ``parse_pod`` accepts ``obj`` (False: ask it)."""
    return checked_pod(obj) is not None


def checked_slice(obj: dict[str, Any]) -> _SliceV4 | _SliceFQDN | None:
    """``obj`` as its shape when ``parse_slice`` accepts it (None: ask it). ``cluster.rows``
    builds the slice's and its endpoints' rows from the shape's fields."""
    address_type = obj.get("addressType")
    shape = _SLICES.get(address_type) if isinstance(address_type, str) else None
    if shape is None:
        return None
    try:
        checked = cast("_SliceV4 | _SliceFQDN", msgspec.convert(obj, shape))
    except msgspec.ValidationError:
        return None
    return checked if _port_names_check_out(checked.ports, required=False) else None


def _port_names_check_out(
    ports: list[_SlicePort] | list[_ServicePort] | None, *, required: bool
) -> bool:
    """``check_port_names``: each set name a DNS-1123 label, none repeated, and
    (``required``: more than one port) each set."""
    names = [port.name for port in ports or () if port.name]
    if required and len(names) != len(ports or ()):
        return False
    return len(set(names)) == len(names) and not any(map(check_dns1123_label, names))


def slice_checks_out(obj: dict[str, Any]) -> bool:
    """True when ``parse_slice`` accepts ``obj`` (False: ask it)."""
    return checked_slice(obj) is not None


# -- Service (``parse_service``, ``_service_ports`` and ``_cluster_ips``) -------------------

#: An IPv4 address or "None" (a headless Service's ``clusterIPs`` entry).
IPv4OrNone = Annotated[str, Meta(pattern=rf"\A(?:{_IPV4}|None)\Z")]
#: ``spec.clusterIP``: also "" (unset).
IPv4OrNoneOrEmpty = Annotated[str, Meta(pattern=rf"\A(?:{_IPV4}|None)?\Z")]
#: A named ``targetPort`` (IsValidPortName: "" is refused) or a number, 0 meaning unset.
TargetPortName = Annotated[str, Meta(pattern=rf"\A{_PORT_NAME}\Z")]
TargetPortNumber = Annotated[int, Meta(ge=0, le=65535)]
#: ``cluster.parsing.MAX_AFFINITY_TIMEOUT``.
AffinityTimeout = Annotated[int, Meta(ge=1, le=86400)]
#: ``cluster.parsing.SERVICE_TYPES``, ``routing.engine.types`` ``SESSION_AFFINITIES`` and
#: ``TRAFFIC_POLICIES``, or "" (unset); ``tests/test_fast_checks.py`` holds them equal.
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", ""]
Affinity = Literal["None", "ClientIP", ""]
Policy = Literal["Cluster", "Local", ""]


class _ServicePort(_Shape, kw_only=True):
    name: str | None = None
    port: Port
    protocol: Protocol | None = None
    node_port: Port | None = field(default=None, name="nodePort")
    target_port: TargetPortNumber | TargetPortName | None = field(default=None, name="targetPort")


class _ClientIPConfig(_Shape):
    timeout_seconds: AffinityTimeout | None = field(default=None, name="timeoutSeconds")


class _AffinityConfig(_Shape):
    client_ip: _ClientIPConfig | None = field(default=None, name="clientIP")


class _ServiceSpec(_Shape):
    type: ServiceType | None = None
    session_affinity: Affinity | None = field(default=None, name="sessionAffinity")
    session_affinity_config: _AffinityConfig | None = field(
        default=None, name="sessionAffinityConfig"
    )
    external_ips: list[IPv4] | None = field(default=None, name="externalIPs")
    cluster_ips: list[IPv4OrNone] | None = field(default=None, name="clusterIPs")
    cluster_ip: IPv4OrNoneOrEmpty | None = field(default=None, name="clusterIP")
    ip_families: list[str] | None = field(default=None, name="ipFamilies")
    ip_family_policy: str | None = field(default=None, name="ipFamilyPolicy")
    ports: list[_ServicePort] | None = None
    # Its keys and values are held to the label rules by _service_fields_check_out.
    selector: Strings | None = None
    internal_traffic_policy: Policy | None = field(default=None, name="internalTrafficPolicy")
    external_traffic_policy: Policy | None = field(default=None, name="externalTrafficPolicy")
    traffic_distribution: str | None = field(default=None, name="trafficDistribution")
    health_check_node_port: Port | None = field(default=None, name="healthCheckNodePort")
    load_balancer_source_ranges: list[str] | None = field(
        default=None, name="loadBalancerSourceRanges"
    )
    external_name: str | None = field(default=None, name="externalName")
    publish_not_ready_addresses: bool | None = field(default=None, name="publishNotReadyAddresses")


class _Ingress(_Shape):
    ip: IPv4OrEmpty | None = None


class _LoadBalancer(_Shape):
    ingress: list[_Ingress] | None = None


class _ServiceStatus(_Shape):
    load_balancer: _LoadBalancer | None = field(default=None, name="loadBalancer")


class _ServiceFieldsMeta(_Shape):
    uid: str | None = None
    labels: Strings | None = None
    annotations: Strings | None = None


class _Service(_Shape):
    metadata: _ServiceFieldsMeta
    spec: _ServiceSpec
    status: _ServiceStatus | None = None


def _service_fields_check_out(spec: _ServiceSpec) -> bool:
    """What ``parse_service`` checks beyond the shape: the ports' names and the selector's
    keys and values (the label rules)."""
    ports = spec.ports
    if not _port_names_check_out(ports, required=ports is not None and len(ports) > 1):
        return False
    return _labels_check_out(spec.selector)


def service_checks_out(obj: dict[str, Any]) -> bool:
    """True when ``parse_service`` accepts ``obj`` (False: ask it)."""
    try:
        service = msgspec.convert(obj, _Service)
    except msgspec.ValidationError:
        return False
    return _service_fields_check_out(service.spec)


# -- Names and fields off the text (the dump reader's child) ------------------------------


class _NamedServiceMeta(_ServiceMeta, kw_only=True):
    """A Service's metadata as both ``_NamedService`` and ``_Service`` hold it."""

    uid: str | None = None
    annotations: dict[AnnotationKey, str] | None = None


class _NamedServiceText(_Shape):
    """A v1 Service's text: ``_NamedService`` and ``_Service`` in one."""

    kind: Literal["Service"]
    api_version: Literal["v1"] = field(name="apiVersion")
    metadata: _NamedServiceMeta
    spec: _ServiceSpec
    status: _ServiceStatus | None = None


class _NamedSliceMeta(_SubdomainMeta, kw_only=True):
    """A slice's metadata as both ``_NamedSubdomain`` and ``_SliceMeta`` hold it."""

    uid: str | None = None


class _NamedSliceText(_Shape):
    """An EndpointSlice's text: ``_NamedSubdomain`` and ``_SliceCommon`` in one."""

    kind: Literal["EndpointSlice"]
    api_version: Literal["discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"] = field(
        name="apiVersion"
    )
    metadata: _NamedSliceMeta
    ports: list[_SlicePort] | None = None


class _NamedSliceV4Text(_NamedSliceText, kw_only=True):
    address_type: Literal["IPv4"] = field(name="addressType")
    endpoints: list[_EndpointV4] | None = None


class _NamedSliceFQDNText(_NamedSliceText, kw_only=True):
    address_type: Literal["FQDN"] = field(name="addressType")
    endpoints: list[_EndpointFQDN] | None = None


#: Each shape refuses another kind's text at its ``kind`` (early in the text, as a rule).
_TEXT_SHAPES: tuple[Callable[[bytes | memoryview], _NamedServiceText | _NamedSliceText], ...] = (
    msgspec.json.Decoder(_NamedServiceText).decode,
    msgspec.json.Decoder(_NamedSliceV4Text).decode,
    msgspec.json.Decoder(_NamedSliceFQDNText).decode,
)


def named_text_checks_out(text: bytes | memoryview) -> tuple[str, str, str] | None:
    """``(kind, namespace, name)`` when ``text`` is the JSON text of a v1 Service or an
    EndpointSlice that both ``identify`` and its parser accept (``check_object`` passes
    it), decoded straight into the shapes (no dicts); None: anything else (ask them)."""
    for decode in _TEXT_SHAPES:
        try:
            shape = decode(text)
            break
        except msgspec.ValidationError:
            continue
        except msgspec.DecodeError:  # no JSON
            return None
    else:
        return None
    if isinstance(shape, _NamedServiceText):
        fields_ok = _service_fields_check_out(shape.spec)
    else:
        fields_ok = _port_names_check_out(shape.ports, required=False)
    if not (fields_ok and _names_check_out(shape.metadata)):
        return None
    return shape.kind, shape.metadata.namespace or "default", shape.metadata.name
