"""What Routescope never keeps of a Kubernetes object: values a Secret could leak through.

A Pod's literal environment values (``env[].value``) are in practice where credentials end
up (a database password pasted into a Deployment); routing needs none of them. They are
dropped before a Pod is stored, by import and by sync alike (``cluster.parsing.parse_pod``
calls :func:`pod_redacted`), and again before a stored Pod is served (rows stored before
this rule). References stay: ``valueFrom`` / ``envFrom`` name a Secret or ConfigMap key,
not its value. The ``last-applied-configuration`` annotation goes too: it is a verbatim
copy of the object as applied, env values included.
"""

from __future__ import annotations

from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _has_secret_values(obj: dict[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        return True
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return False
    for key in _CONTAINER_LISTS:
        for container in spec.get(key) or ():
            env = container.get("env") if isinstance(container, dict) else None
            if isinstance(env, list) and any(isinstance(e, dict) and "value" in e for e in env):
                return True
    return False


def pod_redacted(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without literal env values and the last-applied copy (``obj`` itself when it
    has neither; the input is never modified)."""
    if not isinstance(obj, dict) or not _has_secret_values(obj):
        return obj
    out = dict(obj)
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        annotations = {k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED}
        out["metadata"] = {**meta, "annotations": annotations}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        out["spec"] = {
            **spec,
            **{
                key: [_container_redacted(c) for c in spec[key]]
                for key in _CONTAINER_LISTS
                if isinstance(spec.get(key), list)
            },
        }
    return out


def _container_redacted(container: Any) -> Any:
    env = container.get("env") if isinstance(container, dict) else None
    if not isinstance(env, list):
        return container
    return {
        **container,
        "env": [
            {k: v for k, v in e.items() if k != "value"} if isinstance(e, dict) else e for e in env
        ],
    }
