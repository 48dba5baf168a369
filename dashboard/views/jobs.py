"""Jobs: background syncs, applies and long simulations — state, progress, log, errors."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from dashboard.views.common import is_htmx, read_required, render_page
from jobs.models import Job

PAGE_SIZE = 50


@read_required
def job_list(request: HttpRequest) -> HttpResponse:
    """Every job, newest first, paginated; active ones poll for progress."""
    jobs = Job.objects.select_related("cluster", "created_by").defer("log", "params", "result")
    state = request.GET.get("state", "")
    if state in Job.State.values:
        jobs = jobs.filter(state=state)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "state": state, "states": Job.State.choices,
               "any_active": any(job.state in Job.ACTIVE_STATES for job in page)}
    if is_htmx(request):
        return render(request, "dashboard/jobs/_table.html", context)
    return render_page(request, "dashboard/jobs/list.html", context, cluster=None, section="jobs")


@read_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One job: a progress bar that polls while the job runs, then the log and any error."""
    job = get_object_or_404(Job.objects.select_related("cluster", "created_by", "parent"), pk=pk)
    context = {"job": job}
    if is_htmx(request):
        return render(request, "dashboard/jobs/_status.html", context)
    return render_page(request, "dashboard/jobs/detail.html", context, cluster=job.cluster, section="jobs")
