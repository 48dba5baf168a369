"""API routes of the jobs app."""

from rest_framework.routers import SimpleRouter

from jobs.api import views

router = SimpleRouter(trailing_slash=False)
router.register("jobs", views.JobViewSet, basename="api-job")
router.register("sync-runs", views.SyncRunViewSet, basename="api-sync-run")
router.register("audit-entries", views.AuditEntryViewSet, basename="api-audit-entry")

urlpatterns = router.urls
