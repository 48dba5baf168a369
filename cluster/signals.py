"""What the cluster app tells the apps above it, without importing them.

``state_advanced``: a watch batch moved a cluster from ``previous_key`` (its
``state_key`` before the batch) to its current state by ``upserts`` (objects as stored)
and ``deletes`` ((kind, namespace, name) of removed objects); ``touched_services`` names
the owners of deleted EndpointSlices ("namespace/name"). Sent after the batch committed.
The routing app connects its snapshot cache to it (``RoutingConfig.ready``), so readers
need not rebuild the engine snapshot from every row.

``watch_idle``: a watch of ``cluster`` applied everything it received and no event came
for a moment (or it stopped): the time for slow follow-up work (the routing app pickles
the advanced snapshot for other processes then, once per burst).
"""

from __future__ import annotations

from django.dispatch import Signal

state_advanced = Signal()
watch_idle = Signal()
