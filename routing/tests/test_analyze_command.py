"""``manage.py analyze``: the CLI contract (text, --json, what-if flags, exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.services import cluster_import, cluster_replace_state
from routing.engine.scenario import Scenario
from routing.reports import cluster_report, report_cache_clear, scenario_report
from routing.snapshots import snapshot_cache_clear
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj

ROOT = Path(__file__).resolve().parents[2]


def _objects() -> list[dict]:
    """Three nodes in zones a/b/c; web (ClusterIP) on n1 and n2; shop (NodePort, eTP=Local)
    on n1."""
    return [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="b"),
        node_obj("n3", zone="c"),
        service_obj("web", cluster_ip="10.96.0.10"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.0.0.1", "n1", pod="default/web-1"),
                endpoint_obj("10.0.0.2", "n2", pod="default/web-2"),
            ],
        ),
        service_obj("shop", type="NodePort", etp="Local", cluster_ip="10.96.0.11"),
        slice_obj("shop", [endpoint_obj("10.0.1.1", "n1", pod="default/shop-1")]),
    ]


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _objects()}))
    return path


@pytest.fixture(autouse=True)
def _fresh_caches():
    snapshot_cache_clear()
    report_cache_clear()
    yield
    snapshot_cache_clear()
    report_cache_clear()


def run(*args: str) -> str:
    out = StringIO()
    call_command("analyze", *args, stdout=out)
    return out.getvalue()


def bad(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        run(*args)
    assert info.value.returncode == 2
    message = str(info.value)
    assert "\n" not in message
    return message


def test_text_report_lists_every_service_port_and_findings(dump: Path) -> None:
    text = run(str(dump))
    assert "3 nodes, zones: a, b, c" in text
    assert "default/web:http" in text and "default/shop:http" in text
    assert "ETP_LOCAL_DROPS default/shop:http" in text


def test_json_report_shape(dump: Path) -> None:
    data = json.loads(run(str(dump), "--json"))
    assert set(data) == {"summary", "cost_model", "services", "findings", "notes"}
    assert data["summary"]["service_ports"] == 2
    shop = next(s for s in data["services"] if s["service"] == "default/shop")
    assert [s["source"] for s in shop["sources"]] == ["pod", "external", "pod-external"]
    external = shop["sources"][1]
    assert external["actions"] == {"forward": 1, "drop": 2, "reject": 0}
    assert "endpoints" not in external
    with_eps = json.loads(run(str(dump), "--json", "--endpoints"))
    web = next(s for s in with_eps["services"] if s["service"] == "default/web")
    assert [e["ip"] for e in web["sources"][0]["endpoints"]] == ["10.0.0.1", "10.0.0.2"]


def test_what_if_set_applies_to_every_service_or_to_one(dump: Path) -> None:
    before = json.loads(run(str(dump), "--json"))
    assert next(s for s in before["services"] if s["service"] == "default/web")["dropped"] == 0.0
    after = json.loads(run(str(dump), "--json", "--set", "internalTrafficPolicy=Local"))
    web = next(s for s in after["services"] if s["service"] == "default/web")
    assert web["dropped"] == pytest.approx(1 / 3, abs=1e-6)
    assert any(
        f["code"] == "ITP_LOCAL_DROPS" and f["service"] == "default/web" for f in after["findings"]
    )
    one = json.loads(
        run(
            str(dump),
            "--json",
            "--service",
            "default/shop",
            "--set",
            "externalTrafficPolicy=Cluster",
        )
    )
    assert [s["service"] for s in one["services"]] == ["default/shop"]
    assert one["services"][0]["dropped"] == 0.0


def test_proxy_mode_what_if(dump: Path) -> None:
    data = json.loads(run(str(dump), "--json", "--proxy-mode", "ipvs"))
    assert data["summary"]["proxy_modes"] == {"ipvs": 3}
    assert any(f["code"] == "IPVS_LOCAL_FALLBACK" for f in data["findings"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "give a dump FILE"),
        (
            ("--set", "internalTrafficPolicy=Sometimes"),
            "internalTrafficPolicy='Sometimes' is not one of Cluster, Local",
        ),
        (("--set", "color=blue"), "cannot override 'color'"),
        (("--set", "oops"), "--set 'oops' is not FIELD=VALUE"),
        (
            ("--service", "default/nope", "--set", "internalTrafficPolicy=Local"),
            "unknown service 'default/nope'",
        ),
        (("--max-findings", "-1"), "--max-findings must be >= 0"),
    ],
    ids=[
        "no-input",
        "bad-value",
        "bad-field",
        "malformed-set",
        "unknown-service",
        "negative-limit",
    ],
)
def test_bad_input_is_one_line_exit_2(dump: Path, args: tuple[str, ...], fragment: str) -> None:
    full = args if args == () else (str(dump), *args)
    assert fragment in bad(*full)


def test_unreadable_and_non_kubernetes_files(tmp_path: Path) -> None:
    assert "cannot read" in bad(str(tmp_path / "missing.json"))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    bad(str(junk))


def test_command_line_exit_status_and_single_stderr_line(dump: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(dump), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["summary"]["nodes"] == 3
    wrong = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(dump), "--proxy-mode", "magic"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert len(wrong.stderr.strip().splitlines()) == 1 and "magic" in wrong.stderr


@pytest.mark.django_db
def test_stored_cluster_report_is_cached_per_revision() -> None:
    summary = cluster_import(name="small", objects=_objects())
    assert summary is not None
    from cluster.selectors import cluster_get

    cluster = cluster_get(name="small")
    first = cluster_report(cluster=cluster)
    assert cluster_report(cluster=cluster) is first
    assert scenario_report(cluster=cluster, scenario=Scenario()) is first
    what_if = scenario_report(
        cluster=cluster,
        scenario=Scenario(service_overrides={"default/web": {"internalTrafficPolicy": "Local"}}),
    )
    web = what_if.row("default/web")
    assert web is not None
    assert web.worst_dropped == pytest.approx(1 / 3)
    cluster_replace_state(cluster=cluster, objects=_objects()[:3])
    cluster.refresh_from_db()
    second = cluster_report(cluster=cluster)
    assert second is not first and second.rows == ()


@pytest.mark.django_db
def test_cluster_flag_reads_the_database() -> None:
    cluster_import(name="small", objects=_objects())
    data = json.loads(run("--cluster", "small", "--json", "--set", "internalTrafficPolicy=Local"))
    assert next(s for s in data["services"] if s["service"] == "default/web")[
        "dropped"
    ] == pytest.approx(1 / 3, abs=1e-6)
    assert "unknown cluster 'nope'" in bad("--cluster", "nope")
    assert "not both" in bad("some.json", "--cluster", "small")


def test_kube_version_changes_how_hints_are_read(tmp_path: Path) -> None:
    """Before 1.31 kube-proxy also wanted the topology annotation (KEP-4444): the same hinted
    slice is honoured on 1.35 and ignored on 1.29."""
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="b"),
        service_obj("web", distribution="PreferClose"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.0.0.1", "n1", zones=("a",)),
                endpoint_obj("10.0.0.2", "n2", zones=("b",)),
            ],
        ),
    ]
    path = tmp_path / "hinted.json"
    path.write_text(json.dumps({"kind": "List", "apiVersion": "v1", "items": objects}))
    now = json.loads(run(str(path), "--json"))
    assert now["services"][0]["topology"] == {"PreferSameZone": 2}
    old = json.loads(run(str(path), "--json", "--kube-version", "1.29"))
    assert old["services"][0]["topology"] == {"": 2}
    assert [f["code"] for f in old["findings"]][:1] == ["HINTS_IGNORED_NO_ANNOTATION"]
    assert "version 'bad' is not like 1.29" in bad(str(path), "--kube-version", "bad")


def test_service_flag_prints_every_source_in_detail(dump: Path) -> None:
    text = run(str(dump), "--service", "default/shop")
    assert "default/web" not in text
    assert (
        "external -> nodeport: 3 node(s): 1 forward, 2 drop, 0 reject; "
        "dropped 66.7% (LOCAL_NO_ENDPOINT_ON_NODE)" in text
    )
    assert "pod-external -> nodeport: 3 node(s): 3 forward, 0 drop, 0 reject; dropped 0.0%" in text
