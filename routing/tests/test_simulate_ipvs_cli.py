"""``manage.py simulate --proxy-mode ipvs --ipvs-scheduler X`` for every scheduler kube-proxy
accepts, and ``--proxy-mode userspace`` (DESIGN.md CLI contract; semantics §7.3, §7.4)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing.engine.ipvs import SCHEDULERS
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="b"),
        service_obj("web", type="NodePort", affinity="ClientIP"),
        slice_obj(
            "web",
            [
                endpoint_obj("10.1.0.5", "n1"),
                endpoint_obj("10.1.0.6", "n2"),
                endpoint_obj("10.1.0.7", "n2", ready=False, serving=False, terminating=True),
            ],
        ),
    ]
    path = tmp_path_factory.mktemp("dump") / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


def simulate_json(dump: Path, *args: str) -> dict:
    out = io.StringIO()
    call_command("simulate", str(dump), "--service", "default/web", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("source", ["pod:n1", "external:n2"])
def test_every_ipvs_scheduler_from_the_cli(dump: Path, scheduler: str, source: str) -> None:
    answer = simulate_json(
        dump, "--source", source, "--proxy-mode", "ipvs", "--ipvs-scheduler", scheduler
    )
    assert answer["proxy_mode"] == "ipvs"
    assert answer["action"] in ("forward", "reject")
    assert sum(e["share"] for e in answer["endpoints"]) + answer["dropped"] == pytest.approx(
        1.0, abs=1e-9
    )
    assert "10.1.0.7" not in {e["ip"] for e in answer["endpoints"]}
    assert any(
        line.startswith("CHOICE_IPVS: ipvs scheduler " + scheduler) for line in answer["explain"]
    )
    assert any(line.startswith("IPVS_GRACEFUL_WEIGHT_ZERO: ") for line in answer["explain"])


def test_userspace_from_the_cli(dump: Path) -> None:
    # userspace exists up to 1.25 (removed in 1.26, CHANGELOG-1.26): name such a release
    answer = simulate_json(
        dump, "--source", "pod:n1", "--proxy-mode", "userspace", "--kube-version", "1.25"
    )
    assert answer["proxy_mode"] == "userspace" and answer["client_ip_preserved"] is False
    assert [e["share"] for e in answer["endpoints"]] == [0.5, 0.5]


def test_unknown_scheduler_is_a_one_line_error(dump: Path) -> None:
    with pytest.raises(CommandError) as err:
        simulate_json(
            dump, "--source", "pod:n1", "--proxy-mode", "ipvs", "--ipvs-scheduler", "fifo"
        )
    assert "\n" not in str(err.value)
