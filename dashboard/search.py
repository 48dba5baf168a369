"""The dashboard's search: Services, namespaces, pods and nodes of one cluster, by name,
ClusterIP, pod IP or load balancer IP.

Server-side over the stored rows, never the engine snapshot, so the first keystroke on a
5,000-node cluster costs a few indexed queries, not a snapshot build. Every query is a
``cluster = ? AND column = ?`` or ``cluster = ? AND column LIKE 'prefix%'`` on an index
(``cluster`` migration 0004: the name prefixes use PostgreSQL's pattern operator class)
and is cut at ``LIMIT``. A load balancer IP is looked for among the cluster's
``LoadBalancer`` Services only (indexed by type; their ingress list is JSON).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.urls import reverse

from cluster.models import Cluster, Node, Pod, Service

_Row = TypeVar("_Row", Service, Pod, Node)

#: Results kept per kind (the page says when a kind has more).
LIMIT = 8
MAX_QUERY = 253


@dataclass(frozen=True)
class Hit:
    """One result: what it is, a line of detail, and the page it opens."""

    label: str
    detail: str
    url: str


@dataclass
class Group:
    """The results of one kind ("Services", "Namespaces", "Pods", "Nodes")."""

    kind: str
    hits: list[Hit] = field(default_factory=list)
    more: bool = False


def normalise(query: str) -> str:
    """The query as searched: trimmed, bounded, lower-case (Kubernetes names are)."""
    return query.strip()[:MAX_QUERY].lower()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _cut(group: Group, hits: list[Hit]) -> Group:
    group.hits, group.more = hits[:LIMIT], len(hits) > LIMIT
    return group


def search(*, cluster: Cluster, query: str) -> list[Group]:
    """Results for ``query`` in ``cluster``, grouped by kind; kinds without a hit are left
    out. ``namespace/name`` looks a Service up in one namespace."""
    q = normalise(query)
    if not q:
        return []
    groups = [
        _services(cluster, q),
        _namespaces(cluster, q),
        _pods(cluster, q),
        _nodes(cluster, q),
    ]
    return [g for g in groups if g.hits]


def _service_hit(cluster: Cluster, service: Service, why: str) -> Hit:
    url = reverse("dashboard:service-detail", args=[cluster.name, service.namespace, service.name])
    return Hit(f"{service.namespace}/{service.name}", why, url)


def _by_name(rows: QuerySet[_Row], q: str, *fields: str) -> list[_Row]:
    """Up to ``LIMIT + 1`` rows named ``q`` (``namespace/name`` narrows to a namespace):
    exact names first, then name prefixes, each by name.

    No ORDER BY on the prefix query: on a big cluster a short prefix matches tens of
    thousands of pods, and sorting them all to keep nine would cost more than the rest of
    the search; the index hands them out in name order anyway, the few kept are sorted here.
    """
    namespace, slash, name = q.partition("/")
    if slash:
        rows = rows.filter(**{"namespace": namespace})  # Services and pods (nodes have none)
    else:
        name = q
    rows = rows.order_by().only("pk", *fields)
    exact = sorted(rows.filter(name=name)[: LIMIT + 1], key=_key)
    more = rows.filter(name__startswith=name).exclude(pk__in=[r.pk for r in exact])
    return exact + sorted(more[: LIMIT + 1 - len(exact)], key=_key)


def _key(row: Any) -> tuple[str, str]:
    return (row.name, getattr(row, "namespace", ""))


def _services(cluster: Cluster, q: str) -> Group:
    rows = Service.objects.filter(cluster=cluster).order_by()
    if not _is_ip(q):
        found = _by_name(rows, q, "namespace", "name", "type", "cluster_ip")
        hits = [
            _service_hit(cluster, s, f"{s.type} · {s.cluster_ip or 'no ClusterIP'}") for s in found
        ]
        return _cut(Group("Services"), hits)
    by_ip = {
        s.pk: _service_hit(cluster, s, f"ClusterIP {q} · {s.type}")
        for s in rows.filter(cluster_ip=q).only("pk", "namespace", "name", "type")[: LIMIT + 1]
    }
    lbs = rows.filter(type="LoadBalancer").only(
        "pk", "namespace", "name", "load_balancer_ingress", "external_ips"
    )
    for service in lbs.iterator():
        ips = {i.get("ip") for i in service.load_balancer_ingress or [] if isinstance(i, dict)}
        if q in ips | set(service.external_ips or []):
            by_ip.setdefault(service.pk, _service_hit(cluster, service, f"load balancer IP {q}"))
    return _cut(Group("Services"), list(by_ip.values()))


def _namespaces(cluster: Cluster, q: str) -> Group:
    if "/" in q or _is_ip(q):
        return Group("Namespaces")
    names = list(
        Service.objects.filter(cluster=cluster, namespace__startswith=q)
        .order_by("namespace")
        .values_list("namespace", flat=True)
        .distinct()[: LIMIT + 1]
    )
    url = reverse("dashboard:services", args=[cluster.name])
    return _cut(
        Group("Namespaces"),
        [Hit(ns, "namespace: its Services", f"{url}?namespace={ns}") for ns in names],
    )


def _pods(cluster: Cluster, q: str) -> Group:
    rows = Pod.objects.filter(cluster=cluster).order_by()
    fields = ("namespace", "name", "node_name", "pod_ip")
    found = (
        sorted(rows.filter(pod_ip=q).only(*fields)[: LIMIT + 1], key=_key)
        if _is_ip(q)
        else _by_name(rows, q, *fields)
    )
    hits = []
    for pod in found:
        detail = f"pod {pod.pod_ip or 'no IP'} on {pod.node_name or 'no node'}"
        url = (
            reverse("dashboard:node", args=[cluster.name, pod.node_name])
            + f"#pod-{pod.namespace}-{pod.name}"
            if pod.node_name
            else reverse("dashboard:services", args=[cluster.name]) + f"?namespace={pod.namespace}"
        )
        hits.append(Hit(f"{pod.namespace}/{pod.name}", detail, url))
    return _cut(Group("Pods"), hits)


def _nodes(cluster: Cluster, q: str) -> Group:
    if "/" in q or _is_ip(q):
        return Group("Nodes")
    rows = _by_name(Node.objects.filter(cluster=cluster), q, "name", "zone", "ready")
    hits = [
        Hit(
            node.name,
            f"node · {node.zone or 'no zone'}{'' if node.ready else ' · NotReady'}",
            reverse("dashboard:node", args=[cluster.name, node.name]),
        )
        for node in rows
    ]
    return _cut(Group("Nodes"), hits)
