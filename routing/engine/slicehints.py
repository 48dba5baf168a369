"""What the EndpointSlice controller writes into ``hints`` when ``trafficDistribution``
changes (a what-if imitates it, then kube-proxy reads the hints as usual).

Follows ``staging/src/k8s.io/endpointslice/trafficdist/trafficdist.go``:

* ``preferCloseHeuristic.update`` (PreferClose, PreferSameZone, PreferSameNode) rewrites
  only *Ready* endpoints: ``forZones`` = the endpoint's own ``zone`` when it has one,
  ``forNodes`` = its ``nodeName`` for PreferSameNode — even when the endpoint has no zone
  (nodes without a zone label still get node hints); neither -> hints removed. Endpoints
  that are not Ready keep whatever hints they had.
* ``defaultHeuristic.update`` (no trafficDistribution) removes every endpoint's hints.
* The controller reconciles only Services with a selector: a selector-less Service's
  slices are hand-managed and never touched (``Controller.syncService`` returns early when
  ``service.Spec.Selector == nil``), so a what-if changes nothing in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from routing.engine.types import Endpoint, Service

CLOSE_DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")
_NONE: frozenset[str] = frozenset()


def controller_manages(service: Service) -> bool:
    """The EndpointSlice controller rewrites this Service's hints for ``trafficDistribution``:
    it has a selector, and its topology annotation does not hand the hints to the topology
    cache — ``hintsEnabled`` (pkg/controller/endpointslice/endpointslice_controller.go):
    ``topology-aware-hints`` if present, else ``topology-mode``, exactly "Auto" or "auto"."""
    return service.selector is not None and service.topology_annotation not in ("Auto", "auto")


def controller_hints(
    ep: Endpoint, service: Service, zone_of: Callable[[str | None], str]
) -> Endpoint:
    """``ep`` as the controller rewrites it for ``service.traffic_distribution``.

    The controller fills ``endpoint.zone`` from the node's ``topology.kubernetes.io/zone``
    when it writes the slice, so an endpoint read without a zone falls back to its node's.
    """
    dist = service.traffic_distribution
    if dist not in CLOSE_DISTRIBUTIONS:
        return (
            ep
            if not (ep.zone_hints or ep.node_hints)
            else replace(ep, zone_hints=_NONE, node_hints=_NONE)
        )
    if not ep.ready:
        return ep
    zone = ep.zone or zone_of(ep.node)
    zones = frozenset([zone]) if zone else _NONE
    nodes = frozenset([ep.node]) if dist == "PreferSameNode" and ep.node else _NONE
    if zones == ep.zone_hints and nodes == ep.node_hints:
        return ep
    return replace(ep, zone_hints=zones, node_hints=nodes)
