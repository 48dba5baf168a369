"""Compare the engine's prediction with what real packets do in the lab.

For every (mode, source) the lab opens N connections and counts where each landed
(endpoint IP), how many timed out (``drop``) and how many were refused (``reject``). The
prediction is ``routing.engine.simulate.simulate`` for the same question. Agreement is
Pearson's chi-square goodness-of-fit test at significance ``alpha`` (default 0.001: a
correct prediction is flagged by chance once in a thousand runs); an outcome the engine
calls impossible that happens even once is a disagreement. With ClientIP session affinity
every connection from one client must land on one endpoint the engine allows. The
responders also report the source address they saw, checked against
``client_ip_preserved``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from routing.engine.simulate import Question, simulate
from routing.engine.snapshot import Snapshot
from routing.engine.timeline import Moment
from routing.lab.netns import LabError
from routing.lab.stats import goodness_of_fit
from routing.lab.topology import Lab
from routing.lab.traffic import Outcomes, burst_many


@dataclass
class SourceResult:
    """One (mode, source) comparison."""

    mode: str
    source: str
    to: str
    requests: int
    observed: Counter
    expected: dict[str, float]
    p_value: float | None
    preserved_expected: bool
    preserved_ok: bool
    ok: bool
    note: str = ""
    #: False for pooled sources (a timeline step): no one client address to look for.
    client_ip_checked: bool = True


def default_sources(snapshot: Snapshot, service: str) -> list[str]:
    """``pod:NODE`` for every node, plus ``external:NODE`` when the Service has a NodePort."""
    svc = snapshot.services[service]
    out = [f"pod:{n}" for n in sorted(snapshot.nodes)]
    if any(p.node_port for p in svc.ports):
        out += [f"external:{n}" for n in sorted(snapshot.nodes)]
    return out


def parse_source(source: str) -> tuple[str, str | None]:
    """``pod:A@B`` (a pod on A calling B's NodePort) -> (``pod:A``, ``B``); else (source, None)."""
    plain, _, via = source.partition("@")
    return plain, via or None


def client_ip(lab: Lab, source: str) -> str:
    """The address the lab's client for ``source`` sends from."""
    kind, _, node = parse_source(source)[0].partition(":")
    if kind == "pod":
        return lab.clients[node][1]
    return lab.nodes[node].ip if kind == "host" else lab.external[1]


def _client_ns(lab: Lab, kind: str, node: str) -> str:
    """The namespace a ``kind`` source on ``node`` sends from (a host process: the node's)."""
    if kind == "pod":
        return lab.clients[node][0]
    return lab.nodes[node].ns if kind == "host" else lab.external[0]


def _target(
    lab: Lab, snapshot: Snapshot, source: str, to: str, port_name: str
) -> tuple[str, str, int]:
    """(client namespace, destination IP, destination port) for one source."""
    source, via = parse_source(source)
    kind, _, node = source.partition(":")
    svc = snapshot.services[lab.service]
    port = svc.port(port_name)
    assert port is not None  # port_name is the name of one of svc.ports
    if node not in lab.nodes:
        raise LabError(f"source {source!r}: unknown node")
    if to == "clusterip":
        ns = _client_ns(lab, kind, node)
        if kind == "external":
            lab.route_external(svc.cluster_ips[0], node)
        return ns, svc.cluster_ips[0], port.port
    if to == "nodeport":
        if not port.node_port:
            raise LabError(f"{lab.service} port {port_name or port.port} has no NodePort")
        ns = _client_ns(lab, kind, node)
        if via is not None and via not in lab.nodes:
            raise LabError(f"source {source!r}: unknown node {via!r} to go through")
        return ns, lab.nodes[via or node].ip, port.node_port
    ips = svc.lb_ips if to == "loadbalancer" else svc.external_ips
    if not ips:
        raise LabError(f"source {source!r} cannot be sent to {to} in the lab")
    if kind in ("pod", "host"):
        # The pod's default route leads to its node, which captures the address itself
        # (as it does for its own processes).
        return _client_ns(lab, kind, node), ips[0], port.port
    lab.route_external(ips[0], node)
    return lab.external[0], ips[0], port.port


def expected_shares(answer_json: dict, lost_ips: frozenset[str] = frozenset()) -> dict[str, float]:
    """Outcome -> predicted share, from the simulate JSON. Connections to ``lost_ips``
    (endpoints whose replies never reach the client: ``replies_lost``) can only time out,
    so their share is expected as ``drop``."""
    shares = {ep["ip"]: ep["share"] for ep in answer_json["endpoints"]}
    rejected = answer_json.get("rejected", 0.0) or 0.0
    lost = sum(shares.pop(ip, 0.0) for ip in lost_ips)
    shares["reject"] = rejected
    shares["drop"] = max(0.0, answer_json["dropped"] - rejected) + lost
    return shares


def _predict(snapshot: Snapshot, question: Question) -> dict:
    """The simulate JSON, plus ``lost_ips``: the endpoint IPs whose replies are lost."""
    answer = simulate(snapshot, question)
    out = answer.to_json()
    out["lost_ips"] = frozenset(answer.endpoint_shares[key][0].ip for key in answer.lost_endpoints)
    return out


def verify(
    lab: Lab,
    snapshot: Snapshot,
    *,
    modes: tuple[str, ...] = ("iptables",),
    sources: list[str] | None = None,
    requests: int = 200,
    alpha: float = 0.001,
    port: str | None = None,
    rules_from: Snapshot | None = None,
    programmer=None,
    to: str | None = None,
) -> list[SourceResult]:
    """Program the lab with ``snapshot``'s rules in each mode and compare every source.

    ``to`` sends every source to that destination (default: a pod's ClusterIP, an external
    client's NodePort); a source ``pod:A@B`` is a pod on A calling node B's NodePort
    (``Question.via_node``). Every question carries the lab client's real address
    (``client_ip``), so ``loadBalancerSourceRanges`` are decided, never assumed.

    ``rules_from`` programs the rules of another snapshot while still predicting from
    ``snapshot`` — how the tests prove a wrong prediction is caught. ``programmer`` (e.g.
    ``LabAgents``) loads the rules instead of the lab itself.
    """
    svc = snapshot.services[lab.service]
    svc_port = svc.port(port) if port else next((p for p in svc.ports if p.protocol == "TCP"), None)
    if svc_port is None or svc_port.protocol != "TCP":
        raise LabError(f"{lab.service}: the lab sends TCP; pick a TCP port with --port")
    results = []
    chosen = sources or default_sources(snapshot, lab.service)
    for mode in modes:
        (programmer or lab).program(rules_from or snapshot, mode)
        lab.forget_connections()
        plans = []
        for source in (s for s in chosen if s != "lb"):
            plain, via = parse_source(source)
            kind = plain.partition(":")[0]
            dest = to or ("nodeport" if via or kind != "pod" else "clusterip")
            question = Question(
                service=lab.service,
                source=plain,
                to=dest,
                port=svc_port.name or None,
                proxy_mode=mode,
                via_node=via,
                client_ip=client_ip(lab, source),
            )
            plans.append((source, dest, _predict(snapshot, question)))
        # External clients reach a ClusterIP, LB IP or externalIP by a route in their one
        # namespace: those sources take turns; the rest run side by side.
        routed = [p for p in plans if p[0].startswith("external:") and p[1] != "nodeport"]
        side = [p for p in plans if p not in routed]
        outcomes = burst_many(
            [_target(lab, snapshot, p[0], p[1], svc_port.name) for p in side], requests
        )
        for plan in routed:
            target = _target(lab, snapshot, plan[0], plan[1], svc_port.name)
            outcomes += burst_many([target], requests)
        for (source, dest, answer), outcome in zip(side + routed, outcomes):
            results.append(
                _judge(lab, snapshot, mode, source, dest, answer, outcome, requests, alpha)
            )
        if "lb" in chosen:
            results.append(_verify_lb(lab, snapshot, mode, svc_port, requests, alpha))
    return results


def _verify_lb(
    lab: Lab, snapshot: Snapshot, mode: str, svc_port, requests: int, alpha: float
) -> SourceResult:
    """The cloud load balancer: external clients spread equally over the ingress nodes the
    engine reports (those passing the health check), each arriving at that node.

    The lab has no cloud LB: each ingress node's share of the connections is sent to the
    LB IP routed to that node (one node at a time) when the Service has a captured LB IP,
    else to the node's NodePort — a VIP-mode LB IP and the NodePort enter the same
    per-service external chain (KUBE-EXT / external-…). Going to the LB IP also meets
    ``loadBalancerSourceRanges`` (KUBE-FW / the firewall-ips map), which guard only it.
    """
    svc = snapshot.services[lab.service]
    lb_ip = next(iter(svc.lb_ips), None)
    if lb_ip is None and not svc_port.node_port:
        raise LabError(
            f"{lab.service} port {svc_port.name or svc_port.port} has no LB IP or NodePort "
            "for the lb source"
        )
    if lb_ip is None and svc.lb_source_ranges:
        raise LabError(
            f"{lab.service}: loadBalancerSourceRanges guard only the LB IP, "
            "and the Service has none kube-proxy captures"
        )
    question = Question(
        service=lab.service,
        source="lb",
        port=svc_port.name or None,
        proxy_mode=mode,
        client_ip=lab.external[1],
    )
    answer = _predict(snapshot, question)
    ingress = answer.get("ingress_nodes") or []
    if not ingress:
        raise LabError(f"{lab.service}: the load balancer has no ingress node to send from")
    if max(n["share"] for n in ingress) - min(n["share"] for n in ingress) > 1e-6:
        raise LabError(
            f"{lab.service}: the lab spreads the lb source equally; the engine's spread is uneven"
        )
    per_node = max(1, requests // len(ingress))
    if lb_ip is None:
        targets = [(lab.external[0], lab.nodes[n["node"]].ip, svc_port.node_port) for n in ingress]
        outcomes = burst_many(targets, per_node)
    else:
        outcomes = []
        for entry in ingress:
            lab.route_external(lb_ip, entry["node"])
            outcomes += burst_many([(lab.external[0], lb_ip, svc_port.port)], per_node)
    merged = Outcomes()
    for outcome in outcomes:
        merged.counts.update(outcome.counts)
        merged.peers.update(outcome.peers)
        merged.errors.update(outcome.errors)
    return _judge(
        lab, snapshot, mode, "lb", "loadbalancer", answer, merged, per_node * len(ingress), alpha
    )


def _judge(
    lab: Lab,
    snapshot: Snapshot,
    mode: str,
    source: str,
    to: str,
    answer: dict,
    outcome: Outcomes,
    requests: int,
    alpha: float,
) -> SourceResult:
    expected = expected_shares(answer, answer.get("lost_ips", frozenset()))
    observed = Counter({k: v for k, v in outcome.counts.items() if v})
    forwarded = sum(outcome.peers.values())
    preserved = answer["client_ip_preserved"]
    seen_client = outcome.peers.get(client_ip(lab, source), 0)
    preserved_ok = forwarded == 0 or (seen_client == forwarded if preserved else seen_client == 0)
    note = ""
    if snapshot.services[lab.service].session_affinity == "ClientIP" and answer["endpoints"]:
        landed = [k for k in observed if k not in ("drop", "reject", "error")]
        allowed = {k for k, v in expected.items() if v > 0}
        ok = (
            len(landed) == 1
            and landed[0] in allowed
            and sum(observed.values()) == observed[landed[0]]
        )
        p = None
        note = "sessionAffinity=ClientIP: one client sticks to one endpoint"
    else:
        fit = goodness_of_fit(observed, expected, alpha=alpha)
        ok, p = fit.ok, fit.p_value
        if fit.impossible:
            note = "observed outcomes the engine calls impossible: " + ", ".join(fit.impossible)
    if outcome.errors:
        note = (
            (note + "; " if note else "")
            + "socket errors: "
            + ", ".join(f"{k}x{v}" for k, v in outcome.errors.items())
        )
    return SourceResult(
        mode,
        source,
        to,
        requests,
        observed,
        expected,
        p,
        preserved,
        preserved_ok,
        ok and preserved_ok,
        note,
    )


def timeline_expected(step: dict) -> dict[str, float]:
    """Outcome -> share among the live nodes, from one timeline step: the endpoints' shares,
    ``reject`` and ``drop`` (a down node's share, counted as failing, sends nothing here)."""
    shares = dict(step["shares"]["endpoints"])
    rejected = step["shares"]["rejected"]
    shares["reject"] = rejected
    shares["drop"] = max(0.0, step["dropped"] - rejected)
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()} if total > 0 else shares


def verify_timeline(
    lab: Lab,
    steps: list[Moment],
    *,
    mode: str = "iptables",
    requests: int = 40,
    alpha: float = 0.001,
    programmer=None,
) -> list[SourceResult]:
    """Load each moment's rules and compare real packets with the timeline's step.

    Per moment and source kind, ``requests`` connections per node, pooled, against the
    step's shares (chi-square, as ``verify``): ``pod`` from a client pod on every live node
    to the ClusterIP, ``external`` from the external client to every live node's NodePort,
    ``lb`` from the external client to the NodePort of every live node the load balancer
    sends to then (as ``_verify_lb``: the lab has no cloud LB; a Service with
    loadBalancerSourceRanges is checked without it). Whether a pod still accepts (the
    step's ``failing``) is the app's business, not the rules': the lab's pods always
    answer, so a share sent to a stopping pod lands there.
    """
    svc = lab.snapshot.services[lab.service]
    if svc.session_affinity == "ClientIP":
        raise LabError(f"{lab.service}: ClientIP affinity pins each client; pooled shares differ")
    port = next((p for p in svc.ports if p.protocol == "TCP"), None)
    if port is None:
        raise LabError(f"{lab.service}: the lab sends TCP and the Service has no TCP port")
    kinds = ["pod", "external"] + ([] if svc.lb_source_ranges else ["lb"])
    results = []
    for moment in steps:
        (programmer or lab).program(moment.snapshot, mode)
        for kind in kinds:
            step = moment.steps.get(kind)
            senders = sorted((moment.lb_nodes if kind == "lb" else set(lab.nodes)) - moment.dead)
            if step is None or not senders:
                continue
            to = {"pod": "clusterip", "external": "nodeport", "lb": "loadbalancer"}[kind]
            targets = [
                _target(
                    lab,
                    moment.snapshot,
                    f"{kind if kind == 'pod' else 'external'}:{n}",
                    "clusterip" if kind == "pod" else "nodeport",
                    port.name,
                )
                for n in senders
            ]
            merged = Outcomes()
            for outcome in burst_many(targets, requests):
                merged.counts.update(outcome.counts)
                merged.errors.update(outcome.errors)
            expected = timeline_expected(step)
            observed = Counter({k: v for k, v in merged.counts.items() if v})
            fit = goodness_of_fit(observed, expected, alpha=alpha)
            note = (
                "observed outcomes the timeline calls impossible: " + ", ".join(fit.impossible)
                if fit.impossible
                else ""
            )
            if merged.errors:
                note = (
                    (note + "; " if note else "")
                    + "socket errors: "
                    + ", ".join(f"{k}x{v}" for k, v in merged.errors.items())
                )
            results.append(
                SourceResult(
                    mode,
                    f"t={moment.t:g}s {kind}",
                    to,
                    requests * len(senders),
                    observed,
                    expected,
                    fit.p_value,
                    True,
                    True,
                    fit.ok,
                    note,
                    client_ip_checked=False,
                )
            )
    return results


def format_table(results: list[SourceResult], *, alpha: float) -> str:
    """A fixed-width table: one row per (mode, source, outcome)."""
    lines = [
        f"chi-square goodness of fit per source, alpha={alpha} "
        "(p < alpha or an impossible outcome = DISAGREE)",
        f"{'mode':9} {'source':22} {'to':10} {'outcome':16} "
        f"{'observed':>9} {'expected':>9} {'p-value':>9}  verdict",
    ]
    for r in results:
        keys = sorted(set(r.observed) | {k for k, v in r.expected.items() if v > 0})
        for i, k in enumerate(keys):
            exp = r.expected.get(k, 0.0) * r.requests
            p = "" if i or r.p_value is None else f"{r.p_value:.4f}"
            verdict = "" if i else ("agree" if r.ok else "DISAGREE")
            lines.append(
                f"{r.mode:9} {r.source:22} {r.to:10} {k:16} "
                f"{r.observed.get(k, 0):>9} {exp:>9.1f} {p:>9}  {verdict}"
            )
        if r.client_ip_checked:
            src = "client IP preserved" if r.preserved_expected else "client IP masqueraded"
            ok = "ok" if r.preserved_ok else "WRONG"
            lines.append(f"{'':9} {'':22} {'':10} {src:16} {ok:>9}")
        if r.note:
            lines.append(f"{'':9} note: {r.note}")
    return "\n".join(lines)
