"""OpenAPI examples of the jobs API."""

from drf_spectacular.utils import OpenApiExample

JOB = OpenApiExample(
    "A running sync",
    response_only=True,
    value={
        "id": 12,
        "url": "http://127.0.0.1:8000/api/v1/jobs/12",
        "kind": "sync",
        "state": "running",
        "done": False,
        "progress": 40,
        "message": "listing pods (3/5)",
        "error": "",
        "cluster": "prod-eu",
        "created_by": "alice",
        "parent": None,
        "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-01-05T09:00:02Z",
        "started_at": "2026-01-05T09:00:00Z",
        "finished_at": None,
    },
)

JOB_DETAIL = OpenApiExample(
    "A finished sync with its log",
    response_only=True,
    value={
        **JOB.value,
        "state": "succeeded",
        "done": True,
        "progress": 100,
        "message": "sync succeeded (revision 8)",
        "finished_at": "2026-01-05T09:00:09Z",
        "log": '09:00:09 sync succeeded: {"Node": 10, "Pod": 44}\n',
        "params": {},
        "result": {"status": "succeeded", "revision": 8},
        "attempts": 1,
        "heartbeat_at": "2026-01-05T09:00:08Z",
    },
)

SYNC_RUN = OpenApiExample(
    "An unchanged sync",
    response_only=True,
    value={
        "id": 5,
        "cluster": "prod-eu",
        "job": 12,
        "mode": "full",
        "status": "unchanged",
        "counts": {"Node": 10, "Service": 15, "added": 0, "changed": 0, "removed": 0},
        "revision_before": 8,
        "revision_after": 8,
        "fetch_seconds": 1.2,
        "apply_seconds": 0.0,
        "duration_seconds": 1.3,
        "error": "",
        "started_at": "2026-01-05T09:00:00Z",
        "finished_at": "2026-01-05T09:00:01Z",
    },
)

AUDIT = OpenApiExample(
    "An applied change",
    response_only=True,
    value={
        "id": 2,
        "created_at": "2026-01-05T09:10:00Z",
        "username": "alice",
        "cluster_name": "prod-eu",
        "job": 14,
        "action": "apply",
        "object_kind": "Service",
        "object_namespace": "shop",
        "object_name": "checkout",
        "before": {"externalTrafficPolicy": "Local"},
        "after": {"externalTrafficPolicy": "Cluster"},
        "resource_version_before": "4411",
        "resource_version_after": "4502",
        "result": "applied",
        "message": "",
    },
)

ROLLBACK = OpenApiExample(
    "Rollback queued",
    response_only=True,
    status_codes=["202"],
    value={
        "job_id": 15,
        "state": "queued",
        "url": "http://127.0.0.1:8000/api/v1/jobs/15",
        "created": True,
    },
)
