"""A what-if taken away as a patch: the Service changes of a ``WhatIf`` as a JSON merge
patch, a ``kubectl patch`` command, a kustomize ``patches`` entry or the whole changed
Service (plain Python: ``routescope whatif -o …``, ``GET /api/v1/scenarios/{id}/patch``
and the what-if page's copy button all print this module's text).

A merge patch sets each what-if field at its path in the field table
(``routing.engine.whatif_fields``); a field's ``unset`` value becomes ``null`` (removed),
and ``sessionAffinity: None`` also removes ``sessionAffinityConfig`` (the API server refuses
it beside None). Cluster-wide changes (kube-proxy mode, nodes, endpoints, scale) are no
Service patch: ``notes`` names them and the text formats carry them as comments.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing.engine.servicepatch import apply_merge_patch, service_merge_patch
from routing.engine.whatif_fields import Value
from routing.whatif.value import WhatIf

#: ``format`` values: JSON merge patch, kubectl command, kustomize entry, changed Service.
FORMATS = ("patch", "kubectl", "kustomize", "yaml")

#: Fields the API server sets; a changed Service to hand to ``kubectl apply`` leaves them out.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
)


def merge_patch(fields: Mapping[str, Value]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch setting ``fields`` (field table names) on a Service
    (:func:`routing.engine.servicepatch.service_merge_patch`, the apply job's builder too)."""
    return service_merge_patch(fields)


@dataclass(frozen=True)
class ServicePatch:
    """One Service's patch and the Service as it would be after it."""

    namespace: str
    name: str
    patch: dict[str, Any]
    #: the Service object after the patch (without status and server-set metadata).
    changed: dict[str, Any]

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def kubectl(self) -> str:
        """A ``kubectl patch`` command a shell runs as printed."""
        body = json.dumps(self.patch, separators=(",", ":"), sort_keys=True)
        return (
            f"kubectl patch service {shlex.quote(self.name)} -n {shlex.quote(self.namespace)}"
            f" --type merge -p {shlex.quote(body)}"
        )

    def kustomize(self) -> dict[str, Any]:
        """A kustomization ``patches:`` entry (a strategic-merge patch with a target)."""
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.name, "namespace": self.namespace},
            **self.patch,
        }
        return {
            "target": {
                "version": "v1",
                "kind": "Service",
                "name": self.name,
                "namespace": self.namespace,
            },
            "patch": _yaml(body),
        }


@dataclass(frozen=True)
class Export:
    """Every Service patch of a what-if, and what it changes beyond Services."""

    services: tuple[ServicePatch, ...]
    notes: tuple[str, ...]

    def text(self, fmt: str) -> str:
        """The export in ``fmt`` (one of ``FORMATS``), as printed and copied."""
        comments = [f"# {note}" for note in self.notes]
        if fmt == "patch":  # JSON Lines: one merge patch per Service, in Service order
            return "\n".join(json.dumps(p.patch, sort_keys=True) for p in self.services)
        if fmt == "kubectl":
            return "\n".join([*comments, *(p.kubectl() for p in self.services)])
        if fmt == "kustomize":
            return "\n".join(
                [*comments, _yaml({"patches": [p.kustomize() for p in self.services]})]
            )
        if fmt == "yaml":
            docs = [_yaml(p.changed) for p in self.services]
            return "\n".join(comments) + ("\n" if comments else "") + "---\n".join(docs)
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")

    def to_json(self, fmt: str) -> dict[str, Any]:
        """The API's body: the text, and each Service's merge patch and changed object."""
        return {
            "format": fmt,
            "text": self.text(fmt),
            "notes": list(self.notes),
            "services": [
                {"service": p.key, "merge_patch": p.patch, "changed": p.changed}
                for p in self.services
            ],
        }


def export(whatif: WhatIf, services: Mapping[str, Mapping[str, Any]]) -> Export:
    """The patches of ``whatif``; ``services`` maps ``namespace/name`` to each touched
    Service's object as the cluster holds it (a ``KeyError`` names one missing)."""
    patches = []
    for key in sorted(whatif.services):
        namespace, _, name = key.partition("/")
        patch = merge_patch(whatif.services[key])
        patches.append(ServicePatch(namespace, name, patch, _changed(services[key], patch)))
    changes = whatif.changes()
    notes = tuple(
        f"not a Service patch: {key}={json.dumps(value, sort_keys=True)}"
        for key, value in changes.items()
        if key != "services"
    )
    return Export(tuple(patches), notes)


def _changed(service: Mapping[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    changed = apply_merge_patch(service, patch)
    changed.pop("status", None)
    metadata = {
        k: v for k, v in (changed.get("metadata") or {}).items() if k not in _SERVER_METADATA
    }
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    changed["metadata"] = metadata
    head = {
        "apiVersion": changed.pop("apiVersion", "v1"),
        "kind": changed.pop("kind", "Service"),
        "metadata": changed.pop("metadata"),
    }
    if "spec" in changed:
        head["spec"] = changed.pop("spec")
    # One order whatever the source kept: a dump keeps kubectl's key order, PostgreSQL's
    # jsonb its own, and the same what-if must export the same text from either.
    return {
        key: _canonical(value) for key, value in {**head, **dict(sorted(changed.items()))}.items()
    }


def _canonical(data: Any) -> Any:
    """``data`` with every mapping's keys sorted (list order is meaning, so kept)."""
    if isinstance(data, Mapping):
        return {key: _canonical(data[key]) for key in sorted(data)}
    if isinstance(data, list):
        return [_canonical(item) for item in data]
    return data


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
