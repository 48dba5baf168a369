"""A dump's objects sorted by kind and checked as the importer would, without a database.

``plan_objects`` sorts objects by kind, skips what Routescope does not store and refuses
duplicates, without parsing; ``check_objects`` parses every object and stores nothing. Both
are plain Python (no Django): the ``routescope`` command's file mode runs them without
booting Django, and ``cluster.writer`` writes a plan to the database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cluster.bounds import DEFAULT_LIMITS, Limits
from cluster.dump_json import collector_paused
from cluster.fast_checks import (
    named_pod_checks_out,
    named_pod_text_checks_out,
    named_text_checks_out,
    pod_checks_out,
    service_checks_out,
    slice_checks_out,
)
from cluster.fields import ObjectError, Reader
from cluster.parsing import (
    identify,
    node_overrides,
    parse_kube_proxy_config,
    parse_node,
    parse_pod,
    parse_service,
)
from cluster.slice_parsing import parse_slice

#: The kinds stored, with the API groups read for each.
KNOWN = {
    "Node": ("v1",),
    "Service": ("v1",),
    "Pod": ("v1",),
    "EndpointSlice": ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"),
    "ConfigMap": ("v1",),
}
KUBE_PROXY_CONFIGMAP = ("kube-system", "kube-proxy")

#: (object, reader naming it, namespace, name)
Entry = tuple[dict[str, Any], Reader, str, str]


@dataclass
class Plan:
    """A dump's objects sorted by kind, not yet parsed."""

    nodes: list[Entry] = field(default_factory=list)
    services: list[Entry] = field(default_factory=list)
    slices: list[Entry] = field(default_factory=list)
    pods: list[Entry] = field(default_factory=list)
    proxy: dict[str, Any] | None = None
    #: Other kube-system ConfigMaps, kept only when a kube-proxy Pod mounts them.
    kube_system_maps: list[tuple[dict[str, Any], Reader, str]] = field(default_factory=list)
    extra_maps: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)

    @property
    def stores_nothing(self) -> bool:
        """True when no object is of a kind Routescope stores (only Secrets, Events...)."""
        return not (
            self.nodes or self.services or self.slices or self.pods or self.proxy or self.extra_maps
        )

    def nothing_stored_message(self) -> str:
        """ "the dump holds none of the kinds Routescope stores (...), only 1 Secret"."""
        found = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items())) or "nothing"
        return (
            "the dump holds none of the kinds Routescope stores (Node, Service,"
            f" EndpointSlice, Pod, the kube-system/kube-proxy ConfigMap), only {found}"
        )


def plan_objects(
    objects: Iterable[dict[str, Any]],
    limits: Limits = DEFAULT_LIMITS,
    *,
    checked: Collection[int] = (),
    whole_pods: set[int] | None = None,
) -> Plan:
    """Sort ``objects`` by kind; raise ``ObjectError`` for a nameless or repeated object.

    ``limits`` bounds what a kube-proxy ``config.conf`` may hold (see ``cluster.bounds``).
    ``checked``: ``id()`` of objects ``check_object`` passed, whose names ``identify``
    accepted then: read here without holding them to the rules again. ``whole_pods``
    (``check_objects``): Pods are checked whole here when one shape takes their names and
    fields at once (``named_pod_checks_out``), and their ``id()`` added to it.
    """
    plan = Plan()
    seen: dict[tuple[str, str, str], int] = {}
    lists = {
        "Node": plan.nodes,
        "Service": plan.services,
        "EndpointSlice": plan.slices,
        "Pod": plan.pods,
    }
    for index, obj in enumerate(objects):
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind not in KNOWN or api_version not in KNOWN[kind]:
            plan.skipped[kind if kind not in KNOWN else f"{kind} ({api_version})"] += 1
            continue
        if id(obj) in checked:
            namespace, name, reader = _identified(obj, namespaced=kind != "Node")
        elif kind == "Pod" and whole_pods is not None and named_pod_checks_out(obj) is not None:
            namespace, name, reader = _identified(obj, namespaced=True)
            whole_pods.add(id(obj))
        else:
            namespace, name, reader = identify(obj, index=index, namespaced=kind != "Node")
        if kind == "ConfigMap" and namespace != "kube-system":
            plan.skipped["ConfigMap"] += 1
            continue
        key = (kind, namespace, name)
        if key in seen:
            raise ObjectError(
                f"duplicate {reader.label}: objects {seen[key] + 1} and {index + 1}"
                " have the same name"
            )
        seen[key] = index
        if kind == "ConfigMap" and name == KUBE_PROXY_CONFIGMAP[1]:
            plan.proxy = parse_kube_proxy_config(obj, reader, limits)
        elif kind == "ConfigMap":
            plan.kube_system_maps.append((obj, reader, name))
        else:
            lists[kind].append((obj, reader, namespace, name))
        if kind == "Node":
            override = node_overrides(obj, reader)
            if override:
                plan.overrides[name] = override
    _keep_mounted_maps(plan, limits)
    return plan


def _identified(obj: dict[str, Any], *, namespaced: bool) -> tuple[str, str, Reader]:
    """``identify``'s answer for an object it accepted before (the same values)."""
    meta = obj["metadata"]
    namespace = (meta.get("namespace") or "default") if namespaced else ""
    name = meta["name"]
    return namespace, name, Reader(f"{obj['kind']} {namespace + '/' if namespace else ''}{name}")


def _is_kube_proxy_pod(obj: dict[str, Any], namespace: str, name: str) -> bool:
    labels = obj["metadata"].get("labels")
    app = labels.get("k8s-app") if isinstance(labels, dict) else None
    return namespace == "kube-system" and (app == "kube-proxy" or name.startswith("kube-proxy-"))


def _mounted_maps(obj: dict[str, Any]) -> set[str]:
    """Names of the ConfigMaps a Pod's volumes refer to (malformed parts ignored here;
    parse_pod reports them)."""
    spec = obj.get("spec")
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    names = set()
    for volume in volumes if isinstance(volumes, list) else ():
        source = volume.get("configMap") if isinstance(volume, dict) else None
        if isinstance(source, dict) and isinstance(source.get("name"), str):
            names.add(source["name"])
    return names


def _keep_mounted_maps(plan: Plan, limits: Limits = DEFAULT_LIMITS) -> None:
    # A cluster midway through a kube-proxy mode migration runs a second DaemonSet whose
    # Pods mount their own ConfigMap: keep those (the engine reads them per node) and
    # skip every other kube-system ConfigMap, as before.
    mounted: set[str] = set()
    for obj, _, namespace, name in plan.pods:
        if _is_kube_proxy_pod(obj, namespace, name):
            mounted |= _mounted_maps(obj)
    for obj, reader, name in plan.kube_system_maps:
        if name not in mounted:
            plan.skipped["ConfigMap"] += 1
            continue
        data = reader.string_map(obj, "data", path="data")
        if "config.conf" in data:
            parse_kube_proxy_config(obj, reader, limits)  # the same checks as the main ConfigMap
        plan.extra_maps.append(obj)


def check_object(obj: dict[str, Any], index: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """The importer's checks of one object on its own (``index``: its place in the dump),
    raising the ``ObjectError`` ``check_objects`` would raise for it; what needs the other
    objects (repeats, an empty or kind-less dump, mounted ConfigMaps) is left to
    ``check_objects``. The dump reader runs it on the objects it lets go of
    (``cluster.kube_dump.read_dump``'s ``settle``)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in KNOWN or api_version not in KNOWN[kind]:
        return
    if kind == "Pod" and named_pod_checks_out(obj) is not None:
        return  # names and fields in one pass: what identify and the Pod checks accept
    namespace, name, reader = identify(obj, index=index, namespaced=kind != "Node")
    if kind == "Node":
        node_overrides(obj, reader)
        parse_node(obj, reader, name)
    elif kind == "Service":
        if not service_checks_out(obj):
            parse_service(obj, reader, namespace, name)
    elif kind == "EndpointSlice":
        if not slice_checks_out(obj):
            parse_slice(obj, reader, namespace, name)
    elif kind == "Pod":
        if not pod_checks_out(obj):
            parse_pod(obj, reader, namespace, name)
    elif kind == "ConfigMap" and namespace == "kube-system" and name == KUBE_PROXY_CONFIGMAP[1]:
        parse_kube_proxy_config(obj, reader, limits)


class _PlannedMeta(msgspec.Struct, gc=False):
    name: Any = None
    namespace: Any = None
    labels: Any = None


class _PlannedSpec(msgspec.Struct, gc=False):
    volumes: Any = None


class _PlannedPod(msgspec.Struct, gc=False):
    """What :func:`check_objects` reads of a Pod ``check_object`` passed: its names, its
    labels and its volumes (a kube-proxy Pod's mounted ConfigMaps)."""

    metadata: _PlannedMeta
    spec: _PlannedSpec | None = None


_planned_pod_from_json = msgspec.json.Decoder(_PlannedPod).decode


def planned_pod(text: bytes | memoryview) -> dict[str, Any] | None:
    """A v1 Pod's JSON text that ``check_object`` passed, as much of it as
    :func:`check_objects` reads (the same answer as with the whole object); None: another
    shape, decode it whole."""
    try:
        pod = _planned_pod_from_json(text)
    except msgspec.DecodeError:
        return None
    meta = pod.metadata
    spec = pod.spec
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": meta.name, "namespace": meta.namespace, "labels": meta.labels},
        "spec": None if spec is None else {"volumes": spec.volumes},
    }


def pod_text_checks_out(text: bytes | memoryview) -> tuple[str, str] | None:
    """``(namespace, name)`` when ``text`` is a v1 Pod's JSON text that ``check_object``
    passes without a word (None: another kind, or ask ``check_object`` with the decoded
    object)."""
    return named_pod_text_checks_out(text)


def check_objects(
    objects: Iterable[dict[str, Any]],
    limits: Limits = DEFAULT_LIMITS,
    *,
    checked: Collection[int] = (),
) -> None:
    """Refuse what ``import_cluster`` would refuse, storing nothing (no database access).

    The file-based commands (``simulate``, ``analyze``, ``render_rules``) and the API's
    inline dumps call this before the engine's lenient adapter sees the objects, so a
    malformed field gets the importer's one-line ``ObjectError`` naming object and field
    instead of a traceback deep in the engine.

    ``checked``: ``id()`` of objects ``check_object`` passed already (the dump reader's
    ``settle``): only what needs the other objects is checked for them again.
    """
    _checked_plan(objects, limits, checked=checked)


def _checked_plan(
    objects: Iterable[dict[str, Any]],
    limits: Limits,
    *,
    checked: Collection[int],
    more_stored: bool = False,
) -> Plan:
    """:func:`check_objects`'s plan of ``objects``, once they passed; ``more_stored``:
    objects of the kinds stored are known to stand beside them (none among them is no
    refusal then)."""
    # The parsed rows are thrown away at once and hold no cycles: no cyclic GC meanwhile.
    with collector_paused():
        whole_pods: set[int] = set()
        plan = plan_objects(objects, limits, checked=checked, whole_pods=whole_pods)
        if plan.stores_nothing and plan.skipped and not more_stored:
            raise ObjectError(plan.nothing_stored_message())
        for obj, reader, _, name in plan.nodes:
            if id(obj) not in checked:
                parse_node(obj, reader, name)
        # The hot kinds: one C pass each; the parsers (and their messages) when it says no.
        for obj, reader, namespace, name in plan.services:
            if id(obj) not in checked and not service_checks_out(obj):
                parse_service(obj, reader, namespace, name)
        for obj, reader, namespace, name in plan.slices:
            if id(obj) not in checked and not slice_checks_out(obj):
                parse_slice(obj, reader, namespace, name)
        for obj, reader, namespace, name in plan.pods:
            if id(obj) not in checked and id(obj) not in whole_pods and not pod_checks_out(obj):
                parse_pod(obj, reader, namespace, name)
    return plan


#: ``(kind, namespace, name)``: what :func:`check_objects` reads of an object it only
#: holds to be the one of that name (see :func:`named_key`).
Key = tuple[str, str, str]


def named_key(text: bytes | memoryview, pod: tuple[str, str] | None) -> Key | None:
    """The :data:`Key` of an element's JSON text when ``check_object`` passes it and its
    names are all :func:`check_objects` reads of it then: a v1 Pod it passed already
    (``pod``: its namespace and name, :func:`pod_text_checks_out`) outside kube-system
    (there a kube-proxy Pod's volumes are read too), a v1 Service or an EndpointSlice its
    text shows passing (``fast_checks.named_text_checks_out``). None: decode it."""
    if pod is None:
        return named_text_checks_out(text)
    namespace, name = pod
    return None if namespace == KUBE_PROXY_CONFIGMAP[0] else ("Pod", namespace, name)


def passes_with_named(
    objects: Iterable[dict[str, Any]],
    named: list[Key],
    limits: Limits = DEFAULT_LIMITS,
    *,
    checked: Collection[int] = (),
) -> bool:
    """True when :func:`check_objects` passes ``objects`` together with the objects
    ``named`` (their :func:`named_key`), wherever those stand among them: the checks of
    ``objects`` pass and no two objects have one name. False: it may refuse them, and
    ``check_objects`` of them all, in order, words the refusal (a repeat's message
    numbers the objects)."""
    keys = set(named)
    if len(keys) != len(named):
        return False
    try:
        plan = _checked_plan(objects, limits, checked=checked, more_stored=bool(keys))
    except Exception:  # check_objects of them all raises it, in its order
        return False
    return not any(
        (kind, namespace, name) in keys
        for kind, entries in (
            ("Service", plan.services),
            ("EndpointSlice", plan.slices),
            ("Pod", plan.pods),
        )
        for _, _, namespace, name in entries
    )
