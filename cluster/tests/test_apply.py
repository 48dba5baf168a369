"""Apply and rollback against the fake API server (dry-run, 409 guard, audit, verify)."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied

from cluster.apply import (
    ApplyError,
    apply_job_run,
    apply_request,
    parse_changes,
    rollback_job_run,
    rollback_request,
)
from cluster.proxy_apply import proxy_change_request
from cluster.sync import cluster_sync
from cluster.testing.fixtures import fake_api, kubeconfig, live_cluster
from jobs.models import AuditEntry, Job


@pytest.fixture
def operator(db):
    user = User.objects.create_user("ops", password="x")
    user.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is empty


def _svc(fake_api, name):
    return fake_api.store.get("services", "shop", name)


def _change(fake_api, name, **fields):
    rv = _svc(fake_api, name)["metadata"]["resourceVersion"]
    return {"namespace": "shop", "name": name, "set": fields, "expected_resource_version": rv}


def _run(job):
    apply_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _patches(fake_api):
    return [
        (p.rsplit("/", 1)[-1], q.get("dryRun")) for (m, p, q) in fake_api.requests if m == "PATCH"
    ]


def test_apply_dry_runs_all_then_patches_verifies_and_audits(live_cluster, fake_api, operator):
    changes = [
        _change(fake_api, "web", externalTrafficPolicy="Local"),
        _change(fake_api, "api", internalTrafficPolicy="Local", trafficDistribution="PreferClose"),
    ]
    job = _run(apply_request(cluster=live_cluster, changes=changes, user=operator))
    assert job.state == Job.State.SUCCEEDED, job.error
    assert _patches(fake_api) == [("web", "All"), ("api", "All"), ("web", None), ("api", None)]
    assert _svc(fake_api, "web")["spec"]["externalTrafficPolicy"] == "Local"
    assert _svc(fake_api, "api")["spec"]["trafficDistribution"] == "PreferClose"
    entries = {e.object_name: e for e in AuditEntry.objects.filter(job=job)}
    assert {e.result for e in entries.values()} == {AuditEntry.Result.APPLIED}
    web = entries["web"]
    assert (web.before, web.after) == (
        {"externalTrafficPolicy": "Cluster"},
        {"externalTrafficPolicy": "Local"},
    )
    assert web.username == "ops" and web.cluster_name == "live" and web.action == "apply"
    assert web.resource_version_after == _svc(fake_api, "web")["metadata"]["resourceVersion"]


def test_apply_needs_the_operate_permission(live_cluster, fake_api, db):
    viewer = User.objects.create_user("viewer")
    with pytest.raises(PermissionDenied):
        apply_request(
            cluster=live_cluster,
            changes=[_change(fake_api, "web", sessionAffinity="ClientIP")],
            user=viewer,
        )
    assert not Job.objects.exists() and _patches(fake_api) == []


def test_concurrent_edit_is_refused_and_nothing_is_clobbered(live_cluster, fake_api, operator):
    changes = [
        _change(fake_api, "api", internalTrafficPolicy="Local"),
        _change(fake_api, "web", internalTrafficPolicy="Local"),
    ]
    job = apply_request(cluster=live_cluster, changes=changes, user=operator)
    edited = _svc(fake_api, "web")
    fake_api.store.upsert(
        {
            **edited,
            "spec": {
                **edited["spec"],
                "internalTrafficPolicy": "Cluster",
                "sessionAffinity": "ClientIP",
            },
        }
    )
    job = _run(job)
    assert job.state == Job.State.FAILED and "refused, nothing changed" in job.message
    assert "Service shop/web changed since the preview" in job.error
    assert [p for p in _patches(fake_api) if p[1] is None] == []  # no real patch at all
    assert "internalTrafficPolicy" not in _svc(fake_api, "api")["spec"]
    assert _svc(fake_api, "web")["spec"]["sessionAffinity"] == "ClientIP"  # the other edit kept
    assert AuditEntry.objects.get(job=job, object_name="web").result == AuditEntry.Result.CONFLICT


def test_edit_between_dry_run_and_patch_gets_a_409_conflict(live_cluster, fake_api, operator):
    job = apply_request(
        cluster=live_cluster,
        changes=[_change(fake_api, "web", sessionAffinity="ClientIP")],
        user=operator,
    )
    edited = _svc(fake_api, "web")
    # The API server itself enforces the resourceVersion precondition on the real patch.
    fake_api.store.patch(
        "services",
        "shop",
        "web",
        {"metadata": {"labels": {"by": "someone"}}},
        "application/merge-patch+json",
        dry_run=False,
    )
    job = _run(job)
    assert job.state == Job.State.FAILED
    entry = AuditEntry.objects.get(job=job)
    assert entry.result == AuditEntry.Result.CONFLICT
    assert (
        edited["metadata"]["resourceVersion"]
        != _svc(fake_api, "web")["metadata"]["resourceVersion"]
    )
    assert _svc(fake_api, "web")["spec"]["sessionAffinity"] == "None"


def test_invalid_change_fails_dry_run_and_nothing_is_written(live_cluster, fake_api, operator):
    changes = [
        _change(fake_api, "web", internalTrafficPolicy="Local"),
        _change(fake_api, "api", externalTrafficPolicy="Local"),
    ]  # ClusterIP: invalid
    job = _run(apply_request(cluster=live_cluster, changes=changes, user=operator))
    assert job.state == Job.State.FAILED
    assert "may only be set for externally-accessible services" in job.error
    assert _svc(fake_api, "web")["spec"]["internalTrafficPolicy"] == "Cluster"
    assert AuditEntry.objects.get(job=job).result == AuditEntry.Result.INVALID


def test_rollback_restores_the_before_state_exactly(live_cluster, fake_api, operator):
    original = {n: _svc(fake_api, n)["spec"] for n in ("web", "api")}
    changes = [
        _change(fake_api, "web", sessionAffinity="ClientIP", externalTrafficPolicy="Local"),
        _change(fake_api, "api", trafficDistribution="PreferSameZone"),
    ]
    applied = _run(apply_request(cluster=live_cluster, changes=changes, user=operator))
    assert applied.state == Job.State.SUCCEEDED
    assert _svc(fake_api, "web")["spec"]["sessionAffinityConfig"]  # defaulted by the API
    rollback = rollback_request(apply_job=applied, user=operator)
    rollback_job_run(job_id=rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == Job.State.SUCCEEDED, rollback.error
    assert rollback.parent_id == applied.pk
    assert {n: _svc(fake_api, n)["spec"] for n in ("web", "api")} == original
    assert AuditEntry.objects.filter(job=rollback, result="applied").count() == 2


def test_rollback_after_a_later_edit_is_refused(live_cluster, fake_api, operator):
    applied = _run(
        apply_request(
            cluster=live_cluster,
            user=operator,
            changes=[_change(fake_api, "api", internalTrafficPolicy="Local")],
        )
    )
    later = _svc(fake_api, "api")
    fake_api.store.upsert({**later, "spec": {**later["spec"], "internalTrafficPolicy": "Cluster"}})
    rollback = rollback_request(apply_job=applied, user=operator)
    rollback_job_run(job_id=rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == Job.State.FAILED
    assert "internalTrafficPolicy changed since the apply ('Local' -> 'Cluster')" in rollback.error
    assert _svc(fake_api, "api")["spec"]["internalTrafficPolicy"] == "Cluster"


def test_rollback_after_unrelated_edits_and_a_resync_goes_through(
    live_cluster,
    fake_api,
    operator,
):
    before = _svc(fake_api, "api")["spec"]
    applied = _run(
        apply_request(
            cluster=live_cluster,
            user=operator,
            changes=[_change(fake_api, "api", internalTrafficPolicy="Local")],
        )
    )
    later = _svc(fake_api, "api")  # someone labels the Service and changes another field
    fake_api.store.upsert(
        {
            **later,
            "metadata": {**later["metadata"], "labels": {"team": "payments"}},
            "spec": {**later["spec"], "publishNotReadyAddresses": True},
        }
    )
    assert cluster_sync(cluster=live_cluster).status == "succeeded"
    rollback = rollback_request(apply_job=applied, user=operator)
    rollback_job_run(job_id=rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == Job.State.SUCCEEDED, rollback.error
    restored = _svc(fake_api, "api")
    assert restored["spec"].get("internalTrafficPolicy") == before.get("internalTrafficPolicy")
    assert restored["spec"]["publishNotReadyAddresses"] is True  # the later edit survives
    assert restored["metadata"]["labels"] == {"team": "payments"}


def test_rollback_is_refused_naming_the_field_also_after_a_resync(
    live_cluster,
    fake_api,
    operator,
):
    applied = _run(
        apply_request(
            cluster=live_cluster,
            user=operator,
            changes=[
                _change(fake_api, "web", sessionAffinity="ClientIP", externalTrafficPolicy="Local")
            ],
        )
    )
    later = _svc(fake_api, "web")
    fake_api.store.upsert({**later, "spec": {**later["spec"], "externalTrafficPolicy": "Cluster"}})
    cluster_sync(cluster=live_cluster)
    rollback = rollback_request(apply_job=applied, user=operator)
    rollback_job_run(job_id=rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == Job.State.FAILED
    assert "externalTrafficPolicy changed since the apply" in rollback.error
    assert _svc(fake_api, "web")["spec"]["sessionAffinity"] == "ClientIP"  # nothing written


def test_a_job_runs_once_even_if_delivered_twice(live_cluster, fake_api, operator):
    job = apply_request(
        cluster=live_cluster,
        changes=[_change(fake_api, "web", sessionAffinity="ClientIP")],
        user=operator,
    )
    _run(job)
    assert apply_job_run(job_id=job.pk) is None
    assert AuditEntry.objects.filter(job=job).count() == 1


def test_a_value_changed_by_admission_is_reported_not_verified(live_cluster, fake_api, operator):
    def no_local(plural, obj):  # a cluster policy: internalTrafficPolicy stays Cluster
        if plural == "services" and obj["spec"].get("internalTrafficPolicy") == "Local":
            obj["spec"] = {**obj["spec"], "internalTrafficPolicy": "Cluster"}

    fake_api.store.admission.append(no_local)
    job = _run(
        apply_request(
            cluster=live_cluster,
            user=operator,
            changes=[_change(fake_api, "api", internalTrafficPolicy="Local")],
        )
    )
    entry = AuditEntry.objects.get(job=job)
    assert entry.result == AuditEntry.Result.NOT_VERIFIED
    assert entry.after == {"internalTrafficPolicy": "Cluster"}
    assert job.state == Job.State.FAILED and "read back differently" in job.error
    # What did change can still be rolled back.
    assert rollback_request(apply_job=job, user=operator).kind == Job.Kind.ROLLBACK


def test_without_a_preview_version_the_patch_is_guarded_by_the_one_read(
    live_cluster, fake_api, operator
):
    job = _run(
        apply_request(
            cluster=live_cluster,
            user=operator,
            changes=[{"namespace": "shop", "name": "web", "set": {"sessionAffinity": "ClientIP"}}],
        )
    )
    assert job.state == Job.State.SUCCEEDED
    entry = AuditEntry.objects.get(job=job)
    real = [body for (path, body) in fake_api.patches if "dryRun" not in path]
    assert real == [
        {
            "metadata": {"resourceVersion": entry.resource_version_before},
            "spec": {"sessionAffinity": "ClientIP"},
        }
    ]


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "non-empty list"),
        (
            [{"namespace": "shop", "set": {"sessionAffinity": "ClientIP"}}],
            "needs a namespace and a name",
        ),
        ([{"namespace": "a", "name": "b", "set": {"type": "NodePort"}}], "cannot change 'type'"),
        (
            [{"namespace": "a", "name": "b", "set": {"internalTrafficPolicy": "Nearby"}}],
            "internalTrafficPolicy 'Nearby' is not one of Cluster, Local",
        ),
        (
            [{"namespace": "a", "name": "b", "set": {"sessionAffinity": "None"}}] * 2,
            "appears twice",
        ),
    ],
)
def test_bad_change_lists_are_one_line_errors(raw, message):
    with pytest.raises(ApplyError, match=message):
        parse_changes(raw)


def test_proxy_mode_change_needs_a_second_confirmation(live_cluster, fake_api, operator):
    cluster_sync(cluster=live_cluster)
    with pytest.raises(ApplyError, match=r"confirmation needed: .* on 3 node\(s\): n1, n2, n3"):
        proxy_change_request(cluster=live_cluster, user=operator, mode="ipvs", scheduler="lc")
    assert not Job.objects.exists() and _patches(fake_api) == []
    job = proxy_change_request(
        cluster=live_cluster, user=operator, mode="ipvs", scheduler="lc", confirm_restart=True
    )
    job = _run(job)
    assert job.state == Job.State.SUCCEEDED and job.result["nodes"] == ["n1", "n2", "n3"]
    assert job.message == "kube-proxy restarting on 3 node(s), rolling, 1 node(s) at a time"
    conf = yaml.safe_load(
        fake_api.store.get("configmaps", "kube-system", "kube-proxy")["data"]["config.conf"]
    )
    assert conf["mode"] == "ipvs" and conf["ipvs"]["scheduler"] == "lc"
    assert conf["clusterCIDR"] == "10.244.0.0/16"  # the rest of the configuration kept
    ds = fake_api.store.get("daemonsets", "kube-system", "kube-proxy")
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"]["annotations"]
    assert _patches(fake_api) == [
        ("kube-proxy", "All"),
        ("kube-proxy", "All"),
        ("kube-proxy", None),
        ("kube-proxy", None),
    ]
    with pytest.raises(ApplyError, match="confirmation needed"):
        rollback_request(apply_job=job, user=operator)
    rollback = rollback_request(apply_job=job, user=operator, confirm_restart=True)
    rollback_job_run(job_id=rollback.pk)
    text = fake_api.store.get("configmaps", "kube-system", "kube-proxy")["data"]["config.conf"]
    assert yaml.safe_load(text)["mode"] == "iptables"


def test_the_unset_value_removes_the_field_and_verifies(live_cluster, fake_api, operator):
    # "" is the what-if's "unset" of trafficDistribution: the patch must remove the field
    # (null), as the exports do — the API server refuses "" as a value.
    first = _run(
        apply_request(
            cluster=live_cluster,
            changes=[_change(fake_api, "api", trafficDistribution="PreferClose")],
            user=operator,
        )
    )
    assert first.state == Job.State.SUCCEEDED, first.error
    job = _run(
        apply_request(
            cluster=live_cluster,
            changes=[_change(fake_api, "api", trafficDistribution="")],
            user=operator,
        )
    )
    assert job.state == Job.State.SUCCEEDED, job.error
    assert "trafficDistribution" not in _svc(fake_api, "api")["spec"]
    (entry,) = AuditEntry.objects.filter(job=job)
    assert entry.result == AuditEntry.Result.APPLIED
    assert entry.before == {"trafficDistribution": "PreferClose"}
    assert entry.after == {"trafficDistribution": None}
