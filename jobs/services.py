"""Writes on job rows: create, enqueue, start, progress, log, finish, requeue, roll back."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from jobs.models import Job, SyncRun

logger = logging.getLogger(__name__)
MESSAGE_MAX = 255


class JobRefused(ValueError):
    """A job action that cannot be done: one line saying why, the request ``field`` at fault
    and a ``code``; the API answers 400 naming them."""

    def __init__(self, message: str, *, field: str = "job", code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


#: How a finished job is rolled back: set by the app that runs the jobs which change
#: things (``cluster`` registers its apply rollback in ``ClusterConfig.ready``), so this
#: app never imports the apps above it.
_rollback_handler: Callable[..., Job] | None = None


def job_rollback_handler_set(handler: Callable[..., Job]) -> None:
    """Make ``handler(apply_job=, user=, confirm_restart=)`` the one that queues rollbacks."""
    global _rollback_handler
    _rollback_handler = handler


def job_rollback(*, job: Job, user, confirm_restart: bool = False) -> Job:
    """Queue the rollback of ``job``; raises :class:`JobRefused` (or a subclass) when it
    cannot be rolled back."""
    if _rollback_handler is None:
        raise JobRefused(f"job {job.pk}: no installed app rolls back jobs")
    return _rollback_handler(apply_job=job, user=user, confirm_restart=confirm_restart)


def job_create(
    *,
    kind: str,
    cluster=None,
    created_by=None,
    params: dict | None = None,
    parent: Job | None = None,
    message: str = "queued",
    task_name: str = "",
    task_args: list | None = None,
) -> Job:
    """A new queued job; ``task_name``/``task_args`` say how ``job_enqueue`` runs it."""
    return Job.objects.create(
        kind=kind,
        cluster=cluster,
        created_by=_user_or_none(created_by),
        params=params or {},
        parent=parent,
        message=message[:MESSAGE_MAX],
        task_name=task_name,
        task_args=task_args or [],
    )


def job_create_sync(
    *, cluster, created_by=None, task_name: str = "", task_args=None
) -> tuple[Job, bool]:
    """The cluster's queued/running sync job, or a new one: ``(job, created)``.

    Duplicate requests coalesce: a partial unique constraint allows one active sync per
    cluster, so two concurrent requests cannot both create one. ``task_args`` may be a
    callable of the new job (arguments usually include its id).
    """
    existing = Job.objects.filter(
        cluster=cluster, kind=Job.Kind.SYNC, state__in=Job.ACTIVE_STATES
    ).first()
    if existing is not None and job_reap_dead(jobs=Job.objects.filter(pk=existing.pk)):
        # Its worker died: the job was re-queued (a fresh message) or failed with the reason.
        existing = Job.objects.filter(
            cluster=cluster, kind=Job.Kind.SYNC, state__in=Job.ACTIVE_STATES
        ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            job = job_create(
                kind=Job.Kind.SYNC, cluster=cluster, created_by=created_by, task_name=task_name
            )
            if task_args is not None:
                job.task_args = task_args(job) if callable(task_args) else task_args
                job.save(update_fields=["task_args"])
        return job, True
    except IntegrityError:
        return Job.objects.get(
            cluster=cluster, kind=Job.Kind.SYNC, state__in=Job.ACTIVE_STATES
        ), False


def job_enqueue(*, job: Job) -> None:
    """Send the job's task once the current transaction commits.

    A broker that is down does not fail the request: the job stays queued with a note in
    its log, and ``job_requeue_stale`` (periodic, and at worker start) sends it again.
    """

    def send() -> None:
        try:
            result = _task(job.task_name).apply_async(args=job.task_args)
        except (BrokerError, ConnectionError, OSError) as error:
            logger.warning("job %s: could not reach the broker (%s); will re-send", job.pk, error)
            job_log(job=job, line=f"broker unreachable, will re-send: {error}")
            return
        Job.objects.filter(pk=job.pk, celery_task_id="").update(celery_task_id=result.id or "")

    transaction.on_commit(send)


def job_start(*, job_id: int, celery_task_id: str = "") -> Job | None:
    """Move a queued job to running, exactly once; None when it is not queued any more
    (or, for a redelivered message, when it is not still marked as running that message).

    The conditional UPDATE is what makes tasks idempotent: a second delivery of the same
    message (broker restart, re-send of a lost message) finds the job taken and does nothing.
    """
    now = timezone.now()
    startable = Q(state=Job.State.QUEUED)
    if celery_task_id:
        # The same message delivered again while its job is "running" means the worker
        # that ran it died (acks_late redelivers it): take the job over. Safe for every
        # kind: sync is idempotent, patches are guarded by resourceVersions.
        startable |= Q(state=Job.State.RUNNING, celery_task_id=celery_task_id)
    taken = Job.objects.filter(startable, pk=job_id).update(
        state=Job.State.RUNNING,
        started_at=now,
        updated_at=now,
        heartbeat_at=now,
        message="running",
        attempts=F("attempts") + 1,
        celery_task_id=celery_task_id or F("celery_task_id"),
    )
    return Job.objects.get(pk=job_id) if taken else None


def job_progress(*, job: Job, percent: int, message: str) -> None:
    """Record progress (clamped to 0..100) and a short status line, visible at once."""
    job.progress = max(0, min(100, int(percent)))
    job.message = message[:MESSAGE_MAX]
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        progress=job.progress, message=job.message, updated_at=now, heartbeat_at=now
    )


def job_log(*, job: Job, line: str) -> None:
    """Append one line to the job's log (an atomic append: no lost concurrent lines)."""
    stamp = timezone.now().strftime("%H:%M:%S")
    Job.objects.filter(pk=job.pk).update(
        log=Concat(F("log"), Value(f"{stamp} {line}\n")), updated_at=timezone.now()
    )


def job_finish(
    *, job: Job, state: str, message: str = "", error: str = "", result: dict | None = None
) -> Job:
    """Put the job in a final state with its outcome."""
    if state not in Job.DONE_STATES:
        raise ValueError(f"job_finish needs a final state, not {state!r}")
    job.state, job.error = state, error
    job.message = (message or state)[:MESSAGE_MAX]
    job.progress = 100 if state == Job.State.SUCCEEDED else job.progress
    job.finished_at = timezone.now()
    if result is not None:
        job.result = result
    job.save(
        update_fields=[
            "state",
            "message",
            "error",
            "progress",
            "finished_at",
            "result",
            "updated_at",
        ]
    )
    return job


def job_cancel(*, job: Job) -> bool:
    """Cancel a job that has not started yet; False when it already runs or ran."""
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
            state=Job.State.CANCELLED, message="cancelled", finished_at=now, updated_at=now
        )
    )


@contextlib.contextmanager
def job_heartbeat(*, job_id: int, every_seconds: float | None = None) -> Iterator[None]:
    """Beat ``Job.heartbeat_at`` from a side thread while the block runs.

    Progress lines alone are no sign of life: one slow Kubernetes list can take minutes
    between them. A job whose heartbeat stops (the process was killed) is found by
    ``job_reap_dead``. A beat that fails (database busy) is skipped, not fatal.
    """
    every = float(
        every_seconds if every_seconds is not None else settings.ROUTESCOPE_JOB_HEARTBEAT_SECONDS
    )
    if connection.in_atomic_block:
        # The job row was written in this transaction: a beat from another connection
        # could not see it (or would wait on its lock). Only a caller holding a
        # transaction around a whole job (tests) gets here; a worker never does.
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError as error:
                    logger.warning("job %s: heartbeat skipped (%s)", job_id, error)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)


def job_is_dead(job: Job) -> bool:
    """True when ``job`` is running but its process has shown no sign of life for
    ``ROUTESCOPE_JOB_LOST_SECONDS`` (heartbeat, or start when it never beat)."""
    if job.state != Job.State.RUNNING:
        return False
    last = job.heartbeat_at or job.started_at or job.updated_at
    return last is not None and timezone.now() - last > _lost_after()


def _lost_after() -> timedelta:
    return timedelta(seconds=float(settings.ROUTESCOPE_JOB_LOST_SECONDS))


#: Kinds whose job runs again, from the start, when its worker died (idempotent work).
RETRIED_KINDS = (Job.Kind.SYNC, Job.Kind.ANALYSIS)


def job_reap_dead(*, jobs=None) -> int:
    """Re-queue or fail running jobs whose process died; returns how many were found.

    A sync and an analysis shard are idempotent, so they are re-queued with a fresh task
    message until they have had ``ROUTESCOPE_JOB_MAX_ATTEMPTS`` attempts; an apply or
    rollback (a person should look first) and a job out of attempts end failed, the
    reason in ``error``. Each job is taken with a conditional update, so two reapers never
    both act on it.
    """
    now = timezone.now()
    stale = Q(heartbeat_at__lt=now - _lost_after()) | Q(
        heartbeat_at__isnull=True, started_at__lt=now - _lost_after()
    )
    candidates = (jobs if jobs is not None else Job.objects.all()).filter(
        stale, state=Job.State.RUNNING
    )
    reaped = 0
    for job in list(candidates):
        last = job.heartbeat_at or job.started_at
        silent = int((now - last).total_seconds()) if last else 0
        reason = f"worker lost: no heartbeat for {silent}s (attempt {job.attempts})"
        retry = (
            job.kind in RETRIED_KINDS
            and job.task_name
            and job.attempts < int(settings.ROUTESCOPE_JOB_MAX_ATTEMPTS)
        )
        still = Job.objects.filter(stale, pk=job.pk, state=Job.State.RUNNING)
        if retry:
            taken = still.update(
                state=Job.State.QUEUED,
                celery_task_id="",
                updated_at=now,
                message=f"{reason}; retrying"[:MESSAGE_MAX],
            )
        else:
            taken = still.update(
                state=Job.State.FAILED,
                finished_at=now,
                updated_at=now,
                message=reason[:MESSAGE_MAX],
                error=reason,
            )
        if not taken:
            continue
        reaped += 1
        SyncRun.objects.filter(job=job, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED, error="worker lost", finished_at=now
        )
        logger.warning("job %s: %s; %s", job.pk, reason, "re-queued" if retry else "failed")
        job_log(job=job, line=reason + ("; re-queued" if retry else "; failed"))
        if retry:
            job_enqueue(job=job)
    return reaped


def job_requeue_stale(
    *,
    older_than_seconds: float = 60,
    republish_after_seconds: float = 900,
    lost_after_seconds: float | None = None,
) -> dict[str, int]:
    """Re-send queued jobs whose message may be lost; fail running jobs whose worker died.

    A job whose publish failed (no task id) is re-sent once older than
    ``older_than_seconds``; one that was published but never started only after
    ``republish_after_seconds`` (its message may still be waiting behind other work: a
    broker restart without persistence loses it). Re-sending is always safe because
    ``job_start`` lets only one delivery run a job.
    """
    now = timezone.now()
    unpublished = Q(celery_task_id="", created_at__lte=now - timedelta(seconds=older_than_seconds))
    forgotten = Q(created_at__lte=now - timedelta(seconds=republish_after_seconds))
    queued = list(
        Job.objects.filter(unpublished | forgotten, state=Job.State.QUEUED, task_name__gt="")
    )
    for job in queued:
        job_log(job=job, line="re-sending the task message")
        job_enqueue(job=job)
    lost = job_reap_dead()
    if lost_after_seconds is not None:
        lost += Job.objects.filter(
            state=Job.State.RUNNING, updated_at__lte=now - timedelta(seconds=lost_after_seconds)
        ).update(
            state=Job.State.FAILED,
            finished_at=now,
            message="worker lost",
            error="worker lost: no " "progress within the task's hard time limit",
        )
    return {"requeued": len(queued), "lost": lost}


def _task(name: str):
    # Task modules are imported by workers at start; a web process imports the module the
    # task lives in (Celery names tasks "module.function") before sending.
    if name not in current_app.tasks:
        importlib.import_module(name.rsplit(".", 1)[0])
    return current_app.tasks[name]


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None
