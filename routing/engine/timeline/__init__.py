"""Disruption timeline (issue 14): what a rollout, drain, node failure, zone outage or
scale-down does to one Service, second by second.

``run_timeline(snapshot, request)`` turns an event and a timing model into a sequence of
ordinary snapshots (the EndpointSlices as each node's kube-proxy sees them at that moment),
answers each with ``simulate.simulate`` and compares the answers with what the pods really
do at that moment. Public names: ``TimelineRequest``, ``run_timeline``, ``Timing``,
``LBProbe``, ``LB_PRESETS``, ``parse_event``, ``TimelineError``; ``moments`` (each distinct
step snapshot, for the netns lab).

Model, in short (``timing.py`` has the delays and their sources):

* Three clocks. The pods (ground truth: does the app accept a new connection now?); the
  EndpointSlice as each node's kube-proxy has programmed it (a pod change reaches the rules
  ``endpointslice_s`` + ``minSyncPeriod`` later, per node mode); the cloud LB's belief
  about each node (its health check follows the rules; the LB flips after interval x
  threshold of consistent answers, worst case; none healthy -> fail open to all backends).
* Sources: ``pod`` (a pod on every live node, equally weighted, to the ClusterIP),
  ``external`` (a client at every node's NodePort), ``lb`` (the LB's spread). ``dropped``
  is what kube-proxy or the LB discards or rejects, ``failing`` what is sent to a pod or
  node that does not answer. Windows count only loss above the Service's own loss before
  the event (an eTP=Local NodePort drops on nodes without an endpoint all the time).
* Established connections (``SOURCE:established`` windows): conntrack keeps them on their
  pod whatever the rules say; they are reset when the pod's app exits or its node dies.
* Not modelled: the LB's probe phase (worst case is taken), passive health checks and
  connection draining/termination settings of the cloud LBs, kubelet readiness probes
  failing before exit, kube-proxy's periodic ``syncPeriod`` resyncs, scheduler capacity.
"""

from routing.engine.timeline.run import Moment, TimelineRequest, moments, run_timeline
from routing.engine.timeline.timing import LB_PRESETS, LBProbe, TimelineError, Timing, parse_event

__all__ = [
    "LB_PRESETS",
    "LBProbe",
    "Moment",
    "TimelineError",
    "TimelineRequest",
    "Timing",
    "moments",
    "parse_event",
    "run_timeline",
]
