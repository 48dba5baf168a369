"""What runs ON a node: the agent's own tasks, with nothing but the broker.

The agent never opens the database and never loads the cluster: ``collect_node_rules``
reads the node's kube-proxy rules (read-only command), compresses them as they stream in,
and hands them to the next step of its chain, ``routing.agent.compare_node_rules``, which a
central worker (with the database) runs on the default queue. So an agent's memory is its
own node's rules text, compressed, whatever the size of the cluster.

Imports here stay light (standard library and Celery): this module is what
``config.settings.agent`` workers load (``-I routing.agent.node``).
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import socket
import subprocess
import zlib

from celery import shared_task

WRITE_ENV = "ROUTESCOPE_AGENT_WRITE"
NETNS_ENV = "ROUTESCOPE_AGENT_NETNS"
#: What an agent reports as its version in each drift report (a DaemonSet may pin its own
#: image tag through ``ROUTESCOPE_AGENT_VERSION``).
AGENT_VERSION = "routescope-agent/1"
READ_COMMANDS = {
    "iptables": ["iptables-save"],
    "nftables": ["nft", "list", "table", "ip", "kube-proxy"],
    "ipvs": ["ipvsadm", "-Sn"],
}
_CHUNK = 1 << 20


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


#: Chains kubelet and kube-proxy create in the mangle table of the iptables backend they use.
_IPTABLES_HINTS = (":KUBE-IPTABLES-HINT", ":KUBE-KUBELET-CANARY", ":KUBE-PROXY-CANARY")


def iptables_save_command(netns: str | None = None) -> list[str]:
    """``iptables-save`` of the backend kube-proxy uses on this node (legacy or nf_tables),
    told by the canary chains in the small mangle table, as kube-proxy's iptables-wrapper
    does; plain ``iptables-save`` (the image's default backend) when neither has them."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    for save in ("iptables-nft-save", "iptables-legacy-save"):
        if shutil.which(save) is None:
            continue
        mangle = subprocess.run(
            [*prefix, save, "-t", "mangle"], capture_output=True, text=True, timeout=30
        )
        if mangle.returncode == 0 and any(h in mangle.stdout for h in _IPTABLES_HINTS):
            return [save]
    return ["iptables-save"]


def read_command(mode: str, netns: str | None = None) -> list[str]:
    """The read-only command printing the node's rules in ``mode`` (in ``netns`` if given)."""
    cmd = iptables_save_command(netns) if mode == "iptables" else READ_COMMANDS[mode]
    return ["ip", "netns", "exec", netns, *cmd] if netns else list(cmd)


def read_rules_compressed(mode: str, *, netns: str | None = None) -> tuple[bytes, int]:
    """The node's rules as zlib bytes, compressed while they stream from the command (the
    text is never whole in memory), and the uncompressed size."""
    cmd = read_command(mode, netns)
    packer = zlib.compressobj(6)
    parts: list[bytes] = []
    size = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
        while chunk := proc.stdout.read(_CHUNK):
            size += len(chunk)
            parts.append(packer.compress(chunk))
        stderr = proc.stderr.read().decode(errors="replace")
        proc.wait(timeout=60)
    if proc.returncode != 0 and mode == "nftables" and "No such file" in stderr:
        return zlib.compress(b""), 0  # no kube-proxy table at all: everything expected is missing
    if proc.returncode != 0:
        err = stderr.strip()
        raise RuntimeError(f"{shlex.join(cmd)}: {err.splitlines()[0] if err else proc.returncode}")
    parts.append(packer.flush())
    return b"".join(parts), size


def unpack_rules(collected: dict) -> str:
    """The rules text inside a ``collect_node_rules`` result."""
    return zlib.decompress(base64.b64decode(collected["rules_zlib"])).decode()


@shared_task(
    name="routing.agent.collect_node_rules",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def collect_node_rules(mode: str) -> dict:
    """Read this node's rules (read-only) for the chain's next step; no database."""
    packed, size = read_rules_compressed(mode, netns=agent_netns())
    return {
        "mode": mode,
        "rules_zlib": base64.b64encode(packed).decode(),
        "size": size,
        "agent_host": agent_host(),
        "agent_version": os.environ.get("ROUTESCOPE_AGENT_VERSION", AGENT_VERSION),
    }


@shared_task(
    name="routing.agent.apply_node_rules", acks_late=True, soft_time_limit=120, time_limit=180
)
def apply_node_rules(mode: str, text: str) -> dict:
    """Replace the node's kube-proxy rules with ``text`` (iptables-restore or nft -f input).

    Refused unless this worker was started with the explicit write flag: on a real node
    kube-proxy owns these rules and Routescope only reads them.
    """
    if os.environ.get(WRITE_ENV) != "1":
        raise PermissionError(
            "this node agent is read-only (start it with --allow-write to apply rules)"
        )
    if mode not in ("iptables", "nftables"):
        raise ValueError(f"cannot apply {mode!r} rules")
    netns = agent_netns()
    prefix = ["ip", "netns", "exec", netns] if netns else []
    if mode == "nftables":
        subprocess.run([*prefix, "nft", "delete", "table", "ip", "kube-proxy"], capture_output=True)
        _run([*prefix, "nft", "-f", "-"], text)
    else:
        _apply_iptables(prefix, text)
    return {"mode": mode, "lines": text.count("\n")}


_BUILTIN = ("-A INPUT ", "-A FORWARD ", "-A OUTPUT ", "-A PREROUTING ", "-A POSTROUTING ")


def _ipt_fingerprint(tokens: list[str]) -> tuple:
    """A rule's meaning, independent of option order and of iptables-save's expansions."""
    items: list[tuple[str, str]] = []
    neg = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            neg = True
            i += 1
            continue
        if tok == "-m":  # match modules are implied by their options
            i += 2
            continue
        if tok in ("--rsource",):
            i += 1
            continue
        if tok == "--mask" and i + 1 < len(tokens) and tokens[i + 1] == "255.255.255.255":
            i += 2
            continue
        if tok.startswith("-") and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            value = tokens[i + 1]
            i += 2
        else:
            value = ""
            i += 1
        if tok in ("-d", "-s", "--destination", "--source") and value.endswith("/32"):
            value = value[:-3]
        if tok == "--probability":
            value = f"{float(value):.6f}"
        if tok == "--or-mark":
            tok, value = "--set-xmark", f"{value}/{value}"
        if tok == "--xor-mark":
            tok, value = "--set-xmark", f"{value}/0x0"
        items.append((("!" if neg else "") + tok, value))
        neg = False
    if ("-j", "REJECT") in items and not any(k == "--reject-with" for k, _ in items):
        items.append(("--reject-with", "icmp-port-unreachable"))
    return tuple(sorted(items))


def _apply_iptables(prefix: list[str], text: str) -> None:
    """Restore the KUBE-* chains without touching other software's rules, then make sure
    each hook rule (INPUT -> KUBE-…) exists exactly once, as kube-proxy's EnsureRule does
    (one iptables-save to see which are there, one restore inserting the missing ones)."""
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
    for line in subprocess.run(
        [*prefix, "iptables-save"], capture_output=True, text=True, check=True
    ).stdout.splitlines():
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
        restore = "".join(
            f"*{t}\n" + "\n".join(lines) + "\nCOMMIT\n" for t, lines in missing.items()
        )
        _run([*prefix, "iptables-restore", "--noflush"], restore)


def _run(cmd: list[str], stdin: str | None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])}: {proc.stderr.strip()[:300]}")


def worker_argv(celery: str, node: str, *, loglevel: str = "INFO") -> list[str]:
    """The ``celery worker`` command line of one node's agent: its queue only, one process
    (the solo pool: no forked child doubling the memory), no handshakes with other workers."""
    return [
        celery,
        "-A",
        "config",
        "worker",
        "-Q",
        node_queue(node),
        "-n",
        f"agent-{node}@%h",
        "--pool",
        "solo",
        "-I",
        "routing.agent.node",
        "--loglevel",
        loglevel,
        "--without-mingle",
        "--without-gossip",
    ]
