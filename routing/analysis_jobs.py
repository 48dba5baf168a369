"""The cluster-wide analysis as a job per revision (issue 13): request, shards, merge, store.

When an import, sync or watch batch makes a new revision (``RoutingConfig.ready`` connects
the hooks), ``analysis_request`` records a ``ClusterAnalysis`` for (cluster, revision,
inputs) and queues one ``jobs.Job`` of kind ``analysis`` per shard of Services
(``ROUTESCOPE_ANALYSIS_SHARDS``); Celery workers run them (``routing.tasks``). Each shard
takes a run of the sorted Service keys balanced by endpoint count
(``routing.snapshots.service_plan``, ``routing.engine.analysis.key_shard``), builds the
snapshot of only those Services over the cluster's node table
(``routing.snapshots.services_snapshot``), analyses it with the cluster's Service totals
(``analyze(..., totals=)``: exactly the whole snapshot's rows and findings) and stores its
part, its rows' JSON already rendered (``ShardPart``: the rows in their own column, kept as
the analysis' stored rows); the shard that stores the last part merges the rest (findings,
summary, figures) and stores the result. Shards shrink (``shard_sizes``) so that workers
taking them in turn finish together. Everything is idempotent and conditional:

* a newer revision supersedes an analysis still queued or running: its queued shards are
  cancelled, a running shard's part is refused, its merge never lands (every write checks
  the analysis is still active), so an older result never overwrites a newer one;
* a killed worker's shard is found by the jobs' heartbeat (``jobs.services.job_reap_dead``)
  and run again from the start; parts are keyed by shard, so a re-run replaces its part.

Without a broker (``CELERY_TASK_ALWAYS_EAGER``: the embedded default) there are no workers:
``analysis_store_inline`` computes the report in-process, from the state cache, and
stores it the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Expression, JSONField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cluster.dump_json import collector_paused
from cluster.models import Cluster
from jobs.models import Job
from jobs.services import (
    job_create,
    job_enqueue,
    job_finish,
    job_heartbeat,
    job_progress,
    job_reap_dead,
    job_start,
)
from routing.costs import cost_inputs
from routing.engine.analysis import Report, analyze, key_shard, merge
from routing.engine.costmodel import CostModel
from routing.models import AnalysisPart, ClusterAnalysis
from routing.reports import cluster_report
from routing.snapshots import service_plan, services_snapshot

logger = logging.getLogger(__name__)

#: Bump when the stored JSON changes shape or the engine's figures change meaning: every
#: cluster is analysed again. 2: shards analysed over their own Services' rows (the
#: health check now counts endpoints of slice ports no Service port names). 3: each
#: Service's figures end with its cross-zone bill (the Service page reads no rows).
FORMAT = 3
SHARD_TASK = "routing.tasks.analysis_shard_task"
#: Findings kept in the small ``report`` column (the overview shows the first dozen).
TOP_FINDINGS = 50
ACTIVE = ClusterAnalysis.ACTIVE_STATES


def analysis_inputs(cluster: Cluster) -> dict[str, Any]:
    """What besides the stored state the analysis of ``cluster`` depends on (JSON).

    The one place to add per-cluster settings (a traffic / cost model): a change here
    gives a new fingerprint, so the cluster is analysed again.
    """
    return {"format": FORMAT, "cost_model": cost_inputs(cluster).to_json()}


def inputs_fingerprint(inputs: dict[str, Any]) -> str:
    """A short stable digest of ``analysis_inputs``."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cost_model_of(inputs: dict[str, Any]) -> CostModel:
    """The engine's cost model named by ``inputs``."""
    return CostModel.from_json(inputs["cost_model"])


def analysis_request(*, cluster: Cluster, shards: int | None = None) -> ClusterAnalysis:
    """The analysis of ``cluster``'s current revision and inputs: the one already recorded,
    else a new one whose shard jobs are sent once the transaction commits (superseding
    any older analysis still in flight); an unsaved queued one while a writer holds the
    cluster (it requests its own revision's analysis when it commits)."""
    fingerprint = inputs_fingerprint(analysis_inputs(cluster))
    count = max(1, int(shards or settings.ROUTESCOPE_ANALYSIS_SHARDS))
    sizes = shard_sizes(count)
    with transaction.atomic():
        # One request at a time per cluster: the row lock orders them. An import or sync
        # holding it is writing a newer revision, whose hook requests after its commit:
        # never wait for it (a page asks here), answer with an unsaved placeholder.
        current = Cluster.objects.select_for_update(skip_locked=True).filter(pk=cluster.pk).first()
        if current is None:
            return ClusterAnalysis(
                cluster=cluster, revision=cluster.revision, inputs=fingerprint, shards_total=count
            )
        analysis, created = ClusterAnalysis.objects.get_or_create(
            cluster=current,
            revision=current.revision,
            inputs=fingerprint,
            defaults={"shards_total": count},
        )
        if not created:
            return analysis
        _supersede(current, keep=analysis)
        for shard in range(count):
            job = job_create(
                kind=Job.Kind.ANALYSIS,
                cluster=current,
                params={"analysis": analysis.pk, "shard": shard, "of": count, "sizes": sizes},
                message=f"analysis of revision {current.revision}: shard {shard + 1}/{count}",
                task_name=SHARD_TASK,
            )
            job.task_args = [job.pk]
            job.save(update_fields=["task_args"])
            job_enqueue(job=job)
        analysis_prune(cluster=current)
    return analysis


#: Each shard of an analysis is this share of the one before it (by weight).
SHARD_SHRINK = 0.7


def shard_sizes(count: int) -> list[float]:
    """The relative sizes of an analysis' ``count`` shards, queued in this order: each
    ``SHARD_SHRINK`` of the one before. Workers take the next shard as they finish one, so
    shrinking shards even them out: the last ones are small, and a worker that finished
    first waits at most one small shard's time for the others (with 4 equal shards, 2
    workers and the generated 5,000-node cluster, one waited ~0.7 s of 2.5)."""
    return [round(SHARD_SHRINK**index, 6) for index in range(count)]


def analysis_store_inline(*, cluster: Cluster) -> ClusterAnalysis:
    """Compute the analysis of ``cluster``'s current revision in this process and store
    it (no broker: the embedded default, tests); an existing one is returned as is."""
    inputs = analysis_inputs(cluster)
    fingerprint = inputs_fingerprint(inputs)
    found = ClusterAnalysis.objects.filter(
        cluster=cluster, revision=cluster.revision, inputs=fingerprint, state="done"
    ).first()
    if found is not None:
        return found
    started = timezone.now()
    report = cluster_report(cluster=cluster)  # under cost_inputs(cluster), as ``inputs`` says
    with transaction.atomic():
        analysis, _ = ClusterAnalysis.objects.update_or_create(
            cluster=cluster,
            revision=cluster.revision,
            inputs=fingerprint,
            defaults={
                "state": ClusterAnalysis.State.DONE,
                "shards_total": 1,
                "shards_done": 1,
                "started_at": started,
                "finished_at": timezone.now(),
                **{
                    column: _encode(value).decode() if column in TEXT_COLUMNS else value
                    for column, value in stored_payload(report).items()
                },
            },
        )
        analysis_prune(cluster=cluster)
    return analysis


def analysis_shard_run(*, job_id: int, task_id: str = "") -> None:
    """Run one shard job (the Celery task's body): analyse its Services, store the part,
    and merge when it is the last one. A shard of an analysis no longer active ends
    cancelled."""
    job = job_start(job_id=job_id, celery_task_id=task_id)
    if job is None:
        return  # taken by another delivery, or cancelled
    timings: dict[str, float] = {}
    cpu = time.process_time()
    # The cyclic GC paused for the whole shard (the engine pauses it for the build and the
    # analysis already): decoding its rows' JSON, rendering and pickling its part and
    # the merge make millions of acyclic objects, and each collection re-walked them all
    # (decoding 11,000 EndpointSlices: 0.99 CPU s with it, 0.30 without).
    with job_heartbeat(job_id=job.pk), collector_paused():
        note = _shard(job, timings)
    # This process' CPU seconds for the shard (its threads' too: the heartbeat's is tiny).
    timings["cpu_s"] = round(time.process_time() - cpu, 3)
    timings["pid"] = os.getpid()  # which worker process ran it (benchmarks' timelines)
    if note:
        job_finish(job=job, state=Job.State.CANCELLED, message=note)
    else:
        job_finish(job=job, state=Job.State.SUCCEEDED, message="shard stored", result=timings)


def analysis_fail(*, job: Job, error: str) -> None:
    """A shard failed for good (a bug, a time limit): its analysis ends failed, so pages
    say so instead of waiting for it (the previous results stay shown)."""
    ClusterAnalysis.objects.filter(pk=job.params.get("analysis"), state__in=ACTIVE).update(
        state=ClusterAnalysis.State.FAILED, finished_at=timezone.now(), error=error[:2000]
    )


def analysis_watch(*, analysis: ClusterAnalysis) -> None:
    """Look after an analysis in flight (pages call this while they show its progress):
    re-queue its shards whose worker died (the jobs' heartbeat check), and fail it when a
    shard failed for good."""
    if analysis.state not in ACTIVE:
        return
    shards = Job.objects.filter(
        kind=Job.Kind.ANALYSIS, cluster_id=analysis.cluster_id, params__analysis=analysis.pk
    )
    job_reap_dead(jobs=shards)
    failed = shards.filter(state=Job.State.FAILED).first()
    if failed is not None:
        analysis_fail(job=failed, error=failed.error or failed.message)


def _shard(job: Job, timings: dict[str, float]) -> str:
    """Analyse and store one shard; a reason when the analysis is no longer wanted.
    ``timings`` gets the wall seconds of each step (the job's result, with the shard's
    CPU seconds ``cpu_s``: benchmarks read it)."""
    pk, shard, of = job.params["analysis"], job.params["shard"], job.params["of"]
    analysis = ClusterAnalysis.objects.filter(pk=pk, state__in=ACTIVE).first()
    if analysis is None:
        return "superseded by a newer revision"
    now = timezone.now()
    ClusterAnalysis.objects.filter(pk=pk, state=ClusterAnalysis.State.QUEUED).update(
        state=ClusterAnalysis.State.RUNNING, started_at=now
    )
    cluster = Cluster.objects.get(pk=analysis.cluster_id)
    inputs = analysis_inputs(cluster)
    if cluster.revision != analysis.revision or inputs_fingerprint(inputs) != analysis.inputs:
        # The state moved on: the request for the new revision supersedes this one.
        return "superseded by a newer revision"
    job_progress(job=job, percent=10, message=f"shard {shard + 1}/{of}: reading its rows")
    started = time.perf_counter()
    plan = service_plan(cluster=cluster)
    timings["plan_s"] = round(time.perf_counter() - started, 3)
    # The sizes the request recorded (none: equal shards, as requests before them).
    keys = key_shard(plan.keys, shard, of, weights=plan.weights, sizes=job.params.get("sizes"))
    snapshot = services_snapshot(cluster=cluster, keys=keys)
    if Cluster.objects.filter(pk=cluster.pk).values_list("revision", flat=True).first() != (
        analysis.revision
    ):
        # A write committed while the rows were read (it bumps the revision in the same
        # transaction): they may mix two states. The new revision's request supersedes.
        return "superseded by a newer revision"
    timings["snapshot_s"] = round(time.perf_counter() - started, 3)
    job_progress(job=job, percent=40, message=f"shard {shard + 1}/{of}: analysing")
    started = time.perf_counter()
    report = analyze(snapshot, model=cost_model_of(inputs), services=keys, totals=plan.totals)
    columns = part_columns(shard_part(report))
    timings["analyze_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            # A write first: it takes the analysis row's lock (PostgreSQL) or the database's
            # write lock (SQLite) before reading, so the shards finishing together count in
            # turn and exactly one of them sees the last part.
            if not ClusterAnalysis.objects.filter(pk=pk, state__in=ACTIVE).update(
                state=ClusterAnalysis.State.RUNNING
            ):
                return "superseded by a newer revision"
            AnalysisPart.objects.update_or_create(analysis_id=pk, index=shard, defaults=columns)
            done = AnalysisPart.objects.filter(analysis_id=pk).count()
            ClusterAnalysis.objects.filter(pk=pk).update(shards_done=done)
    except IntegrityError:  # the analysis was deleted (pruned) meanwhile
        return "superseded by a newer revision"
    timings["part_s"] = round(time.perf_counter() - started, 3)
    if done >= of:
        started = time.perf_counter()
        _merge(pk, timings)
        timings["merge_s"] = round(time.perf_counter() - started, 3)
    return ""


_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ShardPart:
    """One shard's share of the stored analysis (an ``AnalysisPart``: ``part_columns``),
    rendered in the shard so the merge only joins: the report without rows (cluster figures,
    cost model, notes, the shard's findings), the rows' JSON (``ServiceRow.to_json``,
    encoded by msgspec), the services table's figures, and what the summary sums over
    rows."""

    head: Report
    #: a JSON array of the shard's rows (without per-endpoint shares).
    rows_json: bytes
    figures: dict[str, list[Any]]
    #: every row's ``cost_usd_per_month``, in row order (summed in the whole report's order).
    costs: tuple[float, ...] = ()
    dropping: int = 0
    #: rows (service ports).
    ports: int = 0


def shard_part(report: Report) -> ShardPart:
    """``report`` (one shard's) as its stored part."""
    return ShardPart(
        head=Report((), report.findings, *_head_fields(report)),
        rows_json=_encode([row.to_json() for row in report.rows]),
        figures=_figures(report),
        costs=tuple(row.cost_usd_per_month for row in report.rows),
        dropping=sum(1 for row in report.rows if row.worst_dropped > 0),
        ports=len(report.rows),
    )


def part_columns(part: ShardPart) -> dict[str, Any]:
    """``part`` as its ``AnalysisPart`` columns: its rows' JSON text in ``rows`` (kept: the
    analysis' stored rows), the rest pickled in ``data`` (what the merge reads)."""
    return {
        "data": pickle.dumps(replace(part, rows_json=b"[]"), protocol=pickle.HIGHEST_PROTOCOL),
        "rows": part.rows_json.decode(),
    }


def _head_fields(report: Report) -> tuple[Any, ...]:
    return (
        report.nodes,
        report.zones,
        report.services,
        report.proxy_modes,
        report.model,
        report.notes,
    )


def merged_payload(parts: Sequence[ShardPart]) -> dict[str, bytes]:
    """The stored columns (``stored_payload``'s, as JSON text) of the shards' ``parts``
    given in shard order: equal to ``stored_payload`` of the whole report."""
    head = merge([part.head for part in parts])
    body = head.to_json()
    body.pop("services")
    findings = body.pop("findings")
    body["summary"].update(
        service_ports=sum(part.ports for part in parts),
        ports_dropping=sum(part.dropping for part in parts),
        cross_zone_usd_per_month=round(sum(c for part in parts for c in part.costs), 2),
    )
    body["top_findings"] = findings[:TOP_FINDINGS]
    body["findings_total"] = len(findings)
    arrays = [part.rows_json[1:-1] for part in parts if len(part.rows_json) > 2]
    figures: dict[str, list[Any]] = {}
    for part in parts:
        figures.update(part.figures)
    return {
        "report": _encode(body),
        "findings": _encode(findings),
        "rows": b"[" + b",".join(arrays) + b"]",
        "figures": _encode(figures),
    }


#: Columns stored as JSON text, not ``jsonb`` (``ClusterAnalysis``: only read whole).
TEXT_COLUMNS = frozenset({"findings", "rows"})


def _json_column(text: bytes) -> Expression:
    """A JSON column's value from its JSON text as is (no decode and encode again)."""
    cast = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    return RawSQL(cast, (text.decode(),), output_field=JSONField())


def _column(name: str, text: bytes) -> Expression | str:
    """Column ``name``'s value from its JSON text: as is for a text column, else cast."""
    return text.decode() if name in TEXT_COLUMNS else _json_column(text)


def _merge(pk: int, timings: dict[str, float] | None = None) -> None:
    """Merge the parts of analysis ``pk`` and store the result, if it is still active
    (``timings`` gets the seconds of reading the parts, ``merge_read_s``, and of joining
    them, ``merge_join_s``)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    blobs = AnalysisPart.objects.filter(analysis_id=pk).order_by("index")
    # Only this project's workers write parts (see AnalysisPart). Their rows stay where
    # their shards wrote them: the stored rows column is left empty, which readers take
    # as "joined from the parts" (``routing.stored_analysis.rows_text``).
    parts = [pickle.loads(bytes(data)) for data in blobs.values_list("data", flat=True)]
    timings["merge_read_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    payload = {k: _column(k, v) for k, v in merged_payload(parts).items() if k != "rows"}
    timings["merge_join_s"] = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        stored = ClusterAnalysis.objects.filter(pk=pk, state__in=ACTIVE).update(
            state=ClusterAnalysis.State.DONE,
            shards_done=len(parts),
            finished_at=timezone.now(),
            rows="",
            **payload,
        )
        if not stored:
            return
        blobs.update(data=b"")
        analysis = ClusterAnalysis.objects.only("cluster_id").get(pk=pk)
        analysis_prune(cluster=Cluster.objects.get(pk=analysis.cluster_id))


def stored_payload(report: Report) -> dict[str, Any]:
    """The stored columns of ``report``: ``report`` (summary, cost model, notes, the first
    ``TOP_FINDINGS`` findings and their total: the overview's, small), ``findings`` (all,
    ranked), ``rows`` (the API's Service rows) and ``figures`` (the services table's, per
    Service: its worst port's dropped, imbalance, nodes covered, nodes total, and its
    cross-zone bill summed over its ports)."""
    body = report.to_json(endpoints=False)
    rows, findings = body.pop("services"), body.pop("findings")
    body["top_findings"] = findings[:TOP_FINDINGS]
    body["findings_total"] = len(findings)
    return {"report": body, "findings": findings, "rows": rows, "figures": _figures(report)}


def _figures(report: Report) -> dict[str, list[Any]]:
    """The services table's figures: per Service, its worst port's dropped, imbalance,
    nodes covered, nodes total; then the Service page's bill, USD/month: the sum of its
    ports' ``cost_usd_per_month`` as their JSON has it (rounded to 4 places), in row
    order: exactly what summing the stored rows gives."""
    figures: dict[str, list[Any]] = {}
    costs: dict[str, float] = {}
    for row in report.rows:
        costs[row.service] = costs.get(row.service, 0.0) + round(row.cost_usd_per_month, 4)
        seen = figures.get(row.service)
        # A multi-port Service shows its worst port.
        if seen is None or row.worst_dropped > seen[0]:
            figures[row.service] = [
                row.worst_dropped,
                row.worst_imbalance,
                row.nodes_covered,
                row.nodes_total,
            ]
    for service, values in figures.items():
        values.append(costs[service])
    return figures


def analysis_prune(*, cluster: Cluster) -> None:
    """Keep, per cluster, the newest done analysis and the one in flight (the newest
    active); delete the rest and their finished shard jobs."""
    analyses = ClusterAnalysis.objects.filter(cluster=cluster)
    keep = [
        pk
        for pk in (
            analyses.filter(state=ClusterAnalysis.State.DONE).values_list("pk", flat=True).first(),
            analyses.filter(state__in=ACTIVE).values_list("pk", flat=True).first(),
        )
        if pk is not None
    ]
    # Only the keys: the delete's collector would otherwise read (and decode) the old
    # analyses' whole columns, ~17 MB each, in the merge's serial end.
    analyses.exclude(pk__in=keep).only("pk").delete()
    Job.objects.filter(kind=Job.Kind.ANALYSIS, cluster=cluster).exclude(
        state__in=Job.ACTIVE_STATES
    ).exclude(params__analysis__in=keep).delete()


def _supersede(cluster: Cluster, *, keep: ClusterAnalysis) -> None:
    now = timezone.now()
    older = ClusterAnalysis.objects.filter(cluster=cluster, state__in=ACTIVE).exclude(pk=keep.pk)
    revisions = sorted(older.values_list("revision", flat=True))
    if not revisions:
        return
    older.update(
        state=ClusterAnalysis.State.SUPERSEDED,
        finished_at=now,
        error=f"superseded by revision {keep.revision}",
    )
    Job.objects.filter(kind=Job.Kind.ANALYSIS, cluster=cluster, state=Job.State.QUEUED).update(
        state=Job.State.CANCELLED,
        message=f"superseded by revision {keep.revision}",
        finished_at=now,
        updated_at=now,
    )
    logger.info(
        "cluster %s: analysis of revision %s supersedes %s", cluster.pk, keep.revision, revisions
    )
