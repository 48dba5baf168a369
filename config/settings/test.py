"""Test settings: fast hashing, plain static storage (the manifest 404s under live_server)."""

from config.settings.base import *
from config.settings.base import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK_THROTTLE_DISABLED = True

# Worker tests start real `celery worker` processes that must open the test database, and
# an in-memory SQLite database cannot be shared between processes: on SQLite the test
# database is a file (on tmpfs when there is one), one per pytest process.
from config.settings.base import DATABASES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    import os as _os
    import tempfile as _tempfile

    _tmp = "/dev/shm" if _os.path.isdir("/dev/shm") else _tempfile.gettempdir()
    DATABASES["default"]["TEST"] = {"NAME": f"{_tmp}/routescope-test-{_os.getpid()}.sqlite3"}

# Tests close every connection after use (CONN_MAX_AGE 0): worker processes and live-server
# threads must not keep the test database open when pytest drops it.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# The test process counts throttles in its own memory even when REDIS_URL is set for the
# worker tests: clearing the cache must never flush the broker's Redis database. (The
# shared-throttle test runs real servers on the local settings instead.)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Cached snapshot pickles are pruned per cluster pk, and every test database numbers its
# clusters from 1: parallel pytest processes (pytest-xdist) must not prune each other's.
# One directory per xdist worker; the Celery workers a test starts inherit the variable.
import os as _os

if "ROUTESCOPE_SNAPSHOT_DIR" not in _os.environ:
    ROUTESCOPE_SNAPSHOT_DIR = (
        BASE_DIR / "var" / "test-snapshots" / _os.environ.get("PYTEST_XDIST_WORKER", "main")
    )
