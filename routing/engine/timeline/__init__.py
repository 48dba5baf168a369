"""Disruption timeline (issue 14): what a rollout, drain, node failure, zone outage or
scale-down does to one Service, second by second.

``run_timeline(snapshot, request)`` turns an event and a timing model into a sequence of
ordinary snapshots (the EndpointSlices as each node's kube-proxy sees them at that moment),
answers each with ``simulate.simulate`` and compares the answers with what the pods really
do at that moment. Public names: ``TimelineRequest``, ``run_timeline``, ``Timing``,
``LBProbe``, ``LB_PRESETS``, ``parse_event``, ``TimelineError``.
"""
from routing.engine.timeline.run import TimelineRequest, run_timeline
from routing.engine.timeline.timing import LB_PRESETS, LBProbe, Timing, TimelineError, parse_event

__all__ = ["LB_PRESETS", "LBProbe", "TimelineError", "TimelineRequest", "Timing", "parse_event", "run_timeline"]
