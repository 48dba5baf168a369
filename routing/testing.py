"""Test helpers of the routing app (imported by tests only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def routescope_process(*args: str) -> tuple[int, str, str]:
    """Run ``routescope ARGS`` as a process of its own, from the project's root: its exit
    code, standard output and standard error."""
    proc = subprocess.run(
        [sys.executable, "-m", "routing.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr
