"""Robustness on dumps nobody here wrote: every service × port × source × destination of
every file in tests/fixtures/real (and the demo) gets an answer or one clear line.

The CLI maps ``QuestionError`` to exit status 2 with its message, so "no traceback ever"
from ``manage.py simulate`` comes down to: ``simulate`` raises nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, QuestionError, simulate

ROOT = Path(__file__).resolve().parents[3]
DUMPS = sorted(
    p for p in (ROOT / "tests" / "fixtures" / "real").glob("*") if p.suffix in (".json", ".yaml")
)
DUMPS.append(ROOT / "cluster" / "fixtures" / "demo.json")
MODES = [
    {"proxy_mode": "iptables"},
    {"proxy_mode": "nftables"},
    {"proxy_mode": "ipvs", "ipvs_scheduler": "sh"},
    {"proxy_mode": "ipvs", "ipvs_scheduler": "dh"},
    {"proxy_mode": "userspace"},
]
DESTINATIONS = (None, "clusterip", "nodeport", "loadbalancer", "externalip")


def check(answer) -> None:
    data = answer.to_json()
    assert data["action"] in ("forward", "drop", "reject")
    assert math.isclose(
        sum(e["share"] for e in data["endpoints"]) + data["dropped"], 1.0, abs_tol=1e-9
    )
    assert all(e["share"] > 0 for e in data["endpoints"])
    assert [e["ip"] for e in data["endpoints"]] == sorted(e["ip"] for e in data["endpoints"])
    assert (data["action"] == "forward") == bool(data["endpoints"])
    assert all(": " in line for line in data["explain"])


@pytest.mark.parametrize("overrides", MODES, ids=lambda o: "-".join(o.values()))
@pytest.mark.parametrize("path", DUMPS, ids=[p.name for p in DUMPS])
def test_every_question_on_a_real_dump_answers_or_says_why(path: Path, overrides: dict) -> None:
    snapshot = snapshot_from_objects(read_objects(path), **overrides)
    nodes = list(snapshot.nodes) or ["nowhere"]
    answered = 0
    for key, service in snapshot.services.items():
        port_names: list[str | None] = [p.name or str(p.port) for p in service.ports]
        for port in port_names or [None]:
            for source in (f"pod:{nodes[0]}", f"external:{nodes[-1]}", f"host:{nodes[0]}", "lb"):
                for to in DESTINATIONS:
                    try:
                        answer = simulate(
                            snapshot, Question(service=key, source=source, port=port, to=to, seed=1)
                        )
                    except QuestionError as err:
                        assert str(err) and "\n" not in str(err)
                        continue
                    check(answer)
                    answered += 1
    routable = [
        s
        for s in snapshot.services.values()
        if not s.headless and s.type != "ExternalName" and s.ports
    ]
    assert answered > 0 or not routable
