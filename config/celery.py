"""The Celery application.

With ``REDIS_URL`` set, tasks are sent to Redis and run by ``celery -A config worker``
processes. Without it (the embedded default) ``CELERY_TASK_ALWAYS_EAGER`` runs every task
in-process, so a laptop needs no broker; job rows still record state and progress.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("routescope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
