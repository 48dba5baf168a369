"""``make bench``: run every ``bench/bench_*.py`` in turn, each in its own process.

Each script prints its own figures (see bench/README.md); this only runs them in order and
reports which failed. Extra arguments are not passed on: run a script directly to tune it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(BENCH.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=BENCH.parent)
        print(
            f"== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True
        )
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
