"""When each step of ``routescope analyze FILE`` runs, over its processes: a timeline.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_analyze_timeline.py [--nodes 5000] [FILE]

Runs the command once in this process (``ROUTESCOPE_ANALYZE_PROCESSES=2`` unless set: the
children forked whatever the load), output thrown away, and prints one line per step start
and end: wall seconds since start, the printing process's CPU seconds (a forked child
counts from its fork) and which process it is (``parent``, ``check child``: the dump's
checks, ``analysis child``). The steps: the read (``read_objects``; inside it the Pod
child's first answer), the snapshot build (before that answer when every element is in
hand), the check child's whole check, each half of the analysis, and the whole check's
verdict the parent asks for last. Where the parent waits for a child, the wait shows as a
gap between its CPU and wall seconds. No target of its own: issue 13's analyze <= 1x
``json.load`` is ``bench_cli.py --analyze``'s; this says where the time goes.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_START = time.perf_counter()
_PARENT = os.getpid()
#: pid -> role, set as each child starts its work.
_ROLE: dict[int, str] = {}


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _mark(what: str) -> None:
    pid = os.getpid()
    role = "parent" if pid == _PARENT else _ROLE.get(pid, "child")
    print(
        f"{time.perf_counter() - _START:6.2f} s  cpu {_cpu():5.2f}  {role:<14} {what}",
        file=sys.stderr,
        flush=True,
    )


def _timed(owner: Any, name: str, label: str, role: str | None = None) -> None:
    """``owner.name`` marked at its start and end (and, in a child, naming its role)."""
    real = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        if role is not None and os.getpid() != _PARENT:
            _ROLE[os.getpid()] = role
        _mark(f"{label} starts")
        try:
            return real(*args, **kwargs)
        finally:
            _mark(f"{label} ends")

    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="a dump (default: the generated one)")
    parser.add_argument("--nodes", type=int, default=5000, help="the generated dump's size")
    args = parser.parse_args()
    os.environ.setdefault("ROUTESCOPE_ANALYZE_PROCESSES", "2")
    path = args.file
    if path is None:
        from bench_engine import dump_path

        path = str(dump_path(args.nodes))

    import cluster.dump_json as dump_json
    import routing.cli.forked as forked
    import routing.cli.local as local
    import routing.engine.analysis as analysis
    from routing.cli import main as cli

    steps: list[tuple[Any, str, str, str | None]] = [
        (local, "read_objects", "read", None),
        (dump_json._Aside, "_verdict", "the check child's first answer (wait)", None),
        (local, "snapshot_with_pods_when_read", "snapshot build", None),
        (local._Settle, "check_whole", "whole check (all objects)", "check child"),
        (local._Settle, "passes_with_named", "whole check (by names)", "check child"),
        (forked, "analyze_forked", "analysis", None),
        (analysis, "analyze", "analysis of a part", "analysis child"),
        (dump_json._Aside, "whole_verdict", "the whole check's verdict (wait)", None),
    ]
    for owner, name, label, role in steps:
        _timed(owner, name, label, role)
    local.HOLD = True  # as the routescope command: nothing freed one object at a time
    _mark(f"imported; analysing {path}")
    real_stdout: Callable[..., Any] = sys.stdout.write
    sys.stdout.write = lambda text: len(text)  # type: ignore[method-assign]
    try:
        code = cli.main(["analyze", path, "-o", "json"])
    finally:
        sys.stdout.write = real_stdout  # type: ignore[method-assign]
    _mark(f"done (exit status {code}; load average {os.getloadavg()[0]:.1f})")
    os._exit(code)


if __name__ == "__main__":
    main()
