"""The command line's ``--set FIELD=VALUE`` what-if, without Django.

``manage.py`` commands reach it through ``routing.whatif.cli`` (which adds Django's
one-line ``CommandError``); the ``routescope`` command imports it here, so its file mode
never loads Django.
"""

from __future__ import annotations

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
