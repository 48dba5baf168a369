"""Settings defaults: a fresh checkout needs no configuration, and stays safe."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from django.conf import settings

from config.env import secret_key

PROBE = (
    "import json, importlib; s = importlib.import_module('config.settings.local');"
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'],"
    " 'name': str(s.DATABASES['default']['NAME']),"
    " 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
    " 'tz': s.TIME_ZONE, 'anon': s.ROUTESCOPE_ANONYMOUS_READ}))"
)
CONFIG_VARS = ("DATABASE_URL", "DEBUG", "ALLOWED_HOSTS", "REDIS_URL", "ROUTESCOPE_ANONYMOUS_READ")


def _probe(**env: str) -> dict:
    clean = {
        k: v for k, v in os.environ.items() if k not in CONFIG_VARS and not k.startswith("DJANGO_")
    }
    clean.update({"SECRET_KEY": "probe-key", **env})
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_defaults_without_any_environment():
    values = _probe()
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(settings.BASE_DIR / "db.sqlite3")
    assert values["debug"] is False
    assert set(values["hosts"]) == {"127.0.0.1", "localhost", "[::1]"}
    assert values["eager"] is True  # no REDIS_URL: tasks run in-process
    assert values["tz"] == "UTC"


def test_environment_overrides():
    values = _probe(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x",
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert (values["engine"], values["name"], values["debug"], values["eager"]) == (
        "django.db.backends.postgresql",
        "x",
        True,
        False,
    )


def test_secret_key_file_is_created_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    path = tmp_path / ".secret_key"
    first = secret_key(path=path)
    assert len(first) >= 50 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(path=path) == first
    assert secret_key(path=tmp_path / "other") != first


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    path = tmp_path / ".secret_key"
    assert secret_key(path=path) == "from-env"
    assert not path.exists()
