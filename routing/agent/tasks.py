"""Celery tasks a node agent runs. Each agent is a worker consuming only its node's queue
``node.<NODE>`` (``manage.py node_agent --node NODE``), deployable as a hostNetwork
DaemonSet. Checking is read-only; applying refuses unless the worker was started with
``--allow-write`` (environment ``ROUTESCOPE_AGENT_WRITE=1``)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess

from celery import shared_task

from routing.agent.drift import read_actual, rules_drift

WRITE_ENV = "ROUTESCOPE_AGENT_WRITE"
NETNS_ENV = "ROUTESCOPE_AGENT_NETNS"
#: What an agent reports as its version in each drift report (a DaemonSet may pin its own
#: image tag through ``ROUTESCOPE_AGENT_VERSION``).
AGENT_VERSION = "routescope-agent/1"


def node_queue(node: str) -> str:
    """The queue one node's agent consumes."""
    return f"node.{node}"


def agent_netns() -> str | None:
    """The network namespace this agent stands for (lab nodes), or None for the host."""
    return os.environ.get(NETNS_ENV) or None


def agent_host() -> str:
    """How this agent names itself in reports: the host, plus the lab namespace if any."""
    netns = agent_netns()
    return f"{socket.gethostname()} (netns {netns})" if netns else socket.gethostname()


@shared_task(name="routing.agent.check_node_rules", acks_late=True, soft_time_limit=120, time_limit=180)
def check_node_rules(cluster_id: int, node: str, mode: str | None = None) -> dict:
    """Compare the node's actual rules with the rules predicted for it; return the drift."""
    from cluster.models import Cluster
    from routing.engine.rules import render_node_rules
    from routing.services import drift_report_record
    from routing.snapshots import snapshot_for_cluster

    cluster = Cluster.objects.get(pk=cluster_id)
    snapshot = snapshot_for_cluster(cluster=cluster)
    mode = mode or snapshot.proxy_for(node).mode
    expected = render_node_rules(snapshot, node, mode)
    drift = rules_drift(expected, read_actual(mode, netns=agent_netns()))
    result = {"cluster": cluster.name, "node": node, "revision": cluster.revision, **drift.to_json()}
    report = drift_report_record(cluster=cluster, node=node, mode=mode, result=result,
                                 agent_hostname=agent_host(),
                                 agent_version=os.environ.get("ROUTESCOPE_AGENT_VERSION", AGENT_VERSION))
    return {**result, "report": report.pk}


def drift_checks_queue(*, cluster_id: int, nodes: list[str], mode: str | None = None) -> list:
    """Send ``check_node_rules`` to each node's own queue (its agent runs it there); the
    Celery results, in ``nodes`` order. In-process when no broker is configured."""
    return [check_node_rules.apply_async(args=(cluster_id, node, mode), queue=node_queue(node))
            for node in nodes]


@shared_task(name="routing.agent.apply_node_rules", acks_late=True, soft_time_limit=120, time_limit=180)
def apply_node_rules(mode: str, text: str) -> dict:
    """Replace the node's kube-proxy rules with ``text`` (iptables-restore or nft -f input).

    Refused unless this worker was started with the explicit write flag: on a real node
    kube-proxy owns these rules and Routescope only reads them.
    """
    if os.environ.get(WRITE_ENV) != "1":
        raise PermissionError("this node agent is read-only (start it with --allow-write to apply rules)")
    if mode not in ("iptables", "nftables"):
        raise ValueError(f"cannot apply {mode!r} rules")
    prefix = ["ip", "netns", "exec", agent_netns()] if agent_netns() else []
    if mode == "nftables":
        subprocess.run([*prefix, "nft", "delete", "table", "ip", "kube-proxy"], capture_output=True)
        _run([*prefix, "nft", "-f", "-"], text)
    else:
        _apply_iptables(prefix, text)
    return {"mode": mode, "lines": text.count("\n")}


_BUILTIN = ("-A INPUT ", "-A FORWARD ", "-A OUTPUT ", "-A PREROUTING ", "-A POSTROUTING ")


def _apply_iptables(prefix: list[str], text: str) -> None:
    """Restore the KUBE-* chains without touching other software's rules, then make sure
    each hook rule (INPUT -> KUBE-…) exists exactly once, as kube-proxy's EnsureRule does
    (one iptables-save to see which are there, one restore inserting the missing ones)."""
    from routing.agent.drift import _ipt_fingerprint

    hooks: list[tuple[str, str]] = []
    body: list[str] = []
    table = "filter"
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line.startswith(_BUILTIN):
            hooks.append((table, line))
        elif not (line.startswith(":") and not line.startswith(":KUBE-")):
            body.append(line)
    _run([*prefix, "iptables-restore", "--noflush"], "\n".join(body) + "\n")
    present: set[tuple[str, str, tuple]] = set()
    table = "filter"
    for line in subprocess.run([*prefix, "iptables-save"], capture_output=True, text=True, check=True).stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(_BUILTIN):
            tokens = shlex.split(line)
            present.add((table, tokens[1], _ipt_fingerprint(tokens[2:])))
    missing: dict[str, list[str]] = {}
    for table, line in hooks:
        tokens = shlex.split(line)
        if (table, tokens[1], _ipt_fingerprint(tokens[2:])) not in present:
            missing.setdefault(table, []).append("-I" + line[2:])
    if missing:
        restore = "".join(f"*{t}\n" + "\n".join(lines) + "\nCOMMIT\n" for t, lines in missing.items())
        _run([*prefix, "iptables-restore", "--noflush"], restore)


def _run(cmd: list[str], stdin: str | None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])}: {proc.stderr.strip()[:300]}")
