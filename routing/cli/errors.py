"""Exit codes of the ``routescope`` command and its one-line refusal."""

from __future__ import annotations

#: The questions were answered (also when traffic drops).
OK = 0
#: ``check``: a ``--fail-on`` rule matched.
CHECK_FAILED = 1
#: Bad input: flags, file, Service, an unreachable server or one that refused the request.
BAD_INPUT = 2


class CliError(Exception):
    """A refusal: printed as one line on stderr, exit ``code``."""

    def __init__(self, message: str, *, code: int = BAD_INPUT) -> None:
        super().__init__(" ".join(str(message).split()) or "bad input")
        self.code = code
