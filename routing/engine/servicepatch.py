"""A Service change as an RFC 7386 JSON merge patch, and applying such a patch.

One builder for every place a what-if becomes a patch: the apply job
(``cluster.apply``), the exports (``routing.whatif.export``: ``routescope whatif -o patch``,
``GET /api/v1/scenarios/{id}/patch``, the copy button) and the fake API server's
``merge-patch+json`` handling (``cluster.testing.fake_store``). Pure: no Django.

Each field is set at its path in the what-if field table (:mod:`routing.engine.whatif_fields`);
a name the table does not know is a top-level ``spec`` key (a rollback restores an audited
``sessionAffinityConfig`` that way). ``None`` and a field's ``unset`` value both become
``null`` — the field is removed, as the API server expects ("" is not a valid value of any
field). ``sessionAffinity: None`` (or removing ``sessionAffinity``) also removes
``sessionAffinityConfig``, which the API server refuses beside None.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from routing.engine.whatif_fields import BY_NAME


def spec_path(name: str) -> tuple[str, ...]:
    """Where field ``name`` lives under ``spec`` (a name the table does not know: itself)."""
    found = BY_NAME.get(name)
    return found.path[1:] if found is not None else (name,)


def service_merge_patch(fields: Mapping[str, object]) -> dict[str, Any]:
    """The merge patch setting ``fields`` (field table names -> values; None removes)."""
    spec: dict[str, Any] = {}
    for name, value in fields.items():
        found = BY_NAME.get(name)
        if found is not None and found.unset is not None and value == found.unset:
            value = None
        *parents, leaf = spec_path(name)
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    if "sessionAffinity" in spec and spec["sessionAffinity"] in ("None", None):
        spec.setdefault("sessionAffinityConfig", None)
    return {"spec": spec}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
