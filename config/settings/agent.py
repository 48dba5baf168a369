"""Node agent: a Celery worker for one node's queue (``routing.agent.node``).

Only its own settings: the broker URL (``REDIS_URL``, the agent's own broker credentials)
and logging. No database, no secret key, no web settings: a node holds nothing that
reaches the database or signs a session. Deliberately does not import ``base``.
"""

from config.env import env
from config.logging_config import logging_config

# The agent's own broker URL, e.g. redis://agent:<agent password>@redis:6379/0.
REDIS_URL = env.str("REDIS_URL")
# ops: only for ``manage.py worker_ping --agent-node NODE`` (the liveness probe).
INSTALLED_APPS = ["ops"]
DATABASES: dict = {}
USE_TZ = True
TIME_ZONE = "UTC"

CELERY_BROKER_URL = REDIS_URL
# Collect steps store no result (the chain hands it to the next step); a result backend is
# still needed by Celery to forward a chain.
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_TIMEZONE = TIME_ZONE

LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))
