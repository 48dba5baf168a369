"""Writes to cluster state: import a dump, replace a cluster's objects.

Every write happens in one transaction (a bad object changes nothing) and bumps the
cluster's ``revision``. The row-level work lives in ``cluster.writer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from cluster.dump_limits import dump_limits
from cluster.fields import ObjectError
from cluster.models import Cluster, ClusterSource, EndpointSlice, Node, Pod, Service
from cluster.writer import Plan, clear_state, plan_objects, write_plan, write_session

#: Cluster names appear in URLs (/clusters/<name>/): no slashes, spaces or other oddities.
CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
#: At most this many flagged slices are named in the stored summary (all are counted).
FLAGGED_KEPT = 200


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored: rows per kind, skipped objects per kind, flagged slices."""

    cluster: str
    revision: int
    counts: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    flagged_slices: tuple[str, ...] = ()
    #: Objects a later YAML document of the same stream replaced (see ``read_dump``).
    replaced: tuple[str, ...] = ()
    #: Pods / endpoints naming a node the dump does not contain, per kind.
    unknown_nodes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored on the cluster, returned by the API)."""
        return {
            "cluster": self.cluster,
            "revision": self.revision,
            "counts": self.counts,
            "skipped": self.skipped,
            "flagged_slices": list(self.flagged_slices[:FLAGGED_KEPT]),
            "flagged_slice_count": len(self.flagged_slices),
            "replaced": list(self.replaced[:FLAGGED_KEPT]),
            "unknown_nodes": self.unknown_nodes,
        }

    def lines(self) -> list[str]:
        """The summary as short human-readable lines (what ``import_cluster`` prints)."""
        counts = ", ".join(f"{n} {kind}" for kind, n in self.counts.items())
        out = [f"Imported cluster {self.cluster!r} (revision {self.revision}): {counts}"]
        if self.skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            out.append(f"Skipped (not used by Routescope): {kinds}")
        for flagged in self.flagged_slices[:20]:
            out.append(f"Flagged EndpointSlice {flagged}")
        if len(self.flagged_slices) > 20:
            out.append(f"... and {len(self.flagged_slices) - 20} more flagged EndpointSlices")
        if self.unknown_nodes:
            refs = ", ".join(f"{n} {kind}" for kind, n in sorted(self.unknown_nodes.items()))
            out.append(f"Nodes missing from the dump are named by: {refs}")
        if self.replaced:
            out.append(
                f"Replaced by a later document with the same name: {', '.join(self.replaced[:20])}"
                + (f" and {len(self.replaced) - 20} more" if len(self.replaced) > 20 else "")
            )
        return out


def cluster_import(
    *,
    name: str,
    objects: list[dict[str, Any]],
    source: str = ClusterSource.IMPORTED,
    replaced: tuple[str, ...] = (),
    replace: bool = False,
) -> ImportSummary:
    """Store ``objects`` (from :func:`cluster.kube_dump.read_objects`) as cluster ``name``.

    Creates the cluster, or replaces all of an existing cluster's objects, in one
    transaction. Raises :class:`cluster.fields.ObjectError` (a ``DumpError``) on a bad
    object, leaving the database unchanged. ``replaced`` (from ``read_dump``) is only
    reported in the summary.

    Never wipes by accident: a dump holding none of the kinds stored is refused, and so
    is one that would drop more than ``ROUTESCOPE_IMPORT_MAX_LOSS`` (a share) of an
    existing cluster's objects, unless ``replace`` is true; the refusal says how many
    objects of which kinds would be lost.
    """
    if not CLUSTER_NAME.fullmatch(name or ""):
        raise ObjectError(
            f"cluster name {name!r} must be 1-253 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    if source not in ClusterSource.values:
        raise ObjectError(f"source {source!r} is not one of {', '.join(ClusterSource.values)}")
    with write_session():
        plan = plan_objects(objects, dump_limits())
        if plan.stores_nothing and plan.skipped:  # only Secrets, only Events: as good as empty
            raise ObjectError(f"{plan.nothing_stored_message()}: nothing imported")
        with transaction.atomic():
            cluster, created = Cluster.objects.select_for_update().get_or_create(
                name=name, defaults={"source": source}
            )
            cluster.source = source
            return _store(cluster, plan, replaced=replaced, guard=not created and not replace)


#: The stored kinds an import is measured by (endpoints follow their slices).
_COUNTED: dict[str, type[Node] | type[Service] | type[EndpointSlice] | type[Pod]] = {
    "Node": Node,
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Pod": Pod,
}


def _stored_counts(cluster: Cluster) -> dict[str, int]:
    return {kind: model.objects.filter(cluster=cluster).count() for kind, model in _COUNTED.items()}


def _refuse_large_loss(cluster: Cluster, before: dict[str, int], after: dict[str, int]) -> None:
    """Raise ``ObjectError`` when going from ``before`` to ``after`` (objects per kind)
    drops too large a share of ``cluster``; the caller's transaction then rolls back."""
    lost = {kind: before[kind] - after[kind] for kind in _COUNTED if before[kind] > after[kind]}
    total = sum(before.values())
    if total and sum(lost.values()) > total * settings.ROUTESCOPE_IMPORT_MAX_LOSS:
        kinds = ", ".join(
            f"{n:,} {kind} ({before[kind]:,} -> {after[kind]:,})" for kind, n in lost.items()
        )
        raise ObjectError(
            f"importing would drop {sum(lost.values()):,} of the {total:,} objects stored in"
            f" cluster {cluster.name!r}: {kinds}; nothing imported (use --replace to replace"
            " the cluster anyway)"
        )


def cluster_replace_state(*, cluster: Cluster, objects: list[dict[str, Any]]) -> ImportSummary:
    """Replace every object of ``cluster`` with ``objects``, atomically; bumps the revision."""
    with write_session():
        plan = plan_objects(objects, dump_limits())
        with transaction.atomic():
            locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
            summary = _store(locked, plan)
    cluster.revision, cluster.import_summary = locked.revision, locked.import_summary
    cluster.row_counts = locked.row_counts
    return summary


def _store(
    cluster: Cluster, plan: Plan, *, replaced: tuple[str, ...] = (), guard: bool = False
) -> ImportSummary:
    if cluster.pk is None:
        cluster.save()
    before = _stored_counts(cluster) if guard else None
    written = write_plan(cluster, plan)
    if before is not None:
        # Checked after the write so that a bad field is reported first (it would be the
        # first thing to fix); raising here rolls the whole import back.
        _refuse_large_loss(cluster, before, written.counts)
    cluster.revision += 1
    summary = ImportSummary(
        cluster=cluster.name,
        revision=cluster.revision,
        counts=written.counts,
        skipped=dict(plan.skipped),
        flagged_slices=tuple(written.flagged_slices),
        replaced=tuple(replaced),
        unknown_nodes=written.unknown_nodes,
    )
    cluster.import_summary = summary.to_json()
    cluster.row_counts = {"revision": cluster.revision, "counts": dict(written.counts)}
    # Only what an import owns: connection settings edited meanwhile stay as they are.
    cluster.save(update_fields=["revision", "import_summary", "row_counts", "source", "updated_at"])
    return summary


def cluster_delete(*, cluster: Cluster) -> None:
    """Delete ``cluster`` and all its objects in one transaction.

    Object rows go first with one DELETE per table (see ``clear_state``); the ORM's cascade
    would load a large cluster's rows into memory before deleting them.
    """
    with transaction.atomic():
        locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
        clear_state(locked)
        locked.delete()
