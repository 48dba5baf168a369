"""The Celery application.

With ``REDIS_URL`` set, tasks are sent to Redis and run by ``celery -A config worker``
processes. Without it (the embedded default) ``CELERY_TASK_ALWAYS_EAGER`` runs every task
in-process, so a laptop needs no broker; job rows still record state and progress.
"""

import os

from celery import Celery
from django.core.signals import setting_changed
from django.dispatch import receiver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("routescope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@receiver(setting_changed)
def celery_follows_overridden_settings(*, setting: str, value: object, **_: object) -> None:
    """A ``CELERY_*`` setting a test overrides (``override_settings``, pytest-django's
    ``settings`` fixture) reaches the app, and so does its restore.

    The app copies its configuration from the Django settings once, on first use: a test
    process whose first use fell inside an override (``CELERY_TASK_ALWAYS_EAGER = False``)
    kept the overridden value for every later test. Only tests send this signal.
    """
    if setting.startswith("CELERY_"):
        app.conf[setting.removeprefix("CELERY_").lower()] = value
