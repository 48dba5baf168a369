"""Cluster-wide analysis: every Service port × source class, aggregated, plus ranked findings.

``analyze(snapshot)`` never walks nodes × services: nodes are grouped once per snapshot by
(kube-proxy configuration, zone) and each service port only looks at the few nodes that
host or are hinted by its endpoints (see ``ports``). The result equals averaging
``simulate`` over every source node, which the tests check on random clusters.
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate

from routing.engine.analysis.findings import findings_for, rank
from routing.engine.analysis.model import SOURCES, PortAnalysis, SourceAggregate
from routing.engine.analysis.nodes import node_index
from routing.engine.analysis.ports import PortContext, analyze_port, simple_port, single_config
from routing.engine.analysis.report import EndpointShare, Finding, Report, ServiceRow, SourceStats
from routing.engine.costmodel import (
    CROSS_ZONE,
    DEFAULT_COST_MODEL,
    LOCALITIES,
    CostModel,
    imbalance,
)
from routing.engine.families import families
from routing.engine.snapshot import Snapshot
from routing.engine.types import Endpoint, Service
from routing.engine.unproxied import not_proxied

__all__ = [
    "SERVICE_WEIGHT",
    "SOURCES",
    "EndpointShare",
    "Finding",
    "Report",
    "ServiceRow",
    "ServiceTotals",
    "SourceStats",
    "analyze",
    "key_shard",
    "key_shards",
    "merge",
    "service_weights",
    "source_stats",
]


@dataclass(frozen=True, slots=True)
class ServiceTotals:
    """The cluster-wide Service figures of a report that one shard's Services cannot give:
    how many Services the cluster has, and its dual-stack proxied ones (the report's note
    names the first). A shard analysed on a snapshot of its own Services only
    (``routing.snapshots.services_snapshot``) is handed the cluster's."""

    services: int
    dual_stack: int = 0
    #: the smallest key of a dual-stack proxied Service ("" when none).
    first_dual_stack: str = ""

    @classmethod
    def of(cls, services: Mapping[str, Service]) -> ServiceTotals:
        """The totals of ``services`` (key -> Service), as ``analyze`` counts them."""
        dual = [key for key, svc in services.items() if svc.proxied and len(families(svc)) > 1]
        return cls(len(services), len(dual), min(dual, default=""))


def analyze(
    snapshot: Snapshot,
    *,
    model: CostModel = DEFAULT_COST_MODEL,
    services: Collection[str] | None = None,
    totals: ServiceTotals | None = None,
) -> Report:
    """The cluster-wide report of ``snapshot`` under the latency/cost ``model``.

    Rows: one per port of every Service kube-proxy programs (headless, ExternalName and
    other proxies' Services are skipped, as kube-proxy skips them: each gets an info
    finding ``NOT_PROXIED_*`` saying what DNS returns instead), sorted by ``namespace/name``
    then port order. Findings: ranked by impact.

    ``services`` (keys ``namespace/name``) limits the rows and findings to those Services:
    one shard of the analysis; ``merge`` of the shards' reports equals the whole report
    (each Service port is analysed on its own, against the whole snapshot's nodes).

    ``totals``: the cluster's Service figures (count, dual-stack Services) when
    ``snapshot`` holds only some of its Services (a shard's snapshot: the nodes and the
    shard's Services); by default the snapshot's own.
    """
    with _gc_paused():
        return _analyze(snapshot, model, services, totals or ServiceTotals.of(snapshot.services))


#: A Service's weight in the shard split beside one per endpoint: reading, building and
#: analysing a Service costs about as much as 8 of its endpoints (measured on the
#: generated 5,000-node cluster: ~0.23 ms per Service, ~0.03 ms per endpoint).
SERVICE_WEIGHT = 8


def service_weights(snapshot: Snapshot) -> dict[str, int]:
    """Key -> ``SERVICE_WEIGHT`` + the Service's endpoints (over its ports): the cost of its
    share of an analysis, for :func:`key_shard`'s ``weights``."""
    endpoints = snapshot.endpoint_index
    return {
        key: SERVICE_WEIGHT + sum(len(eps) for eps in endpoints.get(key, {}).values())
        for key in snapshot.services
    }


def key_shard(
    keys: Collection[str],
    shard: int,
    of: int,
    *,
    weights: Mapping[str, float] | None = None,
    sizes: Sequence[float] | None = None,
) -> list[str]:
    """Keys of shard ``shard`` (0-based) of ``of``: contiguous runs of the sorted ``keys``,
    so merging the shards in order keeps the report's row order.

    Without ``weights`` every shard gets the same number of keys (give or take one). With
    ``weights`` (key -> cost; a missing key weighs 1) the runs are cut where the running
    total crosses each ``of``-th of the whole, a key going to the shard holding its
    weight's midpoint: shards of about equal cost, some possibly empty. ``sizes`` (one
    positive number per shard) makes shard ``i`` about ``sizes[i] / sum(sizes)`` of the
    whole instead of an ``of``-th (of the weight, or of the keys without ``weights``)."""
    if not 0 <= shard < of:
        raise ValueError(f"shard {shard} is not in 0..{of - 1}")
    return key_shards(keys, of, weights=weights, sizes=sizes)[shard]


def key_shards(
    keys: Collection[str],
    of: int,
    *,
    weights: Mapping[str, float] | None = None,
    sizes: Sequence[float] | None = None,
) -> list[list[str]]:
    """Every shard of :func:`key_shard`, in order, from one sort of ``keys``."""
    if of < 1:
        raise ValueError(f"{of} shards: at least one is needed")
    if sizes is not None and (len(sizes) != of or min(sizes) <= 0):
        raise ValueError(f"sizes must be {of} positive numbers")
    ordered = sorted(keys)
    if weights is None and sizes is None:
        return [
            ordered[len(ordered) * shard // of : len(ordered) * (shard + 1) // of]
            for shard in range(of)
        ]
    costs = [1.0 if weights is None else max(0.0, float(weights.get(key, 1.0))) for key in ordered]
    total = sum(costs)
    if total <= 0:
        return key_shards(ordered, of, sizes=sizes)
    # With ``sizes``: each shard's upper bound, as a share of the whole.
    bounds = None if sizes is None else list(accumulate(size / sum(sizes) for size in sizes))
    out: list[list[str]] = [[] for _ in range(of)]
    before = 0.0
    for key, cost in zip(ordered, costs, strict=True):
        middle = before + cost / 2
        if bounds is None:
            index = int(middle * of / total)
        else:
            index = bisect_right(bounds, middle / total)
        out[min(of - 1, index)].append(key)
        before += cost
    return out


def merge(parts: Sequence[Report]) -> Report:
    """One report from the reports of ``key_shard`` shards, given in shard order: rows
    concatenated, findings ranked together; cluster totals are every part's own."""
    if not parts:
        raise ValueError("merge needs at least one part")
    first = parts[0]
    return Report(
        tuple(row for part in parts for row in part.rows),
        rank(finding for part in parts for finding in part.findings),
        first.nodes,
        first.zones,
        first.services,
        first.proxy_modes,
        first.model,
        first.notes,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the analysis allocates hundreds of thousands of
    small acyclic objects, and each collection would re-walk the snapshot's million objects
    (about a quarter of the run time on a 5,000-node cluster). Reference counting still
    frees everything; the collector's previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analyze(
    snapshot: Snapshot,
    model: CostModel,
    services: Collection[str] | None,
    totals: ServiceTotals,
) -> Report:
    index = node_index(snapshot)
    ctx = PortContext(snapshot, index)
    config = single_config(index)
    rows: list[ServiceRow] = []
    findings = []
    wanted = (
        snapshot.services.keys() if services is None else snapshot.services.keys() & set(services)
    )
    keys = sorted(wanted)
    for key in keys:
        service = snapshot.services[key]
        unhandled = not_proxied(snapshot, service)
        if unhandled is not None:
            # kube-proxy leaves it alone: no row, one finding saying what DNS returns.
            findings.append(
                Finding(str(unhandled.reason.code), "info", 0.0, key, "", unhandled.reason.message)
            )
            continue
        for port in service.ports:
            pa = simple_port(snapshot, index, config, service, port) or analyze_port(
                ctx, service, port
            )
            row = _row(pa, model, index.total)
            rows.append(row)
            findings.extend(findings_for(row, pa))
    modes: dict[str, int] = {}
    for cls in index.classes:
        modes[cls.config.mode] = modes.get(cls.config.mode, 0) + len(cls.names)
    zones = tuple(sorted({cls.zone for cls in index.classes}))
    notes = snapshot.notes
    if totals.dual_stack:
        # One row per Service port (routing/engine/README.md, "Per-family analysis").
        notes += (
            f"{totals.dual_stack} dual-stack Service(s) (e.g. {totals.first_dual_stack}) are "
            "reported for their primary family only; simulate --family answers the other "
            "family's proxier",
        )
    if not index.total:
        notes += (
            "no Node in the snapshot: the per-node source classes have no node to start from",
        )
    return Report(
        tuple(rows), rank(findings), index.total, zones, totals.services, modes, model, notes
    )


def source_stats(
    agg: SourceAggregate,
    endpoints: tuple[Endpoint, ...],
    model: CostModel,
    service: str = "",
    ports: int = 1,
) -> SourceStats:
    """Turn a raw aggregate (shares of all connections) into report figures; the cost is
    ``service``'s (one of its ``ports``) under ``model``."""
    forwarded = sum(agg.locality)
    loc = dict(zip(LOCALITIES, agg.locality, strict=True))
    kind = "pod" if agg.source == "pod-external" else agg.source
    cross_bytes, usd = model.cross_zone(service, kind, loc[CROSS_ZONE], ports)
    drop_reason = (
        max(agg.drop_reasons, key=lambda k: (agg.drop_reasons[k], k)) if agg.drop_reasons else None
    )
    return SourceStats(
        source=agg.source,
        to=agg.to,
        nodes=agg.nodes,
        forward_nodes=agg.actions["forward"],
        drop_nodes=agg.actions["drop"],
        reject_nodes=agg.actions["reject"],
        dropped=agg.dropped,
        refused=agg.refused,
        drop_reason=drop_reason or None,
        locality={k: (v / forwarded if forwarded > 1e-12 else 0.0) for k, v in loc.items()},
        client_ip_preserved=agg.preserved / forwarded if forwarded > 1e-12 else 0.0,
        imbalance=imbalance(agg.shares),
        latency_ms=sum(model.hop_ms(k) * v for k, v in loc.items()) / forwarded
        if forwarded > 1e-12
        else None,
        cross_zone_bytes_per_s=cross_bytes,
        cost_usd_per_month=usd,
        port_endpoints=endpoints,
        shares=tuple(agg.shares),
        lb_fail_open=agg.lb_fail_open,
        ipvs_fallback_nodes=agg.ipvs_fallback,
        replies_lost=agg.replies_lost,
    )


def _row(pa: PortAnalysis, model: CostModel, nodes_total: int) -> ServiceRow:
    service, port, eps = pa.service, pa.port, pa.endpoints
    sources = tuple(
        source_stats(agg, eps, model, service.key, len(service.ports)) for agg in pa.sources
    )
    pod = sources[0]
    return ServiceRow(
        service=service.key,
        port=port.name or str(port.port),
        port_number=port.port,
        protocol=port.protocol,
        type=service.type,
        internal_traffic_policy=service.internal_traffic_policy,
        external_traffic_policy=service.external_traffic_policy,
        traffic_distribution=service.traffic_distribution,
        session_affinity=service.session_affinity,
        endpoints_total=len(eps),
        endpoints_ready=sum(1 for ep in eps if ep.ready),
        endpoints_terminating=sum(
            1 for ep in eps if ep.serving and ep.terminating and not ep.ready
        ),
        nodes_hosting=pa.hosting_nodes,
        nodes_covered=pod.forward_nodes,
        nodes_total=nodes_total,
        topology=dict(pa.topology_modes),
        sources=sources,
    )
