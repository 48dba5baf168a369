"""The latency and cross-zone cost model behind ``simulate`` answers.

Latency: one network hop from the node doing the NAT to the chosen endpoint, priced by
locality. Defaults are round-trip figures typical of one cloud region (same host via the
veth/bridge ~0.05 ms, same zone ~0.25 ms, across zones ~1 ms); "unknown" is used when a
zone label is missing on either side. Cost: cross-zone bytes (request + response) at
``request_rate`` requests/s, priced per GB the way AWS and GCP bill inter-zone traffic
(0.01 USD/GB each way by default). Every number is a constructor argument.
"""

from __future__ import annotations

from dataclasses import dataclass

SAME_NODE, SAME_ZONE, CROSS_ZONE, UNKNOWN = "same_node", "same_zone", "cross_zone", "unknown"
LOCALITIES = (SAME_NODE, SAME_ZONE, CROSS_ZONE, UNKNOWN)
SECONDS_PER_MONTH = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-hop latency (ms) by locality, traffic volume, and the price of cross-zone bytes."""

    same_node_ms: float = 0.05
    same_zone_ms: float = 0.25
    cross_zone_ms: float = 1.0
    unknown_ms: float = 0.5
    #: new requests per second sent by the source (all of them, before drops).
    request_rate: float = 100.0
    request_bytes: int = 2_048
    response_bytes: int = 16_384
    #: USD per GB (10^9 bytes) crossing a zone boundary.
    price_per_gb: float = 0.01

    def __post_init__(self) -> None:
        for name in (
            "same_node_ms",
            "same_zone_ms",
            "cross_zone_ms",
            "unknown_ms",
            "request_rate",
            "request_bytes",
            "response_bytes",
            "price_per_gb",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"cost model: {name} must not be negative")

    def hop_ms(self, locality: str) -> float:
        """Latency of one hop of ``locality``."""
        return {
            SAME_NODE: self.same_node_ms,
            SAME_ZONE: self.same_zone_ms,
            CROSS_ZONE: self.cross_zone_ms,
        }.get(locality, self.unknown_ms)


#: the default model (frozen, so one shared instance serves as every default argument).
DEFAULT_COST_MODEL = CostModel()


def locality(nat_node: str | None, nat_zone: str, ep_node: str | None, ep_zone: str) -> str:
    """Where an endpoint is relative to the node that NATed the connection (None: no node,
    e.g. a load-balancer client; then nothing is on the same node)."""
    if ep_node and ep_node == nat_node:
        return SAME_NODE
    if not nat_zone or not ep_zone:
        return UNKNOWN
    return SAME_ZONE if nat_zone == ep_zone else CROSS_ZONE
