"""Issue 11: ``--family`` / ``family`` (dual-stack Services answered per IP family,
pkg/proxy/serviceport.go newBaseServiceInfo) and ``--client-ip`` / ``client_ip``
(loadBalancerSourceRanges at the LB IP, pkg/proxy/iptables/proxier.go syncProxyRules) on
``manage.py simulate`` and ``POST /api/v1/simulate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

pytest_plugins = ["cluster.api.testing"]
ROOT = Path(__file__).resolve().parents[2]


def objects() -> list[dict]:
    svc = service_obj("web", type="LoadBalancer", lb_ips=["192.0.2.9", "2001:db8::9"])
    svc["spec"]["clusterIPs"] = ["10.96.0.10", "fd00::10"]
    svc["spec"]["loadBalancerSourceRanges"] = ["203.0.113.0/24"]
    return [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="b"),
        svc,
        slice_obj("web", [endpoint_obj("10.1.0.1", "n1")], name="web-v4"),
        slice_obj(
            "web",
            [endpoint_obj("fd00:1::1", "n1"), endpoint_obj("fd00:2::1", "n2")],
            name="web-v6",
            address_type="IPv6",
        ),
    ]


def dump() -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": objects()}


def run(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "simulate", str(path), "--service", "default/web", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": "sqlite:////nonexistent/dir/never-opened.db",
        },
    )


def test_cli_family_and_client_ip(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump()))
    v6 = run(path, "--source", "pod:n1", "--family", "IPv6", "--json")
    assert v6.returncode == 0, v6.stderr
    answer = json.loads(v6.stdout)
    assert answer["family"] == "IPv6" and {e["ip"] for e in answer["endpoints"]} == {
        "fd00:1::1",
        "fd00:2::1",
    }
    out = run(
        path,
        "--source",
        "external:n2",
        "--to",
        "loadbalancer",
        "--client-ip",
        "198.51.100.7",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["action"] == "drop"
    bad = run(path, "--source", "pod:n1", "--family", "IPv7")
    assert bad.returncode == 2 and bad.stderr.count("\n") <= 1


@pytest.mark.django_db
def test_api_family_and_client_ip(reader_client) -> None:
    body = {"cluster_dump": dump(), "service": "default/web", "source": "pod:n1", "family": "IPv6"}
    response = reader_client.post("/api/v1/simulate", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["family"] == "IPv6"
    body = {
        "cluster_dump": dump(),
        "service": "default/web",
        "source": "lb",
        "client_ip": "198.51.100.7",
    }
    answer = reader_client.post("/api/v1/simulate", body, format="json").json()
    assert answer["action"] == "drop" and answer["drop_reason"] == "LB_SOURCE_RANGE_DROP"
    bad = reader_client.post("/api/v1/simulate", {**body, "client_ip": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "client_ip"
    single = {
        "cluster_dump": {
            "apiVersion": "v1",
            "kind": "List",
            "items": [node_obj("n1"), service_obj("web")],
        },
        "service": "default/web",
        "source": "pod:n1",
        "family": "IPv6",
    }
    missing = reader_client.post("/api/v1/simulate", single, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "family"
