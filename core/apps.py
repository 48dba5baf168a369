"""``core`` as a Django app: it owns the API token model (see :mod:`core.models`)."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Routescope core"
    default_auto_field = "django.db.models.BigAutoField"
