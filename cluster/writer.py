"""The write path behind ``cluster.services``: sort a dump's objects, then parse and insert.

``plan_objects`` sorts objects by kind, skips what Routescope does not store and refuses
duplicates, without parsing. ``write_plan`` then parses each object while streaming its
row into the database, so at most one batch of parsed rows is in memory at a time — a
150,000-pod dump is held once (as the decoded JSON), not twice. It must run inside the
caller's transaction: a bad object raises ``ObjectError`` part-way and the transaction's
rollback leaves nothing behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from cluster.bounds import DEFAULT_LIMITS, Limits
from cluster.bulk import insert_rows
from cluster.fields import ObjectError, Reader
from cluster.models import Cluster, Endpoint, EndpointSlice, KubeProxyConfig, Node, Pod, Service
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
#: Slices parsed and inserted per round trip (their endpoints follow at once).
SLICE_CHUNK = 1000

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


@dataclass
class Written:
    """What ``write_plan`` stored."""

    counts: dict[str, int]
    flagged_slices: list[str]
    #: Pods and endpoints whose node is not among the dump's Nodes, per kind.
    unknown_nodes: dict[str, int] = field(default_factory=dict)


def plan_objects(objects: Iterable[dict[str, Any]], limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Sort ``objects`` by kind; raise ``ObjectError`` for a nameless or repeated object.

    ``limits`` bounds what a kube-proxy ``config.conf`` may hold (see ``cluster.bounds``).
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


def check_objects(objects: Iterable[dict[str, Any]], limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse what ``import_cluster`` would refuse, storing nothing (no database access).

    The file-based commands (``simulate``, ``analyze``, ``render_rules``) and the API's
    inline dumps call this before the engine's lenient adapter sees the objects, so a
    malformed field gets the importer's one-line ``ObjectError`` naming object and field
    instead of a traceback deep in the engine.
    """
    plan = plan_objects(objects, limits)
    if plan.stores_nothing and plan.skipped:
        raise ObjectError(plan.nothing_stored_message())
    for obj, reader, _, name in plan.nodes:
        parse_node(obj, reader, name)
    for obj, reader, namespace, name in plan.services:
        parse_service(obj, reader, namespace, name)
    for obj, reader, namespace, name in plan.slices:
        parse_slice(obj, reader, namespace, name)
    for obj, reader, namespace, name in plan.pods:
        parse_pod(obj, reader, namespace, name)


def clear_state(cluster: Cluster) -> None:
    """Delete every object row of ``cluster`` (inside the caller's transaction)."""
    # Children before parents, each as one DELETE statement: the ORM's cascade collector
    # would load every row of a 150,000-pod cluster into memory first.
    for model in (Endpoint, EndpointSlice, Pod, Service, Node, KubeProxyConfig):
        # QuerySet._raw_delete is private Django API, absent from django-stubs.
        model.objects.filter(cluster=cluster)._raw_delete(model.objects.db)  # type: ignore[union-attr]


def _label(kind: str) -> Callable[[dict[str, Any]], str]:
    return (
        lambda row: f"{kind} {row['namespace'] + '/' if row.get('namespace') else ''}{row['name']}"
    )


def _ids(queryset: models.QuerySet, *keys: str) -> dict[Any, int]:
    if len(keys) == 1:
        return dict(queryset.values_list(keys[0], "id"))
    return {tuple(row[:-1]): row[-1] for row in queryset.values_list(*keys, "id")}


def write_plan(cluster: Cluster, plan: Plan) -> Written:
    """Replace ``cluster``'s rows with the plan's objects, parsing them on the way in."""
    clear_state(cluster)
    fixed = {"cluster_id": cluster.pk}
    counts = {
        "Node": 0,
        "Service": 0,
        "EndpointSlice": 0,
        "Endpoint": 0,
        "Pod": 0,
        "ConfigMap": int(plan.proxy is not None) + len(plan.extra_maps),
    }
    counts["Node"] = insert_rows(
        Node, (parse_node(o, r, n) for o, r, _, n in plan.nodes), fixed=fixed, label=_label("Node")
    )
    nodes = _ids(Node.objects.filter(cluster=cluster), "name")
    counts["Service"] = insert_rows(
        Service,
        (parse_service(o, r, ns, n) for o, r, ns, n in plan.services),
        fixed=fixed,
        label=_label("Service"),
    )
    services = _ids(Service.objects.filter(cluster=cluster), "namespace", "name")
    flagged: list[str] = []
    unknown: Counter = Counter()
    for start in range(0, len(plan.slices), SLICE_CHUNK):
        chunk = [
            parse_slice(o, r, ns, n) for o, r, ns, n in plan.slices[start : start + SLICE_CHUNK]
        ]
        unknown["Endpoint"] += sum(
            1
            for _, entries in chunk
            for e in entries
            if e["node_name"] and e["node_name"] not in nodes
        )
        slices, endpoints = _write_slices(cluster, chunk, services, flagged)
        counts["EndpointSlice"] += slices
        counts["Endpoint"] += endpoints
    counts["Pod"] = insert_rows(
        Pod, _pods(plan.pods, nodes, unknown), fixed=fixed, label=_label("Pod")
    )
    proxy = plan.proxy or {"mode": "iptables", "ipvs_scheduler": "rr", "raw": None}
    KubeProxyConfig.objects.create(
        cluster=cluster, node_overrides=plan.overrides, extra_config_maps=plan.extra_maps, **proxy
    )
    return Written(counts=counts, flagged_slices=flagged, unknown_nodes=+unknown)


def _pods(
    entries: list[Entry], nodes: dict[str, int], unknown: Counter
) -> Iterator[dict[str, Any]]:
    for obj, reader, namespace, name in entries:
        row = parse_pod(obj, reader, namespace, name)
        row["node_id"] = nodes.get(row["node_name"])
        if row["node_name"] and row["node_id"] is None:
            unknown["Pod"] += 1
        yield row


def _write_slices(
    cluster: Cluster,
    chunk: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    services: dict[tuple[str, str], int],
    flagged: list[str],
) -> tuple[int, int]:
    """Insert one chunk of slices, then their endpoints; return both counts."""
    for row, _ in chunk:
        row["service_id"] = services.get((row["namespace"], row["service_name"]))
        row["service_missing"] = row["service_id"] is None
        if row["service_missing"]:
            why = (
                f"Service {row['namespace']}/{row['service_name']} not found"
                if row["service_name"]
                else "no kubernetes.io/service-name label"
            )
            flagged.append(f"{row['namespace']}/{row['name']} ({why})")
    fixed = {"cluster_id": cluster.pk}
    names = [(row["namespace"], row["name"]) for row, _ in chunk]
    count = insert_rows(
        EndpointSlice, (row for row, _ in chunk), fixed=fixed, label=_label("EndpointSlice")
    )
    # Look the new rows up by name: only this chunk's slices, through the unique index.
    stored = _ids(
        EndpointSlice.objects.filter(cluster=cluster, name__in=[n for _, n in names]),
        "namespace",
        "name",
    )

    def endpoints() -> Iterator[dict[str, Any]]:
        for row, entries in chunk:
            slice_id = stored[(row["namespace"], row["name"])]
            for entry in entries:
                entry["slice_id"], entry["service_id"], entry["_slice"] = (
                    slice_id,
                    row["service_id"],
                    row,
                )
                yield entry

    def label(entry: dict[str, Any]) -> str:
        row = entry["_slice"]
        return f"EndpointSlice {row['namespace']}/{row['name']}: endpoints[{entry['position']}]"

    return count, insert_rows(Endpoint, endpoints(), fixed=fixed, label=label)
