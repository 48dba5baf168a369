"""Contract: the ``routescope`` console command (DESIGN.md, "Contracts added later").

File mode never loads Django (a real process, its ``sys.modules`` checked after each
subcommand); every subcommand answers in every ``-o`` format; bad input exits 2 with one
line on stderr; ``--server URL --token T`` against a live server prints exactly the JSON of
file mode (a file is no stored cluster: only ``cluster`` and ``revision`` differ there).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import pytest
import yaml

from cluster.testing.fixtures import fake_api
from routing.cli.main import console, main
from routing.testing import routescope_process
from tests.contract import run

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "cluster" / "fixtures" / "demo.json")

#: One file-mode call per subcommand (the demo dump).
CALLS = {
    "simulate": [
        "simulate",
        DEMO,
        "--service",
        "shop/frontend",
        "--port",
        "http",
        "--source",
        "external:node-a1",
        "--set",
        "externalTrafficPolicy=Local",
    ],
    "analyze": ["analyze", DEMO, "--service", "shop/checkout"],
    "whatif": [
        "whatif",
        DEMO,
        "--service",
        "shop/frontend",
        "--set",
        "externalTrafficPolicy=Local",
    ],
    "render-rules": ["render-rules", DEMO, "--node", "node-a1", "--service", "shop/cart"],
    "timeline": ["timeline", DEMO, "--service", "shop/checkout", "--event", "drain:node-b1"],
}


def routescope(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``routescope ARGS`` in-process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's refusals
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_console_script_names_console():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["routescope"].partition(":")
    assert getattr(import_module(module), name) is console


@pytest.mark.parametrize("command", sorted(CALLS))
def test_file_mode_never_loads_django(command):
    code = (
        "import sys; from routing.cli.main import main; rc = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'config')), file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *CALLS[command], "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    json.loads(proc.stdout)


def test_a_json_dump_without_yaml_in_it_never_loads_pyyaml(tmp_path):
    """Start-up is most of a call (issue 15: <= 150 ms): PyYAML (and OpenSSL's hashlib) are
    imported only when a YAML document is read, here none: the demo without kube-proxy's
    ConfigMap (whose config.conf is YAML text); the cluster-wide analysis engine only by
    the commands that analyse."""
    dump = json.loads(Path(DEMO).read_text())
    dump["items"] = [item for item in dump["items"] if item["kind"] != "ConfigMap"]
    path = tmp_path / "no-configmap.json"
    path.write_text(json.dumps(dump))
    code = (
        "import sys; from routing.cli.main import main; rc = main(sys.argv[1:]); "
        "print(sorted(m for m in ('yaml', 'hashlib', 'routing.engine.analysis') "
        "if m in sys.modules), file=sys.stderr); "
        "sys.exit(rc)"
    )
    args = ["simulate", str(path), *CALLS["simulate"][2:], "-o", "json"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    assert json.loads(proc.stdout)["service"] == "shop/frontend"
    # the same dump as YAML is read all the same (PyYAML loaded on demand)
    (tmp_path / "no-configmap.yaml").write_text(yaml.safe_dump(dump))
    args[1] = str(tmp_path / "no-configmap.yaml")
    proc_yaml = subprocess.run(
        [sys.executable, "-m", "routing.cli.main", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert proc_yaml.returncode == 0, proc_yaml.stderr
    assert json.loads(proc_yaml.stdout) == json.loads(proc.stdout)


@pytest.mark.parametrize("fmt", ["json", "yaml", "table", "markdown"])
@pytest.mark.parametrize("command", sorted(CALLS))
def test_every_subcommand_in_every_format(capsys, command, fmt):
    code, out, err = routescope(capsys, *CALLS[command], "-o", fmt)
    assert code == 0 and err == "", err
    as_json = json.loads(routescope(capsys, *CALLS[command], "-o", "json")[1])
    if fmt == "json":
        assert json.loads(out) == as_json
    elif fmt == "yaml" and command == "whatif":  # DESIGN.md: whatif's yaml is the Service
        changed = yaml.safe_load(out)
        assert changed["kind"] == "Service" and changed["metadata"]["name"] == "frontend"
        assert changed["spec"]["externalTrafficPolicy"] == "Local"
    elif fmt == "yaml":
        assert yaml.safe_load(out) == as_json
    elif fmt == "markdown":
        assert out.startswith("### ") and "\n| " in out and "|---|" in out
    else:
        assert out.strip() and not out.startswith("{")


def test_simulate_json_is_manage_py_simulate_json(capsys):
    code, out, _ = routescope(capsys, *CALLS["simulate"], "-o", "json")
    result = run("simulate", *CALLS["simulate"][1:], "--json")
    assert code == 0 and result.code == 0
    assert json.loads(out) == json.loads(result.out)


def test_timeline_json_is_manage_py_timeline_json(capsys):
    code, out, _ = routescope(capsys, *CALLS["timeline"], "-o", "json")
    result = run("timeline", *CALLS["timeline"][1:], "--json")
    assert code == 0 and result.code == 0
    assert json.loads(out) == json.loads(result.out) and json.loads(out)["windows"]


def test_whatif_json_names_the_new_drops(capsys):
    code, out, _ = routescope(capsys, *CALLS["whatif"], "-o", "json")
    body = json.loads(out)
    assert body["changes"] == {"services": {"shop/frontend": {"externalTrafficPolicy": "Local"}}}
    assert body["summary"]["questions_newly_dropping"] > 0
    assert body["cluster"] is None and body["revision"] is None


@pytest.mark.parametrize(
    "args, says",
    [
        (["simulate", DEMO, "--service", "shop/nope", "--source", "pod:node-a1"], "nope"),
        (
            ["simulate", "/nonexistent/dump.json", "--service", "a/b", "--source", "lb"],
            "cannot read",
        ),
        (["simulate", DEMO, "--source", "lb"], "--service"),
        (
            ["simulate", DEMO, "--service", "shop/cart", "--source", "pod:node-a1", "-o", "xml"],
            "xml",
        ),
        (
            [
                "simulate",
                DEMO,
                "--service",
                "shop/cart",
                "--source",
                "pod:node-a1",
                "--set",
                "externalTrafficPolicy=Sometimes",
            ],
            "Sometimes",
        ),
        (["simulate", "--cluster", "demo", "--service", "shop/cart", "--source", "lb"], "--server"),
        (["analyze"], "FILE"),
        (["whatif", DEMO, "--set", "internalTrafficPolicy=Local"], "--service"),
        (["render-rules", DEMO, "--node", "no-such-node"], "no-such-node"),
        (["bogus"], "bogus"),
        (
            [
                "simulate",
                "--server",
                "ftp://x",
                "--cluster",
                "c",
                "--service",
                "a/b",
                "--source",
                "lb",
            ],
            "ftp",
        ),
        (["analyze", "--server", "http://127.0.0.1:9", "--cluster", "demo"], "cannot reach"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, says):
    code, out, err = routescope(capsys, *args)
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and says in lines[0], err


def test_bad_yaml_exits_2_with_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: List\nitems: [\n")
    code, _, err = routescope(capsys, "analyze", str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1, err


# --- server mode against a live server --------------------------------------------------


@pytest.fixture
def served(live_server, transactional_db):
    """The demo imported as cluster ``demo`` on a live server, a reader's token and a saved
    what-if (eTP=Local on shop/frontend)."""
    from cluster.kube_dump import read_objects
    from cluster.models import Cluster
    from cluster.services import cluster_import
    from routing.services import scenario_create

    cluster_import(name="demo", objects=read_objects(DEMO))
    token = run("create_api_token", "reader", "--create")
    assert token.code == 0, token
    scenario = scenario_create(
        cluster=Cluster.objects.get(name="demo"),
        name="etp",
        changes={"services": {"shop/frontend": {"externalTrafficPolicy": "Local"}}},
    )
    return ["--server", live_server.url, "--token", token.out.strip()], scenario.pk


def _without_identity(body: dict) -> dict:
    # A stored cluster's name, revision and its stored analysis' state (``analysis``: which
    # revision the figures are of, the progress of the one in flight): a file has none.
    return {k: v for k, v in body.items() if k not in ("cluster", "revision", "analysis")}


def test_server_mode_prints_the_file_modes_json(capsys, served):
    server, scenario = served
    pairs = [
        (CALLS["simulate"], [*CALLS["simulate"], *server]),  # the file sent inline
        (CALLS["simulate"], ["simulate", "--cluster", "demo", *CALLS["simulate"][2:], *server]),
        (CALLS["analyze"], ["analyze", "--cluster", "demo", *CALLS["analyze"][2:], *server]),
        (
            CALLS["render-rules"],
            ["render-rules", "--cluster", "demo", *CALLS["render-rules"][2:], *server],
        ),
        (
            CALLS["whatif"],
            ["whatif", "--scenario", str(scenario), "--service", "shop/frontend", *server],
        ),
        (CALLS["timeline"], [*CALLS["timeline"], *server]),  # the file sent inline
        (CALLS["timeline"], ["timeline", "--cluster", "demo", *CALLS["timeline"][2:], *server]),
    ]
    for local_args, server_args in pairs:
        code, out, err = routescope_process(*local_args, "-o", "json")
        assert code == 0, err
        code, remote, err = routescope_process(*server_args, "-o", "json")
        assert code == 0, (server_args, err)
        assert _without_identity(json.loads(remote)) == _without_identity(
            json.loads(out)
        ), server_args
        if "--cluster" in server_args or "--scenario" in server_args:
            assert json.loads(remote).get("cluster", "demo") == "demo"


def test_server_mode_refusals_are_one_line(capsys, served):
    server, _ = served
    for args, says in [
        (["simulate", "--cluster", "demo", "--service", "shop/nope", "--source", "lb"], "400"),
        (["analyze", "--cluster", "nowhere"], "404"),
        (["whatif", "--scenario", "999999"], "404"),
        (["analyze", "--cluster", "demo", "--server", server[1], "--token", "wrong"], "401"),
    ]:
        code, out, err = routescope_process(
            *args, *server[:2], *([] if "--token" in args else server[2:])
        )
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, err)
        assert says in err, (args, err)


# --- export: the what-if as patches ---------------------------------------------------


def _served_dump(server, tmp_path) -> str:
    """The sample cluster as a dump, its Service shop/web exactly as the fake server serves it."""
    from cluster.testing.objects import sample_cluster

    served = server.store.get("services", "shop", "web")
    items = [
        served if (o["kind"], o["metadata"]["name"]) == ("Service", "web") else o
        for o in sample_cluster()
    ]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return str(path)


def _patch_served(server, patch: dict) -> dict:
    import urllib.request

    from cluster.testing.fixtures import TOKEN

    request = urllib.request.Request(
        f"{server.url}/api/v1/namespaces/shop/services/web",
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={
            "Content-Type": "application/merge-patch+json",
            "Authorization": f"Bearer {TOKEN}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return server.store.get("services", "shop", "web")


#: (what-if flags, the merge patch they export)
EXPORTS = [
    (["--set", "externalTrafficPolicy=Local"], {"spec": {"externalTrafficPolicy": "Local"}}),
    (
        [
            "--set",
            "sessionAffinity=ClientIP",
            "--set",
            "sessionAffinityConfig.clientIP.timeoutSeconds=60",
            "--set",
            "internalTrafficPolicy=Local",
        ],
        {
            "spec": {
                "sessionAffinity": "ClientIP",
                "internalTrafficPolicy": "Local",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            }
        },
    ),
]


@pytest.mark.parametrize("sets, expected", EXPORTS, ids=["etp-local", "affinity-itp"])
def test_exported_patch_applied_to_the_fake_api_server_gives_the_previewed_service(
    capsys,
    fake_api,
    tmp_path,
    sets,
    expected,
):
    import shlex

    dump = _served_dump(fake_api, tmp_path)
    args = ["whatif", dump, "--service", "shop/web", *sets]
    code, out, err = routescope(capsys, *args, "-o", "patch")
    assert code == 0, err
    patch = json.loads(out)
    assert patch == expected
    code, previewed, _ = routescope(capsys, *args, "-o", "yaml")
    previewed = yaml.safe_load(previewed)
    served = _patch_served(fake_api, patch)
    meta = {
        k: v
        for k, v in served["metadata"].items()
        if k not in ("uid", "resourceVersion", "creationTimestamp", "generation")
    }
    assert {**served, "metadata": meta, "status": None} == {**previewed, "status": None}
    assert "status" not in previewed
    # The kubectl command carries the same patch; the kustomize entry targets the Service.
    code, kubectl, _ = routescope(capsys, *args, "-o", "kubectl")
    words = shlex.split(kubectl)
    assert words[:6] == ["kubectl", "patch", "service", "web", "-n", "shop"]
    assert json.loads(words[words.index("-p") + 1]) == expected and "merge" in words
    code, kustomize, _ = routescope(capsys, *args, "-o", "kustomize")
    entry = yaml.safe_load(kustomize)["patches"][0]
    assert entry["target"] == {
        "version": "v1",
        "kind": "Service",
        "name": "web",
        "namespace": "shop",
    }
    assert yaml.safe_load(entry["patch"])["spec"] == expected["spec"]


def test_unsetting_a_field_exports_null(capsys, fake_api, tmp_path):
    dump = _served_dump(fake_api, tmp_path)
    code, out, err = routescope(
        capsys,
        "whatif",
        dump,
        "--service",
        "shop/web",
        "--set",
        "trafficDistribution=",
        "--set",
        "sessionAffinity=None",
        "-o",
        "patch",
    )
    assert code == 0, err
    assert json.loads(out) == {
        "spec": {
            "trafficDistribution": None,
            "sessionAffinity": "None",
            "sessionAffinityConfig": None,
        }
    }


def test_a_whatif_without_service_fields_has_no_patch(capsys):
    code, out, err = routescope(
        capsys,
        "whatif",
        DEMO,
        "--service",
        "shop/frontend",
        "--proxy-mode",
        "ipvs",
        "-o",
        "kubectl",
    )
    assert code == 2 and out == "" and "--set" in err


def test_the_api_exports_a_saved_scenario_on_an_imported_cluster(capsys, served):
    server, scenario = served
    for fmt in ("patch", "kubectl", "kustomize", "yaml"):
        code, local, err = routescope_process(*CALLS["whatif"], "-o", fmt)
        assert code == 0, err
        code, remote, err = routescope_process(
            "whatif", "--scenario", str(scenario), *server, "-o", fmt
        )
        assert code == 0, err
        assert remote == local, fmt


def test_the_patch_endpoint_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/scenarios/{id}/patch"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["format"]["schema"]["enum"] == ["patch", "kubectl", "kustomize", "yaml"]


# --- check: a change's manifests before they merge ----------------------------------------

FRONTEND = """apiVersion: v1
kind: Service
metadata: {{name: frontend, namespace: shop, labels: {{team: {team}}}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: {etp}
  selector: {{app: frontend}}
  ports:
  - {{name: http, port: 80, targetPort: 8080}}
  - {{name: https, port: 443, targetPort: 8443}}
"""
CHECKOUT_REPLICAS = """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: checkout}}
  template: {metadata: {labels: {app: checkout}}, spec: {containers: [{name: c, image: x}]}}
"""


def _manifest(tmp_path, text: str, name: str = "change.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_etp_local_on_a_service_with_pods_on_few_nodes_fails_naming_the_drop(
    capsys, tmp_path
):
    change = _manifest(tmp_path, FRONTEND.format(team="web", etp="Local"))
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, change)
    assert code == 1, err
    assert out.startswith("### Routescope check: ❌")
    dropping = [line for line in out.splitlines() if "LOCAL_NO_ENDPOINT_ON_NODE" in line]
    assert dropping and all(
        "| shop/frontend |" in line and "new-drops" in line for line in dropping
    )
    assert "dropped 0.0% → 100.0%" in dropping[0] and "external:" in dropping[0]
    # The same verdict as JUnit XML and JSON.
    code, xml, _ = routescope(capsys, "check", "--cluster", DEMO, change, "-o", "junit")
    import xml.etree.ElementTree as ET

    suite = ET.fromstring(xml)
    assert code == 1 and suite.get("failures") == "1" and suite.find("testcase/failure") is not None
    code, body, _ = routescope(capsys, "check", "--cluster", DEMO, change, "-o", "json")
    report = json.loads(body)
    assert code == 1 and report["passed"] is False and report["summary"]["new-drops"] > 0
    assert report["summary"]["client-ip-regained"] > 0


def test_check_a_harmless_change_passes(capsys, tmp_path):
    change = _manifest(tmp_path, FRONTEND.format(team="storefront", etp="Cluster"))
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, change)
    assert code == 0, err
    assert "✅ passes" in out and "No routing change." in out


def test_check_policy_decides_what_fails(capsys, tmp_path):
    change = _manifest(tmp_path, FRONTEND.format(team="web", etp="Local"))
    code, _, _ = routescope(capsys, "check", "--cluster", DEMO, change, "--fail-on", "imbalance>2")
    assert code == 0  # drops are reported but not a failure under this policy
    code, _, _ = routescope(
        capsys, "check", "--cluster", DEMO, change, "--fail-on", "client-ip-regained"
    )
    assert code == 1


def test_check_scaling_a_deployment_to_zero_drops_its_service(capsys, tmp_path):
    change = _manifest(tmp_path, CHECKOUT_REPLICAS)
    code, out, _ = routescope(capsys, "check", "--cluster", DEMO, change, "-o", "json")
    report = json.loads(out)
    assert code == 1 and report["services"] == ["shop/checkout"]
    assert all(f["after"]["dropped"] == 1.0 for f in report["findings"])


@pytest.mark.parametrize(
    "text, says",
    [
        ("kind: Service\nmetadata: {name: [\n", "change.yaml"),
        (
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
            "metadata: {name: x, namespace: shop}\n",
            "unknown kind",
        ),
        (
            FRONTEND.format(team="x", etp="Local").replace("name: frontend", "name: nowhere"),
            "unknown Service shop/nowhere",
        ),
    ],
    ids=["bad-yaml", "unknown-kind", "unknown-service"],
)
def test_check_bad_input_exits_2_with_one_line(capsys, tmp_path, text, says):
    change = _manifest(tmp_path, text)
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, change)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err


def test_check_refuses_an_unknown_policy_rule(capsys, tmp_path):
    change = _manifest(tmp_path, FRONTEND.format(team="web", etp="Local"))
    code, _, err = routescope(capsys, "check", "--cluster", DEMO, change, "--fail-on", "bad>x")
    assert code == 2 and "--fail-on" in err and len(err.strip().splitlines()) == 1


# --- check: workloads (issue 15) ------------------------------------------------------------


def _template(labels: str, spec: str = "containers: [{name: c, image: x}]") -> str:
    return f"template: {{metadata: {{labels: {labels}}}, spec: {{{spec}}}}}"


def _deployment(name: str, labels: str, replicas: int, spec: str = "") -> str:
    template = _template(labels, spec) if spec else _template(labels)
    return (
        "---\napiVersion: apps/v1\nkind: Deployment\n"
        f"metadata: {{name: {name}, namespace: shop}}\n"
        f"spec:\n  replicas: {replicas}\n  {template}\n"
    )


CART_SELECTS_V2 = """---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart-v2}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: 8080}]
"""
INGRESS_DAEMONS = """---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ingress-nginx-node, namespace: edge}
spec:
  %s
"""


def _demo_with(tmp_path, edit) -> str:
    """The demo dump with ``edit(items)`` applied, as a file."""
    dump = json.loads(Path(DEMO).read_text())
    edit(dump["items"])
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(dump))
    return str(path)


def _check_json(capsys, cluster: str, change: str, *flags: str) -> tuple[int, dict]:
    code, out, err = routescope(capsys, "check", "--cluster", cluster, change, "-o", "json", *flags)
    assert code in (0, 1), err
    return code, json.loads(out)


def test_check_pod_template_labels_that_stop_matching_drop_the_service(capsys, tmp_path):
    # A Deployment whose pod template relabels its pods app=checkout-v2: the Service's
    # selector app=checkout stops matching, so the EndpointSlice controller empties it.
    change = _manifest(tmp_path, _deployment("checkout", "{app: checkout-v2}", 4))
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, change)
    assert code == 1, err
    assert out.startswith("### Routescope check: ❌")
    rows = [line for line in out.splitlines() if line.startswith("| shop/checkout |")]
    assert rows and all("new-drops" in r and "dropped 0.0% → 100.0%" in r for r in rows)
    assert "- Deployment shop/checkout: pod template ~app=checkout-v2 on 4 pod(s)" in out
    assert "- Service shop/checkout: endpoints derived from the pods it selects" in out
    # The same template with the Service's label kept (one more label): nothing changes.
    same = _manifest(
        tmp_path, _deployment("checkout", "{app: checkout, track: stable}", 4), "same.yaml"
    )
    code, out, _ = routescope(capsys, "check", "--cluster", DEMO, same)
    assert code == 0 and "No routing change." in out and "+track=stable on 4 pod(s)" in out
    # Without replicas (an autoscaled workload's chart): the running count is kept.
    autoscaled = _manifest(
        tmp_path,
        _deployment("checkout", "{app: checkout}", 4).replace("  replicas: 4\n", ""),
        "autoscaled.yaml",
    )
    code, out, _ = routescope(capsys, "check", "--cluster", DEMO, autoscaled)
    assert code == 0 and "No routing change." in out and "replicas" not in out


def test_check_a_changed_selector_stops_matching_until_a_new_deployment_matches(capsys, tmp_path):
    alone = _manifest(tmp_path, CART_SELECTS_V2)
    code, report = _check_json(capsys, DEMO, alone)
    assert code == 1 and report["services"] == ["shop/cart"]
    assert report["findings"] and all(
        f["after"]["dropped"] == 1.0 and "new-drops" in f["changes"] for f in report["findings"]
    )
    # With the Deployment the selector now names, the Service has 3 endpoints again.
    both = _manifest(
        tmp_path, CART_SELECTS_V2 + _deployment("cart-v2", "{app: cart-v2}", 3), "both.yaml"
    )
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, both)
    assert code == 0, err
    assert "✅ passes" in out and "No routing change." in out


def test_check_places_a_new_deployment_as_the_scheduler_spreads_it(capsys, tmp_path):
    # Placement (routing.engine.scaling.pick_node): Ready, schedulable nodes with the fewest
    # pods of the workload, then the emptiest zone, then name order. edge-1 (no zone) comes
    # first by name, and again as the 9th (its zone "" is the emptiest); node-b3 (NotReady)
    # and node-c2 (cordoned) are never chosen.
    change = _manifest(
        tmp_path, CART_SELECTS_V2 + _deployment("cart-v2", "{app: cart-v2}", 9), "spread.yaml"
    )
    _, report = _check_json(capsys, DEMO, change)
    placed = next(n for n in report["notes"] if n.startswith("Deployment shop/cart-v2: new"))
    assert placed == (
        "Deployment shop/cart-v2: new, 9 pod(s) on edge-1×2, node-a1, node-a2, node-a3, "
        "node-b1, node-b2, node-c1, node-c3"
    )

    # A NoSchedule taint keeps replicas off a node unless the template tolerates it;
    # nodeSelector narrows the nodes to those with the labels.
    def taint(items):
        node = next(o for o in items if o["kind"] == "Node" and o["metadata"]["name"] == "node-a1")
        node["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]

    tainted = _demo_with(tmp_path, taint)
    two = _manifest(tmp_path, _deployment("cart-v2", "{app: cart-v2}", 2), "two.yaml")
    _, report = _check_json(capsys, tainted, two)
    assert "Deployment shop/cart-v2: new, 2 pod(s) on edge-1, node-a2" in report["notes"]
    tolerant = _manifest(
        tmp_path,
        _deployment(
            "cart-v2",
            "{app: cart-v2}",
            2,
            "containers: [{name: c, image: x}], "
            "tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}], "
            "nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}",
        ),
        "tolerant.yaml",
    )
    _, report = _check_json(capsys, tainted, tolerant)
    assert "Deployment shop/cart-v2: new, 2 pod(s) on node-a1, node-a2" in report["notes"]
    nowhere = _manifest(
        tmp_path,
        _deployment("cart-v2", "{app: cart-v2}", 2, "nodeSelector: {disk: nvme}"),
        "nowhere.yaml",
    )
    code, out, _ = routescope(capsys, "check", "--cluster", DEMO, nowhere)
    assert code == 0 and "2 of 2 replica(s) Pending" in out


def test_check_a_new_daemonset_runs_on_every_fitting_node(capsys, tmp_path):
    # edge/ingress-nginx is eTP=Local (and iTP=Local): nodes without one of its pods drop.
    # A DaemonSet of the same pods lands on every node, cordoned node-c2 included (the
    # DaemonSet controller tolerates node.kubernetes.io/unschedulable), but not on node-b3,
    # whose node.kubernetes.io/unreachable:NoSchedule taint daemon pods do not tolerate
    # (pkg/controller/daemon/util/daemonset_util.go, AddOrUpdateDaemonPodTolerations).
    change = _manifest(tmp_path, INGRESS_DAEMONS % _template("{app: ingress-nginx}"))
    code, report = _check_json(capsys, DEMO, change)
    assert code == 0 and report["passed"]
    assert (
        "DaemonSet edge/ingress-nginx-node: 9 new pod(s), one per fitting node "
        "(9 of 10 nodes fit; not node-b3)"
    ) in report["notes"]
    stopped = {f["source"] for f in report["findings"] if "drops-stop" in f["changes"]}
    assert {"external:node-c2", "external:edge-1", "external:node-a3"} <= stopped
    assert "external:node-b3" not in stopped and "external:node-a1" not in stopped
    # nodeSelector: only zone a's nodes; node-a1 and node-a2 already run one.
    zone_a = _manifest(
        tmp_path,
        INGRESS_DAEMONS
        % _template(
            "{app: ingress-nginx}",
            "containers: [{name: c, image: x}], "
            "nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}",
        ),
        "zone-a.yaml",
    )
    code, out, _ = routescope(capsys, "check", "--cluster", DEMO, zone_a)
    assert code == 0
    assert "| edge/ingress-nginx | http | external:node-a3 | 1 | dropped 100.0% → 0.0%" in out
    assert "external:node-c2" not in out and "(3 of 10 nodes fit; not " in out


def test_check_a_changed_daemonset_leaves_the_nodes_it_no_longer_fits(capsys, tmp_path):
    # ingress-nginx's 4 pods (node-a1, node-a2, node-b1, node-c1) as a DaemonSet's; its new
    # nodeSelector keeps zone a: the pods on node-b1 and node-c1 go, node-a3 gets one, and
    # the eTP=Local Service drops external clients at node-b1 and node-c1.
    def daemon(items):
        for obj in items:
            if obj["kind"] == "Pod" and obj["metadata"]["name"].startswith("ingress-nginx-"):
                obj["metadata"]["ownerReferences"] = [
                    {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ingress-nginx"}
                ]

    cluster = _demo_with(tmp_path, daemon)
    change = _manifest(
        tmp_path,
        (
            INGRESS_DAEMONS
            % _template(
                "{app: ingress-nginx}",
                "containers: [{name: c, image: x}], "
                "nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}",
            )
        ).replace("ingress-nginx-node", "ingress-nginx"),
    )
    code, report = _check_json(capsys, cluster, change)
    assert code == 1
    assert (
        "DaemonSet edge/ingress-nginx: pods leave 2 node(s) (nodeSelector / taints no longer fit)"
        in report["notes"]
    )
    assert any(n.startswith("DaemonSet edge/ingress-nginx: 1 new pod(s)") for n in report["notes"])
    new_drops = {f["source"] for f in report["findings"] if "new-drops" in f["changes"]}
    assert {"external:node-b1", "external:node-c1"} <= new_drops
    stopped = {f["source"] for f in report["findings"] if "drops-stop" in f["changes"]}
    assert "external:node-a3" in stopped and "external:node-a1" not in new_drops | stopped


def test_check_readiness_and_publish_not_ready_addresses(capsys, tmp_path):
    # Every cart pod NotReady (its EndpointSlice says so too): the Service rejects. A change
    # setting publishNotReadyAddresses makes the EndpointSlice controller publish them ready
    # (staging/src/k8s.io/endpointslice/utils.go, podToEndpoint: ready =
    # publishNotReadyAddresses || (serving && !terminating)).
    def not_ready(items):
        for obj in items:
            if obj["kind"] == "Pod" and obj["metadata"]["name"].startswith("cart-"):
                obj["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
            if (
                obj["kind"] == "EndpointSlice"
                and obj["metadata"]["labels"].get("kubernetes.io/service-name") == "cart"
            ):
                for ep in obj["endpoints"]:
                    ep["conditions"] = {"ready": False, "serving": False, "terminating": False}

    cluster = _demo_with(tmp_path, not_ready)
    publish = _manifest(
        tmp_path,
        CART_SELECTS_V2.replace("{app: cart-v2}", "{app: cart}").replace(
            "  sessionAffinity", "  publishNotReadyAddresses: true\n  sessionAffinity"
        ),
    )
    code, out, err = routescope(capsys, "check", "--cluster", cluster, publish)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("| shop/cart |")]
    assert rows and all("dropped 100.0% → 0.0%" in r for r in rows)
    code, _, _ = routescope(
        capsys, "check", "--cluster", cluster, publish, "--fail-on", "drops-stop"
    )
    assert code == 1
    # A new workload's pods are Ready once running: cart-v2 serves where cart's pods do not.
    v2 = _manifest(
        tmp_path, CART_SELECTS_V2 + _deployment("cart-v2", "{app: cart-v2}", 3), "v2.yaml"
    )
    _, report = _check_json(capsys, cluster, v2)
    assert report["findings"] and all(f["after"]["dropped"] == 0.0 for f in report["findings"])


def test_check_workloads_against_a_server_report_as_against_the_dump(served, tmp_path):
    # The server's export carries what the workload model reads (pod labels, owners,
    # readiness, node taints and labels): the same report from a stored cluster.
    server, _ = served
    change = _manifest(
        tmp_path,
        CART_SELECTS_V2
        + _deployment("cart-v2", "{app: cart-v2}", 2)
        + _deployment("checkout", "{app: checkout-v2}", 4)
        + INGRESS_DAEMONS % _template("{app: ingress-nginx}"),
    )
    code, local, err = routescope_process("check", "--cluster", DEMO, change, "-o", "json")
    assert code == 1, err
    code, remote, err = routescope_process(
        "check", *server, "--cluster-name", "demo", change, "-o", "json"
    )
    assert code == 1, err
    assert json.loads(remote) == json.loads(local)
    assert len(json.loads(local)["notes"]) >= 5


def test_check_refuses_a_workload_without_a_template(capsys, tmp_path):
    change = _manifest(
        tmp_path,
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x, namespace: edge}\nspec: {}\n",
    )
    code, out, err = routescope(capsys, "check", "--cluster", DEMO, change)
    assert code == 2 and out == "" and "has no spec.template" in err


@pytest.mark.slow
def test_make_installs_a_working_routescope_script(tmp_path):
    """The Makefile's install step, in a scratch venv that borrows the project's packages."""
    import re
    import sysconfig

    recipe = re.search(
        r"^\$\(VENV\)/\.cli:.*\n\t\$\(PIP\) (.+)$", (ROOT / "Makefile").read_text(), re.M
    )
    assert recipe, "Makefile: no $(VENV)/.cli recipe"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    install = subprocess.run(
        [*pip, *recipe.group(1).split()], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert install.returncode == 0, install.stderr
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "zz-project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run(
        [str(venv / "bin" / "routescope"), *CALLS["simulate"], "-o", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["service"] == "shop/frontend"


def test_check_against_a_server_reports_as_against_the_dump(capsys, served, tmp_path):
    server, _ = served
    change = _manifest(tmp_path, FRONTEND.format(team="web", etp="Local"))
    code, local, _ = routescope_process("check", "--cluster", DEMO, change, "-o", "json")
    assert code == 1
    code, remote, err = routescope_process(
        "check", *server, "--cluster-name", "demo", change, "-o", "json"
    )
    assert code == 1, err
    assert json.loads(remote) == json.loads(local)
    code, _, err = routescope_process("check", *server, "--cluster-name", "nowhere", change)
    assert code == 2 and "404" in err and len(err.strip().splitlines()) == 1


def test_check_needs_one_cluster(capsys, tmp_path):
    change = _manifest(tmp_path, FRONTEND.format(team="web", etp="Local"))
    code, _, err = routescope(capsys, "check", change)
    assert code == 2 and "--cluster" in err
    code, _, err = routescope(capsys, "check", "--cluster-name", "demo", change)
    assert code == 2 and "--server" in err
