"""``StateCache.flush(background=True)``: pickles written by forked children at ``nice`` 19,
one child at a time; what comes meanwhile is written by the next child, newest first."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from routing import cache
from routing.cache import StateCache, pickle_path


class Slow:
    """Takes ``seconds`` to pickle (in the child that writes it)."""

    def __init__(self, name: str, seconds: float = 0.0) -> None:
        self.name, self.seconds = name, seconds

    def __reduce__(self) -> tuple[Any, ...]:
        time.sleep(self.seconds)
        return Slow, (self.name,)


@pytest.fixture
def directory(settings: Any, tmp_path: Path) -> Path:
    settings.ROUTESCOPE_SNAPSHOT_DIR = str(tmp_path)
    return tmp_path


def _read(key: Any, kind: str) -> str:
    with open(pickle_path(key, kind), "rb") as handle:
        return pickle.load(handle).name


def test_one_child_at_a_time_and_the_newest_deferred_value_is_written_next(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(cache.os, "fork", counted)
    states = StateCache()
    first, second, third = (1, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0)
    states.put(first, "plan", Slow("first", seconds=1.5), later=True)
    states.flush(background=True)
    assert len(forks) == 1 and not pickle_path(first, "plan").exists()
    # While the first child writes: deferred, not a second child; the newest per cluster.
    states.put(second, "plan", Slow("second"), later=True)
    states.flush(background=True)
    states.put(third, "plan", Slow("third"), later=True)
    states.flush(background=True)
    assert len(forks) == 1
    assert states.wait_background(timeout=60)
    assert len(forks) == 2  # one more child took both deferred values
    assert [_read(k, "plan") for k in (first, second, third)] == ["first", "second", "third"]
    # Nothing pending: the next flush forks at once again.
    states.put((1, 3, 1.0), "plan", Slow("fourth"), later=True)
    states.flush(background=True)
    assert states.wait_background(timeout=60) and len(forks) == 3
    assert _read((1, 3, 1.0), "plan") == "fourth"


def test_without_a_child_the_values_are_written_here(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused() -> int:
        raise OSError("no memory for a child")

    monkeypatch.setattr(cache.os, "fork", refused)
    states = StateCache()
    states.put((3, 1, 1.0), "plan", Slow("here"), later=True)
    states.flush(background=True)
    assert _read((3, 1, 1.0), "plan") == "here"
    states.put((3, 2, 1.0), "plan", Slow("again"), later=True)
    states.flush(background=True)  # not left "writing" by the failed fork
    assert _read((3, 2, 1.0), "plan") == "again"
