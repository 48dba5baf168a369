"""Pods: the what-if's view of them, and endpoints derived from them for dumps that carry
Pods but no EndpointSlices (what the EndpointSlice controller would publish)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

from routing.engine.types import Endpoint, Node, Pod, Service

TEMPLATE_HASH_LABEL = "pod-template-hash"


_EMPTY: Mapping[str, Any] = {}
_POD_SETTERS = tuple(
    getattr(Pod, name).__set__ for name in ("namespace", "name", "node", "ip", "owner", "labels")
)
_OWNERS: dict[tuple[str, str], str] = {}


def _owner(refs: list[Any], labels: Mapping[str, Any]) -> str | None:
    for ref in refs:
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if not kind:
            continue
        key = (kind, name)
        found = _OWNERS.get(key)
        if found is None:
            template_hash = labels.get(TEMPLATE_HASH_LABEL)
            # A Deployment's ReplicaSet is named <deployment>-<pod-template-hash>.
            if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
                found = f"Deployment/{name[: -len(template_hash) - 1]}"
            else:
                found = f"{kind}/{name}"
            if len(_OWNERS) < 200_000:
                _OWNERS[key] = found  # 150,000 pods have a few thousand owners
        return found
    return None


def pod_from_object(obj: Mapping[str, Any]) -> Pod:
    """A Pod object -> ``Pod`` (slots filled directly: 150,000 pods per large dump)."""
    meta = obj.get("metadata") or _EMPTY
    labels = meta.get("labels") or _EMPTY
    refs = meta.get("ownerReferences")
    pod = object.__new__(Pod)
    values = (
        str(meta.get("namespace") or "default"),
        str(meta.get("name", "")),
        (obj.get("spec") or _EMPTY).get("nodeName"),
        (obj.get("status") or _EMPTY).get("podIP"),
        _owner(refs, labels) if refs else None,
        tuple(labels.items()),
    )
    for setter, value in zip(_POD_SETTERS, values):
        setter(pod, value)
    return pod


class PodsWhenRead(Mapping[str, Pod]):
    """A snapshot's pods, built by ``build()`` when first read
    (``kube.snapshot_with_pods_when_read``): the cluster-wide analysis and ``simulate``
    never read them, and 150,000 of them cost a fifth of a large dump's snapshot."""

    __slots__ = ("_build", "_pods")

    def __init__(self, build: Callable[[], Mapping[str, Pod]]) -> None:
        self._build: Callable[[], Mapping[str, Pod]] | None = build
        self._pods: Mapping[str, Pod] = _EMPTY

    def built(self) -> Mapping[str, Pod]:
        """The pods (built now if not yet)."""
        if self._build is not None:
            self._pods, self._build = self._build(), None
        return self._pods

    def __getitem__(self, key: str) -> Pod:
        return self.built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.built())

    def __len__(self) -> int:
        return len(self.built())

    def __contains__(self, key: object) -> bool:
        return key in self.built()

    def get(self, key: str, default: Any = None) -> Any:
        return self.built().get(key, default)

    def keys(self) -> KeysView[str]:
        return self.built().keys()

    def values(self) -> ValuesView[Pod]:
        return self.built().values()

    def items(self) -> ItemsView[str, Pod]:
        return self.built().items()

    def __eq__(self, other: object) -> bool:
        return self.built() == (other.built() if isinstance(other, PodsWhenRead) else other)

    __hash__ = None  # type: ignore[assignment]  # a mapping

    def __repr__(self) -> str:
        return f"PodsWhenRead({self.built()!r})"


def _pod_ready(obj: Mapping[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _target_port(obj: Mapping[str, Any], target: object, default: int) -> int | None:
    if target is None:
        return default
    if isinstance(target, int) or str(target).isdigit():
        return int(str(target))
    for container in (obj.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target:
                return int(port.get("containerPort") or 0)
    return None


def derive_endpoints_from_pods(
    services: Mapping[str, Service], pod_objects: list[Mapping[str, Any]], nodes: Mapping[str, Node]
) -> dict[str, dict[str, list[Endpoint]]]:
    """Endpoints for every selector Service from the Pods it selects.

    Mirrors the EndpointSlice controller: ready = pod Ready and not terminating (or
    ``publishNotReadyAddresses``), serving = pod Ready, terminating = deletionTimestamp
    set; ``trafficDistribution`` PreferClose/PreferSameZone gives each ready endpoint a
    hint for its own zone, PreferSameNode a node hint too. ``topology-mode: Auto``'s
    CPU-proportional allocation is not reproduced (no hints written).
    """
    by_ns: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for obj in pod_objects:
        status = obj.get("status") or {}
        if status.get("podIP") and status.get("phase") not in ("Succeeded", "Failed"):
            by_ns[str((obj.get("metadata") or {}).get("namespace") or "default")].append(obj)
    out: dict[str, dict[str, list[Endpoint]]] = {}
    for key, svc in services.items():
        if not svc.selector or svc.headless and not svc.ports:
            continue
        wanted = dict(svc.selector)
        ports: dict[str, list[Endpoint]] = defaultdict(list)
        for obj in by_ns.get(svc.namespace, ()):
            meta = obj.get("metadata") or {}
            labels = meta.get("labels") or {}
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            node = (obj.get("spec") or {}).get("nodeName")
            zone = nodes[node].zone if isinstance(node, str) and node in nodes else ""
            terminating = bool(meta.get("deletionTimestamp"))
            serving = _pod_ready(obj)
            ready = svc.publish_not_ready or (serving and not terminating)
            zone_hints = (
                frozenset([zone]) if ready and zone and svc.traffic_distribution else frozenset()
            )
            node_hints = (
                frozenset([node])
                if ready and node and svc.traffic_distribution == "PreferSameNode"
                else frozenset()
            )
            for sp in svc.ports:
                number = _target_port(obj, sp.target_port, sp.port)
                if number:
                    ports[sp.name].append(
                        Endpoint(
                            ip=str(obj["status"]["podIP"]),
                            port=number,
                            node=node,
                            zone=zone or None,
                            ready=ready,
                            serving=serving,
                            terminating=terminating,
                            zone_hints=zone_hints,
                            node_hints=node_hints,
                            pod=f"{svc.namespace}/{meta.get('name', '')}",
                        )
                    )
        out[key] = dict(ports)
    return out
