"""Change kube-proxy's mode or IPVS scheduler on a live cluster, and roll it back.

The change is a patch of the ``kube-system/kube-proxy`` ConfigMap's ``config.conf``
(guarded by its resourceVersion, dry-run first) followed by a rolling restart of the
``kube-system/kube-proxy`` DaemonSet (the ``kubectl rollout restart`` annotation), since
kube-proxy reads its configuration only at start. Because every node then reprograms its
rules, the request needs an explicit second confirmation and says which nodes reprogram.
"""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from cluster.kube.client import connect
from cluster.kube.errors import KubeError
from cluster.kube.resources import KUBE_PROXY_CONFIGMAP, get_object, patch_object
from cluster.models import Cluster, Node
from cluster.operations import PERMISSION, ApplyError, check_operator
from cluster.parsing import PROXY_MODES
from jobs.models import AuditEntry, Job
from jobs.services import job_create, job_enqueue, job_finish, job_progress
from routing.engine.types import IPVS_SCHEDULERS

RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
__all__ = ["PERMISSION", "proxy_change_preview", "proxy_change_request"]


def proxy_change_preview(*, cluster: Cluster, mode: str | None, scheduler: str | None) -> dict:
    """Which nodes reprogram: every node whose kube-proxy takes the cluster-wide setting."""
    if mode is not None and mode not in PROXY_MODES:
        raise ApplyError(
            f"mode {mode!r} is not one of {', '.join(PROXY_MODES)}",
            field="proxy_mode",
            code="invalid_choice",
        )
    if scheduler is not None and scheduler not in IPVS_SCHEDULERS:
        raise ApplyError(
            f"ipvs scheduler {scheduler!r} is not one of {', '.join(IPVS_SCHEDULERS)}",
            field="ipvs_scheduler",
            code="invalid_choice",
        )
    if mode is None and scheduler is None:
        raise ApplyError("nothing to change: give a mode and/or an ipvs scheduler")
    proxy = getattr(cluster, "kube_proxy_config", None)
    overrides = proxy.node_overrides if proxy else {}
    pinned = {"mode"} if mode is not None else set()
    pinned |= {"ipvsScheduler"} if scheduler is not None else set()
    nodes = [
        n
        for n in Node.objects.filter(cluster=cluster).values_list("name", flat=True)
        if not pinned <= set(overrides.get(n, {}))
    ]
    return {
        "mode": mode,
        "scheduler": scheduler,
        "nodes": nodes,
        "summary": f"kube-proxy restarts and reprograms its rules on {len(nodes)} node(s): "
        + ", ".join(nodes[:20])
        + (" ..." if len(nodes) > 20 else ""),
    }


def proxy_change_request(
    *,
    cluster: Cluster,
    user,
    mode: str | None = None,
    scheduler: str | None = None,
    confirm_restart: bool = False,
    expected_resource_version: str = "",
) -> Job:
    """Queue the change; refused (with the preview) unless ``confirm_restart`` is given."""
    check_operator(user)
    preview = proxy_change_preview(cluster=cluster, mode=mode, scheduler=scheduler)
    if not confirm_restart:
        raise ApplyError(
            f"confirmation needed: {preview['summary']}",
            field="confirm_restart",
            code="confirmation_required",
        )
    job = job_create(
        kind=Job.Kind.PROXY_CHANGE,
        cluster=cluster,
        created_by=user,
        task_name="cluster.tasks.apply_changes_task",
        params={
            "mode": mode,
            "scheduler": scheduler,
            "nodes": preview["nodes"],
            "expected_resource_version": expected_resource_version,
        },
    )
    job.task_args = [job.pk]
    job.save(update_fields=["task_args"])
    job_enqueue(job=job)
    return job


def _edited_config(text: str, *, mode: str | None, scheduler: str | None) -> str:
    config = yaml.safe_load(text) if text else {}
    config = config if isinstance(config, dict) else {}
    if mode is not None:
        config["mode"] = mode
    if scheduler is not None:
        config.setdefault("ipvs", {})
        config["ipvs"] = dict(config["ipvs"] or {}, scheduler=scheduler)
    return yaml.safe_dump(config, sort_keys=False)


def proxy_change_run(*, job: Job) -> Job:
    """Patch config.conf, then restart the DaemonSet (each dry-run first); audit both."""
    params = job.params
    return _apply(
        job=job,
        action=AuditEntry.Action.PROXY_CHANGE,
        new_text=lambda old: _edited_config(
            old, mode=params["mode"], scheduler=params["scheduler"]
        ),
        expected_rv=params.get("expected_resource_version") or "",
    )


def proxy_rollback_run(*, job: Job) -> Job:
    """Put the config.conf the proxy change replaced back, and restart again."""
    assert job.parent is not None  # a rollback job always names the job it undoes
    entry = job.parent.audit_entries.filter(
        object_kind="ConfigMap", result=AuditEntry.Result.APPLIED
    ).first()
    if entry is None:
        return job_finish(job=job, state=Job.State.FAILED, error="nothing to roll back")
    return _apply(
        job=job,
        action=AuditEntry.Action.ROLLBACK,
        new_text=lambda old: entry.before["config.conf"],
        expected_rv=entry.resource_version_after,
    )


def _apply(*, job: Job, action: str, new_text, expected_rv: str) -> Job:
    namespace, name = KUBE_PROXY_CONFIGMAP
    assert job.cluster is not None  # proxy change jobs are created for a cluster
    try:
        with connect(cluster=job.cluster) as api:
            current = get_object(api, "ConfigMap", namespace, name)
            rv = current["metadata"]["resourceVersion"]
            old = (current.get("data") or {}).get("config.conf", "")
            patch = {
                "metadata": {"resourceVersion": expected_rv or rv},
                "data": {"config.conf": new_text(old)},
            }
            job_progress(job=job, percent=10, message="dry-run of the kube-proxy ConfigMap")
            patch_object(api, "ConfigMap", namespace, name, patch, dry_run=True)
            restart = {
                "spec": {
                    "template": {
                        "metadata": {
                            "annotations": {
                                RESTART_ANNOTATION: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                            }
                        }
                    }
                }
            }
            patch_object(api, "DaemonSet", namespace, name, restart, dry_run=True)
            job_progress(job=job, percent=40, message="patching the kube-proxy ConfigMap")
            after = patch_object(api, "ConfigMap", namespace, name, patch, dry_run=False)
            _audit(
                job,
                action,
                "ConfigMap",
                current,
                after,
                {"config.conf": old},
                {"config.conf": after["data"]["config.conf"]},
            )
            job_progress(job=job, percent=70, message="restarting the kube-proxy DaemonSet")
            ds_before = get_object(api, "DaemonSet", namespace, name)
            strategy = (ds_before.get("spec") or {}).get("updateStrategy") or {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1},
            }
            ds_after = patch_object(api, "DaemonSet", namespace, name, restart, dry_run=False)
            _audit(
                job,
                AuditEntry.Action.RESTART,
                "DaemonSet",
                ds_before,
                ds_after,
                {RESTART_ANNOTATION: _restarted_at(ds_before)},
                {RESTART_ANNOTATION: _restarted_at(ds_after)},
            )
    except KubeError as error:
        result = AuditEntry.Result.CONFLICT if error.code == 409 else AuditEntry.Result.FAILED
        AuditEntry.objects.create(
            user=job.created_by,
            username=job.created_by.get_username() if job.created_by else "",
            cluster=job.cluster,
            cluster_name=job.cluster.name,
            job=job,
            action=action,
            object_kind="ConfigMap",
            object_namespace=namespace,
            object_name=name,
            result=result,
            message=str(error),
        )
        return job_finish(
            job=job,
            state=Job.State.FAILED,
            error=str(error),
            message="refused, nothing changed" if error.code == 409 else "failed",
        )
    nodes = job.params.get("nodes") or []
    rolling = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    how = (
        f"rolling, {rolling} node(s) at a time"
        if strategy.get("type") == "RollingUpdate"
        else "when each kube-proxy pod is deleted (OnDelete)"
    )
    return job_finish(
        job=job,
        state=Job.State.SUCCEEDED,
        result={"nodes": nodes, "update_strategy": strategy},
        message=f"kube-proxy restarting on {len(nodes)} node(s), {how}",
    )


def _restarted_at(daemonset: dict) -> str | None:
    template = (daemonset.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get(RESTART_ANNOTATION)


def _audit(job, action, kind, before_obj, after_obj, before, after) -> None:
    namespace, name = KUBE_PROXY_CONFIGMAP
    user = job.created_by
    AuditEntry.objects.create(
        user=user,
        username=user.get_username() if user else "",
        cluster=job.cluster,
        cluster_name=job.cluster.name,
        job=job,
        action=action,
        object_kind=kind,
        object_namespace=namespace,
        object_name=name,
        before=before,
        after=after,
        result=AuditEntry.Result.APPLIED,
        resource_version_before=before_obj["metadata"]["resourceVersion"],
        resource_version_after=after_obj["metadata"]["resourceVersion"],
    )
