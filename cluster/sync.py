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
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial

from django.db import connection
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone

from cluster.dump_json import collector_paused
from cluster.fields import ObjectError
from cluster.kube.client import connect
from cluster.kube.errors import KubeError
from cluster.kube.resources import KUBE_PROXY_CONFIGMAP, RESOURCES, list_objects, read_configmap
from cluster.models import (
    Cluster,
    ClusterSource,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    Pod,
    Service,
)
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


def cluster_fetch(
    *, api_client, on_progress: Progress | None = None, page_size: int = 500
) -> FetchedState:
    """List every followed resource (and the kube-proxy ConfigMap) from the API server.

    The resources are listed concurrently (as informers do), so one resource's network
    wait overlaps another's JSON decoding; progress is reported from this thread only
    (the database connection belongs to it).
    """
    counts = {r.plural: 0 for r in RESOURCES}

    def page_done(resource, count: int) -> None:
        counts[resource.plural] = count

    with ThreadPoolExecutor(max_workers=len(RESOURCES), thread_name_prefix="list") as pool:
        futures = [
            pool.submit(
                list_objects, api_client, r, page_size=page_size, on_page=partial(page_done, r)
            )
            for r in RESOURCES
        ]
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            if on_progress:
                listed = sum(counts.values())
                on_progress(
                    5 + 60 * (len(futures) - len(pending)) // len(futures),
                    f"listed {listed} objects ({', '.join(f'{n} {p}' for p, n in counts.items())})",
                )
            if any(f.done() and f.exception() for f in futures):
                break
        results = [f.result() for f in futures]  # re-raises the first failure
    state = FetchedState()
    for resource, (items, rv) in zip(RESOURCES, results):
        state.objects.extend(items)
        state.resource_versions[resource.plural] = rv
        state.counts[resource.kind] = len(items)
    namespace, main = KUBE_PROXY_CONFIGMAP
    maps = [
        read_configmap(api_client, namespace, name)
        for name in [main, *sorted(kube_proxy_mounted_maps(state.objects) - {main})]
    ]
    state.objects.extend(m for m in maps if m is not None)
    state.counts["ConfigMap"] = sum(m is not None for m in maps)
    return state


def kube_proxy_mounted_maps(objects: list[dict]) -> set[str]:
    """Names of the kube-system ConfigMaps that kube-proxy Pods mount.

    A cluster midway through a kube-proxy mode migration runs a second DaemonSet whose
    Pods mount their own ConfigMap; the importer keeps exactly those (``cluster.writer``),
    so the sync fetches them too: same rule, kube-system Pods labelled
    ``k8s-app=kube-proxy`` or named ``kube-proxy-*``.
    """
    names: set[str] = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != "Pod" or meta.get("namespace") != "kube-system":
            continue
        if (meta.get("labels") or {}).get("k8s-app") != "kube-proxy" and not meta.get(
            "name", ""
        ).startswith("kube-proxy-"):
            continue
        for volume in (obj.get("spec") or {}).get("volumes") or ():
            source = volume.get("configMap") if isinstance(volume, dict) else None
            if isinstance(source, dict) and isinstance(source.get("name"), str):
                names.add(source["name"])
    return names


def stored_versions(*, cluster: Cluster) -> dict[tuple[str, str, str], str]:
    """``object_key -> metadata.resourceVersion`` of every stored object.

    Read with JSON key lookups in the database: decoding 150,000 raw objects only to
    compare them would cost more than the rest of an unchanged sync.
    """
    version = KeyTextTransform("resourceVersion", KeyTransform("metadata", "raw"))
    found: dict[tuple[str, str, str], str] = {}
    for model in (Node, Service, EndpointSlice, Pod):
        kind = model.__name__
        rows = model.objects.filter(cluster=cluster).annotate(rv=version)
        if model is Node:
            for name, rv in rows.values_list("name", "rv").iterator(chunk_size=5000):
                found[(kind, "", name)] = rv or ""
        else:
            for ns, name, rv in rows.values_list("namespace", "name", "rv").iterator(
                chunk_size=5000
            ):
                found[(kind, ns, name)] = rv or ""
    proxy = (
        KubeProxyConfig.objects.filter(cluster=cluster)
        .values_list("raw", "extra_config_maps")
        .first()
    )
    for raw in ([proxy[0]] if proxy and proxy[0] else []) + (list(proxy[1]) if proxy else []):
        found[object_key(raw)] = (raw.get("metadata") or {}).get("resourceVersion") or ""
    return found


def state_diff(*, stored: dict[tuple[str, str, str], str], fetched: list[dict]) -> dict[str, int]:
    """Added / changed / removed objects, by resourceVersion (the API server bumps it on
    every change; an object without one always counts as changed)."""
    before = dict(stored)
    added = changed = 0
    for obj in fetched:
        old = before.pop(object_key(obj), None)
        rv = (obj.get("metadata") or {}).get("resourceVersion") or ""
        if old is None:
            added += 1
        elif not rv or rv != old:
            changed += 1
    return {"added": added, "changed": changed, "removed": len(before)}


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


def cluster_sync(
    *, cluster: Cluster, job=None, on_progress: Progress | None = None, page_size: int = 500
) -> SyncRun:
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
            # The listed objects hold no cycles: collections over an ever larger heap of
            # them would cost more than decoding them (restored however the sync ends).
            with collector_paused():
                with connect(cluster=cluster) as api_client:
                    fetched = cluster_fetch(
                        api_client=api_client, on_progress=progress, page_size=page_size
                    )
                run.fetch_seconds = time.monotonic() - started
                progress(70, "comparing with the stored state")
                _store(run=run, cluster=cluster, fetched=fetched, progress=progress)
    except (KubeError, SyncBusy, ObjectError) as error:
        run.status, run.error = SyncRun.Status.FAILED, str(error)
        run.error_transient = getattr(error, "transient", False)
        logger.warning("sync of cluster %s failed: %s", cluster.name, error)
    except Exception as error:  # a time limit or a bug: never leave the run "running"
        run.status, run.error = SyncRun.Status.FAILED, f"{type(error).__name__}: {error}"
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    return run


def _store(*, run: SyncRun, cluster: Cluster, fetched: FetchedState, progress: Progress) -> None:
    diff = state_diff(stored=stored_versions(cluster=cluster), fetched=fetched.objects)
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
        Cluster.objects.filter(pk=cluster.pk).update(
            last_synced_at=timezone.now(), source=ClusterSource.SYNCED
        )
        run.status = SyncRun.Status.SUCCEEDED
    cluster.refresh_from_db(fields=["revision", "last_synced_at", "source"])
    run.revision_after = cluster.revision
    run.apply_seconds = time.monotonic() - applied
