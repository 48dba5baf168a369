"""Run ``manage.py import_cluster`` once per input, each in a forked child, and measure it.

Used by ``tests/test_fuzz_import.py``: ``python tests/fuzz_import_runner.py MANIFEST.json``
where the manifest is ``{"cluster": NAME, "inputs": [[label, path, [extra args]], ...]}``.
Django is set up once here; each input then runs in a child forked from this process (a
fresh process as far as the command can tell: its own exit status, standard error, memory
and database connection) under an address-space limit and an alarm, so a regression
fails fast instead of exhausting the machine. The parent reads each child's exit status
and peak RSS with ``os.wait4`` and compares the cluster's export before and after.
Prints one JSON document: the per-input results.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

#: Seconds one input may take before its child is killed.
ALARM_SECONDS = 60
#: Address space a child may add beyond its input allowance (bytes); Python maps far
#: more than it touches, so this is generous, and only a runaway ever reaches it.
SPARE_ADDRESS_SPACE = 1536 * 1024**2


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _export(name: str) -> str:
    """The cluster's export plus its revision: what "stored state unchanged" compares."""
    from django.core.management import call_command

    from cluster.models import Cluster

    out = io.StringIO()
    call_command("export_cluster", name, stdout=out)
    return f"revision {Cluster.objects.get(name=name).revision}\n{out.getvalue()}"


def _child(path: str, cluster: str, extra: list[str], err_path: str, allowance: int) -> None:
    """In the forked child: become ``manage.py import_cluster`` and never return."""
    try:
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the child
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        limit = _vm_size() + allowance + SPARE_ADDRESS_SPACE
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.alarm(ALARM_SECONDS)
        from django.core.management import ManagementUtility

        ManagementUtility(
            ["manage.py", "import_cluster", path, "--name", cluster, *extra]
        ).execute()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a traceback: print it as Python would, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


def main(manifest_path: str) -> None:
    import django
    from django.db import connections

    django.setup()
    # Warm what every `manage.py import_cluster` loads (the system checks import the URL
    # configuration and with it the whole project) once, before forking.
    from django.core.checks import run_checks
    from django.core.management import load_command_class

    run_checks()
    load_command_class("cluster", "import_cluster")
    manifest = json.loads(Path(manifest_path).read_text())
    cluster = manifest["cluster"]
    before = _export(cluster)
    results = []
    for label, path, extra in manifest["inputs"]:
        size = os.path.getsize(path)
        allowance = 3 * size + 100 * 1024**2
        err_path = f"{path}.stderr"
        connections.close_all()  # the child opens its own connection
        baseline = _rss()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(path, cluster, extra, err_path, allowance)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - started
        results.append(
            {
                "label": label,
                "bytes": size,
                "exit": os.waitstatus_to_exitcode(status),
                "stderr": Path(err_path).read_text(errors="replace"),
                "peak_rss": usage.ru_maxrss * 1024,
                "baseline_rss": baseline,
                "ceiling": baseline + allowance,
                "seconds": round(seconds, 3),
                "unchanged": _export(cluster) == before,
            }
        )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1])
