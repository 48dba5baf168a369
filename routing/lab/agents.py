"""Lab nodes programmed by their own node agents, through the node queues.

One ``manage.py node_agent --node NODE --netns <lab node namespace> --allow-write`` worker
per lab node; rules (baseline or what-if) are sent as ``apply_node_rules`` tasks to queue
``node.<NODE>``, exactly the path a real deployment's agents use, and the lab waits until
each namespace holds the rules (no drift) before sending traffic. Needs a real broker
(``REDIS_URL``)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from routing.engine.rules import render_node_rules
from routing.engine.rules.cache import RenderCache
from routing.engine.snapshot import Snapshot
from routing.lab.netns import LabError
from routing.lab.topology import Lab

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


class LabAgents:
    """Agent workers for every node of ``lab`` (context manager: workers stop on exit)."""

    def __init__(self, lab: Lab, *, broker_url: str, ready_timeout: float = 90) -> None:
        self.lab, self.broker_url, self.ready_timeout = lab, broker_url, ready_timeout
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[str, list[str]] = {}

    def __enter__(self) -> LabAgents:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start one worker per node and wait until all are ready."""
        env = {**os.environ, "REDIS_URL": self.broker_url}
        events = []
        for node in self.lab.nodes.values():
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(MANAGE),
                    "node_agent",
                    "--node",
                    node.name,
                    "--netns",
                    node.ns,
                    "--allow-write",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.procs.append(proc)
            lines: list[str] = []
            self.logs[node.name] = lines
            ready = threading.Event()
            threading.Thread(target=_pump, args=(proc, lines, ready), daemon=True).start()
            events.append((node.name, ready))
        deadline = time.monotonic() + self.ready_timeout
        for name, ready in events:
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                raise LabError(
                    f"node agent for {name} not ready: {''.join(self.logs[name][-5:]).strip()}"
                )

    def program(self, snapshot: Snapshot, mode: str, *, timeout: float = 60) -> None:
        """Send each node its rules through its queue; wait until every node holds them."""
        from routing.agent.drift import read_actual, rules_drift
        from routing.agent.tasks import apply_node_rules, node_queue

        expected = {}
        cache = RenderCache()  # nodes of one zone share most blocks
        for node in self.lab.nodes.values():
            rules = render_node_rules(snapshot, node.name, mode, cache=cache)
            expected[node.name] = rules
            apply_node_rules.apply_async(args=[mode, rules.text], queue=node_queue(node.name))
        deadline = time.monotonic() + timeout
        pending = dict(self.lab.nodes)
        while pending and time.monotonic() < deadline:
            for name, node in list(pending.items()):
                if rules_drift(expected[name], read_actual(mode, netns=node.ns)).clean:
                    del pending[name]
            time.sleep(0.1)
        if pending:
            name = next(iter(pending))
            tail = "".join(self.logs[name][-5:]).strip()
            raise LabError(f"node agent for {name} did not apply the rules: {tail}")

    def close(self) -> None:
        """Stop every worker (TERM, then KILL)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def _pump(proc: subprocess.Popen, lines: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None  # the agents are started with stdout=PIPE
    for line in proc.stdout:
        lines.append(line)
        del lines[:-200]
        if " ready." in line:
            ready.set()
