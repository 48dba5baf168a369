"""Shared input handling for the ``render_rules`` and ``lab`` commands (no command here)."""

from __future__ import annotations

import sys

from django.core.management.base import CommandError, CommandParser

from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError, read_objects
from cluster.writer import check_objects
from routing.engine.errors import EngineError
from routing.engine.kube import snapshot_from_objects
from routing.engine.scenario import apply_scenario
from routing.engine.snapshot import Snapshot
from routing.whatif.cli import whatif_from_flags

BAD_INPUT = (DumpError, EngineError, ValueError, OSError)


def one_line_errors(parser: CommandParser, name: str) -> CommandParser:
    """Make ``parser`` report a bad or missing flag in one line, exit 2 (argparse would
    print its whole usage block first), as ``simulate`` and ``analyze`` do."""

    def error(message: str) -> None:
        if parser.called_from_command_line:
            sys.stderr.write(f"{name}: {message}\n")
            sys.exit(2)
        raise CommandError(f"Error: {message}", returncode=2)

    parser.error = error  # type: ignore[method-assign]
    return parser


def fail(message: str) -> CommandError:
    """A one-line error that makes the command exit with status 2."""
    return CommandError(str(message).splitlines()[0] if message else "bad input", returncode=2)


def parse_sets(pairs: list[str] | None) -> list[str]:
    """The ``--set`` flags as given (``whatif`` parses them through the field table)."""
    return list(pairs or ())


def load_snapshot(path: str, *, proxy_mode: str | None = None) -> Snapshot:
    """Read a kubectl dump (file or "-") into a snapshot; CommandError(2) on bad input."""
    try:
        objects = read_objects(path, limits=dump_limits())
        check_objects(
            objects, dump_limits()
        )  # the importer's one-line refusals, not an engine traceback
        overrides = {"proxy_mode": proxy_mode} if proxy_mode else {}
        return snapshot_from_objects(objects, **overrides)
    except BAD_INPUT as exc:
        raise fail(f"{path}: {exc}") from None


def whatif(snapshot: Snapshot, sets: list[str], service: str | None) -> Snapshot:
    """Apply ``--set FIELD=VALUE`` flags to ``service`` (or to every Service when None)."""
    if not sets:
        return snapshot
    try:
        found = whatif_from_flags(snapshot, sets, services=[service] if service else None)
        return apply_scenario(snapshot, found.scenario())
    except BAD_INPUT as exc:
        raise fail(f"--set: {exc}") from None
