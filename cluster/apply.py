"""Push accepted Service changes to a live cluster, safely, and roll them back.

An apply is: validate the input -> read every object and check it is still at the
resourceVersion the user previewed -> server-side dry-run of every patch (nothing is
written unless ALL pass) -> the real patches, each guarded by that resourceVersion (a
concurrent edit answers 409: refused, nothing clobbered) -> re-read to verify. One
``AuditEntry`` per object records who, when, before -> after and the result. A rollback
patches the recorded "before" values back the same way. It does not insist on the
resourceVersion the apply left (any later edit, even of a label, changes it, and a rollback
must stay possible): it compares only the fields the apply changed with their audited
"after" values, refuses naming the first field that differs, and guards its patch with the
resourceVersion it just read. kube-proxy mode/scheduler changes live in
``cluster.proxy_apply``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cluster.kube.client import connect
from cluster.kube.errors import KubeConflict, KubeError
from cluster.kube.resources import get_object, patch_object
from cluster.models import Cluster
from cluster.operations import ApplyError, check_operator
from cluster.proxy_apply import proxy_change_run, proxy_rollback_run
from jobs.models import AuditEntry, Job
from jobs.services import job_create, job_enqueue, job_finish, job_log, job_progress, job_start

# The what-if field table and the patch builder are the engine's (pure, no Django): one
# vocabulary for the what-if and for the patch that makes it real.
from routing.engine.servicepatch import service_merge_patch, spec_path
from routing.engine.whatif_fields import BY_NAME

logger = logging.getLogger(__name__)
APPLY_TASK, ROLLBACK_TASK = "cluster.tasks.apply_changes_task", "cluster.tasks.rollback_task"


@dataclass(frozen=True)
class Change:
    """One Service change: the fields to set (None = remove) and the version previewed."""

    namespace: str
    name: str
    set: dict
    expected_resource_version: str = ""

    @property
    def label(self) -> str:
        """How messages name the object: "Service ns/name"."""
        return f"Service {self.namespace}/{self.name}"


def parse_changes(raw: list) -> list[Change]:
    """Validate the JSON list of changes (the API turns a Scenario into it)."""
    if not isinstance(raw, list) or not raw:
        raise ApplyError("changes must be a non-empty list")
    changes, seen = [], set()
    for index, item in enumerate(raw):
        where = f"changes[{index}]"
        if not isinstance(item, dict):
            raise ApplyError(f"{where} must be an object")
        namespace, name = item.get("namespace"), item.get("name")
        if not isinstance(namespace, str) or not namespace or not isinstance(name, str) or not name:
            raise ApplyError(f"{where} needs a namespace and a name")
        fields = item.get("set")
        if not isinstance(fields, dict) or not fields:
            raise ApplyError(f"{where} ({namespace}/{name}): 'set' must be a non-empty object")
        for field, value in fields.items():
            spec = BY_NAME.get(field)
            if spec is None:
                raise ApplyError(
                    f"{where} ({namespace}/{name}): cannot change {field!r} "
                    f"(allowed: {', '.join(BY_NAME)})"
                )
            if value is not None:
                try:  # the field table's own check: the same refusal as a what-if's
                    spec.parse(value, where=field)
                except ValueError:
                    raise ApplyError(
                        f"{where} ({namespace}/{name}): {field} {value!r} is not "
                        f"{_accepted(spec)}"
                    ) from None
        rv = item.get("expected_resource_version") or ""
        if not isinstance(rv, str):
            raise ApplyError(
                f"{where} ({namespace}/{name}): expected_resource_version must be a string"
            )
        if (namespace, name) in seen:
            raise ApplyError(f"{where}: Service {namespace}/{name} appears twice")
        seen.add((namespace, name))
        changes.append(Change(namespace, name, dict(fields), rv))
    return changes


def apply_request(*, cluster: Cluster, changes: list, user) -> Job:
    """Check permission and input, then queue an apply job (runs ``apply_changes_task``)."""
    check_operator(user)
    parsed = parse_changes(changes)
    _check_live(cluster)
    job = job_create(
        kind=Job.Kind.APPLY,
        cluster=cluster,
        created_by=user,
        params={"changes": [c.__dict__ for c in parsed]},
        task_name=APPLY_TASK,
    )
    job.task_args = [job.pk]
    job.save(update_fields=["task_args"])
    job_enqueue(job=job)
    return job


def rollback_request(*, apply_job: Job, user, confirm_restart: bool = False) -> Job:
    """Queue the rollback of a finished apply job (restores its audited before values).

    Rolling back a kube-proxy change restarts kube-proxy again: it needs ``confirm_restart``.
    """
    check_operator(user)
    if apply_job.kind not in (Job.Kind.APPLY, Job.Kind.PROXY_CHANGE) or not apply_job.is_done:
        raise ApplyError(f"job {apply_job.pk} is not a finished apply job", field="job")
    if apply_job.kind == Job.Kind.PROXY_CHANGE and not confirm_restart:
        nodes = apply_job.params.get("nodes") or []
        raise ApplyError(
            f"confirmation needed: kube-proxy restarts and reprograms its rules "
            f"on {len(nodes)} node(s): {', '.join(nodes[:20])}",
            field="confirm_restart",
            code="confirmation_required",
        )
    if not apply_job.audit_entries.filter(result__in=_APPLIED).exists():
        raise ApplyError(
            f"job {apply_job.pk} changed nothing: there is nothing to roll back", field="job"
        )
    job = job_create(
        kind=Job.Kind.ROLLBACK,
        cluster=apply_job.cluster,
        created_by=user,
        parent=apply_job,
        task_name=ROLLBACK_TASK,
        params=dict(apply_job.params),
    )
    job.task_args = [job.pk]
    job.save(update_fields=["task_args"])
    job_enqueue(job=job)
    return job


_APPLIED = (AuditEntry.Result.APPLIED, AuditEntry.Result.NOT_VERIFIED)


def _check_live(cluster: Cluster) -> None:
    if not cluster.in_cluster and not cluster.kubeconfig_path:
        raise ApplyError(
            f"cluster {cluster.name!r} is not connected to a live API server "
            "(add it with add_cluster)",
            field="cluster",
            code="not_applicable",
        )


def apply_job_run(*, job_id: int, task_id: str = "") -> Job | None:
    """Run a queued apply job (once); None when another delivery already took it."""
    job = job_start(job_id=job_id, celery_task_id=task_id)
    if job is None:
        return None
    if job.kind == Job.Kind.PROXY_CHANGE:
        return proxy_change_run(job=job)
    changes = [Change(**c) for c in job.params["changes"]]
    targets = [(c, _patch_for(c)) for c in changes]
    return _run(job=job, targets=targets, action=AuditEntry.Action.APPLY)


def rollback_job_run(*, job_id: int, task_id: str = "") -> Job | None:
    """Run a queued rollback job (once): patch every applied object back to "before"."""
    job = job_start(job_id=job_id, celery_task_id=task_id)
    if job is None:
        return None
    assert job.parent is not None  # a rollback job always names the job it undoes
    if job.parent.kind == Job.Kind.PROXY_CHANGE:
        return proxy_rollback_run(job=job)
    targets, expected = [], []
    for entry in job.parent.audit_entries.filter(result__in=_APPLIED).order_by("id"):
        change = Change(entry.object_namespace, entry.object_name, dict(entry.before))
        targets.append((change, _patch_for(change)))
        expected.append(dict(entry.after))
    return _run(job=job, targets=targets, action=AuditEntry.Action.ROLLBACK, expected=expected)


def _accepted(spec) -> str:
    if spec.kind is int:
        return f"a whole number {spec.minimum}..{spec.maximum}"
    return "one of " + ", ".join(v for v in spec.choices if v)


def _get(obj: dict, path: tuple[str, ...]) -> object:
    value: object = obj
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _patch_for(change: Change) -> dict:
    """The change's merge patch (the exports' builder), guarded by the previewed version."""
    patch = service_merge_patch(change.set)
    if change.expected_resource_version:
        patch["metadata"] = {"resourceVersion": change.expected_resource_version}
    return patch


def _run(
    *, job: Job, targets: list[tuple[Change, dict]], action: str, expected: list[dict] | None = None
) -> Job:
    """``expected``: per target, the spec fields that must still hold these values."""
    try:
        with connect(cluster=job.cluster) as api:
            befores = _preview(job=job, api=api, targets=targets, action=action, expected=expected)
            if befores is None:
                return job
            _write(job=job, api=api, targets=targets, befores=befores, action=action)
    except KubeError as error:
        return job_finish(
            job=job, state=Job.State.FAILED, error=str(error), message=f"{action} failed"
        )
    return job


def _preview(*, job, api, targets, action, expected=None) -> list[dict] | None:
    """Read and dry-run every patch; on any refusal audit it and fail the job untouched."""
    befores, refused = [], []
    for index, (change, patch) in enumerate(targets):
        job_progress(
            job=job, percent=5 + 40 * index // len(targets), message=f"dry-run {change.label}"
        )
        current = get_object(api, "Service", change.namespace, change.name)
        current_rv = current["metadata"]["resourceVersion"]
        befores.append(current)
        # Without a version from the preview, guard the patch with the one read now.
        patch.setdefault("metadata", {}).setdefault("resourceVersion", current_rv)
        try:
            if change.expected_resource_version and current_rv != change.expected_resource_version:
                raise KubeConflict(
                    f"{change.label} changed since the preview (resourceVersion "
                    f"{change.expected_resource_version} -> {current_rv})",
                    code=409,
                )
            if expected is not None:
                _check_fields(change, current, expected[index])
            patch_object(api, "Service", change.namespace, change.name, patch, dry_run=True)
        except KubeError as error:
            refused.append(change.label)
            _audit(job, action, change, current, current, _result_for(error), str(error))
    if refused:
        message = f"refused, nothing changed: {', '.join(refused)}"
        job_log(job=job, line=message)
        job_finish(
            job=job,
            state=Job.State.FAILED,
            message=message[:255],
            error="; ".join(e.message for e in job.audit_entries.all()),
        )
        return None
    return befores


def _check_fields(change: Change, current: dict, expected: dict) -> None:
    """Refuse (409) when a field the apply changed no longer holds its audited value."""
    spec = current.get("spec") or {}
    for field in sorted(expected):
        if spec.get(field) != expected[field]:
            raise KubeConflict(
                f"{change.label}: {field} changed since the apply ({expected[field]!r} -> "
                f"{spec.get(field)!r}); not rolling back over a later change",
                code=409,
            )


def _write(*, job, api, targets, befores, action) -> None:
    failed = unverified = 0
    for index, ((change, patch), current) in enumerate(zip(targets, befores)):
        job_progress(
            job=job, percent=50 + 45 * index // len(targets), message=f"patching {change.label}"
        )
        try:
            patch_object(api, "Service", change.namespace, change.name, patch, dry_run=False)
        except KubeError as error:
            failed += 1
            _audit(job, action, change, current, current, _result_for(error), str(error))
            continue
        after = get_object(api, "Service", change.namespace, change.name)
        spec = after.get("spec") or {}
        verified = all(
            _get(spec, spec_path(f)) == _get(patch["spec"], spec_path(f)) for f in change.set
        )
        result = AuditEntry.Result.APPLIED if verified else AuditEntry.Result.NOT_VERIFIED
        unverified += not verified
        _audit(
            job,
            action,
            change,
            current,
            after,
            result,
            ""
            if verified
            else (
                "read back differs from what was patched"
                " (an admission policy may have changed it)"
            ),
        )
    done = len(targets) - failed
    errors = [f"{failed} patch(es) refused"] * bool(failed) + [
        f"{unverified} Service(s) read back differently"
    ] * bool(unverified)
    state = Job.State.FAILED if errors else Job.State.SUCCEEDED
    job_finish(
        job=job,
        state=state,
        message=f"{action}: {done} of {len(targets)} Services changed",
        error="; ".join(errors) + ("; see the audit entries" if errors else ""),
    )


def _result_for(error: KubeError) -> str:
    if error.code == 409:
        return AuditEntry.Result.CONFLICT
    if error.code in (400, 422):
        return AuditEntry.Result.INVALID
    return AuditEntry.Result.FAILED


def _audit(
    job: Job, action: str, change: Change, before: dict, after: dict, result: str, message: str
) -> AuditEntry:
    fields = {spec_path(f)[0] for f in change.set} | (
        {"sessionAffinityConfig"} if "sessionAffinity" in change.set else set()
    )
    pick = lambda obj: {f: (obj.get("spec") or {}).get(f) for f in sorted(fields)}  # noqa: E731
    user = job.created_by
    return AuditEntry.objects.create(
        user=user,
        username=user.get_username() if user else "",
        cluster=job.cluster,
        cluster_name=job.cluster.name if job.cluster else "",
        job=job,
        action=action,
        object_kind="Service",
        object_namespace=change.namespace,
        object_name=change.name,
        before=pick(before),
        after=pick(after),
        result=result,
        message=message,
        resource_version_before=before["metadata"]["resourceVersion"],
        resource_version_after=after["metadata"]["resourceVersion"],
    )
