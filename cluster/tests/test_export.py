"""export_cluster prints a kubectl-style List that imports back to the identical state."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from cluster.kube_dump import read_objects
from cluster.models import Cluster
from cluster.selectors import cluster_objects
from cluster.services import cluster_import
from cluster.tests import builders as b
from cluster.tests.fixtures import REAL
from cluster.tests.state import cluster_state

pytestmark = pytest.mark.django_db


def _export(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command("export_cluster", name, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_round_trip_of_every_real_fixture(path, fmt, tmp_path):
    cluster_import(name="original", objects=read_objects(path))
    text = _export("original", *(["--yaml"] if fmt == "yaml" else []))
    dump = tmp_path / f"export.{fmt}"
    dump.write_text(text)
    call_command("import_cluster", str(dump), "--name", "copy", stdout=io.StringIO())
    original, copy = Cluster.objects.get(name="original"), Cluster.objects.get(name="copy")
    assert cluster_state(copy) == cluster_state(original)
    assert cluster_objects(cluster=copy) == cluster_objects(cluster=original)


def test_export_is_a_kubectl_list_with_the_configmap_last():
    objects = b.small_cluster() + [b.kube_proxy_configmap("mode: ipvs\n")]
    cluster_import(name="c", objects=objects)
    listed = json.loads(_export("c"))
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert [o["kind"] for o in listed["items"]] == [
        "Node",
        "Node",
        "Service",
        "EndpointSlice",
        "Pod",
        "Pod",
        "ConfigMap",
    ]
    assert listed["items"] == [objects[i] for i in (0, 1, 2, 3, 4, 5, 6)]


def test_yaml_export_parses_to_the_same_objects():
    cluster_import(name="c", objects=b.small_cluster())
    assert yaml.safe_load(_export("c", "--yaml"))["items"] == json.loads(_export("c"))["items"]


def test_export_to_file(tmp_path):
    cluster_import(name="c", objects=b.small_cluster())
    target = tmp_path / "out.json"
    call_command("export_cluster", "c", "-o", str(target))
    assert read_objects(target) == b.small_cluster()


def test_unknown_cluster():
    with pytest.raises(CommandError, match="no cluster named 'nope'") as info:
        _export("nope")
    assert info.value.returncode == 2


def test_export_to_an_unwritable_place_is_one_line(tmp_path):
    cluster_import(name="c", objects=b.small_cluster())
    target = tmp_path / "missing-dir" / "out.json"
    with pytest.raises(
        CommandError, match=r"^cannot write .*out\.json: No such file or directory$"
    ) as info:
        call_command("export_cluster", "c", "-o", str(target))
    assert info.value.returncode == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_of_generated_clusters(seed, tmp_path):
    from cluster.generator import Shape, generate_cluster

    dump = tmp_path / "gen.json"
    with dump.open("w") as out:
        generate_cluster(shape=Shape(nodes=12, services=10, pods=150, zones=2, seed=seed), out=out)
    cluster_import(name="gen", objects=read_objects(dump))
    exported = tmp_path / "export.json"
    call_command("export_cluster", "gen", "-o", str(exported))
    cluster_import(name="again", objects=read_objects(exported))
    original, copy = Cluster.objects.get(name="gen"), Cluster.objects.get(name="again")
    assert cluster_state(copy) == cluster_state(original)
    assert read_objects(exported) == read_objects(dump)
