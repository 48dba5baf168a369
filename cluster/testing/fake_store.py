"""The object store behind the fake Kubernetes API server.

It keeps what a real API server keeps for the subset Routescope uses: objects by
resource/namespace/name with a cluster-wide ``resourceVersion`` counter, an event log for
watches (with compaction, so old versions answer 410 Gone), consistent paginated lists
(a ``continue`` token pins the snapshot of the first page, as etcd does), and PATCH with
merge / strategic-merge semantics, ``resourceVersion`` preconditions (409) and validation
of the Service fields we change (422).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass

from routing.engine.servicepatch import apply_merge_patch
from routing.engine.whatif_fields import FIELDS

# plural -> (api prefix, kind, apiVersion, namespaced)
RESOURCES: dict[str, tuple[str, str, str, bool]] = {
    "nodes": ("/api/v1", "Node", "v1", False),
    "services": ("/api/v1", "Service", "v1", True),
    "pods": ("/api/v1", "Pod", "v1", True),
    "configmaps": ("/api/v1", "ConfigMap", "v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice", "discovery.k8s.io/v1", True),
    "daemonsets": ("/apis/apps/v1", "DaemonSet", "apps/v1", True),
}
KIND_TO_PLURAL = {kind: plural for plural, (_p, kind, _v, _n) in RESOURCES.items()}
SNAPSHOTS_KEPT = 32


class ApiError(Exception):
    """An error the server answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        """The ``metav1.Status`` body the API server returns for this error."""
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class Event:
    """One watch event as stored in the log."""

    rv: int
    plural: str
    namespace: str
    type: str
    object: dict


def _strategic_merge_patch(target, patch):
    # The fields Routescope patches are scalars and maps, where a strategic merge patch
    # behaves exactly like a JSON merge patch; lists are replaced whole (the behaviour for
    # lists without a patch merge key). Directives would need the schema: refuse them.
    if isinstance(patch, dict):
        for key, value in patch.items():
            if key.startswith("$"):
                raise ApiError(400, "BadRequest", f"unsupported patch directive {key!r}")
            _strategic_merge_patch(None, value)
    return apply_merge_patch(target, patch) if target is not None else patch


#: The Service enums the API server validates, from the what-if field table (top-level
#: string fields; nested and numeric ones are checked by ``_field_causes``).
SERVICE_ENUMS = {f.name: f.values for f in FIELDS if f.kind is str and "." not in f.name}


def _default(plural: str, obj: dict) -> None:
    # The API server's defaulting for the fields we patch: ClientIP affinity gets its timeout.
    spec = obj.get("spec") or {}
    if (
        plural == "services"
        and spec.get("sessionAffinity") == "ClientIP"
        and not spec.get("sessionAffinityConfig")
    ):
        obj["spec"] = {**spec, "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}


def _field_causes(obj: dict) -> list[tuple[str, str]]:
    """Nested or numeric what-if fields outside the range the field table gives."""
    causes = []
    for spec in FIELDS:
        if spec.kind is not int:
            continue
        value: object = obj
        for key in spec.path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        # int fields always carry their range (see FieldSpec.kind).
        assert spec.minimum is not None and spec.maximum is not None
        if not isinstance(value, int) or not spec.minimum <= value <= spec.maximum:
            causes.append(
                (
                    ".".join(spec.path),
                    f"Invalid value: {value}: must be greater than "
                    f"{spec.minimum - 1} and less than or equal to {spec.maximum}",
                )
            )
    return causes


def validate(plural: str, obj: dict) -> None:
    """Refuse (422 Invalid) what the real API server's validation would refuse for our fields."""
    causes = []
    name = obj.get("metadata", {}).get("name", "")
    if plural == "services":
        spec = obj.get("spec") or {}
        for field, allowed in SERVICE_ENUMS.items():
            value = spec.get(field)
            if value is not None and value not in allowed:
                causes.append(
                    (
                        f"spec.{field}",
                        f'Unsupported value: "{value}": supported values: '
                        + ", ".join(f'"{a}"' for a in allowed),
                    )
                )
        causes += _field_causes(obj)
        if spec.get("sessionAffinity", "None") == "None" and spec.get("sessionAffinityConfig"):
            causes.append(
                ("spec.sessionAffinityConfig", "must not be set when `sessionAffinity` is None")
            )
        external = spec.get("type") in ("NodePort", "LoadBalancer") or spec.get("externalIPs")
        if spec.get("externalTrafficPolicy") and not external:
            causes.append(
                ("spec.externalTrafficPolicy", "may only be set for externally-accessible services")
            )
    if plural == "configmaps":
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                causes.append((f"data[{key}]", "must be a string"))
    if causes:
        kind = RESOURCES[plural][1]
        message = f'{kind} "{name}" is invalid: ' + "; ".join(f"{f}: {m}" for f, m in causes)
        details = {
            "name": name,
            "kind": plural,
            "causes": [
                {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes
            ],
        }
        raise ApiError(422, "Invalid", message, details)


class Store:
    """Thread-safe objects + event log, with a condition variable watchers wait on."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.rv = 1
        self.compacted_rv = 0
        self.objects: dict[str, dict[tuple[str, str], dict]] = {p: {} for p in RESOURCES}
        self._encoded: dict[tuple[str, str, str], bytes] = {}
        self.events: list[Event] = []
        self._snapshots: OrderedDict[str, tuple[int, list[bytes]]] = OrderedDict()
        #: Mutating admission hooks ``hook(plural, object)``, run on every PATCH (dry-run
        #: too, as webhooks without side effects are), e.g. a policy that forces a field.
        self.admission: list = []

    # -- writes (the "other actors" of a cluster, and PATCH) --------------------------
    def load(self, objects) -> None:
        """Store objects without watch events (the state before anyone watched)."""
        with self.lock:
            for obj in objects:
                self._put(obj, record=False)
            self.compacted_rv = self.rv

    def upsert(self, obj: dict) -> dict:
        """Create or replace an object, as another client of the cluster would."""
        with self.lock:
            return self._put(obj, record=True)

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete an object and emit a DELETED event."""
        with self.lock:
            obj = self.objects[plural].pop((namespace, name))
            self._encoded.pop((plural, namespace, name), None)
            self.rv += 1
            obj = apply_merge_patch(obj, {"metadata": {"resourceVersion": str(self.rv)}})
            self._record(plural, "DELETED", obj)

    def compact(self) -> None:
        """Forget the event log: watches from older resourceVersions now get 410 Gone."""
        with self.lock:
            self.compacted_rv = self.rv
            self.events.clear()

    def _put(self, obj: dict, *, record: bool) -> dict:
        plural = KIND_TO_PLURAL.get(obj.get("kind", ""))
        if plural is None:
            return obj  # kinds the fake does not serve are ignored, as a filtered dump would
        _prefix, kind, api_version, namespaced = RESOURCES[plural]
        meta = dict(obj.get("metadata") or {})
        namespace = meta.get("namespace", "default") if namespaced else ""
        if namespaced:
            meta["namespace"] = namespace
        key = (namespace, meta["name"])
        old = self.objects[plural].get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        meta.setdefault("uid", (old or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        stored = {**obj, "apiVersion": api_version, "kind": kind, "metadata": meta}
        self.objects[plural][key] = stored
        self._encoded.pop((plural, *key), None)
        if record:
            self._record(plural, "MODIFIED" if old else "ADDED", stored)
        return stored

    def _record(self, plural: str, type_: str, obj: dict) -> None:
        ns = obj["metadata"].get("namespace", "")
        self.events.append(Event(self.rv, plural, ns, type_, obj))
        self.lock.notify_all()

    # -- reads -------------------------------------------------------------------------
    def get(self, plural: str, namespace: str, name: str) -> dict:
        """One object, or 404 NotFound."""
        with self.lock:
            obj = self.objects[plural].get((namespace, name))
        if obj is None:
            raise ApiError(
                404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural}
            )
        return obj

    def encoded_item(self, plural: str, key: tuple[str, str]) -> bytes:
        """An item as a list returns it (no kind/apiVersion), encoded once and cached."""
        cache_key = (plural, *key)
        data = self._encoded.get(cache_key)
        if data is None:
            item = {
                k: v
                for k, v in self.objects[plural][key].items()
                if k not in ("kind", "apiVersion")
            }
            data = self._encoded[cache_key] = json.dumps(item, separators=(",", ":")).encode()
        return data

    def list_page(
        self, plural: str, namespace: str | None, limit: int | None, token: str | None
    ) -> tuple[int, list[bytes], str | None, int]:
        """A page of a consistent list: (list resourceVersion, items, continue, remaining)."""
        with self.lock:
            if token:
                try:
                    snap_id, offset_text = (
                        base64.urlsafe_b64decode(token.encode()).decode().split(":")
                    )
                    rv, items = self._snapshots[snap_id]
                    offset = int(offset_text)
                except (ValueError, KeyError, UnicodeDecodeError):
                    raise ApiError(
                        410,
                        "Expired",
                        "The provided continue parameter is too old "
                        "to display a consistent list result.",
                    ) from None
            else:
                keys = sorted(
                    k for k in self.objects[plural] if namespace is None or k[0] == namespace
                )
                items = [self.encoded_item(plural, k) for k in keys]
                rv, offset, snap_id = self.rv, 0, uuid.uuid4().hex
            end = len(items) if not limit else min(len(items), offset + limit)
            more = end < len(items)
            if more:
                self._snapshots[snap_id] = (rv, items)
                while len(self._snapshots) > SNAPSHOTS_KEPT:
                    self._snapshots.popitem(last=False)
            next_token = (
                base64.urlsafe_b64encode(f"{snap_id}:{end}".encode()).decode() if more else None
            )
            return rv, items[offset:end], next_token, len(items) - end

    def events_after(self, rv: int, plural: str, namespace: str | None) -> list[Event]:
        """Logged events newer than ``rv`` for this resource (caller holds the lock)."""
        start = bisect_right([e.rv for e in self.events], rv)
        return [
            e
            for e in self.events[start:]
            if e.plural == plural and (namespace is None or e.namespace == namespace)
        ]

    # -- PATCH -------------------------------------------------------------------------
    def patch(
        self, plural: str, namespace: str, name: str, patch: dict, content_type: str, dry_run: bool
    ) -> dict:
        """Apply a patch as the API server does; ``dry_run`` validates and stores nothing."""
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "the patch must be a JSON object")
        with self.lock:
            current = self.get(plural, namespace, name)
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {plural} "
                    f'"{name}": the object has been modified; please apply your '
                    "changes to the latest version and try again",
                    {"name": name, "kind": plural},
                )
            if content_type.startswith("application/merge-patch+json"):
                merged = apply_merge_patch(current, patch)
            elif content_type.startswith("application/strategic-merge-patch+json"):
                merged = _strategic_merge_patch(current, patch)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format: {content_type}",
                )
            meta = dict(merged.get("metadata") or {})
            for field in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp"):
                if field in current["metadata"]:
                    meta[field] = current["metadata"][field]
            merged["metadata"] = meta
            merged["kind"], merged["apiVersion"] = current["kind"], current["apiVersion"]
            _default(plural, merged)
            for hook in self.admission:
                hook(plural, merged)
            validate(plural, merged)
            if merged.get("spec") != current.get("spec"):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            if dry_run:
                return merged
            return self._put(merged, record=True)
