"""Follow a live cluster: one full list, then a watch per resource from the list's version.

One reader thread per watched resource streams events into a queue; the calling thread
alone writes to the database (``events_apply``, one short transaction per batch). A
broken stream resumes from the last resourceVersion it saw (with backoff); a ``410 Gone``
(the version was compacted away) makes the whole cluster relist, then watch again.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cluster.kube.client import connect
from cluster.kube.errors import KubeError, KubeGone
from cluster.kube.resources import CONFIGMAPS, KUBE_PROXY_CONFIGMAP, RESOURCES, watch_objects
from cluster.models import Cluster
from cluster.signals import watch_idle
from cluster.sync import cluster_sync
from cluster.watch_events import events_apply
from jobs.models import SyncRun

logger = logging.getLogger(__name__)
BATCH_MAX = 500
HEARTBEAT_SECONDS = 5.0


@dataclass
class WatchStats:
    """What a watch session did."""

    events: Counter = field(default_factory=Counter)
    rejected: int = 0
    batches: int = 0
    relists: int = 0
    resumes: int = 0
    error: str = ""


class _Reader(threading.Thread):
    """Streams one resource's watch events into ``out``; resumes after broken streams."""

    def __init__(
        self,
        api,
        resource,
        rv: str,
        out: queue.Queue,
        generation: int,
        timeout_seconds: int,
        **list_kwargs,
    ) -> None:
        super().__init__(daemon=True, name=f"watch-{resource.plural}")
        self.api, self.resource, self.rv, self.out = api, resource, rv, out
        self.generation, self.timeout_seconds, self.list_kwargs = (
            generation,
            timeout_seconds,
            list_kwargs,
        )
        self.stopped = threading.Event()
        self.response = None
        self.resumes = 0

    def run(self) -> None:
        backoff = 0.1
        while not self.stopped.is_set():
            try:
                for type_, obj in watch_objects(
                    self.api,
                    self.resource,
                    resource_version=self.rv,
                    timeout_seconds=self.timeout_seconds,
                    on_response=self._hold,
                    **self.list_kwargs,
                ):
                    self.rv = (obj.get("metadata") or {}).get("resourceVersion") or self.rv
                    if type_ != "BOOKMARK":
                        self.out.put((self.generation, type_, obj))
                    backoff = 0.1
            except KubeGone as error:
                self.out.put((self.generation, "GONE", str(error)))
                return
            except KubeError as error:
                if self.stopped.is_set():
                    return
                if not error.transient:
                    self.out.put((self.generation, "FAILED", str(error)))
                    return
                self.resumes += 1
                logger.info("%s; resuming from %s in %.1fs", error, self.rv, backoff)
                self.stopped.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _hold(self, response) -> None:
        self.response = response
        if self.stopped.is_set():  # stop() ran while this request was being answered
            self._shutdown(response)

    def stop(self) -> None:
        """Stop now: shut the streaming socket so a blocked read returns."""
        self.stopped.set()
        if self.response is not None:
            self._shutdown(self.response)

    @staticmethod
    def _shutdown(response) -> None:
        with contextlib.suppress(Exception):
            response.shutdown()


def cluster_watch(
    *,
    cluster: Cluster,
    job=None,
    stop: threading.Event | None = None,
    max_seconds: float | None = None,
    timeout_seconds: int = 60,
    on_batch=None,
) -> WatchStats:
    """List, then watch ``cluster`` until ``stop`` is set or ``max_seconds`` pass."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + max_seconds if max_seconds else None
    stats = WatchStats()
    events: queue.Queue[tuple[int, str, Any]] = queue.Queue()
    generation = 0
    with connect(cluster=cluster) as api:
        readers = _relist(cluster, job, api, events, generation, timeout_seconds, stats)
        last_beat = time.monotonic()
        busy = False  # batches applied since the last watch_idle
        while readers and not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            batch = _next_batch(events, generation)
            control = [item for item in batch if item[1] in ("GONE", "FAILED")]
            changes = [(t, o) for _g, t, o in batch if t not in ("GONE", "FAILED")]
            if changes:
                counts = events_apply(cluster=cluster, events=changes)
                stats.batches += 1
                stats.rejected += counts["rejected"]
                stats.events.update(f"{o['kind']} {t}" for t, o in changes)
                if on_batch:
                    on_batch(changes)
                busy = True
            elif busy and not batch:
                _idle(cluster)
                busy = False
            if any(t == "FAILED" for _g, t, _m in control):
                stats.error = next(m for _g, t, m in control if t == "FAILED")
                break
            if control:  # 410 Gone: relist everything, then watch from the new versions
                stats.resumes += sum(r.resumes for r in readers)
                _stop(readers)
                generation += 1
                stats.relists += 1
                readers = _relist(cluster, job, api, events, generation, timeout_seconds, stats)
            if job is not None and time.monotonic() - last_beat > HEARTBEAT_SECONDS:
                _heartbeat(job, stats)
                last_beat = time.monotonic()
        stats.resumes += sum(r.resumes for r in readers)
        _stop(readers)
    if busy:
        _idle(cluster)
    _record(cluster, job, stats)
    return stats


def _idle(cluster: Cluster) -> None:
    for receiver, answer in watch_idle.send_robust(sender=Cluster, cluster=cluster):
        if isinstance(answer, Exception):
            logger.error(
                "cluster %s: %s failed on watch_idle",
                cluster.name,
                getattr(receiver, "__qualname__", receiver),
                exc_info=answer,
            )


def _relist(cluster, job, api, events, generation, timeout_seconds, stats) -> list[_Reader]:
    run = cluster_sync(cluster=cluster, job=job)
    if run.status == SyncRun.Status.FAILED:
        stats.error = run.error
        return []
    versions = run.resource_versions
    readers = [
        _Reader(api, r, versions[r.plural], events, generation, timeout_seconds) for r in RESOURCES
    ]
    # Resource versions are cluster-wide: the configmap watch starts from the last list's.
    readers.append(
        _Reader(
            api,
            CONFIGMAPS,
            versions[RESOURCES[-1].plural],
            events,
            generation,
            timeout_seconds,
            namespace=KUBE_PROXY_CONFIGMAP[0],
            field_selector=f"metadata.name={KUBE_PROXY_CONFIGMAP[1]}",
        )
    )
    for reader in readers:
        reader.start()
    return readers


def _next_batch(events: queue.Queue, generation: int) -> list[tuple]:
    try:
        first = events.get(timeout=0.2)
    except queue.Empty:
        return []
    batch = [first]
    while len(batch) < BATCH_MAX:
        try:
            batch.append(events.get_nowait())
        except queue.Empty:
            break
    # Events from readers of an earlier list are superseded by the relist.
    return [item for item in batch if item[0] == generation and _wanted(item)]


def _wanted(item) -> bool:
    # Only kube-system/kube-proxy is followed by watch; the extra ConfigMaps a migrating
    # kube-proxy DaemonSet mounts are picked up by the next full list.
    _g, type_, obj = item
    if type_ in ("GONE", "FAILED") or obj.get("kind") != "ConfigMap":
        return True
    # The fake (and old servers) may ignore the field selector: keep only kube-proxy's.
    meta = obj.get("metadata") or {}
    return (meta.get("namespace"), meta.get("name")) == KUBE_PROXY_CONFIGMAP


def _stop(readers: list[_Reader]) -> None:
    for reader in readers:
        reader.stop()
    for reader in readers:
        reader.join(timeout=5)


def _heartbeat(job, stats: WatchStats) -> None:
    from jobs.services import job_progress

    job_progress(
        job=job,
        percent=50,
        message=f"watching: {sum(stats.events.values())} events, " f"{stats.relists} relists",
    )


def _record(cluster, job, stats: WatchStats) -> None:
    from django.utils import timezone

    SyncRun.objects.create(
        cluster=cluster,
        job=job,
        mode=SyncRun.Mode.WATCH,
        status=SyncRun.Status.FAILED if stats.error else SyncRun.Status.SUCCEEDED,
        counts={
            "events": dict(stats.events),
            "rejected": stats.rejected,
            "batches": stats.batches,
            "relists": stats.relists,
            "resumes": stats.resumes,
        },
        error=stats.error,
        finished_at=timezone.now(),
    )
