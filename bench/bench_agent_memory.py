"""Node agent memory at 5,000 nodes / 10,000 Services / 150,000 pods (issue 12: < 256 MiB).

End to end, as on a node: one node's predicted iptables rules (the largest of the modes)
are loaded into a scratch network namespace with iptables-restore; a node agent is
started exactly as the DaemonSet starts it (``python -m routing.agent``, agent settings,
nothing in its environment but the broker URL); a drift check's collect step is sent to
its queue through a private Redis; the agent reads the namespace's rules with
iptables-save and hands them on compressed. Reported: the agent process's resident memory
idle and its peak (VmHWM) over the check. The agent never loads the cluster, so its
memory follows its node's rules, not the cluster's pods.

Needs root (network namespaces), iptables and redis-server. Run:
``.venv/bin/python bench/bench_agent_memory.py`` (the generated dump is cached in bench/out/).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NODES, SERVICES, PODS = 5000, 10000, 150000
TARGET_MIB = 256


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from bench.bench_rules import _generate
    from cluster.kube_dump import read_objects
    from routing.engine.kube import snapshot_from_objects
    from routing.engine.rules import render_node_rules

    path = ROOT / "bench" / "out" / f"rules-{NODES}n-{SERVICES}s-{PODS}p.json"
    if not path.exists():
        _generate(path, NODES, SERVICES, PODS)
    snap = snapshot_from_objects(read_objects(path))
    node = sorted(snap.nodes)[len(snap.nodes) // 2]
    text = render_node_rules(snap, node, "iptables").text
    pods = sum(1 for _ in snap.pods) if hasattr(snap, "pods") else PODS
    del snap
    print(
        f"cluster: {NODES} nodes, {SERVICES} Services, {pods} pods; node {node}: "
        f"{text.count(chr(10))} iptables lines, {len(text) / 2**20:.1f} MiB"
    )

    ns = f"rs-bench-{secrets.token_hex(3)}"
    port = _free_port()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent = None
    try:
        t = time.perf_counter()
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, "iptables-restore"],
            input=text,
            text=True,
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr[:500]
        print(f"loaded into netns {ns} in {time.perf_counter() - t:.1f} s")
        del text
        broker = f"redis://127.0.0.1:{port}/0"
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env.update({"REDIS_URL": broker, "ROUTESCOPE_AGENT_NETNS": ns, "PYTHONPATH": str(ROOT)})
        agent = subprocess.Popen(
            [sys.executable, "-m", "routing.agent", "--node", node],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready, done, lines = threading.Event(), threading.Event(), []

        def pump() -> None:
            assert agent.stdout is not None  # stdout=PIPE
            for line in agent.stdout:
                lines.append(line)
                if " ready." in line:
                    ready.set()
                if "collect_node_rules" in line and (" succeeded in " in line or "raised" in line):
                    done.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(120), "".join(lines[-20:])
        time.sleep(1)
        idle = _status(agent.pid, "VmRSS")
        os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings.agent", "REDIS_URL": broker})
        import django

        django.setup()
        from config.celery import app
        from routing.agent.node import node_queue

        t = time.perf_counter()
        app.send_task("routing.agent.collect_node_rules", args=["iptables"], queue=node_queue(node))
        assert done.wait(300), "".join(lines[-20:])
        took = time.perf_counter() - t
        peak = _status(agent.pid, "VmHWM")
        print(
            f"agent RSS idle {idle / 2**20:.0f} MiB; peak over the check {peak / 2**20:.0f} MiB "
            f"(target < {TARGET_MIB} MiB); check {took:.1f} s"
        )
        print("within target" if peak < TARGET_MIB * 2**20 else "OVER TARGET")
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
