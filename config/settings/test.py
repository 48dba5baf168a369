"""Test settings: fast hashing, plain static storage (the manifest 404s under live_server)."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK_THROTTLE_DISABLED = True
