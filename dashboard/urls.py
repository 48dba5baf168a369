"""Dashboard pages: one URL per page; htmx requests to the same URL get the fragment."""

from django.urls import path

from dashboard.views import account, findings, jobs, overview, rules, services, whatif
from dashboard.views.timeline import service_timeline, timeline_by_key

app_name = "dashboard"

urlpatterns = [
    path("", overview.home, name="home"),
    path("switch/", overview.switch, name="switch"),
    path("account/", account.account, name="account"),
    path("jobs/", jobs.job_list, name="jobs"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job-detail"),
    path("jobs/<int:pk>/rollback/", jobs.job_rollback, name="job-rollback"),
    path("scenarios/<int:pk>/", whatif.scenario_detail, name="scenario"),
    path("scenarios/<int:pk>/apply/", whatif.scenario_apply, name="scenario-apply"),
    path("clusters/<str:name>/", overview.overview, name="overview"),
    path("clusters/<str:name>/sync/", overview.sync, name="sync"),
    path("clusters/<str:name>/services/", services.service_list, name="services"),
    path(
        "clusters/<str:name>/services/<str:namespace>/<str:service>/",
        services.service_detail,
        name="service-detail",
    ),
    path(
        "clusters/<str:name>/services/<str:namespace>/<str:service>/timeline/",
        service_timeline,
        name="service-timeline",
    ),
    path("clusters/<str:name>/what-if/", whatif.explorer, name="whatif"),
    path("clusters/<str:name>/timeline/", timeline_by_key, name="timeline-by-key"),
    path("clusters/<str:name>/what-if/save/", whatif.save, name="whatif-save"),
    path("clusters/<str:name>/what-if/impact/", whatif.impact, name="whatif-impact"),
    path("clusters/<str:name>/rules/", rules.rules, name="rules"),
    path("clusters/<str:name>/findings/", findings.findings, name="findings"),
    path("clusters/<str:name>/settings/", findings.cost_settings_page, name="settings"),
]
