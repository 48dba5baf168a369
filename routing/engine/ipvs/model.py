"""Inputs and outputs of the IPVS choice step: the workload and the scheduler result.

The reason codes are stable strings other layers may match on; ``REASONS`` gives each a
one-line explanation for the explanation trail.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from routing.engine.types import IPVS_SCHEDULERS

#: the scheduler names kube-proxy can program (re-exported; defined once, in types).
SCHEDULERS = IPVS_SCHEDULERS

# Kernel defaults kube-proxy leaves alone unless --ipvs-tcpfin-timeout / --ipvs-udp-timeout
# are set: ip_vs_proto_tcp.c keeps a closed connection (FIN_WAIT, then TIME_WAIT) for 2 min,
# ip_vs_proto_udp.c keeps a UDP "connection" for 5 min. Both count as inactive connections.
TCP_INACTIVE_TIMEOUT_S = 120.0
UDP_TIMEOUT_S = 300.0

REASONS: Mapping[str, str] = MappingProxyType(
    {
        "IPVS_WEIGHTS_ALL_ONE": (
            "kube-proxy programs every real server with weight 1, so weighted variants behave "
            "like their plain ones"
        ),
        "IPVS_RR_UNIFORM": (
            "rr/wrr hand new connections to real servers in turn: equal shares, whatever their "
            "load"
        ),
        "IPVS_WRR_BY_WEIGHT": "wrr gives each real server a share proportional to its weight",
        "IPVS_WLC_BY_WEIGHT": (
            "wlc levels connection counts per unit of weight: at light load (lingering inactive "
            "counts dominate) shares follow the weights; under load, queues shift them toward "
            "capacity"
        ),
        "IPVS_WEIGHT_ZERO_QUIESCED": (
            "a real server with weight 0 (kube-proxy's graceful termination) gets no new "
            "connections"
        ),
        "IPVS_LEAST_CONN_UNIFORM_IDENTICAL": (
            "least-connection schedulers split evenly when the endpoints are identical (steady "
            "state by symmetry)"
        ),
        "IPVS_LOAD_DEPENDENT_SIMULATED": (
            "the scheduler reacts to live connection counts: shares come from a seeded "
            "request-level simulation"
        ),
        "IPVS_LC_COUNTS_INACTIVE": (
            "lc/wlc/lblc weigh activeconns*256 + inactconns, and closed connections stay inactive "
            "for minutes"
        ),
        "IPVS_UDP_ALL_INACTIVE": (
            "UDP flows never become active in IPVS: lc sees only inactive counts and sed/nq see "
            "every server as idle"
        ),
        "IPVS_SED_NQ_FIRST_DEST_WHEN_IDLE": (
            "sed/nq pick the first idle real server in list order, so light load piles onto one "
            "backend"
        ),
        "IPVS_SH_HASH_BY_CLIENT": (
            "sh hashes the client IP only (kube-proxy sets no sh-port flag): every connection of "
            "a client lands on one backend"
        ),
        "IPVS_SH_BUCKET_SHARE": (
            "no client population given: shares are each backend's fraction of the 256 sh buckets"
        ),
        "IPVS_SH_FEW_CLIENTS_SKEW": (
            "few distinct clients: the hash places them unevenly, so backends get unequal shares"
        ),
        "IPVS_MH_HASH_BY_CLIENT_IP_AND_PORT": (
            "mh hashes client IP and source port (kube-proxy sets the mh-port flag): each new "
            "connection is placed anew"
        ),
        "IPVS_MH_SLOT_SHARE": "shares are each backend's fraction of the Maglev lookup table",
        "IPVS_DH_PINS_ONE_BACKEND": (
            "dh hashes the destination address; a Service VIP is one address, so one backend gets "
            "every new connection"
        ),
        "IPVS_DH_VIP_UNKNOWN": (
            "no destination VIP given: shares are each backend's chance of being the pinned one"
        ),
        "IPVS_LBLC_PINS_VIP": (
            "lblc/lblcr cache one backend (set) per destination VIP; at light load one backend "
            "gets every new connection"
        ),
        "IPVS_LBLC_REBALANCES_UNDER_LOAD": (
            "lblc moves the VIP to the least-loaded backend once its backend has >1 active "
            "connection and another is idle"
        ),
        "IPVS_LBLCR_SET_GROWS": (
            "lblcr adds backends to the VIP's set under load and only drops one after 24 h "
            "without change"
        ),
        "IPVS_HASHED_DEST_UNAVAILABLE": (
            "the hashed backend has weight 0 and kube-proxy sets no fallback flag: IPVS answers "
            "those connections with ICMP port unreachable (refused)"
        ),
        "IPVS_NO_AVAILABLE_DEST": (
            "no real server can take new connections: IPVS answers ICMP port unreachable, so "
            "clients see connection refused"
        ),
        "IPVS_DEST_ORDER_AS_GIVEN": (
            "list-order tie-breaks and hash tables follow the endpoint order given (on a node it "
            "is kube-proxy's map order)"
        ),
        "IPVS_PER_NODE_STATE": (
            "each node's IPVS schedules on its own: counts and round-robin position are per node"
        ),
        "IPVS_PERSISTENCE_PER_CLIENT": (
            "sessionAffinity ClientIP makes the virtual server persistent: the scheduler picks "
            "once per client and later connections follow that client's template"
        ),
        "IPVS_PERSISTENCE_QUIESCED_TEMPLATE_EXPIRES": (
            "kube-proxy sets expire_quiescent_template=1: clients pinned to a weight-0 server are "
            "rescheduled"
        ),
        "IPVS_SED_EQUALS_NQ_EQUAL_WEIGHTS": (
            "with equal weights nq and sed pick the same server (both take the first idle one, "
            "else the fewest active)"
        ),
        "USERSPACE_REMOVED_1_26": (
            "userspace mode was deprecated in 1.23 and removed in 1.26; modelled for clusters "
            "still running it"
        ),
        "USERSPACE_ROUND_ROBIN": (
            "kube-proxy accepted each connection itself and round-robined over the service port's "
            "endpoint list"
        ),
        "USERSPACE_ORDER_SHUFFLED": (
            "the list was shuffled on every endpoints update; the order given stands for one such "
            "shuffle"
        ),
        "USERSPACE_RETRY_NEXT_ENDPOINT": (
            "a failed dial moved to the next endpoint in the list (up to 4 tries, timeouts 250 "
            "ms, 500 ms, 1 s, 2 s): a failing endpoint's share goes to the one after it"
        ),
        "USERSPACE_ALL_TRIES_FAILED": (
            "some connections met a failing endpoint on all 4 tries and were closed"
        ),
        "USERSPACE_UDP_NO_RETRY": (
            "a UDP dial never fails, so flows sent to a dead endpoint are lost rather than retried"
        ),
        "USERSPACE_NO_ENDPOINTS": "no endpoints: kube-proxy closed every accepted connection",
        "USERSPACE_SOURCE_IP_LOST": (
            "backends saw the node's address: the proxy opened a new connection, so the client IP "
            "never survived"
        ),
    }
)


# ip_vs_mh.c primes[]: CONFIG_IP_VS_MH_TAB_INDEX 8..17 selects one of these.
MH_TABLE_SIZES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def explain(codes: tuple[str, ...]) -> tuple[str, ...]:
    """Turn reason codes into ``"CODE: sentence"`` lines for the explanation trail."""
    return tuple(f"{code}: {REASONS[code]}" for code in codes)


@dataclass(frozen=True)
class Workload:
    """The traffic one node's IPVS virtual server sees, for the load- and client-dependent
    schedulers.

    arrival_rate:         new connections per second (Poisson).
    requests:             connections simulated (each carries one request).
    clients:              distinct client IPs, generated from ``client_base_ip`` upward when
                          ``client_ips`` is empty. Used by sh (and mh) hashing.
    client_ips:           explicit client source addresses (overrides ``clients``).
    client_ports:         explicit source ports for mh, paired with ``client_ips``; empty means
                          a fresh ephemeral port (32768..60999) per connection.
    service_time_ms:      mean service time per endpoint (exponential); a float for all, or a
                          mapping endpoint -> ms with ``default_service_time_ms`` for the rest.
    workers:              requests an endpoint serves at once (FCFS queue beyond that).
    connection_lifetime_s: mean time (exponential) a connection stays ESTABLISHED after its
                          response, e.g. HTTP keep-alive idling; 0 closes at once.
    handshake_ms:         time from SYN to ESTABLISHED (about one round trip); IPVS counts the
                          connection as inactive until then, so bursts can double up on an
                          "idle" server under lc/sed/nq. 0 = counted active at once.
    destination_vip:      the packets' destination address (ClusterIP, node IP, LB IP); dh
                          hashes it.
    weights:              real-server weights; kube-proxy always programs 1 (0 while gracefully
                          terminating). Missing endpoints get 1.
    protocol:             "TCP", "UDP" or "SCTP" (UDP flows never count as active in IPVS).
    inactive_timeout_s:   how long a closed connection counts as inactive; None = kernel default.
    persistence_timeout_s: IPVS persistence (kube-proxy sets it for sessionAffinity: ClientIP,
                          timeout = timeoutSeconds, default 10800); 0 = no affinity. The
                          scheduler then runs once per client; later connections follow the
                          client's template.
    mh_table_size:        Maglev table size (a kernel prime; default 4093 =
                          CONFIG_IP_VS_MH_TAB_INDEX 12).
    simulate:             True forces the simulation (to get latency), False forbids it,
                          None simulates only when the answer depends on load.
    """

    arrival_rate: float = 200.0
    requests: int = 10_000
    clients: int = 1_000
    client_ips: tuple[str, ...] = ()
    client_ports: tuple[int, ...] = ()
    client_base_ip: str = "10.244.0.2"
    service_time_ms: float | Mapping[str, float] = 10.0
    default_service_time_ms: float = 10.0
    workers: int = 4
    connection_lifetime_s: float = 0.0
    handshake_ms: float = 0.0
    destination_vip: str = ""
    weights: Mapping[str, int] = field(default_factory=dict)
    protocol: str = "TCP"
    inactive_timeout_s: float | None = None
    persistence_timeout_s: float = 0.0
    mh_table_size: int = 4093
    simulate: bool | None = None

    def __post_init__(self) -> None:
        if not self.arrival_rate > 0:
            raise ValueError(f"workload arrival_rate must be > 0, got {self.arrival_rate}")
        if self.requests < 1:
            raise ValueError(f"workload requests must be >= 1, got {self.requests}")
        if self.clients < 1:
            raise ValueError(f"workload clients must be >= 1, got {self.clients}")
        if self.workers < 1:
            raise ValueError(f"workload workers must be >= 1, got {self.workers}")
        if self.connection_lifetime_s < 0:
            raise ValueError(
                f"workload connection_lifetime_s must be >= 0, got {self.connection_lifetime_s}"
            )
        if self.handshake_ms < 0:
            raise ValueError(f"workload handshake_ms must be >= 0, got {self.handshake_ms}")
        if self.persistence_timeout_s < 0:
            raise ValueError(
                f"workload persistence_timeout_s must be >= 0, got {self.persistence_timeout_s}"
            )
        if self.protocol not in ("TCP", "UDP", "SCTP"):
            raise ValueError(f"workload protocol must be TCP, UDP or SCTP, got {self.protocol!r}")
        if self.client_ports and len(self.client_ports) != len(self.client_ips):
            raise ValueError("workload client_ports must pair one-to-one with client_ips")
        times = (
            self.service_time_ms.values()
            if isinstance(self.service_time_ms, Mapping)
            else [self.service_time_ms]
        )
        if any(not t > 0 for t in (*times, self.default_service_time_ms)):
            raise ValueError("workload service times must be > 0 ms")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("workload weights must be >= 0")
        if self.mh_table_size not in MH_TABLE_SIZES:
            raise ValueError(
                f"workload mh_table_size must be one of the kernel's primes {MH_TABLE_SIZES}, "
                f"got {self.mh_table_size}"
            )
        for field_name, address in (
            ("destination_vip", self.destination_vip),
            ("client_base_ip", self.client_base_ip),
        ):
            if address and not _is_ip(address):
                raise ValueError(f"workload {field_name} {address!r} is not an IP address")
        bad = next((ip for ip in self.client_ips if not _is_ip(ip)), None)
        if bad is not None:
            raise ValueError(f"workload client_ips entry {bad!r} is not an IP address")
        if any(not 0 <= port <= 65535 for port in self.client_ports):
            raise ValueError("workload client_ports must be within 0..65535")

    def service_time(self, endpoint: str) -> float:
        """Mean service time (ms) of ``endpoint``."""
        if isinstance(self.service_time_ms, Mapping):
            return float(self.service_time_ms.get(endpoint, self.default_service_time_ms))
        return float(self.service_time_ms)

    def weight(self, endpoint: str) -> int:
        """IPVS weight of ``endpoint`` (1 unless overridden, as kube-proxy programs)."""
        return int(self.weights.get(endpoint, 1))

    def inactive_timeout(self) -> float:
        """Seconds a closed connection (or a UDP flow) keeps counting as inactive."""
        if self.inactive_timeout_s is not None:
            return self.inactive_timeout_s
        return UDP_TIMEOUT_S if self.protocol == "UDP" else TCP_INACTIVE_TIMEOUT_S


@dataclass(frozen=True)
class SchedulerResult:
    """Where one node's IPVS (or the userspace proxy) sends new connections among the
    endpoints given.

    shares:      endpoint -> fraction of the *delivered* new connections; sums to 1 over the
                 endpoints given (all 0.0 when nothing is delivered).
    method:      "analytic" (exact steady state or exact hash mapping) or "simulated".
    notes:       reason codes (keys of ``REASONS``); ``explanations`` spells them out.
    latency_ms:  {"p50","p95","p99","mean"} response time (handshake + queue + service) when
                 simulated, else None.
    active_connections: endpoint -> time-averaged active connections when simulated, else None.
    dropped:     fraction of new connections that find no real server, 0..1. IPVS answers them
                 with ICMP port unreachable (ip_vs_leave), i.e. refused, not silently dropped;
                 for userspace they are closed after the last dial.
    pinned:      for dh/lblc at light load, the backend that takes everything; else None.
    connect_delay_ms: userspace only: connect delay added by retries {"mean","p50","p95","p99"}.
    """

    scheduler: str
    shares: dict[str, float]
    method: str
    notes: tuple[str, ...] = ()
    latency_ms: dict[str, float] | None = None
    active_connections: dict[str, float] | None = None
    dropped: float = 0.0
    pinned: str | None = None
    connect_delay_ms: dict[str, float] | None = None

    @property
    def explanations(self) -> tuple[str, ...]:
        """``"CODE: sentence"`` for each note."""
        return explain(self.notes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this result."""
        return {
            "scheduler": self.scheduler,
            "shares": dict(self.shares),
            "method": self.method,
            "notes": list(self.notes),
            "latency_ms": dict(self.latency_ms) if self.latency_ms is not None else None,
            "active_connections": dict(self.active_connections)
            if self.active_connections is not None
            else None,
            "dropped": self.dropped,
            "pinned": self.pinned,
            "connect_delay_ms": dict(self.connect_delay_ms)
            if self.connect_delay_ms is not None
            else None,
        }
