"""Settings shared by every environment. Read the environment only through ``config.env``."""

from __future__ import annotations

from config.env import BASE_DIR, env, secret_key
from config.logging_config import logging_config

SECRET_KEY = secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "cluster",
    "routing",
    "jobs",
    "dashboard",
    "ops",
]

MIDDLEWARE = [
    # /healthz, /readyz, /metrics: answered first (probes call pods by IP, over HTTP).
    "ops.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.api.limits.ApiBodyLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dashboard.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.oidc.sso_context",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Keep a connection across requests: opening one (and SQLite's PRAGMA) per API call costs
# more than a simulate answer; health checks replace connections that died meanwhile.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the dashboard read while an import writes; a busy timeout instead of
    # "database is locked" when a task and a request write at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # IMMEDIATE: a transaction that reads then writes would otherwise fail at once with
    # "database is locked" (no busy wait on a lock upgrade) when a worker wrote meanwhile.
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Plain storage: pages render with no collectstatic step. Production settings switch to
# the compressed manifest (hashed names, cached forever), which needs collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# On the embedded default (loopback) reading needs no login; set to false to require it.
ROUTESCOPE_ANONYMOUS_READ = env.bool("ROUTESCOPE_ANONYMOUS_READ", default=True)
# Pages of a cluster synced from an API server poll its revision this often (seconds) and
# reload when it moves.
ROUTESCOPE_LIVE_POLL_SECONDS = env.int("ROUTESCOPE_LIVE_POLL_SECONDS", default=15)
# Pickled engine snapshots shared by worker processes (routing.snapshots), git-ignored.
ROUTESCOPE_SNAPSHOT_DIR = env.path(
    "ROUTESCOPE_SNAPSHOT_DIR", default=str(BASE_DIR / "var" / "snapshots")
)
# Cluster states whose node table (the one-service path's per-cluster nodes and kube-proxy
# configuration, routing.snapshots) a web process keeps in memory, least recently used out;
# another cluster's is loaded again from its pickle. Bounds a process serving many clusters.
ROUTESCOPE_NODE_TABLES_KEEP = env.int("ROUTESCOPE_NODE_TABLES_KEEP", default=2)
# Stored analyses whose large JSON columns (every finding, the API rows, the services table's
# figures: ~50 MB in memory for a 10,000-Service cluster) a web process keeps once read,
# least recently used out (routing.stored_analysis).
ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = env.int("ROUTESCOPE_ANALYSIS_COLUMNS_KEEP", default=1)
# Bounds on what one dump (import_cluster, an inline cluster_dump, a config.conf) may hold;
# anything beyond is refused in one line naming object and path (cluster.bounds).
ROUTESCOPE_DUMP_MAX_DEPTH = env.int("ROUTESCOPE_DUMP_MAX_DEPTH", default=100)
ROUTESCOPE_DUMP_MAX_STRING = env.int("ROUTESCOPE_DUMP_MAX_STRING", default=1_572_864)
ROUTESCOPE_DUMP_MAX_NUMBER = env.int("ROUTESCOPE_DUMP_MAX_NUMBER", default=32)
ROUTESCOPE_DUMP_MAX_OBJECTS = env.int("ROUTESCOPE_DUMP_MAX_OBJECTS", default=2_000_000)
ROUTESCOPE_DUMP_MAX_VALUES = env.int("ROUTESCOPE_DUMP_MAX_VALUES", default=100_000_000)
ROUTESCOPE_DUMP_MAX_GZIP_RATIO = env.int("ROUTESCOPE_DUMP_MAX_GZIP_RATIO", default=100)
# An import that would drop more than this share of a cluster's stored objects needs
# import_cluster --replace.
ROUTESCOPE_IMPORT_MAX_LOSS = env.float("ROUTESCOPE_IMPORT_MAX_LOSS", default=0.5)
# Largest dump import_cluster / the API accept, in bytes.
ROUTESCOPE_MAX_DUMP_BYTES = env.int("ROUTESCOPE_MAX_DUMP_BYTES", default=2 * 1024**3)
# Largest API request body (an inline dump in POST /api/v1/simulate), in bytes: for callers
# with a session or token, and for anonymous ones (core.api.limits). Django's own limit
# (forms, request.body) is the larger one.
ROUTESCOPE_API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024**2)
ROUTESCOPE_API_MAX_ANON_BODY_BYTES = env.int("API_MAX_ANON_BODY_BYTES", default=1024**2)
DATA_UPLOAD_MAX_MEMORY_SIZE = ROUTESCOPE_API_MAX_BODY_BYTES
# A refused body is read and discarded up to this many bytes so the 413 reaches the client.
ROUTESCOPE_API_DRAIN_MAX_BYTES = env.int("API_DRAIN_MAX_BYTES", default=256 * 1024**2)
# Deepest JSON nesting an API body may have (a kubectl dump needs about 15).
ROUTESCOPE_API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=64)
# Most Kubernetes objects an inline cluster_dump may hold: anonymous / authenticated callers.
ROUTESCOPE_INLINE_DUMP_MAX_OBJECTS_ANON = env.int("INLINE_DUMP_MAX_OBJECTS_ANON", default=2000)
ROUTESCOPE_INLINE_DUMP_MAX_OBJECTS = env.int("INLINE_DUMP_MAX_OBJECTS", default=200000)

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes "not logged in" a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.limits.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.limits.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.AnonThrottle",
        "core.api.throttling.UserThrottle",
    ],
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="600/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Routescope API",
    "DESCRIPTION": "Where Kubernetes Service traffic lands, and what a policy change breaks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # validatorUrl null: Swagger UI would otherwise fetch a badge from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One schema name per choice set shared by several fields (the schema builds warning-free).
    "ENUM_NAME_OVERRIDES": {
        "AnalysisStateEnum": "routing.api.report_serializers.ANALYSIS_STATES",
        "StateEnum": "jobs.models.Job.State",
        "TrafficPolicyEnum": ["Cluster", "Local"],
        "AnswerActionEnum": ["forward", "drop", "reject"],
        "SourceKindEnum": ["pod", "external", "lb"],
        "RuleModeEnum": ["iptables", "nftables", "ipvs"],
        "JobKindEnum": "jobs.models.Job.Kind",
        "AuditActionEnum": "jobs.models.AuditEntry.Action",
        "SyncRunModeEnum": "jobs.models.SyncRun.Mode",
    },
}

# Celery: with REDIS_URL tasks go to Redis and real workers; without it they run
# in-process (eager), so the embedded default needs no broker. See config/celery.py.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# The Django cache (API throttle counters among others): shared by every process through
# Redis when REDIS_URL is set (CACHE_URL overrides), so a limit is one limit however many
# web processes serve it; this process's memory otherwise.
CACHE_URL = env.str("CACHE_URL", default="") or REDIS_URL
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "routescope",
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# An unacknowledged message (its worker died) is redelivered after this many seconds; keep
# it above the longest task's hard time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TIMEZONE = TIME_ZONE
# Task modules outside an app's tasks.py (autodiscovery finds only those): the central
# compare step of drift checks.
CELERY_IMPORTS = ["routing.agent.tasks"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Static schedules live here; per-cluster syncs are PeriodicTask rows made by add_cluster.
CELERY_BEAT_SCHEDULE = {
    # Often enough that a job whose worker died is found within a minute (below).
    "requeue-stale-jobs": {"task": "cluster.tasks.requeue_stale_jobs_task", "schedule": 15.0},
}
# A running job beats Job.heartbeat_at this often; one silent for ROUTESCOPE_JOB_LOST_SECONDS
# lost its worker: a sync is re-queued (up to ROUTESCOPE_JOB_MAX_ATTEMPTS attempts), other
# jobs fail with the reason. New sync requests never join such a job.
ROUTESCOPE_JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=5.0)
ROUTESCOPE_JOB_LOST_SECONDS = env.float("JOB_LOST_SECONDS", default=30.0)
ROUTESCOPE_JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# The stored cluster-wide analysis of a new revision is split into this many shards of
# Services (one Celery task each; routing/analysis_jobs.py).
ROUTESCOPE_ANALYSIS_SHARDS = env.int("ROUTESCOPE_ANALYSIS_SHARDS", default=6)
# Where add_cluster looks without --kubeconfig, as kubectl does: KUBECONFIG (a list, merged),
# else ~/.kube/config.
ROUTESCOPE_KUBECONFIG_DEFAULT = env.str("KUBECONFIG", default="~/.kube/config")
# add_cluster --in-cluster: the pod's ServiceAccount token and CA (mounted by Kubernetes).
ROUTESCOPE_SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Seconds between periodic syncs of a cluster added with add_cluster (0: none).
ROUTESCOPE_SYNC_INTERVAL = env.int("ROUTESCOPE_SYNC_INTERVAL", default=300)

# /metrics asks for "Authorization: Bearer <METRICS_TOKEN>" when set (empty: open).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# LOG_FORMAT=json: one JSON object per line (ops.logs.JsonFormatter), for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"), quiet_sql=True)
# A Celery worker would replace the root handlers with its own plain ones.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# API tokens: days until a new token expires (0: never; `create_api_token --expires-in`).
ROUTESCOPE_TOKEN_EXPIRY_DAYS = env.int("ROUTESCOPE_TOKEN_EXPIRY_DAYS", default=90)

# Single sign-on (OpenID Connect, core/oidc.py): on when OIDC_RP_CLIENT_ID and OIDC_ISSUER
# are set. Endpoints come from the issuer's discovery document unless set one by one.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_VERIFY_SSL = env.bool("OIDC_VERIFY_SSL", default=True)
# Which claim names the user, which lists their groups, and which groups make a role.
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_OPERATOR_GROUPS = env.list("OIDC_OPERATOR_GROUPS", default=[])
OIDC_READER_GROUPS = env.list("OIDC_READER_GROUPS", default=[])  # empty: any IdP user reads
# An SSO session ends after this long; signing in again reads the groups afresh.
OIDC_SESSION_SECONDS = env.int("OIDC_SESSION_SECONDS", default=8 * 3600)
OIDC_LOGIN_LABEL = env.str("OIDC_LOGIN_LABEL", default="Sign in with single sign-on")
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "core.oidc.GroupMappingOIDCBackend",
]
