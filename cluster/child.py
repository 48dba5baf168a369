"""Answers computed by a forked child while this process goes on (plain Python: the
``routescope`` command's file mode uses it, see ``cluster.dump_json`` and
``routing.cli.forked``).

:meth:`Child.start_answers` forks; the child sends each answer its work yields as
``(True, answer)``, or ``(False, exception)`` when the work raised, pickled down a pipe,
then ends at once (``os._exit``: nothing of this process's is freed or flushed twice).
:meth:`Child.next` reads them one at a time: the pair, or None when the child gives no
more word (killed, a pickling error, a torn pipe) — the caller then does the work itself.
The child waits for :meth:`Child.go` where its work asks. :meth:`Child.close` ends a child
whose answers are no longer wanted (``wait=False``: without waiting for its end, reaped at
the next fork).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

#: Children closed without waiting for their end (:meth:`Child.close`), not reaped yet.
_ENDING: set[int] = set()


def _forked(run: Callable[[], None]) -> int:
    """Fork; the child runs ``run()`` and is gone at once without clean-up (``os._exit``: 0
    when ``run`` returned, 2 when it raised). The child's pid, here. (First reaps the
    children closed without waiting that have ended since.)"""
    _reap_ended()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 2
        try:
            run()
            status = 0
        finally:
            os._exit(status)
    return pid


def _reap_ended() -> None:
    """Reaps the children of :data:`_ENDING` that have ended."""
    for pid in list(_ENDING):
        with contextlib.suppress(ChildProcessError):  # reaped already
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                continue  # still ending
        _ENDING.discard(pid)


def _well_formed(outcome: Any) -> tuple[bool, Any] | None:
    """``outcome`` when it is an ``(answered, value)`` pair, else None (no word)."""
    ok = isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool)
    return outcome if ok else None


class Child:
    """A forked child's answers, one after another (see the module)."""

    def __init__(self, pid: int, read: int, wake: int = -1) -> None:
        self.pid, self.read, self.wake = pid, read, wake
        self.pipe: IO[bytes] | None = None

    @classmethod
    def start_answers(cls, work: Callable[[Callable[[], bool]], Iterator[Any]]) -> Child:
        """A child sending each answer ``work(wait)`` yields as ``(True, answer)`` (then
        ``(False, exception)`` should it raise), read one at a time by :meth:`next`.
        ``wait()`` blocks the child until this process calls :meth:`go` (True), or gives
        up on it (False: :meth:`close`, or this process ended)."""
        read, send = os.pipe()
        woken, wake = os.pipe()

        def answer_each() -> None:  # in the child: each outcome down the pipe
            os.close(read)
            os.close(wake)

            def wait() -> bool:
                with os.fdopen(woken, "rb") as pipe:
                    return pipe.read(1) == b"1"

            with os.fdopen(send, "wb") as out:
                produced = work(wait)
                while True:
                    try:
                        outcome = (True, next(produced))
                    except StopIteration:
                        break
                    except Exception as exc:
                        outcome = (False, exc)
                    # Whole or not at all: one that does not pickle ends the word.
                    out.write(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
                    out.flush()
                    if not outcome[0]:
                        break

        pid = _forked(answer_each)
        os.close(send)
        os.close(woken)
        return cls(pid, read, wake)

    def go(self) -> None:
        """Lets a :meth:`start_answers` child past its ``wait()``."""
        if self.wake >= 0:
            with contextlib.suppress(OSError):
                os.write(self.wake, b"1")
            os.close(self.wake)
            self.wake = -1

    def next(self) -> tuple[bool, Any] | None:
        """A :meth:`start_answers` child's next outcome; None when it gives no more word
        (ended, killed, torn)."""
        if self.read < 0:
            return None
        if self.pipe is None:
            self.pipe = os.fdopen(self.read, "rb")
        try:
            return _well_formed(pickle.load(self.pipe))  # our own child's bytes
        except Exception:
            return None

    def close(self, *, wait: bool = True) -> None:
        """Ends the child if its outcome was not taken (this process refused first).
        ``wait=False``: goes on without waiting for its end (a child that wrote to much of
        a large heap takes ~20 ms to end); it is reaped at the next fork here."""
        if self.wake >= 0:
            os.close(self.wake)
            self.wake = -1
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        elif self.read >= 0:
            os.close(self.read)
        self.read = -1
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            if wait:
                os.waitpid(self.pid, 0)
            else:
                _ENDING.add(self.pid)
            self.pid = 0
