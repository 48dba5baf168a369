"""``manage.py render_rules``: text, JSON with reasons, what-if diff, one-line errors (exit 2)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

DEMO = str(Path(__file__).resolve().parents[2] / "cluster" / "fixtures" / "demo.json")


def run(*args: str) -> str:
    out = StringIO()
    call_command("render_rules", *args, stdout=out)
    return out.getvalue()


def test_iptables_text_is_restore_input_for_the_node() -> None:
    text = run(DEMO, "--node", "node-a1", "--mode", "iptables", "--service", "shop/checkout")
    assert text.startswith("*filter\n") and text.count("COMMIT") == 2
    assert '-A KUBE-SERVICES -m comment --comment "shop/checkout:http cluster IP"' in text


def test_json_carries_a_reason_for_every_line() -> None:
    payload = json.loads(
        run(
            DEMO,
            "--node",
            "node-c1",
            "--mode",
            "nftables",
            "--service",
            "shop/checkout",
            "--set",
            "externalTrafficPolicy=Local",
            "--format",
            "json",
        )
    )
    assert len(payload["lines"]) == payload["text"].count("\n")
    drops = [line for line in payload["lines"] if line["reason"] == "drop-external"]
    assert (
        drops and "externalTrafficPolicy=Local" in drops[0]["why"] and "node-c1" in drops[0]["why"]
    )


def test_diff_shows_the_what_if_change() -> None:
    text = run(
        DEMO,
        "--node",
        "node-c1",
        "--mode",
        "iptables",
        "--service",
        "shop/checkout",
        "--set",
        "internalTrafficPolicy=Local",
        "--diff",
    )
    assert text.startswith("# shop/checkout\n--- node-c1 baseline\n+++ node-c1 what-if\n")
    assert any(line.startswith("+") and line.endswith("-j DROP") for line in text.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ("--node", "nope", "--mode", "iptables"),
        ("--node", "node-a1", "--mode", "iptables", "--set", "internalTrafficPolicy=Sometimes"),
        ("--node", "node-a1", "--mode", "iptables", "--set", "novalue"),
        ("--node", "node-a1", "--mode", "iptables", "--service", "shop/none"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args) -> None:
    with pytest.raises(CommandError) as err:
        run(DEMO, *args)
    assert err.value.returncode == 2 and "\n" not in str(err.value)


def test_missing_file_is_exit_2() -> None:
    with pytest.raises(CommandError) as err:
        run("/nonexistent/dump.json", "--node", "n", "--mode", "iptables")
    assert err.value.returncode == 2
