"""On dumps nobody here wrote, ``simulate`` and the tracer over the rendered rules agree.

For every dump in shared/fixtures/real (and the demo), in iptables and nftables mode, on
the first three nodes with an address (by name): every Service port × source (a pod on
the node, a host process, an external client) × destination (ClusterIP, the node's
NodePort, the first LB IP, the first externalIP) that ``simulate`` answers is traced
through the node's rendered rules.
The verdict (endpoints, DROP, REJECT), the masquerade flag and each endpoint's share must
be the same. For the LB destination ``simulate`` is given the traced packet's source as
``client_ip``, so ``loadBalancerSourceRanges`` are checked against the same address.
Services kube-proxy does not handle (headless, ExternalName, service-proxy-name) have no
rules to trace: ``simulate`` answers them with ``proxied: false`` (test_fidelity_ii).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from cluster.kube_dump import read_objects
from routing.engine.kube import snapshot_from_objects
from routing.engine.rules.plan import render_options
from routing.engine.rules.render import render_node_rules
from routing.engine.rules.trace import Packet, trace_text
from routing.engine.simulate import Question, QuestionError, simulate

ROOT = Path(__file__).resolve().parents[4]
# The real dumps that hold both Nodes with an address and Services (the others have no node
# a packet could be traced on: they list Services and Pods only, or Nodes only).
REAL = ("cilium-dualstack-kind-v1.26.yaml", "k9s-testdata-node-service-pods.json")
DUMPS = [ROOT / "tests" / "fixtures" / "real" / name for name in REAL]
DUMPS.append(ROOT / "cluster" / "fixtures" / "demo.json")
EXTERNAL_CLIENT = "203.0.113.2"


def pod_address(cidr: str, taken: set[str]) -> str:
    net = ipaddress.ip_network(cidr)
    for offset in range(254, 1, -1):
        ip = str(net.network_address + offset)
        if ip not in taken:
            return ip
    raise AssertionError(f"no free pod address in {cidr}")


def verdict_of_answer(answer) -> tuple[str, bool | None, dict[str, float]]:
    if answer.action != "forward":
        return answer.action.upper(), None, {}
    shares = {f"{e.ip}:{e.port}": s for e, s in answer.endpoint_shares.values() if s > 0}
    return ", ".join(sorted(shares)), not answer.client_ip_preserved, shares


def verdict_of_trace(t) -> tuple[str, bool, dict[str, float]]:
    if t.dropped or t.rejected or not t.endpoints:
        return t.output(), t.masquerade, {}
    return ", ".join(sorted(t.endpoints)), t.masquerade, t.endpoints


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize("path", DUMPS, ids=[p.name for p in DUMPS])
def test_tracer_agrees_with_simulate_on_real_dumps(path: Path, mode: str) -> None:
    snap = snapshot_from_objects(read_objects(path), proxy_mode=mode)
    taken = {e.ip for ports in snap.endpoint_index.values() for eps in ports.values() for e in eps}
    compared, disagreements = 0, []
    nodes = [name for name in sorted(snap.nodes) if snap.nodes[name].addresses][:3]
    for node_name in nodes:
        node = snap.nodes[node_name]
        text = render_node_rules(snap, node_name, mode).text
        cidr = render_options(snap, node_name).cluster_cidr
        sources = {"host": node.addresses[0], "external": EXTERNAL_CLIENT}
        if cidr:
            sources["pod"] = pod_address(cidr, taken)
        for key, svc in snap.services.items():
            for sp in svc.ports:
                targets = {
                    "clusterip": svc.cluster_ips[0] if svc.cluster_ips else None,
                    "nodeport": node.addresses[0] if sp.node_port else None,
                    "loadbalancer": svc.lb_ips[0] if svc.lb_ips else None,
                    "externalip": svc.external_ips[0] if svc.external_ips else None,
                }
                for kind, src in sources.items():
                    for to, dst in targets.items():
                        if dst is None:
                            continue
                        try:
                            answer = simulate(
                                snap,
                                Question(
                                    service=key,
                                    source=f"{kind}:{node_name}",
                                    to=to,
                                    port=sp.name or str(sp.port),
                                    client_ip=src if to == "loadbalancer" else None,
                                ),
                            )
                        except QuestionError:
                            continue
                        if not answer.proxied:
                            continue
                        port = sp.node_port if to == "nodeport" else sp.port
                        t = trace_text(
                            text, mode, Packet(src, dst, port, sp.protocol), node.addresses
                        )
                        want, want_masq, want_shares = verdict_of_answer(answer)
                        got, got_masq, got_shares = verdict_of_trace(t)
                        compared += 1
                        same = (
                            want == got
                            and (want_masq is None or want_masq == got_masq)
                            and all(abs(got_shares[k] - v) < 1e-9 for k, v in want_shares.items())
                        )
                        if not same:
                            disagreements.append(
                                (node_name, key, sp.name, kind, to, want, want_masq, got, got_masq)
                            )
    assert not disagreements, disagreements[:5]
    assert compared > 0
