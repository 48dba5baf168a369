"""``cluster.child.Child``: a forked child's answers one at a time, or no word."""

from __future__ import annotations

import os
import time

from cluster.child import Child


def _first(work):
    """The first outcome of a child doing ``work()`` (its only answer), and the child closed."""

    def answers(wait):
        yield work()

    child = Child.start_answers(answers)
    try:
        return child.next()
    finally:
        child.close()


def test_an_answer_and_a_refusal_come_back():
    assert _first(lambda: {"pid": os.getpid(), "n": 3})[1]["n"] == 3
    assert _first(lambda: os.getpid())[1] != os.getpid()
    answered, refusal = _first(lambda: int("x"))
    assert answered is False and isinstance(refusal, ValueError)


def test_no_word_when_the_child_dies_or_its_answer_does_not_pickle():
    assert _first(lambda: os._exit(0)) is None  # ended without an answer
    assert _first(lambda: (lambda: 1)) is None  # a lambda does not pickle


def _sleeping():
    return Child.start_answers(lambda wait: iter([time.sleep(60)]))


def test_close_ends_a_child_whose_answer_is_not_wanted():
    child = _sleeping()
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


def _alive(pid):
    try:
        os.kill(pid, 0)  # a zombie too: ended, not reaped
    except ProcessLookupError:
        return False
    return True


def test_close_without_waiting_leaves_the_child_to_the_next_fork():
    from cluster import child as module

    child = _sleeping()
    pid = child.pid
    child.close(wait=False)
    assert child.pid == 0 and pid in module._ENDING
    deadline = time.monotonic() + 10
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        assert time.monotonic() < deadline  # killed: it ends at once
        time.sleep(0.01)
    assert _alive(pid)  # ended, not reaped yet
    assert _first(lambda: 1) == (True, 1)  # (a fork: the ended child reaped first)
    assert pid not in module._ENDING and not _alive(pid)


def _two_answers(wait):
    yield os.getpid()
    yield ("woken", wait())
    raise ValueError("then refused")


def test_answers_one_at_a_time_the_second_after_go():
    child = Child.start_answers(_two_answers)
    try:
        first = child.next()
        assert first is not None and first[0] is True and first[1] != os.getpid()
        child.go()
        assert child.next() == (True, ("woken", True))
        answered, refusal = child.next()
        assert answered is False and isinstance(refusal, ValueError)
        assert child.next() is None  # no more word
    finally:
        child.close()
    assert child.pid == 0


def test_a_child_not_let_go_on_is_told_so_or_ended():
    child = Child.start_answers(_two_answers)
    assert child.next()[0] is True
    os.close(child.wake)  # given up on: wait() answers False
    child.wake = -1
    assert child.next() == (True, ("woken", False))
    child.close()
    killed = Child.start_answers(lambda wait: iter([wait()]))
    killed.close()  # ended while it waits
    assert killed.pid == 0


def test_no_more_word_from_a_child_that_died_or_cannot_pickle():
    def dies(wait):
        yield 1
        os._exit(0)

    def unpicklable(wait):
        yield 1
        yield lambda: 1

    for work in (dies, unpicklable):
        child = Child.start_answers(work)
        assert child.next() == (True, 1)
        assert child.next() is None
        child.close()
