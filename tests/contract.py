"""Helpers for the public-contract tests: run a management command the way the CLI does
(exit status, stdout, stderr) and build a small, complete dump to break field by field."""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = sorted(p for p in (FIXTURES / "real").iterdir() if p.suffix in (".json", ".yaml"))
ODD = sorted((FIXTURES / "odd").glob("*.json"))

KUBE_PROXY_CONF = (
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
    "mode: ipvs\nipvs:\n  scheduler: rr\nclusterCIDR: 10.244.0.0/16\n"
)


class Result:
    """What a person at a shell sees: exit status, standard output, standard error."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def one_line_error(self) -> bool:
        """Exactly one non-empty line on stderr, and no traceback."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        return len(lines) == 1 and "Traceback" not in self.err

    def __repr__(self) -> str:
        return f"Result(code={self.code!r}, err={self.err!r}, out={self.out[:200]!r})"


def run(command: str, *args: str, stdin: bytes | None = None) -> Result:
    """Run ``manage.py COMMAND ARGS`` in-process; ``CommandError`` becomes what
    ``BaseCommand.run_from_argv`` prints ("CommandError: …", one line) and its exit code.

    Anything else escaping the command is a crash, and is left to fail the test.
    """
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        call_command(command, *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        code = exc.returncode
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = saved
    return Result(code, out.getvalue(), err.getvalue())


def small_dump() -> dict[str, Any]:
    """Two zones, a LoadBalancer Service with every field the importer and engine read,
    its EndpointSlice, a Pod with owner and named port, a kube-proxy Pod, the ConfigMap."""
    return copy.deepcopy(_SMALL)


def write(tmp_path: Path, data: Any, name: str = "dump.json") -> str:
    """``data`` as a JSON file (bytes and str are written as they are); returns its path."""
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif isinstance(data, str):
        path.write_text(data)
    else:
        path.write_text(json.dumps(data))
    return str(path)


def export(name: str) -> str:
    """``export_cluster NAME`` output (asserts it succeeded)."""
    result = run("export_cluster", name)
    assert result.code == 0, result
    return result.out


_SMALL: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z-a"}},
            "spec": {
                "podCIDRs": ["10.244.1.0/24"],
                "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
            },
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeProxyVersion": "v1.30.1", "kubeletVersion": "v1.30.1"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n2", "labels": {"topology.kubernetes.io/zone": "z-b"}},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "selector": {"app": "web"},
                "ports": [
                    {
                        "name": "http",
                        "port": 80,
                        "targetPort": 8080,
                        "nodePort": 30080,
                        "protocol": "TCP",
                    }
                ],
                "externalTrafficPolicy": "Local",
                "internalTrafficPolicy": "Cluster",
                "healthCheckNodePort": 32000,
                "externalIPs": ["192.0.2.10"],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 100}},
                "trafficDistribution": "PreferClose",
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": "web-abc",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": ["10.244.1.5"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": "n1",
                    "zone": "z-a",
                    "hints": {"forZones": [{"name": "z-a"}]},
                    "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                },
                {
                    "addresses": ["10.244.2.5"],
                    "conditions": {"ready": True},
                    "nodeName": "n2",
                    "zone": "z-b",
                },
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "labels": {"app": "web", "pod-template-hash": "5d9"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9", "uid": "u"}
                ],
            },
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx",
                        "ports": [{"name": "web", "containerPort": 8080}],
                    }
                ],
            },
            "status": {
                "phase": "Running",
                "podIP": "10.244.1.5",
                "podIPs": [{"ip": "10.244.1.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "kube-proxy-abc",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-proxy"},
            },
            "spec": {
                "nodeName": "n2",
                "hostNetwork": True,
                "containers": [
                    {
                        "name": "kube-proxy",
                        "command": [
                            "/usr/local/bin/kube-proxy",
                            "--config=/var/lib/kube-proxy/config.conf",
                        ],
                        "volumeMounts": [
                            {"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"}
                        ],
                    }
                ],
                "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy"}}],
            },
            "status": {"phase": "Running", "podIP": "10.0.0.2"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": KUBE_PROXY_CONF},
        },
    ],
}
