"""``cluster.child.Child``: one answer from a forked child, or no word."""

from __future__ import annotations

import os
import time

from cluster.child import Child


def test_an_answer_and_a_refusal_come_back():
    assert Child.start(lambda: {"pid": os.getpid(), "n": 3}).outcome()[1]["n"] == 3
    assert Child.start(lambda: os.getpid()).outcome()[1] != os.getpid()
    answered, refusal = Child.start(lambda: int("x")).outcome()
    assert answered is False and isinstance(refusal, ValueError)


def test_no_word_when_the_child_dies_or_its_answer_does_not_pickle():
    assert Child.start(lambda: os._exit(0)).outcome() is None  # ended without an answer
    assert Child.start(lambda: (lambda: 1)).outcome() is None  # a lambda does not pickle


def test_close_ends_a_child_whose_answer_is_not_wanted():
    child = Child.start(lambda: time.sleep(60))
    pid = child.pid
    started = time.monotonic()
    child.close()
    assert time.monotonic() - started < 10
    assert child.pid == 0 and child.read == -1
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
