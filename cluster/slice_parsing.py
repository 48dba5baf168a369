"""EndpointSlice dicts -> ``EndpointSlice`` and ``Endpoint`` row values (pure, no Django).

Reads ``discovery.k8s.io/v1`` and the older ``v1beta1`` (whose endpoints carry
``topology`` instead of ``nodeName``/``zone``). Conditions get kube-proxy's defaults for
omitted values: ready and serving True, terminating False.
"""

from __future__ import annotations

from typing import Any

from cluster.fields import Reader
from cluster.parsing import ADDRESS_TYPES, PROTOCOLS, SERVICE_NAME_LABEL, check_port_names

_FAMILY = {"IPv4": 4, "IPv6": 6}


def parse_slice(
    obj: dict[str, Any], r: Reader, namespace: str, name: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the slice's row values and one row-values dict per endpoint."""
    meta = obj["metadata"]
    labels = r.string_map(meta, "labels", path="metadata.labels")
    address_type = r.get(obj, "addressType", str, path="addressType", required=True)
    if address_type not in ADDRESS_TYPES:
        raise r.fail(f"addressType {address_type!r} is not one of {', '.join(ADDRESS_TYPES)}")
    ports = r.items(obj, "ports", path="ports")
    names: list[str | None] = []
    for index, port in enumerate(ports):
        path = f"ports[{index}]"
        if not isinstance(port, dict):
            raise r.fail(f"{path} must be a mapping")
        names.append(r.get(port, "name", str, path=f"{path}.name"))
        r.port(port, "port", path=f"{path}.port")
        r.choice(port, "protocol", PROTOCOLS, path=f"{path}.protocol")
    check_port_names(r, names, path="ports", required=False)
    endpoints = [
        _parse_endpoint(r, entry, index, address_type)
        for index, entry in enumerate(r.items(obj, "endpoints", path="endpoints"))
    ]
    row = {
        "namespace": namespace,
        "name": name,
        "uid": r.get(meta, "uid", str, path="metadata.uid", default=""),
        "service_name": labels.get(SERVICE_NAME_LABEL, ""),
        "address_type": address_type,
        "ports": ports,
        "managed_by": labels.get("endpointslice.kubernetes.io/managed-by", ""),
        "labels": labels,
        "raw": obj,
    }
    return row, endpoints


def _parse_endpoint(r: Reader, entry: Any, index: int, address_type: str) -> dict[str, Any]:
    path = f"endpoints[{index}]"
    if not isinstance(entry, dict):
        raise r.fail(f"{path} must be a mapping")
    addresses = r.strings(entry, "addresses", path=f"{path}.addresses")
    if not addresses:
        raise r.fail(f"missing {path}.addresses")
    family = _FAMILY.get(address_type)
    if family:
        for i, address in enumerate(addresses):
            r.ip(address, path=f"{path}.addresses[{i}]", family=family)
    conditions = r.mapping(entry, "conditions", path=f"{path}.conditions")

    def condition(key: str, default: bool) -> bool:
        return r.get(conditions, key, bool, path=f"{path}.conditions.{key}", default=default)

    topology = r.string_map(entry, "topology", path=f"{path}.topology")  # v1beta1 only
    hints = r.mapping(entry, "hints", path=f"{path}.hints")
    target = r.mapping(entry, "targetRef", path=f"{path}.targetRef")
    node_name = r.get(entry, "nodeName", str, path=f"{path}.nodeName", default="")
    zone = r.get(entry, "zone", str, path=f"{path}.zone", default="")
    return {
        "position": index,
        "address": addresses[0],
        "addresses": addresses,
        "ready": condition("ready", True),
        "serving": condition("serving", True),
        "terminating": condition("terminating", False),
        "node_name": node_name or topology.get("kubernetes.io/hostname", ""),
        "zone": zone or topology.get("topology.kubernetes.io/zone", ""),
        "hostname": r.get(entry, "hostname", str, path=f"{path}.hostname", default=""),
        "hints_for_zones": _hint_names(r, hints, "forZones", f"{path}.hints.forZones"),
        "hints_for_nodes": _hint_names(r, hints, "forNodes", f"{path}.hints.forNodes"),
        "target_kind": r.get(target, "kind", str, path=f"{path}.targetRef.kind", default=""),
        "target_namespace": r.get(
            target, "namespace", str, path=f"{path}.targetRef.namespace", default=""
        ),
        "target_name": r.get(target, "name", str, path=f"{path}.targetRef.name", default=""),
        "raw": entry,
    }


def _hint_names(r: Reader, hints: dict, key: str, path: str) -> list[str]:
    names = []
    for index, hint in enumerate(r.items(hints, key, path=path)):
        names.append(r.get(hint, "name", str, path=f"{path}[{index}].name", required=True))
    return names
