"""Per-node kube-proxy settings read from the kube-proxy Pods themselves.

A cluster halfway through a mode migration typically runs two kube-proxy DaemonSets
with different ConfigMaps (or ``--proxy-mode`` flags) on different node pools. When the
dump carries the ``kube-system`` kube-proxy Pods, each node's mode, IPVS scheduler and
cluster CIDR come from its own Pod: the ConfigMap mounted at its ``--config`` path, or
its flags when it has no config file (kube-proxy ignores most flags once ``--config`` is
given, so the file wins).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from routing.engine.proxyconf import parse_proxy_config

_FLAGS = {
    "--proxy-mode": "mode",
    "--ipvs-scheduler": "ipvs_scheduler",
    "--cluster-cidr": "clusterCIDR",
    "--detect-local-mode": "detectLocalMode",
    "--pod-bridge-interface": "bridgeInterface",
    "--pod-interface-name-prefix": "interfaceNamePrefix",
}


def is_kube_proxy_pod(obj: Mapping[str, Any]) -> bool:
    """A kube-system Pod of the kube-proxy DaemonSet (kubeadm/kind label or name)."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace") != "kube-system":
        return False
    labels = meta.get("labels") or {}
    return labels.get("k8s-app") == "kube-proxy" or str(meta.get("name", "")).startswith(
        "kube-proxy-"
    )


def _tokens(container: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for part in list(container.get("command") or ()) + list(container.get("args") or ()):
        # "sh -c 'kube-proxy --config=…'" style launchers put every flag in one string.
        out.extend(str(part).split())
    return out


def _flag_values(tokens: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for i, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if not sep and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            value = tokens[i + 1]
        values[name] = value
    return values


def _config_file(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    path: str,
    configmaps: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """The text of the ConfigMap key mounted at ``path`` in ``container``."""
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or ()}
    for mount in container.get("volumeMounts") or ():
        mount_path = str(mount.get("mountPath", "")).rstrip("/")
        if not mount_path or not path.startswith(mount_path + "/"):
            continue
        source = (volumes.get(mount.get("name")) or {}).get("configMap") or {}
        data = (configmaps.get(str(source.get("name", ""))) or {}).get("data") or {}
        key = posixpath.relpath(path, mount_path)
        for item in source.get("items") or ():
            if item.get("path") == key:
                key = item.get("key", key)
        return data.get(key)
    return None


def proxy_pod_ready(pods: list[Mapping[str, Any]]) -> dict[str, bool]:
    """node name -> whether its kube-proxy Pod is Ready (Running, Ready condition True),
    for the nodes whose kube-proxy Pod the dump has with a status: kube-proxy's own
    liveness, apart from the node's readiness (``lb.proxy_alive``)."""
    out: dict[str, bool] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        status = pod.get("status") or {}
        if not node or not status or not is_kube_proxy_pod(pod):
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or ()
        )
        out[str(node)] = ready and status.get("phase", "Running") == "Running"
    return out


def node_settings(
    pods: list[Mapping[str, Any]], configmaps: list[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """node name -> settings (``parse_proxy_config`` keys) of the kube-proxy Pod on it."""
    by_name = {
        str((cm.get("metadata") or {}).get("name", "")): cm
        for cm in configmaps
        if (cm.get("metadata") or {}).get("namespace") == "kube-system"
    }
    out: dict[str, dict[str, Any]] = {}
    for pod in pods:
        if not is_kube_proxy_pod(pod):
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            continue
        for container in (pod.get("spec") or {}).get("containers") or ():
            tokens = _tokens(container)
            if not any("kube-proxy" in t for t in tokens[:3]):
                continue
            flags = _flag_values(tokens)
            settings: dict[str, Any] = {
                key: flags[flag] for flag, key in _FLAGS.items() if flags.get(flag)
            }
            if "--masquerade-all" in flags:
                settings["masqueradeAll"] = flags["--masquerade-all"] in ("", "true", "True", "1")
            if flags.get("--config"):
                text = _config_file(pod, container, flags["--config"], by_name)
                if not text:
                    break  # its configuration is not in the dump: nothing known about this node
                settings = parse_proxy_config(text)
            out[str(node)] = settings
            break
    return out
