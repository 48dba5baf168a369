"""Jobs: background syncs, applies and long simulations — state, progress, log, errors."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cluster.apply import ApplyError, rollback_request
from core.permissions import user_can_operate
from dashboard.views.common import is_htmx, read_required, render_page
from jobs.models import AuditEntry, Job
from jobs.selectors import audit_entry_list
from jobs.selectors import job_list as jobs_selector

ROLLBACK_KINDS = (Job.Kind.APPLY, Job.Kind.PROXY_CHANGE)
APPLIED = (AuditEntry.Result.APPLIED, AuditEntry.Result.NOT_VERIFIED)

PAGE_SIZE = 50


@read_required
def job_list(request: HttpRequest) -> HttpResponse:
    """Every job, newest first, paginated; active ones poll for progress."""
    state = request.GET.get("state", "")
    jobs = jobs_selector(state=state if state in Job.State.values else None).defer(
        "params", "result"
    )
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "states": Job.State.choices,
        "any_active": any(job.state in Job.ACTIVE_STATES for job in page),
    }
    if is_htmx(request):
        return render(request, "dashboard/jobs/_table.html", context)
    return render_page(request, "dashboard/jobs/list.html", context, cluster=None, section="jobs")


@read_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One job: a progress bar that polls while the job runs, then the log and any error."""
    job = get_object_or_404(Job.objects.select_related("cluster", "created_by", "parent"), pk=pk)
    audit = (
        list(audit_entry_list(job=job))
        if job.kind in ROLLBACK_KINDS or job.kind == Job.Kind.ROLLBACK
        else []
    )
    context = {
        "job": job,
        "audit": audit,
        "can_roll_back": (
            job.kind in ROLLBACK_KINDS
            and job.is_done
            and user_can_operate(request.user)
            and any(entry.result in APPLIED for entry in audit)
        ),
    }
    if is_htmx(request):
        return render(request, "dashboard/jobs/_status.html", context)
    return render_page(
        request, "dashboard/jobs/detail.html", context, cluster=job.cluster, section="jobs"
    )


@require_POST
@read_required
def job_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    """Operators only: queue the rollback of a finished apply (restores the audited before)."""
    job = get_object_or_404(Job, pk=pk)
    if not user_can_operate(request.user):
        raise PermissionDenied("rolling back needs the operate-cluster permission")
    try:
        rollback = rollback_request(
            apply_job=job,
            user=request.user,
            confirm_restart=request.POST.get("confirm_restart") == "yes",
        )
    except ApplyError as exc:
        messages.error(request, f"Not rolled back: {exc}")
        return redirect("dashboard:job-detail", pk=pk)
    messages.info(request, f"Rollback job #{rollback.pk} started for job #{job.pk}.")
    return redirect("dashboard:job-detail", pk=rollback.pk)
