"""The command line's side of the what-if door: ``--set FIELD=VALUE`` for ``simulate``,
``analyze`` and ``render_rules``, and the one-line refusal (exit 2) for any engine error.
``routing.whatif.flags`` holds the Django-free part (the ``routescope`` command imports it
there)."""

from __future__ import annotations

from django.core.management.base import CommandError

from routing.whatif.flags import BAD_INPUT, SET_HELP, one_line, whatif_from_flags

__all__ = ["BAD_INPUT", "SET_HELP", "bad_input", "whatif_from_flags"]


def bad_input(error: Exception, *, prefix: str = "") -> CommandError:
    """One line on stderr and exit 2 for an engine (or any input) error."""
    text = one_line(error)
    return CommandError(f"{prefix}{text}" if prefix else text or "bad input", returncode=BAD_INPUT)
