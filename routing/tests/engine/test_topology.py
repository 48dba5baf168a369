"""categorize_endpoints against upstream K/K pkg/proxy/topology_test.go TestCategorizeEndpoints.

Each case names the upstream case it reproduces (same endpoints, same expected sets);
cases marked "engine" cover version and node-hint rules read from topology.go itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from routing.engine.explain import Code
from routing.engine.topology import categorize_endpoints
from routing.engine.types import Endpoint, FeatureGates, Service
from routing.tests.engine.core_builders import THIS_NODE, ep, svc

OLD = FeatureGates.for_version((1, 30))
V126 = FeatureGates.for_version((1, 26))
PTE_OFF = FeatureGates(proxy_terminating_endpoints=False)


@dataclass(frozen=True)
class Case:
    name: str
    service: Service
    endpoints: tuple[Endpoint, ...]
    cluster: set[str] | None
    local: set[str] | None
    has_any: bool
    zone: str = "zone-a"
    gates: FeatureGates = field(default_factory=FeatureGates)
    codes: tuple[Code, ...] = ()
    version: tuple[int, int] = (1, 35)


FOUR_ZONED = (
    ep("10.1.2.3:80", zones=("zone-a",)),
    ep("10.1.2.4:80", zones=("zone-b",)),
    ep("10.1.2.5:80", zones=("zone-c",)),
    ep("10.1.2.6:80", zones=("zone-a",)),
)
ALL_FOUR = {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}

CASES = (
    # upstream: "should use topology since all endpoints have hints, node has a zone label and ..."
    Case(
        "all ready endpoints hinted, node zone hinted: same-zone only",
        svc(),
        FOUR_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"},
        None,
        True,
        codes=(Code.TOPOLOGY_SAME_ZONE,),
    ),
    # upstream (<=1.30 variant): "hints enabled, hints annotation == auto"
    Case(
        "v1.30 with topology-mode auto: hints used",
        svc(annotation="auto"),
        FOUR_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"},
        None,
        True,
        gates=OLD,
    ),
    # upstream (<=1.30): "hints, hints annotation == disabled, hints ignored"
    Case(
        "v1.30 with annotation disabled: hints ignored",
        svc(annotation="disabled"),
        FOUR_ZONED,
        ALL_FOUR,
        None,
        True,
        gates=OLD,
        codes=(Code.HINTS_IGNORED_NO_ANNOTATION,),
    ),
    # upstream (1.24-1.26): "hints, hints annotation == aUto (wrong capitalization), hints ignored"
    Case(
        "v1.26 with annotation aUto: hints ignored",
        svc(annotation="aUto"),
        FOUR_ZONED,
        ALL_FOUR,
        None,
        True,
        gates=V126,
        version=(1, 26),
        codes=(Code.HINTS_IGNORED_NO_ANNOTATION,),
    ),
    # upstream 1.27-1.30 canUseTopology: "Any non-empty and non-disabled values for the hints
    # annotation are acceptable" (K/K #116522, topology-mode annotation)
    Case(
        "v1.30 with annotation aUto: hints used",
        svc(annotation="aUto"),
        FOUR_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"},
        None,
        True,
        gates=OLD,
    ),
    Case(
        "v1.30 with a custom topology-mode value: hints used",
        svc(annotation="MyHeuristic"),
        FOUR_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"},
        None,
        True,
        gates=OLD,
    ),
    Case(
        "v1.30 with annotation Disabled: hints ignored",
        svc(annotation="Disabled"),
        FOUR_ZONED,
        ALL_FOUR,
        None,
        True,
        gates=OLD,
        codes=(Code.HINTS_IGNORED_NO_ANNOTATION,),
    ),
    # upstream (1.24-1.26): "hints, hints annotation == Auto"
    Case(
        "v1.26 with annotation Auto: hints used",
        svc(annotation="Auto"),
        FOUR_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"},
        None,
        True,
        gates=V126,
        version=(1, 26),
    ),
    # upstream (<=1.30): "hints, hints annotation empty, hints ignored"
    Case(
        "v1.30 without annotation: hints ignored",
        svc(),
        FOUR_ZONED,
        ALL_FOUR,
        None,
        True,
        gates=OLD,
    ),
    # upstream: "externalTrafficPolicy: Local, topology ignored for Local endpoints"
    Case(
        "eTP=Local: topology on the cluster set only",
        svc(etp="Local", node_port=30080),
        (
            ep("10.1.2.3:80", zones=("zone-a",), local=True),
            ep("10.1.2.4:80", zones=("zone-b",), local=True),
            ep("10.1.2.5:80", zones=("zone-c",)),
            ep("10.1.2.6:80", zones=("zone-a",)),
        ),
        {"10.1.2.3:80", "10.1.2.6:80"},
        {"10.1.2.3:80", "10.1.2.4:80"},
        True,
    ),
    # upstream: "internalTrafficPolicy: Local, topology ignored for Local endpoints"
    Case(
        "iTP=Local on a NodePort service: topology on the cluster set only",
        svc(itp="Local", node_port=30080),
        (
            ep("10.1.2.3:80", zones=("zone-a",), local=True),
            ep("10.1.2.4:80", zones=("zone-b",), local=True),
            ep("10.1.2.5:80", zones=("zone-c",)),
            ep("10.1.2.6:80", zones=("zone-a",)),
        ),
        {"10.1.2.3:80", "10.1.2.6:80"},
        {"10.1.2.3:80", "10.1.2.4:80"},
        True,
    ),
    # upstream: "empty node labels" / "empty zone label"
    Case(
        "node without zone label: hints ignored",
        svc(),
        (ep("10.1.2.3:80", zones=("zone-a",)),),
        {"10.1.2.3:80"},
        None,
        True,
        zone="",
        codes=(Code.HINTS_IGNORED_NODE_WITHOUT_ZONE,),
    ),
    # upstream: "node in different zone, no endpoint filtering"
    Case(
        "no endpoint hinted for the node's zone: no filtering",
        svc(),
        (ep("10.1.2.3:80", zones=("zone-a",)),),
        {"10.1.2.3:80"},
        None,
        True,
        zone="zone-b",
        codes=(Code.HINTS_IGNORED_NO_HINT_FOR_ZONE,),
    ),
    # upstream: "unready endpoint"
    Case(
        "unready same-zone endpoint is left out",
        svc(),
        FOUR_ZONED[:3] + (ep("10.1.2.6:80", zones=("zone-a",), ready=False),),
        {"10.1.2.3:80"},
        None,
        True,
    ),
    # upstream: "only unready endpoints in same zone (should not filter)"
    Case(
        "only unready endpoints in the zone: hints ignored",
        svc(),
        (
            ep("10.1.2.3:80", zones=("zone-a",), ready=False),
            ep("10.1.2.4:80", zones=("zone-b",)),
            ep("10.1.2.5:80", zones=("zone-c",)),
            ep("10.1.2.6:80", zones=("zone-a",), ready=False),
        ),
        {"10.1.2.4:80", "10.1.2.5:80"},
        None,
        True,
    ),
    # upstream: "missing hints, no filtering applied"
    Case(
        "one ready endpoint without hint disables filtering for all",
        svc(),
        FOUR_ZONED[:2] + (ep("10.1.2.5:80"),) + FOUR_ZONED[3:],
        ALL_FOUR,
        None,
        True,
        codes=(Code.HINTS_IGNORED_ENDPOINT_WITHOUT_HINT,),
    ),
    # upstream: "multiple hints per endpoint, filtering includes any endpoint with zone included"
    Case(
        "multi-zone hints: any endpoint hinted for the zone",
        svc(),
        (
            ep("10.1.2.3:80", zones=("zone-a", "zone-b", "zone-c")),
            ep("10.1.2.4:80", zones=("zone-b", "zone-c")),
            ep("10.1.2.5:80", zones=("zone-b", "zone-d")),
            ep("10.1.2.6:80", zones=("zone-c",)),
        ),
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"},
        None,
        True,
        zone="zone-c",
    ),
    # upstream: "conflicting topology and localness require merging allEndpoints"
    Case(
        "eTP=Local with hints: local set ignores topology",
        svc(etp="Local", node_port=8080),
        (
            ep("10.0.0.0:80", zones=("zone-a",), local=True),
            ep("10.0.0.1:80", zones=("zone-b",), local=True),
            ep("10.0.0.2:80", zones=("zone-a",)),
            ep("10.0.0.3:80", zones=("zone-b",)),
        ),
        {"10.0.0.0:80", "10.0.0.2:80"},
        {"10.0.0.0:80", "10.0.0.1:80"},
        True,
    ),
    # upstream: "internalTrafficPolicy: Local, with empty endpoints"
    Case("iTP=Local, no endpoints", svc(itp="Local"), (), None, set(), False),
    # upstream: "internalTrafficPolicy: Local, but all endpoints are remote"
    Case(
        "iTP=Local, all endpoints remote: empty local set, endpoints exist",
        svc(itp="Local"),
        (ep("10.0.0.0:80"), ep("10.0.0.1:80")),
        None,
        set(),
        True,
    ),
    # upstream: "internalTrafficPolicy: Local, all endpoints are local"
    Case(
        "iTP=Local, all local",
        svc(itp="Local"),
        (ep("10.0.0.0:80", local=True), ep("10.0.0.1:80", local=True)),
        None,
        {"10.0.0.0:80", "10.0.0.1:80"},
        True,
    ),
    # upstream: "internalTrafficPolicy: Local, some endpoints are local"
    Case(
        "iTP=Local, some local",
        svc(itp="Local"),
        (ep("10.0.0.0:80", local=True), ep("10.0.0.1:80")),
        None,
        {"10.0.0.0:80"},
        True,
    ),
    # upstream: "Cluster traffic policy, endpoints not Ready"
    Case(
        "Cluster, nothing ready: empty set, no endpoints",
        svc(),
        (ep("10.0.0.0:80", ready=False), ep("10.0.0.1:80", ready=False)),
        set(),
        None,
        False,
    ),
    # upstream: "Cluster traffic policy, some endpoints are Ready"
    Case(
        "Cluster, some ready",
        svc(),
        (ep("10.0.0.0:80", ready=False), ep("10.0.0.1:80")),
        {"10.0.0.1:80"},
        None,
        True,
    ),
    # upstream: "Cluster traffic policy, PTE enabled, all endpoints are terminating"
    Case(
        "Cluster, all terminating: serving-terminating fallback",
        svc(),
        (
            ep("10.0.0.0:80", ready=False, serving=True, terminating=True, local=True),
            ep("10.0.0.1:80", ready=False, serving=True, terminating=True),
        ),
        {"10.0.0.0:80", "10.0.0.1:80"},
        None,
        True,
        codes=(Code.TERMINATING_FALLBACK,),
    ),
    # upstream: "Cluster traffic policy, PTE disabled, all endpoints are terminating"
    Case(
        "Cluster, all terminating, ProxyTerminatingEndpoints off: nothing",
        svc(),
        (
            ep("10.0.0.0:80", ready=False, serving=True, terminating=True, local=True),
            ep("10.0.0.1:80", ready=False, serving=True, terminating=True),
        ),
        set(),
        None,
        False,
        gates=PTE_OFF,
    ),
    # upstream: "iTP: Local, eTP: Cluster, some endpoints local"
    Case(
        "iTP=Local eTP=Cluster NodePort: both sets",
        svc(itp="Local", node_port=8080),
        (ep("10.0.0.0:80", local=True), ep("10.0.0.1:80")),
        {"10.0.0.0:80", "10.0.0.1:80"},
        {"10.0.0.0:80"},
        True,
    ),
    # upstream: "iTP: Cluster, eTP: Local, some endpoints local"
    Case(
        "iTP=Cluster eTP=Local: both sets",
        svc(etp="Local", node_port=8080),
        (ep("10.0.0.0:80", local=True), ep("10.0.0.1:80")),
        {"10.0.0.0:80", "10.0.0.1:80"},
        {"10.0.0.0:80"},
        True,
    ),
    # upstream: "iTP: Local, eTP: Local, all endpoints remote"
    Case(
        "iTP=Local eTP=Local, all remote",
        svc(itp="Local", etp="Local", node_port=8080),
        (ep("10.0.0.0:80"), ep("10.0.0.1:80")),
        {"10.0.0.0:80", "10.0.0.1:80"},
        set(),
        True,
    ),
    # upstream: "iTP: Local, eTP: Local, all endpoints remote and terminating"
    Case(
        "iTP=Local eTP=Local, remote terminating: cluster fallback, empty local",
        svc(itp="Local", etp="Local", node_port=8080),
        (
            ep("10.0.0.0:80", ready=False, serving=True, terminating=True),
            ep("10.0.0.1:80", ready=False, serving=True, terminating=True),
        ),
        {"10.0.0.0:80", "10.0.0.1:80"},
        set(),
        True,
    ),
    # upstream (1.26 file): "iTP: Local, eTP: Local, PTE disabled, all endpoints remote and
    # terminating"
    Case(
        "PTE off, remote terminating only: nothing anywhere",
        svc(itp="Local", etp="Local", node_port=8080),
        (
            ep("10.0.0.0:80", ready=False, serving=True, terminating=True),
            ep("10.0.0.1:80", ready=False, serving=True, terminating=True),
        ),
        set(),
        set(),
        False,
        gates=PTE_OFF,
    ),
    # upstream: "iTP: Cluster, eTP: Local, with terminating endpoints"
    Case(
        "eTP=Local: local falls back to local serving-terminating, cluster keeps ready",
        svc(etp="Local", node_port=8080),
        (
            ep("10.0.0.0:80"),
            ep("10.0.0.1:80", ready=False, serving=False, local=True),
            ep("10.0.0.2:80", ready=False, serving=True, terminating=True, local=True),
            ep("10.0.0.3:80", ready=False, serving=True, terminating=True),
        ),
        {"10.0.0.0:80"},
        {"10.0.0.2:80"},
        True,
        codes=(Code.LOCAL_TERMINATING_FALLBACK,),
    ),
    # upstream: "externalTrafficPolicy ignored if not externally accessible"
    Case(
        "eTP=Local without NodePort/LB/externalIP is ignored",
        svc(etp="Local"),
        (ep("10.0.0.0:80"), ep("10.0.0.1:80", local=True)),
        {"10.0.0.0:80", "10.0.0.1:80"},
        None,
        True,
    ),
    # upstream: "no cluster endpoints for iTP:Local internal-only service"
    Case(
        "iTP=Local internal-only: no cluster set",
        svc(itp="Local"),
        (ep("10.0.0.0:80"), ep("10.0.0.1:80", local=True)),
        None,
        {"10.0.0.1:80"},
        True,
    ),
    # engine (topology.go topologyModeFromHints, PreferSameTrafficDistribution on):
    Case(
        "every ready endpoint node-hinted and this node named: same node",
        svc(),
        (
            ep("10.0.0.1:80", zones=("zone-a",), nodes=(THIS_NODE,), local=True),
            ep("10.0.0.2:80", zones=("zone-a",), nodes=("node-2",)),
            ep("10.0.0.3:80", zones=("zone-b",), nodes=("node-3",)),
        ),
        {"10.0.0.1:80"},
        None,
        True,
        codes=(Code.TOPOLOGY_SAME_NODE,),
    ),
    Case(
        "node hints but none for this node: falls back to same zone",
        svc(),
        (
            ep("10.0.0.2:80", zones=("zone-a",), nodes=("node-2",)),
            ep("10.0.0.3:80", zones=("zone-b",), nodes=("node-3",)),
        ),
        {"10.0.0.2:80"},
        None,
        True,
        codes=(Code.NODE_HINTS_IGNORED_NO_HINT_FOR_NODE, Code.TOPOLOGY_SAME_ZONE),
    ),
    Case(
        "node hints with the gate off (v1.33): same zone",
        svc(),
        (
            ep("10.0.0.1:80", zones=("zone-a",), nodes=(THIS_NODE,), local=True),
            ep("10.0.0.3:80", zones=("zone-b",), nodes=("node-3",)),
        ),
        {"10.0.0.1:80"},
        None,
        True,
        gates=FeatureGates.for_version((1, 33)),
        codes=(Code.NODE_HINTS_IGNORED_GATE_OFF, Code.TOPOLOGY_SAME_ZONE),
    ),
    Case(
        "one ready endpoint without node hint: node level skipped, zone used",
        svc(),
        (
            ep("10.0.0.1:80", zones=("zone-a",), nodes=(THIS_NODE,), local=True),
            ep("10.0.0.4:80", zones=("zone-a",)),
        ),
        {"10.0.0.1:80", "10.0.0.4:80"},
        None,
        True,
        codes=(Code.NODE_HINTS_IGNORED_ENDPOINT_WITHOUT_HINT,),
    ),
    Case(
        "terminating fallback ignores topology",
        svc(),
        (
            ep("10.0.0.1:80", ready=False, serving=True, terminating=True, zones=("zone-b",)),
            ep("10.0.0.2:80", ready=False, serving=False, terminating=True, zones=("zone-a",)),
        ),
        {"10.0.0.1:80"},
        None,
        True,
        codes=(Code.TERMINATING_FALLBACK,),
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_categorize_endpoints(case: Case) -> None:
    got = categorize_endpoints(
        case.endpoints,
        service=case.service,
        port=case.service.ports[0],
        node_name=THIS_NODE,
        zone=case.zone,
        gates=case.gates,
        version=case.version,
    )
    assert (None if got.cluster is None else {e.key for e in got.cluster}) == case.cluster
    assert (None if got.local is None else {e.key for e in got.local}) == case.local
    assert got.has_any_endpoints is case.has_any
    codes = [r.code for r in got.reasons]
    for code in case.codes:
        assert code in codes


def test_cluster_set_keeps_kube_proxy_order() -> None:
    eps = (ep("10.0.0.10:80"), ep("10.0.0.9:80"))
    got = categorize_endpoints(
        eps, service=svc(), port=svc().ports[0], node_name=THIS_NODE, zone=""
    )
    assert got.cluster is not None
    assert [e.key for e in got.cluster] == ["10.0.0.10:80", "10.0.0.9:80"]


def test_trafficdistribution_without_hints_is_explained() -> None:
    service = svc(traffic_distribution="PreferClose")
    got = categorize_endpoints(
        (ep("10.0.0.1:80"),),
        service=service,
        port=service.ports[0],
        node_name=THIS_NODE,
        zone="zone-a",
    )
    assert got.topology_mode == ""
    assert Code.TRAFFIC_DISTRIBUTION_WITHOUT_HINTS in [r.code for r in got.reasons]
