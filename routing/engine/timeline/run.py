"""Run a disruption timeline: snapshots per moment, each answered by ``simulate``."""

from __future__ import annotations

import gc
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from routing.engine.lb import backend_excluded
from routing.engine.scenario import SERVICE_FIELDS, Scenario, apply_scenario
from routing.engine.simulate import Question, QuestionError, simulate
from routing.engine.snapshot import Snapshot, sort_endpoints
from routing.engine.timeline.codes import (
    CONNECTIONS_RESET,
    ENDPOINT_NOT_ACCEPTING,
    LB_FAIL_OPEN,
    LB_HEALTH_CHECK_LAG,
    NODE_DOWN,
)
from routing.engine.timeline.events import PlaceCache, lives_for_event
from routing.engine.timeline.lives import INF, Life
from routing.engine.timeline.recommend import recommendations
from routing.engine.timeline.timing import Event, TimelineError, Timing, parse_event
from routing.engine.types import Endpoint

SOURCES = ("pod", "external", "lb")
SOURCE_TEXT = {
    "pod": "pods calling the ClusterIP",
    "external": "external clients on a NodePort",
    "lb": "clients behind the load balancer",
}
EPS = 1e-6

#: what a node's kube-proxy programs: the snapshot, and node -> its local endpoints of the port.
_View = tuple[Snapshot, dict[str, tuple[Endpoint, ...]]]
#: one answer: (ip -> share, dropped, rejected, drop reason, client IP preserved).
_Answer = tuple[dict[str, float], float, float, str | None, bool]


@dataclass(frozen=True)
class TimelineRequest:
    """What to run: the service, the event, the timing, Service field what-ifs."""

    service: str
    event: str
    timing: Timing = field(default_factory=Timing)
    port: str | int | None = None
    #: Service field what-ifs (``--set externalTrafficPolicy=Cluster``).
    overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: answer each node separately (no sharing of identical answers): for tests.
    exhaustive: bool = False


@dataclass
class _Point:
    dropped: float = 0.0
    rejected: float = 0.0
    failing: float = 0.0
    shares: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    codes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    why: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def loss(self) -> float:
        return self.dropped + self.failing


class Shared:
    """What re-runs of a timeline on the same snapshot may share: the snapshot after the
    Service what-ifs, the per-moment views (by content) and the answers to them."""

    def __init__(self) -> None:
        self.key: tuple[int, str, tuple[tuple[str, str], ...]] | None = None
        self.original: Snapshot | None = None
        self.snapshot: Snapshot | None = None
        self.views: dict[Hashable, _View] = {}
        #: delays, node groups and answers, each under its own kind of key.
        self.memo: dict[Hashable, Any] = {}
        #: placements of new pods: they depend on the nodes, not on timing or policies.
        self.places: PlaceCache = {}

    def use(self, snapshot: Snapshot, service: str, overrides: Mapping[str, str]) -> Snapshot:
        """The snapshot with the Service what-ifs; starts afresh for another snapshot or what-if."""
        key = (id(snapshot), service, tuple(sorted(overrides.items())))
        if key != self.key:
            if self.original is not snapshot:
                self.places = {}
            self.key, self.original, self.views, self.memo = key, snapshot, {}, {}
            self.snapshot = (
                apply_scenario(snapshot, Scenario(service_overrides={service: dict(overrides)}))
                if overrides
                else snapshot
            )
        assert self.snapshot is not None  # set together with self.key
        return self.snapshot


class _Run:
    def __init__(
        self, snapshot: Snapshot, request: TimelineRequest, shared: Shared | None = None
    ) -> None:
        self.original = snapshot
        self.request, self.timing = request, request.timing
        self.event: Event = parse_event(request.event)
        service = snapshot.services.get(request.service)
        if service is None:
            raise TimelineError(f"unknown service {request.service!r}")
        if request.overrides:
            bad = [k for k in request.overrides if k not in SERVICE_FIELDS]
            if bad:
                raise TimelineError(
                    f"cannot override {bad[0]!r} (allowed: {', '.join(SERVICE_FIELDS)})"
                )
            shared = shared if shared is not None else Shared()
            snapshot = shared.use(snapshot, service.key, request.overrides)
            service = snapshot.services[service.key]
        if service.type == "ExternalName" or service.headless:
            raise TimelineError(f"service {service.key} is not routed by kube-proxy")
        port = (
            service.port(request.port)
            if request.port not in (None, "")
            else (service.ports[0] if service.ports else None)
        )
        if port is None:
            raise TimelineError(f"service {service.key} has no port {request.port!r}")
        self.snapshot, self.service, self.port = snapshot, service, port
        if shared is None:
            shared = Shared()
        if not request.overrides:
            shared.use(snapshot, service.key, {})
        lives, dead = lives_for_event(snapshot, service, self.event, self.timing, shared.places)
        #: node -> when it stops (node-down, zone-down: 0; scale-in: once drained and deleted).
        self.dead_at: dict[str, float] = dead
        self.dead_nodes = set(dead)
        #: node -> when its kube-proxy /healthz turns 503 for the node being removed
        #: (KEP-3836, proxy_health.go SyncNode: ToBeDeletedByClusterAutoscaler taint or
        #: deletionTimestamp; beta and on by default from 1.30, KubeProxyDrainingTerminatingNodes).
        self.ineligible_at: dict[str, float] = {}
        if self.event.kind == "scale-in":
            node = self.event.target
            assert node is not None  # parse_event: scale-in has a target
            if snapshot.proxy_for(node).version >= (1, 30):
                self.ineligible_at[node] = self.timing.endpointslice_s
        self.lives = lives
        self.by_ip = {life.ip: life for life in lives}
        self.by_node: dict[str, list[Life]] = defaultdict(list)
        for life in lives:
            if life.node:
                self.by_node[life.node].append(life)
        self.sources = ["pod"]
        if port.node_port:
            self.sources.append("external")
        if service.type == "LoadBalancer":
            self.sources.append("lb")
        nodes = snapshot.nodes
        delay_key = (
            "delay",
            self.timing.endpointslice_s,
            tuple(sorted(self.timing.sync_s.items())),
        )
        if delay_key not in shared.memo:
            shared.memo[delay_key] = {
                name: self.timing.delay(snapshot.proxy_for(name).mode) for name in nodes
            }
        self.delay = shared.memo[delay_key]
        hinted = {h for life in lives for ep in life.eps.values() for h in ep.node_hints}
        self.special = sorted((set(self.by_node) | hinted | self.dead_nodes) & set(nodes))
        self.hinted = hinted
        self.special_set = special = set(self.special)
        self.local_ext = service.external_traffic_policy == "Local"
        self.local_int = service.internal_traffic_policy == "Local"
        version = snapshot.proxy.version
        self.backends = [n.name for n in nodes.values() if backend_excluded(n, version) is None]
        backends = set(self.backends)
        # Nodes without any endpoint, hint or failure of this Service answer alike within a
        # zone and kube-proxy config, and their health check never changes: grouped once.
        groups_key = ("groups", tuple(self.special), self.local_ext)
        if groups_key not in shared.memo:
            shared.memo[groups_key] = (
                self._group(n for n in nodes if n not in special),
                self._group(n for n in nodes if n not in special and n in backends),
                self._group(
                    n for n in nodes if n not in special and n in backends and self.hc(n, -1.0)
                ),
            )
        self.groups, self.groups_backends, self.groups_healthy = shared.memo[groups_key]
        self.special_backends = [n for n in self.special if n in backends]
        self.shared = shared
        self.memo: dict[Hashable, Any] = shared.memo
        self.views: dict[Hashable, _View] = shared.views
        self.at: dict[tuple[float, float], _View] = {}
        self._lb_belief()

    # -- what each node's kube-proxy sees -------------------------------------------------
    def view(self, t: float, delay: float) -> _View:
        """The snapshot kube-proxy programs at ``t`` on nodes ``delay`` seconds behind, and
        node -> its local endpoints of this port."""
        cached = self.at.get((t, delay))
        if cached is not None:
            return cached
        s = t - delay
        ports = {}
        local: dict[str, list[Endpoint]] = defaultdict(list)
        for p in self.service.ports:
            eps = [ep for life in self.lives if (ep := life.endpoint(p.name, s)) is not None]
            ports[p.name] = sort_endpoints(eps)
        for ep in ports[self.port.name]:
            if ep.node:
                local[ep.node].append(ep)
        marked = frozenset(n for n in self.dead_nodes if t >= self._marked(n))
        sig = (
            tuple(ports[self.port.name]),
            tuple(tuple(v) for k, v in sorted(ports.items()) if k != self.port.name),
            marked,
        )
        hit = self.views.get(sig)
        if hit is not None:
            self.at[(t, delay)] = hit
            return hit
        index = dict(self.snapshot.endpoint_index)
        index[self.service.key] = MappingProxyType(ports)
        changes: dict[str, object] = {"endpoint_index": index}
        if marked:
            nodes = dict(self.snapshot.nodes)
            for name in marked:
                nodes[name] = replace(nodes[name], ready=False)
            changes["nodes"] = nodes
        out: _View = (self.snapshot.evolve(**changes), {k: tuple(v) for k, v in local.items()})
        self.views[sig] = self.at[(t, delay)] = out
        return out

    def _marked(self, node: str) -> float:
        if self.event.kind not in ("node-down", "zone-down"):
            return INF  # a removed node is deleted, not marked NotReady
        return self.timing.node_monitor_grace_s if node in self.dead_nodes else INF

    def dead(self, node: str, t: float) -> bool:
        at = self.dead_at.get(node)
        return at is not None and t >= at

    # -- the load balancer's belief ----------------------------------------------------------
    def hc(self, node: str, t: float) -> bool:
        """The node's answer to the LB probe at ``t`` (healthCheckNodePort or kube-proxy
        healthz)."""
        if self.dead(node, t):
            return False
        if not self.local_ext:
            return t < self.ineligible_at.get(node, INF)
        s = t - self.delay[node]
        for life in self.by_node.get(node, ()):
            st = life.state(s)
            if st is not None and st[0]:
                return True
        return False

    def _lb_belief(self) -> None:
        probe = self.timing.lb
        self.belief: dict[str, list[tuple[float, bool]]] = {}
        self.belief_base: dict[str, bool] = {}
        self.lb_times: set[float] = set()
        for name in self.special:
            d = self.delay[name]
            extra = [
                x for x in (self.dead_at.get(name), self.ineligible_at.get(name)) if x is not None
            ]
            points = sorted(
                {
                    0.0,
                    *extra,
                    *(
                        x + d
                        for life in self.by_node.get(name, ())
                        for x in life.changes()
                        if x + d >= 0
                    ),
                }
            )
            base = self.hc(name, -1.0)
            belief, cur, since, flips = base, base, -INF, []
            for i, p in enumerate(points):
                v = self.hc(name, p)
                if v != cur:
                    cur, since = v, p
                if cur != belief:
                    flip = since + (probe.in_after_s if cur else probe.out_after_s)
                    nxt = points[i + 1] if i + 1 < len(points) else INF
                    if flip < nxt or (flip == nxt and self.hc(name, nxt) == cur):
                        belief = cur
                        flips.append((flip, cur))
                        self.lb_times.add(flip)
            self.belief_base[name] = base
            self.belief[name] = flips

    def believed(self, node: str, t: float) -> bool:
        if node not in self.belief:
            return self.hc(node, -1.0)
        value = self.belief_base[node]
        for at, v in self.belief[node]:
            if at <= t:
                value = v
        return value

    # -- answers ----------------------------------------------------------------------------------
    def answer(self, kind: str, node: str, t: float) -> _Answer:
        view, local = self.view(t, self.delay[node])
        config = self.snapshot.proxy_for(node)
        policy_local = self.local_int if kind == "pod" else self.local_ext
        key: tuple[Hashable, ...]
        if self.request.exhaustive:
            key = (kind, node, id(view))
        elif policy_local and config.mode in ("iptables", "nftables"):
            # The Local set is the node's own endpoints: nothing else about the node counts.
            key = (kind, id(config), local.get(node, ()))
        elif policy_local:
            key = (kind, node, id(view))
        else:
            key = (kind, self.snapshot.zone_of(node), id(config), node in self.hinted, id(view))
        hit: _Answer | None = self.memo.get(key)
        if hit is not None:
            return hit
        to = {
            "pod": "clusterip",
            "external": "nodeport",
            "lb": "loadbalancer" if self.service.lb_ips else "nodeport",
        }[kind]
        source = f"{'pod' if kind == 'pod' else 'external'}:{node}"
        try:
            ans = simulate(
                view,
                Question(
                    service=self.service.key,
                    source=source,
                    to=to,
                    port=self.port.name or self.port.port,
                ),
            )
        except QuestionError as exc:
            raise TimelineError(str(exc)) from None
        shares = {ep.ip: share for ep, share in ans.endpoint_shares.values() if share > 0}
        out: _Answer = (shares, ans.dropped, ans.rejected, ans.drop_reason, ans.client_ip_preserved)
        self.memo[key] = out
        return out

    def point(self, kind: str, t: float) -> _Point:
        pt = _Point()
        fail_open = False
        if kind == "lb":
            weights = [
                (n, 1.0) for n in self.special_backends if self.believed(n, t)
            ] + self.groups_healthy
            if not weights:
                fail_open = True
                weights = [(n, 1.0) for n in self.special_backends] + self.groups_backends
        else:
            weights = [
                (n, 1.0) for n in self.special if not (kind == "pod" and self.dead(n, t))
            ] + self.groups
        total = sum(w for _, w in weights) or 1.0
        # Nodes that share an answer are summed first; each answer is then spread once.
        shared: dict[int, list[Any]] = {}  # id(answer) -> [answer, weight]
        for node, w in weights:
            w /= total
            if self.dead(node, t):
                pt.failing += w
                pt.codes[NODE_DOWN] += w
                pt.why[NODE_DOWN].add(node)
                continue
            ans = self.answer(kind, node, t)
            dropped = ans[1]
            if dropped > 0:
                if kind == "lb" and fail_open:
                    code = LB_FAIL_OPEN
                elif kind == "lb" and self.local_ext and not self.hc(node, t):
                    code = LB_HEALTH_CHECK_LAG
                else:
                    code = ans[3] or "DROPPED"
                pt.codes[code] += w * dropped
                pt.why[code].add(node)
            entry = shared.get(id(ans))
            if entry is None:
                shared[id(ans)] = [ans, w]
            else:
                entry[1] += w
        for ans, w in shared.values():
            shares, dropped, rejected = ans[0], ans[1], ans[2]
            pt.dropped += w * dropped
            pt.rejected += w * rejected
            for ip, share in shares.items():
                pt.shares[ip] += w * share
                life = self.by_ip.get(ip)
                if life is not None and not life.accepting(t):
                    pt.failing += w * share
                    pt.codes[ENDPOINT_NOT_ACCEPTING] += w * share
                    pt.why[ENDPOINT_NOT_ACCEPTING].add(life.key)
        return pt

    def _group(self, names: Iterable[str]) -> list[tuple[str, float]]:
        groups: dict[tuple[str, int], list[str]] = defaultdict(list)
        for name in names:
            groups[(self.snapshot.zone_of(name), id(self.snapshot.proxy_for(name)))].append(name)
        return [(members[0], float(len(members))) for members in groups.values()]

    # -- the whole timeline -----------------------------------------------------------------------
    def times(self) -> list[float]:
        delays = set(self.delay.values()) or {0.0}
        found = {0.0}
        for life in self.lives:
            for x in life.changes():
                found.update(x + d for d in delays)
            for x in (life.ready, life.stop, life.dead):
                if math.isfinite(x):
                    found.add(x)
        found.update(self.lb_times)
        found.update(self._marked(n) for n in self.dead_nodes)
        found.update(self.dead_at.values())
        found.update(self.ineligible_at.values())
        return sorted(round(x, 6) for x in found if x >= 0 and math.isfinite(x))

    def run(self) -> dict[str, Any]:
        baseline = {kind: self.point(kind, -1.0) for kind in self.sources}
        steps: list[dict[str, Any]] = []
        windows: list[dict[str, Any]] = []
        open_w: dict[str, dict[str, Any] | None] = {kind: None for kind in self.sources}
        last: dict[str, tuple[Any, ...] | None] = {kind: None for kind in self.sources}
        for t in self.times():
            for kind in self.sources:
                pt = self.point(kind, t)
                step = self._step(t, kind, pt)
                sig = (
                    step["shares"]["endpoints"],
                    step["dropped"],
                    step["failing"],
                    step["shares"]["rejected"],
                )
                if sig != last[kind]:
                    steps.append(step)
                    last[kind] = sig
                self._window(windows, open_w, kind, t, pt, baseline[kind])
        for w in open_w.values():
            if w is not None:
                windows.append(self._close(w, None))
        windows.extend(self._resets(baseline))
        windows.sort(
            key=lambda w: (
                w["start"],
                SOURCES.index(w["source"].split(":")[0])
                if w["source"].split(":")[0] in SOURCES
                else 9,
                w["source"],
            )
        )
        return {
            "steps": steps,
            "windows": windows,
            "baseline": {
                kind: {"dropped": round(b.dropped, 6), "failing": round(b.failing, 6)}
                for kind, b in baseline.items()
            },
        }

    def _step(self, t: float, kind: str, pt: _Point) -> dict[str, Any]:
        forwarded = max(0.0, 1.0 - pt.dropped - pt.failing)
        return {
            "t": t,
            "source": kind,
            "shares": {
                "forwarded": round(forwarded, 6),
                "rejected": round(pt.rejected, 6),
                "endpoints": {ip: round(s, 6) for ip, s in sorted(pt.shares.items()) if s > EPS},
            },
            "dropped": round(pt.dropped, 6),
            "failing": round(pt.failing, 6),
        }

    def _window(
        self,
        windows: list[dict[str, Any]],
        open_w: dict[str, dict[str, Any] | None],
        kind: str,
        t: float,
        pt: _Point,
        base: _Point,
    ) -> None:
        extra = pt.loss() - base.loss()
        cur = open_w[kind]
        if extra <= EPS:
            if cur is not None:
                windows.append(self._close(cur, t))
                open_w[kind] = None
            return
        codes = {c: v - base.codes.get(c, 0.0) for c, v in pt.codes.items()}
        code = max(codes, key=lambda c: (codes[c], c))
        if cur is not None and cur["code"] != code:
            windows.append(self._close(cur, t))
            cur = None
        if cur is None:
            cur = open_w[kind] = {
                "source": kind,
                "start": t,
                "share": extra,
                "code": code,
                "who": set(),
            }
        cur["share"] = max(cur["share"], extra)
        # Who is at fault over the whole window (pods or nodes beyond those of the baseline).
        cur["who"] |= (pt.why.get(code, set()) - base.why.get(code, set())) or pt.why.get(
            code, set()
        )

    def _close(self, w: dict[str, Any], end: float | None) -> dict[str, Any]:
        return {
            "source": w["source"],
            "start": w["start"],
            "end": end,
            "seconds": None if end is None else round(end - w["start"], 6),
            "share": round(w["share"], 6),
            "cause": self._cause(w["source"], w["code"], w["who"]),
            "code": w["code"],
        }

    def _cause(self, kind: str, code: str, who: set[str]) -> str:
        names = ", ".join(sorted(who)[:3]) + (f" and {len(who) - 3} more" if len(who) > 3 else "")
        who_text = SOURCE_TEXT[kind]
        probe = self.timing.lb
        if code == ENDPOINT_NOT_ACCEPTING:
            whys = sorted(
                {
                    life.stop_why
                    for k in who
                    if (life := self.by_key(k)) is not None and life.stop_why
                }
            )
            return (
                f"{who_text}: kube-proxy still sends new connections to {names},"
                f" whose app no longer accepts ({'; '.join(whys) or 'not ready'}):"
                " the EndpointSlice update and kube-proxy's sync"
                f" ({self.timing.endpointslice_s:g} s + minSyncPeriod)"
                " have not reached the rules yet"
            )
        if code == LB_HEALTH_CHECK_LAG:
            return (
                f"{who_text}: the load balancer still sends to {names},"
                " whose healthCheckNodePort answers 503"
                f" (no Ready local endpoint); it needs {probe.unhealthy_threshold} failed probes"
                f" {probe.interval_s:g} s apart ({probe.out_after_s:g} s) to stop,"
                " and kube-proxy drops"
                " what arrives (externalTrafficPolicy=Local)"
            )
        if code == LB_FAIL_OPEN:
            return (
                f"{who_text}: no node passes the load balancer's health check,"
                " so it fails open to every backend node;"
                " nodes without a local endpoint drop the connections"
            )
        if code == NODE_DOWN and self.event.kind == "scale-in":
            return (
                f"{who_text}: traffic still goes to {names},"
                " whose VM the cluster autoscaler stopped; the load"
                f" balancer needs {probe.out_after_s:g} s of failed probes to notice"
                + (
                    ""
                    if self.ineligible_at
                    else " (kube-proxy before 1.30 keeps /healthz at 200 for a node being removed)"
                )
            )
        if code == NODE_DOWN:
            return (
                f"{who_text}: traffic still goes to {names}, which stopped; the load balancer needs"
                f" {probe.out_after_s:g} s to notice,"
                f" the node controller {self.timing.node_monitor_grace_s:g} s"
            )
        return (
            f"{who_text}: kube-proxy drops or rejects the connections"
            f" on {names or 'the nodes'} ({code})"
        )

    def marks(self, limit: int = 40) -> list[dict[str, Any]]:
        """What happens when, in words (pods deleted, Ready, gone; nodes failing; the LB
        taking nodes out and back), grouped by moment: the chart's event marks."""
        found: dict[float, list[str]] = defaultdict(list)

        def add(t: float, what: str, names: list[str]) -> None:
            if names and math.isfinite(t) and t >= 0:
                shown = ", ".join(sorted(names)[:2]) + (
                    f" and {len(names) - 2} more" if len(names) > 2 else ""
                )
                found[round(t, 6)].append(f"{what}: {shown}")

        by_time: dict[tuple[float, str], list[str]] = defaultdict(list)
        for life in self.lives:
            if life.new:
                by_time[(life.born, "pod created")].append(life.key)
                by_time[(life.ready, "pod Ready")].append(life.key)
            if math.isfinite(life.term) and not self.dead(life.node or "", life.term):
                by_time[(life.term, "pod deleted (preStop, then SIGTERM)")].append(life.key)
            if math.isfinite(life.stop) and life.stop_why and not (life.dead <= life.stop):
                by_time[(life.stop, f"app {life.stop_why}")].append(life.key)
        for name, at in self.dead_at.items():
            by_time[(at, "node stops")].append(name)
        for name in self.dead_nodes:
            by_time[(self._marked(name), "node controller marks NotReady")].append(name)
        for name, at in self.ineligible_at.items():
            by_time[(at, "kube-proxy /healthz 503 (node being removed)")].append(name)
        if "lb" in self.sources:
            for name, flips in self.belief.items():
                for at, healthy in flips:
                    by_time[
                        (at, "load balancer sends to" if healthy else "load balancer takes out")
                    ].append(name)
        for (t, what), names in by_time.items():
            add(t, what, names)
        return [{"t": t, "text": "; ".join(texts)} for t, texts in sorted(found.items())][:limit]

    def by_key(self, key: str) -> Life | None:
        if not hasattr(self, "_by_key"):
            self._by_key = {life.key: life for life in self.lives}
        return self._by_key.get(key)

    def _resets(self, baseline: dict[str, _Point]) -> list[dict[str, Any]]:
        """Established connections (conntrack keeps them on their endpoint whatever the
        rules say): those open at t=0 on a pod are reset when its app exits or its node dies."""
        out: list[dict[str, Any]] = []
        for kind, base in baseline.items():
            by_time: dict[float, list[tuple[str, float]]] = defaultdict(list)
            for ip, share in base.shares.items():
                life = self.by_ip.get(ip)
                if life is None:
                    continue
                end = min(life.stop, life.dead)
                if math.isfinite(end) and end >= 0 and share > EPS:
                    by_time[end].append((life.key, share))
            for end, hit in sorted(by_time.items()):
                share = sum(s for _, s in hit)
                names = ", ".join(sorted(k for k, _ in hit)[:3]) + (
                    f" and {len(hit) - 3} more" if len(hit) > 3 else ""
                )
                out.append(
                    {
                        "source": f"{kind}:established",
                        "start": end,
                        "end": end,
                        "seconds": 0.0,
                        "share": round(share, 6),
                        "code": CONNECTIONS_RESET,
                        "cause": f"{SOURCE_TEXT[kind]}: connections still open on {names}"
                        " when its app exits are reset"
                        " (conntrack keeps established connections on their pod until then)",
                    }
                )
        return out


@dataclass(frozen=True)
class Moment:
    """One moment at which the rules or the load balancer's spread change: the ordinary
    snapshot every node's kube-proxy programs then, the nodes down, the nodes the load
    balancer sends to (empty without an ``lb`` source) and each source's step (as in
    ``steps``)."""

    t: float
    snapshot: Snapshot
    dead: frozenset[str]
    lb_nodes: frozenset[str]
    steps: Mapping[str, dict[str, Any]]


def moments(snapshot: Snapshot, request: TimelineRequest) -> list[Moment]:
    """The timeline's distinct rule sets and load-balancer spreads in time order, for
    checking each with real packets (``manage.py lab verify --timeline``). Every node must
    program with the same delay (one proxy mode): then each moment is one snapshot."""
    with _gc_paused():
        run = _Run(snapshot, request)
        delays = set(run.delay.values()) or {0.0}
        if len(delays) > 1:
            raise TimelineError(
                "nodes program their rules at different delays (mixed proxy modes): "
                "no single snapshot per moment"
            )
        delay = delays.pop()
        out: list[Moment] = []
        seen: set[tuple[int, frozenset[str], frozenset[str]]] = set()
        for t in run.times():
            view, _ = run.view(t, delay)
            dead = frozenset(n for n in run.dead_at if run.dead(n, t))
            lb: frozenset[str] = frozenset()
            if "lb" in run.sources:
                # point("lb"): the backends the LB believes healthy, else all (fail open).
                lb = frozenset(n for n in run.backends if run.believed(n, t)) or frozenset(
                    run.backends
                )
            if (id(view), dead, lb) in seen:
                continue
            seen.add((id(view), dead, lb))
            steps = {kind: run._step(t, kind, run.point(kind, t)) for kind in run.sources}
            out.append(Moment(t, view, dead, lb, steps))
        return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (as the analysis and the rule renderer do): a
    timeline allocates many small acyclic objects, and each automatic collection would walk
    the whole snapshot (millions of objects on a 5,000-node cluster: a gen-2 pass costs more
    than the timeline). Reference counting still frees everything; the previous state is
    restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_timeline(
    snapshot: Snapshot,
    request: TimelineRequest,
    *,
    recommend: bool = True,
    shared: Shared | None = None,
) -> dict[str, Any]:
    """The timeline JSON: ``{service, event, timing, steps, windows, recommendations}``
    (plus ``baseline``: each source's loss before the event; windows count only loss above it)."""
    with _gc_paused():
        return _run_timeline(snapshot, request, recommend=recommend, shared=shared)


def _run_timeline(
    snapshot: Snapshot, request: TimelineRequest, *, recommend: bool, shared: Shared | None
) -> dict[str, Any]:
    run = _Run(snapshot, request, shared)
    body = run.run()
    out: dict[str, Any] = {
        "service": run.service.key,
        "event": {
            "kind": run.event.kind,
            "target": run.event.target,
            "text": run.event.text,
            "port": run.port.name or str(run.port.port),
            "baseline": body["baseline"],
            "marks": run.marks(),
        },
        "timing": request.timing.to_json(),
        "steps": body["steps"],
        "windows": body["windows"],
        "recommendations": [],
    }
    if recommend:

        def rerun(changed: TimelineRequest) -> list[dict[str, Any]]:
            body = run_timeline(snapshot, changed, recommend=False, shared=run.shared)
            windows: list[dict[str, Any]] = body["windows"]
            return windows

        out["recommendations"] = recommendations(request, run, body["windows"], rerun)
    return out
