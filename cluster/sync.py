"""Sync a stored cluster from its live API server.

Shape (STYLE.md §11): fetch every followed resource with paginated lists -> diff against
the stored objects -> stop if unchanged -> replace the stored state in ONE transaction
(readers see the old state or the new one, never half) -> record a ``SyncRun``.
A failure anywhere before the transaction leaves the stored state exactly as it was.

One sync per cluster at a time: the caller holds the cluster's active sync ``Job`` (a
partial unique constraint allows only one), and on PostgreSQL a session advisory lock is
taken as well, so even a sync started outside the job system cannot overlap.
"""
from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from cluster.kube.client import connect
from cluster.kube.errors import KubeError
from cluster.kube.resources import KUBE_PROXY_CONFIGMAP, RESOURCES, list_objects, read_configmap
from cluster.models import Cluster, ClusterSource
from cluster.fields import ObjectError
from cluster.selectors import cluster_iter_objects
from cluster.services import cluster_replace_state
from jobs.models import SyncRun

logger = logging.getLogger(__name__)
Progress = Callable[[int, str], None]


class SyncBusy(Exception):
    """Another sync of the same cluster holds the lock."""


@dataclass
class FetchedState:
    """What a full list of the cluster returned."""

    objects: list[dict] = field(default_factory=list)
    resource_versions: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def object_key(obj: dict) -> tuple[str, str, str]:
    """(kind, namespace, name): how objects are matched between the API and the store."""
    meta = obj.get("metadata") or {}
    return obj.get("kind", ""), meta.get("namespace", "") or "", meta.get("name", "")


def cluster_fetch(*, api_client, on_progress: Progress | None = None,
                  page_size: int = 500) -> FetchedState:
    """List every followed resource (and the kube-proxy ConfigMap) from the API server."""
    state = FetchedState()
    for index, resource in enumerate(RESOURCES):
        def page_done(count: int, resource=resource, index=index) -> None:
            if on_progress:
                on_progress(5 + 15 * index, f"listing {resource.plural}: {count}")

        items, rv = list_objects(api_client, resource, page_size=page_size, on_page=page_done)
        state.objects.extend(items)
        state.resource_versions[resource.plural] = rv
        state.counts[resource.kind] = len(items)
    configmap = read_configmap(api_client, *KUBE_PROXY_CONFIGMAP)
    if configmap is not None:
        state.objects.append(configmap)
    state.counts["ConfigMap"] = int(configmap is not None)
    return state


def state_diff(*, stored: Iterable[dict], fetched: list[dict]) -> dict[str, int]:
    """How many objects were added, changed and removed from ``stored`` to ``fetched``.

    ``stored`` may be a stream (rows read in chunks): only ``fetched`` is held in memory.
    """
    after = {object_key(o): o for o in fetched}
    changed = removed = 0
    for obj in stored:
        new = after.pop(object_key(obj), None)
        if new is None:
            removed += 1
        elif new != obj:
            changed += 1
    return {"added": len(after), "changed": changed, "removed": removed}


@contextlib.contextmanager
def cluster_sync_lock(*, cluster: Cluster) -> Iterator[None]:
    """Hold the cluster's sync lock (PostgreSQL advisory lock; SQLite serialises writers
    and relies on the one-active-sync-job constraint)."""
    if connection.vendor != "postgresql":
        yield
        return
    key = zlib.crc32(f"routescope-sync:{cluster.pk}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            raise SyncBusy(f"another sync of cluster {cluster.name!r} is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def cluster_sync(*, cluster: Cluster, job=None, on_progress: Progress | None = None,
                 page_size: int = 500) -> SyncRun:
    """Run one full sync of ``cluster`` and return its ``SyncRun`` (failed runs included).

    Raises nothing for API failures: they end up in ``SyncRun.error``; the caller decides
    whether to retry (``run.error_transient``).
    """
    progress = on_progress or (lambda percent, message: None)
    run = SyncRun.objects.create(cluster=cluster, job=job, revision_before=cluster.revision)
    run.error_transient = False
    started = time.monotonic()
    try:
        with cluster_sync_lock(cluster=cluster):
            progress(2, "connecting")
            with connect(cluster=cluster) as api_client:
                fetched = cluster_fetch(api_client=api_client, on_progress=progress,
                                        page_size=page_size)
            run.fetch_seconds = time.monotonic() - started
            progress(70, "comparing with the stored state")
            _store(run=run, cluster=cluster, fetched=fetched, progress=progress)
    except (KubeError, SyncBusy, ObjectError) as error:
        run.status, run.error = SyncRun.Status.FAILED, str(error)
        run.error_transient = getattr(error, "transient", False)
        logger.warning("sync of cluster %s failed: %s", cluster.name, error)
    run.finished_at = timezone.now()
    run.save()
    return run


def _store(*, run: SyncRun, cluster: Cluster, fetched: FetchedState, progress: Progress) -> None:
    diff = state_diff(stored=cluster_iter_objects(cluster=cluster), fetched=fetched.objects)
    run.counts = {"fetched": fetched.counts, **diff}
    run.resource_versions = fetched.resource_versions
    applied = time.monotonic()
    if not any(diff.values()):
        run.status = SyncRun.Status.UNCHANGED
        Cluster.objects.filter(pk=cluster.pk).update(last_synced_at=timezone.now())
    else:
        progress(80, f"storing {len(fetched.objects)} objects")
        # One transaction inside: parsing happens before it, so locks are held only
        # while rows are written.
        cluster_replace_state(cluster=cluster, objects=fetched.objects)
        Cluster.objects.filter(pk=cluster.pk).update(last_synced_at=timezone.now(),
                                                     source=ClusterSource.SYNCED)
        run.status = SyncRun.Status.SUCCEEDED
    cluster.refresh_from_db(fields=["revision", "last_synced_at", "source"])
    run.revision_after = cluster.revision
    run.apply_seconds = time.monotonic() - applied
