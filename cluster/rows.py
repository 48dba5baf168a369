"""Row values for the bulk insert, built straight from the checked objects in one pass.

Pure (no Django). ``cluster.parsing.parse_pod`` and ``cluster.slice_parsing.parse_slice``
read every field through :class:`cluster.fields.Reader` (a type check and a default per
field); for the 150,000 Pods and 150,000 endpoints of a large cluster that was most of
what an import spent outside the database. Here the object is converted once to its
:mod:`cluster.fast_checks` shape (the check, in C) and the row is read off the shape's
typed fields; only when the shape says no does the parser run, so a refusal is always the
parser's ``ObjectError``. The rows equal the parsers' field by field
(``cluster/tests/test_rows.py``: the demo, the test fixtures, generated clusters and
single-field corruptions).

Nodes and Services (a few thousand, with fields the shapes do not model) keep their parsers.
"""

from __future__ import annotations

from typing import Any

from cluster.fast_checks import checked_pod, checked_slice
from cluster.fields import Reader
from cluster.parsing import SERVICE_NAME_LABEL, parse_node, parse_pod, parse_service
from cluster.redact import pod_redacted
from cluster.slice_parsing import parse_slice

__all__ = ["node_row", "pod_row", "service_row", "slice_rows"]

node_row = parse_node
service_row = parse_service

_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
_HOSTNAME = "kubernetes.io/hostname"
_ZONE = "topology.kubernetes.io/zone"


def pod_row(obj: dict[str, Any], reader: Reader, namespace: str, name: str) -> dict[str, Any]:
    """``parse_pod(obj, reader, namespace, name)``, read off the Pod's shape when it has one."""
    checked = checked_pod(obj)
    if checked is None:
        return parse_pod(obj, reader, namespace, name)
    meta, spec, status = obj["metadata"], checked.spec, checked.status
    pod_ip, pod_ips, phase, ready = "", [], "", False
    if status is not None:
        pod_ip = status.pod_ip or ""
        if status.pod_ips:
            pod_ips = [entry.ip for entry in status.pod_ips]
        phase = status.phase or ""
        for condition in status.conditions or ():
            if condition.type == "Ready":  # the first Ready condition, as _condition reads it
                ready = condition.status == "True"
                break
    return {
        "namespace": namespace,
        "name": name,
        "uid": checked.metadata.uid or "",
        "node_name": (spec.node_name or "") if spec is not None else "",
        "pod_ip": pod_ip or (pod_ips[0] if pod_ips else ""),
        "pod_ips": pod_ips or ([pod_ip] if pod_ip else []),
        "host_network": bool(spec.host_network) if spec is not None else False,
        "labels": meta.get("labels") or {},
        "phase": phase,
        "ready": ready,
        "terminating": bool(meta.get("deletionTimestamp")),
        "raw": pod_redacted(obj),
    }


def slice_rows(
    obj: dict[str, Any], reader: Reader, namespace: str, name: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``parse_slice(obj, reader, namespace, name)``, read off the slice's shape when it has
    one: the slice's row values and one row-values dict per endpoint."""
    checked = checked_slice(obj)
    if checked is None:
        return parse_slice(obj, reader, namespace, name)
    labels = obj["metadata"].get("labels") or {}
    endpoints = []
    if checked.endpoints:
        for index, (entry, shape) in enumerate(zip(obj["endpoints"], checked.endpoints)):
            conditions, hints, target = shape.conditions, shape.hints, shape.target_ref
            topology = shape.topology or {}
            ready = serving = True
            terminating = False
            if conditions is not None:
                ready = True if conditions.ready is None else conditions.ready
                serving = True if conditions.serving is None else conditions.serving
                terminating = bool(conditions.terminating)
            endpoints.append(
                {
                    "position": index,
                    "address": entry["addresses"][0],
                    "addresses": entry["addresses"],
                    "ready": ready,
                    "serving": serving,
                    "terminating": terminating,
                    "node_name": shape.node_name or topology.get(_HOSTNAME, ""),
                    "zone": shape.zone or topology.get(_ZONE, ""),
                    "hostname": shape.hostname or "",
                    "hints_for_zones": [h.name for h in hints.for_zones or ()] if hints else [],
                    "hints_for_nodes": [h.name for h in hints.for_nodes or ()] if hints else [],
                    "target_kind": (target.kind or "") if target else "",
                    "target_namespace": (target.namespace or "") if target else "",
                    "target_name": (target.name or "") if target else "",
                    "raw": entry,
                }
            )
    row = {
        "namespace": namespace,
        "name": name,
        "uid": checked.metadata.uid or "",
        "service_name": labels.get(SERVICE_NAME_LABEL, ""),
        "address_type": checked.address_type,
        "ports": obj.get("ports") or [],
        "managed_by": labels.get(_MANAGED_BY, ""),
        "labels": labels,
        "raw": obj,
    }
    return row, endpoints
