"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable,
migrations applied, Redis reachable when ``REDIS_URL`` is set).

Both are served by ``ProbeMiddleware`` ahead of host validation and HTTPS redirects: the
kubelet calls them by pod IP over plain HTTP, which ``ALLOWED_HOSTS`` and
``SECURE_SSL_REDIRECT`` would otherwise refuse.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)
_migrated = threading.Event()  # once applied, migrations stay applied: check until true


def check_database() -> str:
    """ "ok", or the one-line reason the database cannot answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        # The probe is unauthenticated: the error's class only; its text (hosts, users) goes
        # to the log.
        log.warning("readyz: database check failed: %s", error)
        return f"error: {type(error).__name__}"
    return "ok"


def check_migrations() -> str:
    """ "ok" when every migration is applied, else how many are not."""
    if _migrated.is_set():
        return "ok"
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return f"error: {type(error).__name__}"
    if plan:
        return f"error: {len(plan)} migration(s) not applied"
    _migrated.set()
    return "ok"


def check_redis() -> str | None:
    """ "ok", the reason Redis does not answer, or None when no ``REDIS_URL`` is set."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except Exception as error:
        return f"error: {type(error).__name__}"
    finally:
        client.close()
    return "ok"


def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: the process serves requests (checks nothing else, so a database outage
    never makes the kubelet restart every web pod)."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Ready: 200 when every check passes, else 503 with each check's answer."""
    checks = {"database": check_database()}
    checks["migrations"] = (
        check_migrations() if checks["database"] == "ok" else "skipped: no database"
    )
    redis_state = check_redis()
    if redis_state is not None:
        checks["redis"] = redis_state
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
