"""One answer computed by a forked child while this process goes on (plain Python: the
``routescope`` command's file mode uses it, see ``routing.cli.forked``).

:meth:`Child.start` forks; the child runs ``work()`` and sends back ``(True, answer)``,
or ``(False, exception)`` when ``work`` raised, pickled down a pipe, then ends at once
(``os._exit``: nothing of this process's is freed or flushed twice). :meth:`Child.outcome`
waits for it: the pair, or None when the child gave no word (killed, a pickling error, a
torn pipe) — the caller then does the work itself. :meth:`Child.close` ends a child whose
answer is no longer wanted.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import IO, Any

#: How an outcome goes down the pipe and comes back (``pickle`` by default; a caller
#: sharing objects by address passes its own pickler and unpickler).
Write = Callable[[IO[bytes], Any], None]
Read = Callable[[IO[bytes]], Any]


def _write(out: IO[bytes], outcome: Any) -> None:
    pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)


def _read(pipe: IO[bytes]) -> Any:
    return pickle.load(pipe)  # our own child's bytes


class Child:
    """A forked child's one answer (see the module)."""

    def __init__(self, pid: int, read: int) -> None:
        self.pid, self.read = pid, read

    @classmethod
    def start(cls, work: Callable[[], Any], *, write: Write = _write) -> Child:
        sys.stdout.flush()
        sys.stderr.flush()
        read, send = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its outcome down the pipe, then gone without clean-up
            status = 2
            try:
                os.close(read)
                try:
                    outcome: tuple[bool, Any] = (True, work())
                except Exception as exc:
                    outcome = (False, exc)
                with os.fdopen(send, "wb") as out:
                    write(out, outcome)
                status = 0
            finally:
                os._exit(status)
        os.close(send)
        return cls(pid, read)

    def outcome(self, *, read: Read = _read) -> tuple[bool, Any] | None:
        """``(True, answer)`` or ``(False, exception)``; None when the child gave no word."""
        with os.fdopen(self.read, "rb") as pipe:
            self.read = -1
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if os.waitstatus_to_exitcode(status) != 0:
            return None
        try:
            outcome = read(io.BytesIO(data))
        except Exception:  # torn: the caller does the work
            return None
        ok = isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool)
        return outcome if ok else None

    def close(self) -> None:
        """Ends the child if its outcome was not taken (this process refused first)."""
        if self.read >= 0:
            os.close(self.read)
            self.read = -1
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
