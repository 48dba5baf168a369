"""The one traffic and cost model: latency, request volume and the cross-zone bill.

Every figure the product shows about latency or money comes from here — ``simulate``
answers, the cluster-wide analysis (rows, findings, the cluster total), the what-if
preview and the pages — so one Service has one cost whatever the page.

Inputs (per cluster, each Service may override its traffic; ``routing.costs`` builds the
model of a stored cluster from its settings):

* latency of one hop from the node doing the NAT to the chosen endpoint, by locality:
  same node 0.05 ms (veth/bridge), same zone 0.25 ms, across zones 1 ms, and 0.5 ms when
  either side has no ``topology.kubernetes.io/zone`` ("no zone": the locality cannot be
  told) — round-trip figures typical of one cloud region;
* per Service (``Traffic``): ``request_rate`` new requests/s from pods to the ClusterIP,
  ``external_request_rate`` new requests/s from outside the cluster (through the load
  balancer for a LoadBalancer Service, else at every node's NodePort / externalIP), and
  ``request_bytes`` + ``response_bytes`` per request (defaults 100 req/s, 100 req/s,
  2 KiB, 16 KiB). A multi-port Service's rates are split evenly over its ports;
* ``price_per_gb``: USD per GB (10^9 bytes) crossing a zone boundary, 0.01 (AWS and GCP
  bill inter-zone traffic 0.01 USD/GB each way).

Formulas: for one way in to one port, ``bytes/s = rate / ports × cross-zone share of all
connections × (request + response bytes)`` and ``USD/month = bytes/s × 30 days / 10^9 ×
price_per_gb``. A Service's cost is the sum over its ports of the pod way in and its
external way in (``Service`` type LoadBalancer: the load balancer; else the NodePort, when
there is one). The cross-zone share is averaged over source nodes (each node sends the
same part of the rate), so the analysis' per-port figure, the mean of per-node
``simulate`` answers and the what-if preview's entry agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

SAME_NODE, SAME_ZONE, CROSS_ZONE, UNKNOWN = "same_node", "same_zone", "cross_zone", "unknown"
LOCALITIES = (SAME_NODE, SAME_ZONE, CROSS_ZONE, UNKNOWN)
#: how pages name each locality bucket ("unknown": either side has no zone label).
LOCALITY_LABELS = {
    SAME_NODE: "same node",
    SAME_ZONE: "same zone",
    CROSS_ZONE: "cross zone",
    UNKNOWN: "no zone",
}
SECONDS_PER_MONTH = 30 * 24 * 3600
#: source kinds priced at the external rate (the others — pods, host processes — at the
#: internal one).
EXTERNAL_KINDS = frozenset({"external", "lb"})


@dataclass(frozen=True, slots=True)
class Traffic:
    """One Service's traffic: new requests per second and bytes per request."""

    #: pods (and host processes) calling the ClusterIP, all source nodes together.
    request_rate: float = 100.0
    #: clients from outside: the load balancer, or the NodePort / externalIPs.
    external_request_rate: float = 100.0
    request_bytes: int = 2_048
    response_bytes: int = 16_384

    def __post_init__(self) -> None:
        for name in ("request_rate", "external_request_rate", "request_bytes", "response_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"cost model: {name} must not be negative")

    def rate(self, kind: str) -> float:
        """Requests/s of the source ``kind`` (external and lb: the external rate)."""
        return self.external_request_rate if kind in EXTERNAL_KINDS else self.request_rate


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-hop latency (ms) by locality, the default and per-Service traffic, and the
    price of cross-zone bytes."""

    same_node_ms: float = 0.05
    same_zone_ms: float = 0.25
    cross_zone_ms: float = 1.0
    unknown_ms: float = 0.5
    #: every Service's traffic unless ``services`` overrides it.
    traffic: Traffic = Traffic()
    #: USD per GB (10^9 bytes) crossing a zone boundary.
    price_per_gb: float = 0.01
    #: (``namespace/name``, its traffic) overrides, sorted by key.
    services: tuple[tuple[str, Traffic], ...] = ()
    _by_key: dict[str, Traffic] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for name in ("same_node_ms", "same_zone_ms", "cross_zone_ms", "unknown_ms", "price_per_gb"):
            if getattr(self, name) < 0:
                raise ValueError(f"cost model: {name} must not be negative")
        object.__setattr__(self, "services", tuple(sorted(self.services)))
        self._by_key.update(self.services)

    # The cluster defaults under their historic names (API ``cost_model``, text report).
    @property
    def request_rate(self) -> float:
        """The default pod → ClusterIP requests/s of a Service."""
        return self.traffic.request_rate

    @property
    def external_request_rate(self) -> float:
        """The default external requests/s of a Service."""
        return self.traffic.external_request_rate

    @property
    def request_bytes(self) -> int:
        """The default request size."""
        return self.traffic.request_bytes

    @property
    def response_bytes(self) -> int:
        """The default response size."""
        return self.traffic.response_bytes

    def traffic_for(self, service: str) -> Traffic:
        """The traffic of Service ``service`` (``namespace/name``)."""
        return self._by_key.get(service, self.traffic)

    def hop_ms(self, locality: str) -> float:
        """Latency of one hop of ``locality``."""
        return {
            SAME_NODE: self.same_node_ms,
            SAME_ZONE: self.same_zone_ms,
            CROSS_ZONE: self.cross_zone_ms,
        }.get(locality, self.unknown_ms)

    def cross_zone(
        self, service: str, kind: str, cross_share: float, ports: int = 1
    ) -> tuple[float, float]:
        """(bytes/s, USD/month) crossing zones for one way in (source ``kind``) to one of
        the ``ports`` ports of ``service``, ``cross_share`` of its connections crossing."""
        traffic = self.traffic_for(service)
        bytes_per_s = (
            traffic.rate(kind)
            / max(ports, 1)
            * cross_share
            * (traffic.request_bytes + traffic.response_bytes)
        )
        return bytes_per_s, bytes_per_s * SECONDS_PER_MONTH / 1e9 * self.price_per_gb

    def to_json(self) -> dict[str, object]:
        """Every input, JSON-ready (the API's ``cost_model``; the fingerprint's input)."""
        return {
            "latency_ms": {
                SAME_NODE: self.same_node_ms,
                SAME_ZONE: self.same_zone_ms,
                CROSS_ZONE: self.cross_zone_ms,
                UNKNOWN: self.unknown_ms,
            },
            "request_rate": self.request_rate,
            "external_request_rate": self.external_request_rate,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "price_per_gb": self.price_per_gb,
            "services": {key: asdict(traffic) for key, traffic in self.services},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostModel:
        """The model ``to_json`` wrote (a stored analysis' inputs, read back by a worker)."""
        latency = data["latency_ms"]
        return cls(
            same_node_ms=latency[SAME_NODE],
            same_zone_ms=latency[SAME_ZONE],
            cross_zone_ms=latency[CROSS_ZONE],
            unknown_ms=latency[UNKNOWN],
            traffic=Traffic(
                request_rate=data["request_rate"],
                external_request_rate=data["external_request_rate"],
                request_bytes=data["request_bytes"],
                response_bytes=data["response_bytes"],
            ),
            price_per_gb=data["price_per_gb"],
            services=tuple(
                (key, Traffic(**traffic)) for key, traffic in (data.get("services") or {}).items()
            ),
        )

    def fingerprint(self) -> str:
        """A stable digest of every input: equal models, equal fingerprints."""
        import hashlib  # here: OpenSSL's module costs a command's start-up more than this call

        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


#: the default model (frozen, so one shared instance serves as every default argument).
DEFAULT_COST_MODEL = CostModel()


def imbalance(shares: Iterable[float]) -> float | None:
    """The one imbalance figure: the busiest endpoint's share over the mean share of the
    endpoints receiving traffic (1.0 = perfectly even; 2.0 = the busiest gets twice its
    fair part). None when nothing receives traffic."""
    positive = [s for s in shares if s > 0]
    return max(positive) * len(positive) / sum(positive) if positive else None


def locality(nat_node: str | None, nat_zone: str, ep_node: str | None, ep_zone: str) -> str:
    """Where an endpoint is relative to the node that NATed the connection (None: no node,
    e.g. a load-balancer client; then nothing is on the same node)."""
    if ep_node and ep_node == nat_node:
        return SAME_NODE
    if not nat_zone or not ep_zone:
        return UNKNOWN
    return SAME_ZONE if nat_zone == ep_zone else CROSS_ZONE
