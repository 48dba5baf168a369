"""Advance a ``Snapshot`` by a few object changes instead of rebuilding it.

A watch event touches one object; rebuilding the snapshot of a 5,000-node cluster from
every object takes seconds. Here only what the changed objects feed is redone: the
changed nodes (and their kube-proxy configuration), pods, services, and the endpoint
indexes of the services whose Service or EndpointSlices changed, through the adapter's
own per-object functions, so the result equals ``snapshot_from_objects`` of the final
objects (the property test in ``routing/tests/engine/test_incremental.py`` holds us to it).

Changes that move cluster-wide settings (the kube-proxy ConfigMap or Pods, the majority
node version, clusters whose endpoints come from v1 Endpoints or Pods rather than
EndpointSlices) raise ``NeedsFullRebuild``: the caller rebuilds as before.
Snapshots built with adapter overrides are not supported (the stored-cluster path uses none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, cast

from routing.engine.kube import (
    SERVICE_NAME_LABEL,
    _majority_version,
    _meta,
    node_from_object,
    service_from_object,
    service_slice_endpoints,
)
from routing.engine.kube_pods import pod_from_object
from routing.engine.kube_proxy_pods import is_kube_proxy_pod
from routing.engine.snapshot import Snapshot, freeze, sort_endpoints
from routing.engine.types import DEFAULT_VERSION, Endpoint, Node, ProxyConfig, Service

#: (namespace, service name) -> that service's current EndpointSlice objects, in the
#: order a full rebuild would read them.
SliceSource = Callable[[str, str], Iterable[Mapping[str, Any]]]

#: The adapter's notes when endpoints are not read from EndpointSlices.
DERIVED_NOTES = ("no EndpointSlices in the dump", "no EndpointSlices or Endpoints in the dump")


class NeedsFullRebuild(Exception):
    """These changes move cluster-wide state; rebuild from every object instead."""


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace or 'default'}/{name}"


def snapshot_with_changes(
    snapshot: Snapshot,
    *,
    upserts: Iterable[Mapping[str, Any]],
    deletes: Iterable[tuple[str, str, str]],
    service_slices: SliceSource,
    touched_services: Iterable[str] = (),
) -> Snapshot:
    """``snapshot`` with the objects ``upserts`` added or replaced and ``deletes``
    (``(kind, namespace, name)``, namespace "" for Nodes) removed.

    ``service_slices`` gives the *final* EndpointSlices of a service whose endpoints must
    be re-indexed; ``touched_services`` adds "namespace/name" keys of services to re-index
    that the changes do not name (the owner of a deleted EndpointSlice). Raises
    ``NeedsFullRebuild`` for changes with cluster-wide effects.
    """
    if (
        any(note.startswith(DERIVED_NOTES) for note in snapshot.notes)
        or not snapshot.endpoint_index
    ):
        raise NeedsFullRebuild("endpoints are not read from EndpointSlices in this snapshot")
    upserts, deletes = list(upserts), list(deletes)
    kinds = {obj.get("kind") for obj in upserts} | {kind for kind, _, _ in deletes}
    # Copy only the mappings that change (pods never: see PodOverlay).
    # Written only for kinds in ``kinds``, i.e. only when copied just here.
    nodes = cast("dict[str, Node]", dict(snapshot.nodes) if "Node" in kinds else snapshot.nodes)
    services = cast(
        "dict[str, Service]", dict(snapshot.services) if "Service" in kinds else snapshot.services
    )
    pod_changes: dict[str, object] = {}
    changed_nodes: set[str] = set()
    dirty: set[str] = set(touched_services)
    for obj in upserts:
        kind, meta = obj.get("kind"), _meta(obj)
        if kind == "Node":
            node = node_from_object(obj)
            if node.name:
                # kube-proxy's liveness comes from its Pod, which this batch did not touch.
                old = snapshot.nodes.get(node.name)
                if old is not None and old.proxy_healthy is not None:
                    node = replace(node, proxy_healthy=old.proxy_healthy)
                nodes[node.name] = node
                changed_nodes.add(node.name)
        elif kind == "Service":
            service = service_from_object(obj)
            if service.name:
                services[service.key] = service
                dirty.add(service.key)
        elif kind == "EndpointSlice":
            owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if owner:
                dirty.add(_key(meta.get("namespace"), owner))
        elif kind == "Pod":
            if is_kube_proxy_pod(obj):
                raise NeedsFullRebuild("a kube-proxy Pod changed")
            pod = pod_from_object(obj)
            if pod.name:
                pod_changes[pod.key] = pod
        elif kind == "ConfigMap":
            # ConfigMaps feed the cluster-wide and per-node kube-proxy settings. (v1
            # Endpoints need nothing: they are ignored while EndpointSlices exist.)
            raise NeedsFullRebuild("a ConfigMap changed")
    for kind, namespace, name in deletes:
        if kind == "Node":
            nodes.pop(name, None)
            changed_nodes.add(name)
        elif kind == "Service":
            services.pop(_key(namespace, name), None)
            dirty.add(_key(namespace, name))
        elif kind == "Pod":
            if namespace == "kube-system":
                raise NeedsFullRebuild("a kube-system Pod was deleted")
            pod_changes[_key(namespace, name)] = _GONE
        elif kind == "ConfigMap":
            raise NeedsFullRebuild("a ConfigMap was deleted")
    pods = PodOverlay.over(snapshot.pods, pod_changes) if pod_changes else snapshot.pods
    node_proxy = (
        _advance_node_proxy(snapshot, nodes, pods, changed_nodes)
        if changed_nodes
        else snapshot.node_proxy
    )
    index, node_services = _reindex(snapshot, services, dirty, service_slices)
    if not index:
        raise NeedsFullRebuild("no service has endpoints any more")
    # ``replace`` rather than ``evolve``: freezing would copy the pod overlay into a dict.
    return replace(
        snapshot.evolve(
            nodes=nodes,
            services=services,
            endpoint_index=index,
            node_proxy=node_proxy,
            node_services=node_services,
        ),
        pods=pods,
    )


_GONE = object()


class PodOverlay(Mapping[str, Any]):
    """A read-only pods mapping: a base mapping plus a few changes, so one Pod event on a
    150,000-pod cluster costs O(changes) instead of copying the dict (~40 ms). Iterates
    in the order a full rebuild would (changed pods in place, new ones last); folds the
    changes into a plain dict once they grow past ``COMPACT_AT``."""

    COMPACT_AT = 4096
    __slots__ = ("_base", "_changes", "_len")

    def __init__(self, base: Mapping[str, Any], changes: dict[str, Any]) -> None:
        self._base, self._changes = base, changes
        self._len = len(base) + sum((v is not _GONE) - (k in base) for k, v in changes.items())

    @classmethod
    def over(cls, pods: Mapping[str, Any], changes: dict[str, Any]) -> Mapping[str, Any]:
        """``pods`` with ``changes`` (key -> Pod, or ``_GONE`` to remove) applied."""
        prior = pods._changes if isinstance(pods, PodOverlay) else {}
        if any(prior.get(key) is _GONE and value is not _GONE for key, value in changes.items()):
            # Deleted then re-created: its row (and so its place) moves to the end.
            merged = dict(pods.items())
            for key, value in changes.items():
                merged.pop(key, None)
                if value is not _GONE:
                    merged[key] = value
            return freeze(merged)
        if isinstance(pods, PodOverlay):
            base, changes = pods._base, {**prior, **changes}
        else:
            base = pods
        if len(changes) > cls.COMPACT_AT:
            return freeze(dict(cls(base, changes).items()))
        return cls(base, changes)

    def __getitem__(self, key: str) -> Any:
        if key in self._changes:
            value = self._changes[key]
            if value is _GONE:
                raise KeyError(key)
            return value
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        if key in self._changes:
            return self._changes[key] is not _GONE  # type: ignore[index]
        return key in self._base

    def __iter__(self) -> Iterator[str]:
        changes = self._changes
        for key in self._base:
            if changes.get(key) is not _GONE:
                yield key
        for key, value in changes.items():
            if value is not _GONE and key not in self._base:
                yield key

    def __len__(self) -> int:
        return self._len

    def copy(self) -> dict[str, Any]:
        """A plain dict of the pods (what ``MappingProxyType.copy`` gives what-ifs)."""
        return dict(self.items())


def _advance_node_proxy(
    snapshot: Snapshot, nodes: Mapping[str, Any], pods: Mapping[str, Any], changed: set[str]
) -> Mapping[str, ProxyConfig]:
    """Per-node kube-proxy configuration for the changed nodes (``_node_proxies`` rules)."""
    base = snapshot.proxy
    if (_majority_version(nodes) or DEFAULT_VERSION) != base.version:
        raise NeedsFullRebuild("the cluster's majority kube-proxy version changed")
    out = dict(snapshot.node_proxy)
    for name in changed:
        old = out.pop(name, None)
        node = nodes.get(name)
        if node is None:
            continue
        version = node.version or base.version
        prev = snapshot.nodes.get(name)
        if prev is not None and (prev.version or base.version) == version:
            # Same release (a status or label update): the configuration only depends
            # on the release and the node's kube-proxy Pod, neither of which moved.
            if old is not None:
                out[name] = old
            continue
        if old is not None and _strip(old) != _strip(base):
            raise NeedsFullRebuild(f"node {name} runs kube-proxy with its own settings")
        if old is None and any(
            p.node == name and p.namespace == "kube-system" for p in pods.values()
        ):
            raise NeedsFullRebuild(f"node {name} may run a kube-proxy Pod with its own settings")
        if version == base.version:
            continue
        template = next(
            (c for c in out.values() if c.version == version and _strip(c) == _strip(base)), None
        )
        if template is None:
            raise NeedsFullRebuild(f"node {name} runs a kube-proxy release no other node runs")
        out[name] = template
    return out


def _strip(config: ProxyConfig) -> tuple[Any, ...]:
    """The settings of a configuration apart from its release (version and gates)."""
    return (
        config.mode,
        config.ipvs_scheduler,
        config.cluster_cidrs,
        config.detect_local_mode,
        config.detect_local_interface,
        config.local_detector,
        config.masquerade_all,
    )


def _reindex(
    snapshot: Snapshot,
    services: Mapping[str, Service],
    dirty: set[str],
    service_slices: SliceSource,
) -> tuple[Mapping[str, Mapping[str, tuple[Endpoint, ...]]], Mapping[str, frozenset[str]]]:
    """The endpoint index and node -> services index with the ``dirty`` services redone."""
    if not dirty:
        return snapshot.endpoint_index, snapshot.node_services
    index = dict(snapshot.endpoint_index)
    removed: dict[str, set[str]] = defaultdict(set)
    added: dict[str, set[str]] = defaultdict(set)
    for key in dirty:
        if key in snapshot.family_endpoints:
            raise NeedsFullRebuild(f"dual-stack service {key} changed")
        if key in snapshot.unserved_endpoints:
            raise NeedsFullRebuild(f"service {key} had slice ports it does not name")
        old = index.pop(key, None)
        svc = services.get(key)
        new = _service_index(svc, service_slices(*key.split("/", 1))) if svc is not None else None
        if new:
            index[key] = new
        for node in _nodes_of(old):
            removed[node].add(key)
        for node in _nodes_of(new):
            added[node].add(key)
    # Only the nodes the changed services had or have endpoints on get a new entry.
    node_services = dict(snapshot.node_services)
    for node in removed.keys() | added.keys():
        keys = (node_services.get(node, frozenset()) - removed[node]) | added[node]
        if keys:
            node_services[node] = frozenset(keys)
        else:
            node_services.pop(node, None)
    return index, node_services


def _nodes_of(ports: Mapping[str, tuple[Endpoint, ...]] | None) -> set[str]:
    return {ep.node for eps in (ports or {}).values() for ep in eps if ep.node}


def _service_index(svc: Service, slices: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """One service's port -> endpoints, filtered as ``_snapshot_from_objects`` does."""
    unserved: list[Endpoint] = []
    raw, second = service_slice_endpoints(svc, slices, unserved)
    if unserved:
        # Slice ports no Service port names feed only the health check
        # (``Snapshot.unserved_endpoints``): rare enough to rebuild for.
        raise NeedsFullRebuild(f"service {svc.key} has slice ports it does not name")
    if second or len(svc.cluster_ips) > 1:
        # The second family's endpoints live in ``Snapshot.family_endpoints``.
        raise NeedsFullRebuild(f"dual-stack service {svc.key} changed")
    return freeze({port: sort_endpoints(eps) for port, eps in raw.items()}) if raw else None
