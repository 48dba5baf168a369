"""Dashboard pages: one URL per page; htmx requests to the same URL get the fragment."""

from django.urls import path

from dashboard.views import (
    account,
    findings,
    jobs,
    navigation,
    overview,
    rules,
    services,
    timeline,
    whatif,
)

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
    path(
        "clusters/<str:name>/analysis-status/",
        overview.analysis_status,
        name="analysis-status",
    ),
    path("clusters/<str:name>/services/", services.service_list, name="services"),
    path(
        "clusters/<str:name>/services/<str:namespace>/<str:service>/",
        services.service_detail,
        name="service-detail",
    ),
    path(
        "clusters/<str:name>/services/<str:namespace>/<str:service>/timeline/",
        timeline.service_timeline,
        name="service-timeline",
    ),
    path(
        "clusters/<str:name>/services/<str:namespace>/<str:service>/timeline/save/",
        timeline.save,
        name="timeline-save",
    ),
    path("timelines/<int:pk>/", timeline.saved, name="saved-timeline"),
    path("clusters/<str:name>/what-if/", whatif.explorer, name="whatif"),
    path("clusters/<str:name>/timeline/", timeline.timeline_by_key, name="timeline-by-key"),
    path("clusters/<str:name>/what-if/save/", whatif.save, name="whatif-save"),
    path("clusters/<str:name>/what-if/impact/", whatif.impact, name="whatif-impact"),
    path("clusters/<str:name>/rules/", rules.rules, name="rules"),
    path("clusters/<str:name>/search/", navigation.search_page, name="search"),
    path("clusters/<str:name>/nodes/<str:node>/", navigation.node_page, name="node"),
    path("clusters/<str:name>/nodes/<str:node>/loss/", navigation.node_loss, name="node-loss"),
    path("clusters/<str:name>/scenarios/", navigation.scenarios, name="scenarios"),
    path("clusters/<str:name>/revision/", navigation.revision, name="revision"),
    path("clusters/<str:name>/findings/", findings.findings, name="findings"),
    path("clusters/<str:name>/settings/", findings.cost_settings_page, name="settings"),
]
