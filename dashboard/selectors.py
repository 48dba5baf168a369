"""Reads the pages need beyond the other apps' selectors: bounded, fixed query counts.

Each function is shaped for one picture (the overview's zones → nodes → pods, the
service detail's endpoint grid). None of them computes routing: answers come from
``routing.reports`` and ``routing.engine`` through ``dashboard.answers``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber

from cluster.models import Cluster, Endpoint, KubeProxyConfig, Node, Pod, Service
from cluster.selectors import written_counts
from routing.cache import state_cache

#: The overview draws at most this many nodes per zone and pod dots per node, so a
#: 5,000-node cluster renders as fast as the demo; the rest is counted, not drawn.
NODES_PER_ZONE = 24
PODS_PER_NODE = 24
#: Services given a colour of their own on the overview (the rest are listed, uncoloured).
LEGEND_SIZE = 20


@dataclass
class NodeCard:
    """One node of the overview picture."""

    name: str
    ready: bool
    unschedulable: bool
    proxy_mode: str
    pod_count: int = 0
    #: (pod "ns/name", the Service keys it backs space-separated, colour class or "").
    pods: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def more_pods(self) -> int:
        """Pods on the node that are counted but not drawn."""
        return self.pod_count - len(self.pods)


@dataclass
class ZoneCard:
    """One zone (or the "no zone label" bucket) with the nodes drawn and the rest counted."""

    name: str
    node_count: int
    not_ready: int
    cordoned: int
    nodes: list[NodeCard] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        """Nodes of the zone counted but not drawn."""
        return self.node_count - len(self.nodes)


@dataclass
class OverviewPicture:
    """Everything the overview draws from stored rows (not from the engine)."""

    counts: dict[str, int]
    proxy: KubeProxyConfig | None
    zones: list[ZoneCard]
    legend: list[tuple[str, str]]


OVERVIEW = "overview"


def overview_picture(*, cluster: Cluster) -> OverviewPicture:
    """Counts, kube-proxy configuration, zones → nodes → pods and legend of ``cluster``.

    Built once per cluster state (every write to a cluster's objects bumps its revision,
    exactly as the engine's snapshot cache relies on), so after the first visit the
    overview of a 5,000-node cluster costs no COUNT over 150,000 pods.
    """

    def build() -> OverviewPicture:
        proxy = proxy_config(cluster=cluster)
        zones, legend = overview_zones(cluster=cluster, config=proxy)
        nodes = sum(zone.node_count for zone in zones)
        return OverviewPicture(cluster_counts(cluster=cluster, nodes=nodes), proxy, zones, legend)

    return state_cache.get_or_build(cluster.state_key, OVERVIEW, build)


def overview_cache_clear() -> None:
    """Forget every cached overview picture (tests write rows without bumping revisions)."""
    state_cache.forget(kind=OVERVIEW)


def cluster_counts(*, cluster: Cluster, nodes: int | None = None) -> dict[str, int]:
    """Object counts shown on the overview. ``nodes``: the zones' node counts summed (the
    overview's zone aggregate counts every node). Services and Pods as the import or sync
    of the current revision wrote them (``cluster.selectors.written_counts``), else one
    COUNT each: right after an import PostgreSQL has not yet vacuumed the new rows, so
    counting 150,000 Pods reads the heap (~0.9 s on a busy box), not the index alone."""
    written = written_counts(cluster=cluster)
    if written is not None and {"Service", "Pod"} <= written.keys():
        services, pods = written["Service"], written["Pod"]
    else:
        services = Service.objects.filter(cluster=cluster).count()
        pods = Pod.objects.filter(cluster=cluster).count()
    if nodes is None:
        nodes = Node.objects.filter(cluster=cluster).count()
    return {"nodes": nodes, "services": services, "pods": pods}


def proxy_config(*, cluster: Cluster) -> KubeProxyConfig | None:
    """The cluster's kube-proxy configuration row (None when never imported)."""
    return KubeProxyConfig.objects.filter(cluster=cluster).first()


def node_proxy_mode(config: KubeProxyConfig | None, node: str) -> str:
    """The proxy mode running on ``node`` (a per-node override wins)."""
    if config is None:
        return "iptables"
    override = (config.node_overrides or {}).get(node) or {}
    return override.get("mode") or config.mode or "iptables"


def overview_zones(
    *, cluster: Cluster, config: KubeProxyConfig | None
) -> tuple[list[ZoneCard], list[tuple[str, str]]]:
    """Zones → nodes → pods, bounded; and the legend (service key, colour class).

    Pod dots carry the classes of the Services they back; the legend lists the Services
    with the most pods among those drawn. Four queries plus one per zone, whatever the
    number of nodes, pods and zones. ``config`` gives each node's kube-proxy mode.
    """
    zone_rows = (
        Node.objects.filter(cluster=cluster)
        .order_by()
        .values("zone")
        .annotate(
            n=Count("id"),
            not_ready=Count("id", filter=Q(ready=False)),
            cordoned=Count("id", filter=Q(unschedulable=True)),
        )
        .order_by("zone")
    )
    zones = {
        r["zone"]: ZoneCard(r["zone"] or "(no zone label)", r["n"], r["not_ready"], r["cordoned"])
        for r in zone_rows
    }
    drawn: dict[str, NodeCard] = {}
    # The first NODES_PER_ZONE of every zone in one query, unhealthy nodes first: they are
    # what an operator looks for.
    order = [F("ready").asc(), F("unschedulable").desc(), F("name").asc()]
    rows = (
        Node.objects.filter(cluster=cluster)
        .annotate(rank=Window(RowNumber(), partition_by=[F("zone")], order_by=order))
        .filter(rank__lte=NODES_PER_ZONE)
        .order_by("zone", *order)
        .values_list("zone", "name", "ready", "unschedulable")
    )
    for zone_key, name, ready, unschedulable in rows:
        card = NodeCard(name, ready, unschedulable, node_proxy_mode(config, name))
        zones[zone_key].nodes.append(card)
        drawn[name] = card
    _attach_pods(cluster=cluster, drawn=drawn)
    legend = _legend(drawn)
    colour = {key: c for key, c in legend if c}
    for card in drawn.values():
        card.pods = [
            (pod, services, next((colour[k] for k in services.split() if k in colour), ""))
            for pod, services, _ in card.pods
        ]
    return list(zones.values()), legend


def _attach_pods(*, cluster: Cluster, drawn: dict[str, NodeCard]) -> None:
    counts = (
        Pod.objects.filter(cluster=cluster, node_name__in=list(drawn))
        .order_by()
        .values("node_name")
        .annotate(n=Count("id"))
    )
    for row in counts:
        drawn[row["node_name"]].pod_count = row["n"]
    backing: dict[tuple[str, str], list[str]] = defaultdict(list)
    # No ORDER BY: the model's default (slice, position) would join every slice row.
    rows = list(
        Endpoint.objects.filter(
            cluster=cluster, node_name__in=list(drawn), target_kind="Pod", service__isnull=False
        )
        .order_by()
        .values_list("target_namespace", "target_name", "service_id")
    )
    keys = {
        pk: f"{ns}/{name}"
        for pk, ns, name in Service.objects.filter(pk__in={r[2] for r in rows})
        .order_by()
        .values_list("pk", "namespace", "name")
    }
    for pod_ns, pod_name, service_id in rows:
        key = keys[service_id]
        if key not in backing[(pod_ns, pod_name)]:
            backing[(pod_ns, pod_name)].append(key)
    # Only the first PODS_PER_NODE pods of each node leave the database (a window function).
    pods = (
        Pod.objects.filter(cluster=cluster, node_name__in=list(drawn))
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("node_name")], order_by=[F("namespace"), F("name")]
            )
        )
        .filter(rank__lte=PODS_PER_NODE)
        .order_by("node_name", "namespace", "name")
        .values_list("node_name", "namespace", "name")
    )
    for node_name, ns, name in pods:
        drawn[node_name].pods.append((f"{ns}/{name}", " ".join(backing.get((ns, name), ())), ""))


def _legend(drawn: dict[str, NodeCard]) -> list[tuple[str, str]]:
    counter: Counter[str] = Counter()
    for card in drawn.values():
        for _pod, services, _colour in card.pods:
            counter.update(services.split())
    # Every Service drawn, most pods first; the first LEGEND_SIZE get a colour.
    return [
        (key, f"c{i}" if i < LEGEND_SIZE else "")
        for i, (key, _n) in enumerate(counter.most_common())
    ]


def services_by_keys(*, cluster: Cluster, keys: list[tuple[str, str]]) -> list[Service]:
    """The Services named by (namespace, name) pairs, in one query."""
    if not keys:
        return []
    condition = Q()
    for namespace, name in keys:
        condition |= Q(namespace=namespace, name=name)
    return list(Service.objects.filter(cluster=cluster).filter(condition))


def endpoint_counts(*, services: list[Service]) -> dict[int, tuple[int, int]]:
    """Service id -> (ready endpoints, all endpoints), one grouped query for a page."""
    rows = (
        Endpoint.objects.filter(service__in=[s.pk for s in services])
        .values("service_id")
        .annotate(total=Count("id"), ready=Count("id", filter=Q(ready=True)))
    )
    return {r["service_id"]: (r["ready"], r["total"]) for r in rows}


@dataclass
class PlacedEndpoint:
    """One endpoint as the placement grid draws it."""

    address: str
    pod: str
    ready: bool
    serving: bool
    terminating: bool
    zone_hints: list[str]
    node_hints: list[str]

    @property
    def state(self) -> str:
        """CSS class: ready, notready or terminating."""
        if self.terminating:
            return "terminating"
        return "ready" if self.ready else "notready"

    @property
    def label(self) -> str:
        """The conditions in words, as kube-proxy weighs them."""
        if self.terminating:
            return "terminating, still serving" if self.serving else "terminating, not serving"
        if self.ready:
            return "ready"
        return "not ready, serving" if self.serving else "not ready"


def endpoint_placement(
    *, cluster: Cluster, service: Service
) -> list[tuple[str, list[tuple[str, bool, bool, list[PlacedEndpoint]]]]]:
    """[(zone, [(node, node ready, cordoned, [endpoints])])] for the Service's endpoints.

    Nodes without endpoints are left out (they are counted in the flow diagram's
    sources); endpoints without a node go under "(no node)". Two queries.
    """
    eps = list(
        Endpoint.objects.filter(service=service)
        .order_by("node_name", "address")
        .values_list(
            "address",
            "target_name",
            "ready",
            "serving",
            "terminating",
            "hints_for_zones",
            "hints_for_nodes",
            "node_name",
            "zone",
        )
    )
    names = {row[7] for row in eps if row[7]}
    nodes = {
        n.name: n
        for n in Node.objects.filter(cluster=cluster, name__in=names).only(
            "name", "zone", "ready", "unschedulable"
        )
    }
    grid: dict[str, dict[str, list[PlacedEndpoint]]] = defaultdict(lambda: defaultdict(list))
    for address, pod, ready, serving, terminating, zh, nh, node_name, ep_zone in eps:
        node = nodes.get(node_name)
        zone = (node.zone if node else ep_zone) or "(no zone label)"
        grid[zone][node_name or "(no node)"].append(
            PlacedEndpoint(
                address,
                pod,
                ready,
                serving,
                terminating,
                [h.get("name", "") if isinstance(h, dict) else str(h) for h in zh or []],
                [h.get("name", "") if isinstance(h, dict) else str(h) for h in nh or []],
            )
        )
    out = []
    for zone in sorted(grid):
        node_rows = []
        for node_name in sorted(grid[zone]):
            node = nodes.get(node_name)
            node_rows.append(
                (
                    node_name,
                    node.ready if node else True,
                    node.unschedulable if node else False,
                    grid[zone][node_name],
                )
            )
        out.append((zone, node_rows))
    return out


@dataclass
class DriftCard:
    """The overview's "Rules drift" card: how many nodes have an agent report, and the
    latest report of each node whose rules are not what Routescope predicts."""

    reported: int
    drifted: list  # list[RulesDriftReport], by node name


def drift_card(*, cluster: Cluster) -> DriftCard:
    """Latest drift report per node of ``cluster``, reduced to the card (one query; not
    cached per revision: agents report without changing the cluster's revision)."""
    from routing.selectors import drift_latest

    latest = drift_latest(cluster=cluster)
    return DriftCard(reported=len(latest), drifted=[r for r in latest if not r.in_sync])
