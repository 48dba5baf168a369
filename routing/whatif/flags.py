"""The command line's ``--set FIELD=VALUE`` what-if, without Django.

``manage.py`` commands reach it through ``routing.whatif.cli`` (which adds Django's
one-line ``CommandError``); the ``routescope`` command imports it here, so its file mode
never loads Django.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterable, Sequence

from routing.engine.errors import UNKNOWN, EngineError, ScenarioError
from routing.engine.snapshot import Snapshot
from routing.engine.whatif_fields import FIELDS
from routing.whatif.value import WhatIf, parse_set_flags, service_fields

#: Exit status for bad input (DESIGN.md).
BAD_INPUT = 2

#: ``--set`` help, from the field table.
SET_HELP = "what-if Service field, repeatable: " + "; ".join(
    f"{f.name} ({f.describe()})" for f in FIELDS
)


def add_question_flags(parser: ArgumentParser) -> None:
    """``--family``, ``--client-ip`` and ``--via-node``: the simulate question's flags beyond
    DESIGN.md's, shared by ``manage.py simulate`` and ``routescope simulate`` (the API's
    ``family``, ``client_ip`` and ``via_node``)."""
    parser.add_argument(
        "--family",
        choices=("IPv4", "IPv6"),
        default=None,
        help=(
            "which family's kube-proxy answers for a dual-stack Service "
            "(default: its primary family)"
        ),
    )
    parser.add_argument(
        "--client-ip",
        default=None,
        metavar="IP",
        help="the client's source address, checked against loadBalancerSourceRanges at the LB IP",
    )
    parser.add_argument(
        "--via-node",
        default=None,
        metavar="NODE",
        help=(
            "a pod:NODE or host:NODE source calling this node's NodePort (default: its own "
            "node); the node's detectLocalMode decides whether it counts as pod traffic"
        ),
    )


def one_line(error: Exception) -> str:
    """An engine (or any input) error as one line."""
    return error.message if isinstance(error, EngineError) else " ".join(str(error).split())


def whatif_from_flags(
    snapshot: Snapshot,
    sets: Iterable[str],
    *,
    services: Sequence[str] | None,
    proxy_mode: str | None = None,
    ipvs_scheduler: str | None = None,
) -> WhatIf:
    """The command line's what-if: ``--set`` flags on ``services`` (None: every Service).

    Raises the engine's ``ScenarioError`` for a malformed flag, an unknown field or value."""
    fields = parse_set_flags(sets)
    for service in services or ():
        if service not in snapshot.services:
            raise ScenarioError(f"unknown service {service!r}", field="services", code=UNKNOWN)
    targets = list(services) if services is not None else sorted(snapshot.services)
    typed = {key: service_fields(key, fields) for key in targets} if fields else {}
    return WhatIf(
        services=typed, proxy_mode=proxy_mode or None, ipvs_scheduler=ipvs_scheduler or None
    )
